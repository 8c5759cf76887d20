"""The contract's list lengths, checked on a parsed file before it is validated.

Pydantic checks a list's `max_length` only after validating every item, so a
file with a million proposals would take seconds to refuse. This walk reads the
same `max_length` bounds from the models (there is no second definition), looks
only at lists, maps and the models holding them, and never enters a list that is
too long, so an oversized file is refused in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from annotated_types import MaxLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class _Shape:
    """What of a type can be too long: its own length, the fields of a model, the items of a list or map."""

    limit: int | None = None
    fields: tuple[tuple[str, _Shape], ...] = ()
    items: _Shape | None = None


def too_long(document: object, model: type[BaseModel]) -> list[tuple[Loc, str]]:
    """Where `document`, to be validated as `model`, has a list or map longer than the model allows, and by how much."""
    found: list[tuple[Loc, str]] = []
    if isinstance(document, dict):
        _walk(document, _shape(model), (), found)
    return found


def _walk(node: list[object] | dict[str, object], shape: _Shape, loc: Loc, found: list[tuple[Loc, str]]) -> None:
    if shape.limit is not None and len(node) > shape.limit:
        found.append((loc, f"at most {shape.limit} {'items' if isinstance(node, list) else 'keys'}, got {len(node)}"))
        return
    if isinstance(node, dict) and shape.fields:
        for name, child in shape.fields:
            value = node.get(name)
            if isinstance(value, list | dict):
                _walk(value, child, (*loc, name), found)
    elif shape.items is not None:
        pairs = enumerate(node) if isinstance(node, list) else node.items()
        for key, value in pairs:
            if isinstance(value, list | dict):
                _walk(value, shape.items, (*loc, key), found)


@cache
def _shape(annotation: object) -> _Shape:
    return _shape_of(annotation, ())


def _shape_of(annotation: object, metadata: Sequence[object]) -> _Shape:
    limit, annotation = _bounded(annotation, metadata)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = tuple(
            (name, _shape_of(info.annotation, info.metadata)) for name, info in annotation.model_fields.items()
        )
        return _Shape(limit, tuple((name, shape) for name, shape in fields if shape != _Shape()))
    origin = get_origin(annotation)
    if origin is list:
        return _Shape(limit, items=_nonempty(_shape_of(get_args(annotation)[0], ())))
    if origin is dict:
        return _Shape(limit, items=_nonempty(_shape_of(get_args(annotation)[1], ())))
    return _Shape()  # a string or a number: pydantic checks its length quickly enough


def _nonempty(shape: _Shape) -> _Shape | None:
    return None if shape == _Shape() else shape


def _bounded(annotation: object, metadata: Sequence[object]) -> tuple[int | None, object]:
    """The `max_length` on `annotation` (under `Annotated` and `| None`), and the type beneath."""
    limits = [item.max_length for item in metadata if isinstance(item, MaxLen)]
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extras = get_args(annotation)
            for extra in extras:
                inner = extra.metadata if isinstance(extra, FieldInfo) else [extra]
                limits += [item.max_length for item in inner if isinstance(item, MaxLen)]
        elif origin is Union or origin is UnionType:
            members = [member for member in get_args(annotation) if member is not type(None)]
            if len(members) != 1:
                return min(limits, default=None), None  # a union of models: pydantic alone judges its items
            annotation = members[0]
        else:
            return min(limits, default=None), annotation
