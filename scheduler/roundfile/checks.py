"""Loading round and schedule files, with every problem in them reported at once.

A round file is exported from a user-office system and then fixed by hand, so a
run lists everything that is wrong with it, each problem as a JSON path into the
file plus a message, instead of stopping at the first one. Pydantic's errors and
the cross-reference checks of `check_round` go out together in one `InputError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

import pydantic_core
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from scheduler.fields import round_length_problem
from scheduler.roundfile.contract import (
    MAX_REQUESTS,
    AfterLink,
    AllOrNothingLink,
    Facility,
    Instrument,
    Interval,
    PreviousAllocation,
    Proposal,
    Request,
    RoundFile,
    ScheduleFile,
    Window,
)
from scheduler.roundfile.grid import Grid
from scheduler.roundfile.limits import too_long
from scheduler.roundfile.quotas import dangling_references

Loc = tuple[str | int, ...]
Source = str | bytes | Path | Mapping[str, object]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LONGEST_INPUT_SHOWN = 60


@dataclass(frozen=True)
class InputProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InputError(Exception):
    """Bad input with every problem found, so the user fixes the file in one go."""

    def __init__(self, problems: list[InputProblem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def load_round(source: Source) -> RoundFile:
    """Parses and checks a round file; `source` is JSON text, a file, or an already-parsed document.

    Types are checked strictly, as in the JSON file (`"9"` is no number of shifts).
    When some parts of the file are broken, the cross-reference checks still run on
    the rest, so one run reports both kinds of problem. A list longer than the format
    allows is reported alone, before anything else is validated (`limits.too_long`).
    """
    document = _parse(source)
    _refuse_oversized(document, RoundFile)
    attempt = _validate_leniently(document)
    problems = attempt.problems
    if attempt.round_file is not None:
        problems += [
            InputProblem(_json_path(attempt.pruned.original(finding.loc)), finding.message)
            for finding in _findings(attempt.round_file)
            if finding.unknown_id is None or finding.unknown_id not in attempt.left_out_ids
        ]
    if problems or attempt.round_file is None:
        raise InputError(problems)
    return attempt.round_file


def load_schedule(source: Source) -> ScheduleFile:
    """Parses a schedule file, structure only: the referee (`scheduler.roundfile.validate`) judges its content."""
    document = _parse(source)
    _refuse_oversized(document, ScheduleFile)
    try:
        return ScheduleFile.model_validate_json(pydantic_core.to_json(document), strict=True)
    except ValidationError as error:
        raise InputError(problems_from_validation_error(error, model=ScheduleFile)) from None


def problems_from_validation_error(
    error: ValidationError, prefix: str = "$", model: type[BaseModel] = RoundFile
) -> list[InputProblem]:
    """`model` is the type that was validated: it tells the tags pydantic puts into a
    discriminated union's `loc` from the keys of the file."""
    return [
        InputProblem(_json_path(_file_loc(model, details["loc"]), prefix), _message(details))
        for details in error.errors()
    ]


def check_round(round_file: RoundFile) -> list[InputProblem]:
    """The checks pydantic cannot do field by field: ids, cross references, the shift grid."""
    return [InputProblem(_json_path(finding.loc), finding.message) for finding in _findings(round_file)]


@dataclass(frozen=True)
class RoundContext:
    """What one proposal's requests and links are checked against: the round around it."""

    shifts: int
    """Whole shifts in the round; 0 when none fit (the round's own check says so)."""
    instruments: Set[str]
    equipment: Set[str]
    proposal_of_request: Mapping[str, str] = field(default_factory=dict)
    """The round's request ids and the proposal that uses each first; empty for a proposal checked alone."""


def check_proposal(
    requests: Sequence[Request], links: Sequence[AllOrNothingLink | AfterLink], context: RoundContext
) -> list[InputProblem]:
    """The round file's request and link rules for one proposal alone, with paths from the proposal (`$.requests[0]`).

    The API checks a proposal with these before it is stored, so a stored round passes `check_round`.
    """
    findings = _proposal(requests, links, "", context)
    return [InputProblem(_json_path(finding.loc), finding.message) for finding in findings]


def _parse(source: Source) -> object:
    if isinstance(source, Mapping):
        return source
    text = source.read_bytes() if isinstance(source, Path) else source
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        message = f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
    except UnicodeDecodeError as error:
        message = f"not UTF-8 text: {error.reason} at byte {error.start}"
    raise InputError([InputProblem("$", message)])


def _refuse_oversized(document: object, model: type[BaseModel]) -> None:
    """A list longer than `model` allows is the one problem reported: nothing else is validated (`limits`)."""
    oversized = [InputProblem(_json_path(loc), message) for loc, message in too_long(document, model)]
    if oversized:
        raise InputError(oversized)


def _json_path(loc: Iterable[str | int], prefix: str = "$") -> str:
    parts = [prefix]
    for element in loc:
        if isinstance(element, int):
            parts.append(f"[{element}]")
        elif _IDENTIFIER.fullmatch(element):
            parts.append(f".{element}")
        else:
            parts.append(f"[{json.dumps(element)}]")
    return "".join(parts)


def _message(details: ErrorDetails) -> str:
    kind = details["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return details["msg"].removeprefix("Value error, ")
    value = details["input"]
    if value is None or isinstance(value, str | int | float):
        shown = json.dumps(value)
        if len(shown) <= _LONGEST_INPUT_SHOWN:
            return f"{details['msg']}, got {shown}"
    return details["msg"]


def _file_loc(model: type[BaseModel], loc: Loc) -> Loc:
    """`loc` without the tags pydantic inserts after a discriminated union, which are no keys of the file."""
    kept: list[str | int] = []
    annotation: object = model
    for element in loc:
        annotation, members_by_tag = _unwrap(annotation)
        if members_by_tag is not None:
            annotation = members_by_tag.get(element)
            continue
        kept.append(element)
        annotation = _child(annotation, element)
    return tuple(kept)


def _unwrap(annotation: object) -> tuple[object, dict[object, object] | None]:
    """The type under `Annotated` and `| None`, and the members by tag when it is a discriminated union."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            inner, *metadata = get_args(annotation)
            for item in metadata:
                if isinstance(item, FieldInfo) and isinstance(item.discriminator, str):
                    return inner, _members_by_tag(inner, item.discriminator)
            annotation = inner
        elif origin is Union or origin is UnionType:
            members = [member for member in get_args(annotation) if member is not type(None)]
            if len(members) != 1:
                return annotation, None
            annotation = members[0]
        else:
            return annotation, None


def _members_by_tag(union: object, discriminator: str) -> dict[object, object]:
    members_by_tag: dict[object, object] = {}
    for member in get_args(union):
        if isinstance(member, type) and issubclass(member, BaseModel):
            for tag in get_args(member.model_fields[discriminator].annotation):
                members_by_tag[tag] = member
    return members_by_tag


def _child(annotation: object, element: str | int) -> object:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(element, str):
        field = annotation.model_fields.get(element)
        return None if field is None else field.rebuild_annotation()
    origin = get_origin(annotation)
    if origin is list and isinstance(element, int):
        return get_args(annotation)[0]
    if origin is dict and isinstance(element, str):
        return get_args(annotation)[1]
    return None


class _Pruned:
    """A copy of a document without some list items and keys, and the way back to the original's paths."""

    def __init__(self, document: object, removed: set[Loc]) -> None:
        self._kept_indexes: dict[Loc, list[int]] = {}
        self.document = self._copy(document, removed, (), ()) if removed else document

    def original(self, loc: Loc) -> Loc:
        """The path in the original document of `loc`, a path in this copy."""
        original: list[str | int] = []
        for depth, element in enumerate(loc):
            kept = self._kept_indexes.get(loc[:depth])
            original.append(kept[element] if kept is not None and isinstance(element, int) else element)
        return tuple(original)

    def _copy(self, node: object, removed: set[Loc], at: Loc, at_in_copy: Loc) -> object:
        if isinstance(node, Mapping):
            return {
                key: self._copy(value, removed, (*at, key), (*at_in_copy, key))
                for key, value in node.items()
                if (*at, key) not in removed
            }
        if isinstance(node, list):
            kept = [index for index in range(len(node)) if (*at, index) not in removed]
            if len(kept) < len(node):
                self._kept_indexes[at_in_copy] = kept
            return [
                self._copy(node[index], removed, (*at, index), (*at_in_copy, position))
                for position, index in enumerate(kept)
            ]
        return node


@dataclass(frozen=True)
class _Attempt:
    round_file: RoundFile | None
    """The round without its broken parts, for the cross-reference checks; None when it has none."""
    problems: list[InputProblem]
    pruned: _Pruned
    left_out_ids: set[str]


def _validate_leniently(document: object) -> _Attempt:
    """Validates, and on errors again without the list items and unknown keys at fault, until the rest
    validates or an error lies outside every list.

    Errors of later passes are new only when the leaving out did not cause them
    (a list made too short); the others are not reported.
    """
    removed: set[Loc] = set()
    problems: list[InputProblem] = []
    while True:
        pruned = _Pruned(document, removed)
        try:
            round_file = RoundFile.model_validate_json(pydantic_core.to_json(pruned.document), strict=True)
        except ValidationError as error:
            removals: set[Loc | None] = set()
            for details in error.errors():
                loc = pruned.original(_file_loc(RoundFile, details["loc"]))
                if not any(_is_list_item(gone) and gone[: len(loc)] == loc for gone in removed):
                    problems.append(InputProblem(_json_path(loc), _message(details)))
                removals.add(loc if details["type"] == "extra_forbidden" else _enclosing_list_item(loc))
            if None in removals or removals <= removed:
                return _Attempt(None, problems, pruned, set())
            removed |= {removal for removal in removals if removal is not None}
        else:
            left_out_ids = {
                identifier
                for gone in removed
                if _is_list_item(gone)
                for identifier in _defined_ids(_node_at(document, gone))
            }
            return _Attempt(round_file, problems, pruned, left_out_ids)


def _is_list_item(loc: Loc) -> bool:
    return bool(loc) and isinstance(loc[-1], int)


def _enclosing_list_item(loc: Loc) -> Loc | None:
    for depth in range(len(loc), 0, -1):
        if isinstance(loc[depth - 1], int):
            return loc[:depth]
    return None


def _node_at(document: object, loc: Loc) -> object:
    node = document
    for element in loc:
        node = node[element]  # type: ignore[index]
    return node


def _defined_ids(node: object) -> Iterator[str]:
    """The ids a left-out part defined: references to them are not reported as unknown."""
    if isinstance(node, Mapping):
        if isinstance(node.get("id"), str):
            yield node["id"]
        for value in node.values():
            yield from _defined_ids(value)
    elif isinstance(node, list):
        for item in node:
            yield from _defined_ids(item)


@dataclass(frozen=True)
class _Finding:
    loc: Loc
    message: str
    unknown_id: str | None = None


def _findings(round_file: RoundFile) -> list[_Finding]:
    grid = Grid(round_file.round)
    return [
        *_duplicate_ids(round_file),
        *_grid_and_window_problems(round_file, grid),
        *_proposal_problems(round_file, grid),
        *_quota_problems(round_file),
        *_fair_return_problems(round_file),
        *_previous_schedule_problems(round_file, grid),
    ]


def _instruments(round_file: RoundFile) -> Iterator[tuple[Loc, Facility, Instrument]]:
    for f, facility in enumerate(round_file.facilities):
        for i, instrument in enumerate(facility.instruments):
            yield ("facilities", f, "instruments", i), facility, instrument


def _requests(round_file: RoundFile) -> Iterator[tuple[Loc, Proposal, Request]]:
    for p, proposal in enumerate(round_file.proposals):
        for r, request in enumerate(proposal.requests):
            yield ("proposals", p, "requests", r), proposal, request


def _duplicate_ids(round_file: RoundFile) -> Iterator[_Finding]:
    ids_by_kind: dict[str, list[tuple[Loc, str]]] = {
        "facility": [(("facilities", f), facility.id) for f, facility in enumerate(round_file.facilities)],
        "instrument": [(loc, instrument.id) for loc, _, instrument in _instruments(round_file)],
        "equipment": [(("equipment", e), item.id) for e, item in enumerate(round_file.equipment)],
        "quota": [(("quotas", q), quota.id) for q, quota in enumerate(round_file.quotas)],
        "proposal": [(("proposals", p), proposal.id) for p, proposal in enumerate(round_file.proposals)],
    }
    for kind, ids in ids_by_kind.items():
        seen: set[str] = set()
        for loc, identifier in ids:
            if identifier in seen:
                yield _Finding((*loc, "id"), f"duplicate {kind} id {identifier!r}")
            seen.add(identifier)


def _windows(round_file: RoundFile) -> Iterator[tuple[Loc, Interval]]:
    for f, facility in enumerate(round_file.facilities):
        for w, window in enumerate(facility.maintenance):
            yield ("facilities", f, "maintenance", w), window
    for loc, _, instrument in _instruments(round_file):
        for w, window in enumerate(instrument.maintenance):
            yield (*loc, "maintenance", w), window


def _grid_and_window_problems(round_file: RoundFile, grid: Grid) -> Iterator[_Finding]:
    info = round_file.round
    if info.end <= info.start:
        yield _Finding(("round", "end"), f"the round ends at or before its start {_time(info.start)}")
    elif (too_long := round_length_problem(info.start, info.end, info.shift_hours)) is not None:
        yield _Finding(("round", "end"), too_long)
    elif grid.count == 0:
        yield _Finding(("round", "end"), f"not one whole shift of {info.shift_hours} hours fits in the round")
    for loc, window in _windows(round_file):
        yield from _inverted(loc, window)


def _inverted(loc: Loc, interval: Interval) -> Iterator[_Finding]:
    if interval.end <= interval.start:
        yield _Finding((*loc, "end"), f"the interval ends at or before its start {_time(interval.start)}")


def _proposal_problems(round_file: RoundFile, grid: Grid) -> Iterator[_Finding]:
    requests = sum(len(proposal.requests) for proposal in round_file.proposals)
    if requests > MAX_REQUESTS:
        yield _Finding(("proposals",), f"the round has {requests} requests; at most {MAX_REQUESTS}")
    proposal_of_request: dict[str, str] = {}
    for _, proposal, request in _requests(round_file):
        proposal_of_request.setdefault(request.id, proposal.id)
    context = RoundContext(
        shifts=grid.count,
        instruments={instrument.id for _, _, instrument in _instruments(round_file)},
        equipment={item.id for item in round_file.equipment},
        proposal_of_request=proposal_of_request,
    )
    for p, proposal in enumerate(round_file.proposals):
        for finding in _proposal(proposal.requests, proposal.links, proposal.id, context):
            yield replace(finding, loc=("proposals", p, *finding.loc))


def _proposal(
    requests: Sequence[Request],
    links: Sequence[AllOrNothingLink | AfterLink],
    proposal_id: str,
    context: RoundContext,
) -> Iterator[_Finding]:
    """Paths from the proposal; a request id is the proposal's own once, and unused by other proposals."""
    own: set[str] = set()
    for r, request in enumerate(requests):
        loc: Loc = ("requests", r)
        if request.id in own or context.proposal_of_request.get(request.id, proposal_id) != proposal_id:
            yield _Finding((*loc, _key(request, "id")), f"duplicate request id {request.id!r}")
        own.add(request.id)
        yield from _request(loc, request, context)
    for k, link in enumerate(links):
        yield from _link(("links", k), link, own, context)


def _key(model: BaseModel, name: str) -> str:
    """The field's key in the document: the API's proposal body calls a request's id its `label`."""
    return type(model).model_fields[name].alias or name


def _request(loc: Loc, request: Request, context: RoundContext) -> Iterator[_Finding]:
    for i, instrument_id in enumerate(request.instruments):
        if instrument_id not in context.instruments:
            yield _Finding((*loc, "instruments", i), f"unknown instrument {instrument_id!r}", instrument_id)
    for e, equipment_id in enumerate(request.equipment):
        if equipment_id not in context.equipment:
            yield _Finding((*loc, "equipment", e), f"unknown equipment {equipment_id!r}", equipment_id)
    if request.min_shifts is not None:
        if request.min_shifts > request.shifts:
            message = f"min_shifts {request.min_shifts} is above shifts {request.shifts}"
            yield _Finding((*loc, "min_shifts"), message)
        elif 0 < context.shifts < request.min_shifts:
            message = f"min_shifts {request.min_shifts} is more than the round's {context.shifts} shifts"
            yield _Finding((*loc, "min_shifts"), message)
    if request.earliest is not None and request.latest is not None and request.latest <= request.earliest:
        message = f"latest {_time(request.latest)} is not after earliest {_time(request.earliest)}"
        yield _Finding((*loc, "latest"), message)
    for u, interval in enumerate(request.unavailable):
        yield from _inverted((*loc, "unavailable", u), interval)


def _link(loc: Loc, link: AllOrNothingLink | AfterLink, own: Set[str], context: RoundContext) -> Iterator[_Finding]:
    """A link joins requests of its own proposal (`own`), each once."""

    def reference_problem(at: Loc, request_id: str) -> Iterator[_Finding]:
        if request_id in own:
            return
        owner = context.proposal_of_request.get(request_id)
        if owner is None:
            yield _Finding(at, f"unknown request {request_id!r}", request_id)
        else:
            yield _Finding(at, f"request {request_id!r} is of proposal {owner!r}; a link joins its own requests")

    if isinstance(link, AllOrNothingLink):
        seen: set[str] = set()
        for r, request_id in enumerate(link.requests):
            yield from reference_problem((*loc, "requests", r), request_id)
            if request_id in seen:
                yield _Finding((*loc, "requests", r), f"request {request_id!r} is listed twice")
            seen.add(request_id)
        return
    yield from reference_problem((*loc, "first"), link.first)
    yield from reference_problem((*loc, "then"), link.then)
    if link.first == link.then:
        yield _Finding((*loc, "then"), "a request cannot come after itself")
    if link.max_gap_shifts is not None and link.max_gap_shifts < link.min_gap_shifts:
        message = f"max_gap_shifts {link.max_gap_shifts} is below min_gap_shifts {link.min_gap_shifts}"
        yield _Finding((*loc, "max_gap_shifts"), message)


def _quota_problems(round_file: RoundFile) -> Iterator[_Finding]:
    facility_ids = {facility.id for facility in round_file.facilities}
    instrument_ids = {instrument.id for _, _, instrument in _instruments(round_file)}
    for q, quota in enumerate(round_file.quotas):
        for dangling in dangling_references(quota, facility_ids, instrument_ids, round_file.country_groups):
            yield _Finding(("quotas", q, *dangling.loc), dangling.message, dangling.unknown_id)


def _fair_return_problems(round_file: RoundFile) -> Iterator[_Finding]:
    if round_file.fair_return is None:
        return
    facility_ids = {facility.id for facility in round_file.facilities}
    instrument_ids = {instrument.id for _, _, instrument in _instruments(round_file)}
    target_ids: set[str] = set()
    for t, target in enumerate(round_file.fair_return.targets):
        loc: Loc = ("fair_return", "targets", t)
        if target.id in target_ids:
            yield _Finding((*loc, "id"), f"duplicate fair-return target id {target.id!r}")
        target_ids.add(target.id)
        for dangling in dangling_references(target, facility_ids, instrument_ids, round_file.country_groups):
            yield _Finding((*loc, *dangling.loc), dangling.message, dangling.unknown_id)
    entries: set[tuple[str, str]] = set()
    for h, entry in enumerate(round_file.fair_return.history):
        loc = ("fair_return", "history", h)
        if entry.target not in target_ids:
            yield _Finding((*loc, "target"), f"unknown fair-return target {entry.target!r}", entry.target)
        if (entry.round, entry.target) in entries:
            yield _Finding(loc, f"a second history entry for round {entry.round!r} and target {entry.target!r}")
        entries.add((entry.round, entry.target))


@dataclass(frozen=True)
class _Blocking:
    owner: str
    window: Window


def _previous_schedule_problems(round_file: RoundFile, grid: Grid) -> Iterator[_Finding]:
    requests = {request.id: request for _, _, request in _requests(round_file)}
    blocking = {
        instrument.id: [
            *(_Blocking(facility.id, window) for window in facility.maintenance),
            *(_Blocking(instrument.id, window) for window in instrument.maintenance),
        ]
        for _, facility, instrument in _instruments(round_file)
    }
    allocated: set[str] = set()
    for a, allocation in enumerate(round_file.previous_schedule or []):
        loc: Loc = ("previous_schedule", a)
        request = requests.get(allocation.request)
        if request is None:
            yield _Finding((*loc, "request"), f"unknown request {allocation.request!r}", allocation.request)
            continue
        if allocation.request in allocated:
            yield _Finding((*loc, "request"), f"request {allocation.request!r} has an allocation already")
        allocated.add(allocation.request)
        if allocation.instrument not in request.instruments:
            message = f"instrument {allocation.instrument!r} is not one of request {request.id!r}'s instruments"
            yield _Finding((*loc, "instrument"), message)
        if allocation.pinned:
            yield from _pinned_problems(loc, allocation, request, blocking.get(allocation.instrument, []), grid)


def _pinned_problems(
    loc: Loc, allocation: PreviousAllocation, request: Request, blocking: list[_Blocking], grid: Grid
) -> Iterator[_Finding]:
    """A pinned allocation must be kept exactly, so one that breaks a hard rule makes the round infeasible."""
    start, stop = allocation.start_shift, allocation.start_shift + allocation.shifts
    block = f"the pinned block [{start}, {stop})"
    if allocation.shifts > request.shifts:
        yield _Finding((*loc, "shifts"), f"{block} is longer than the request's {request.shifts} shifts")
    elif allocation.shifts < request.shortest:
        yield _Finding((*loc, "shifts"), f"{block} is shorter than the request's min_shifts {request.shortest}")
    if stop > grid.count:
        yield _Finding((*loc, "start_shift"), f"{block} ends after the round's {grid.count} shifts")
    for blocked in blocking:
        if _overlaps(grid, blocked.window, start, stop):
            window = blocked.window
            message = f"{block} overlaps {blocked.owner}'s {window.kind} window {_span(window)}"
            yield _Finding((*loc, "start_shift"), message)
    if request.earliest is not None and grid.time(start) < request.earliest:
        message = f"{block} starts at {_time(grid.time(start))}, before earliest {_time(request.earliest)}"
        yield _Finding((*loc, "start_shift"), message)
    if request.latest is not None and grid.time(stop) > request.latest:
        message = f"{block} ends at {_time(grid.time(stop))}, after latest {_time(request.latest)}"
        yield _Finding((*loc, "start_shift"), message)
    for interval in request.unavailable:
        if _overlaps(grid, interval, start, stop):
            yield _Finding((*loc, "start_shift"), f"{block} overlaps the request's unavailable {_span(interval)}")


def _overlaps(grid: Grid, interval: Interval, start: int, stop: int) -> bool:
    if interval.end <= interval.start:
        return False
    covered = grid.covering(interval.start, interval.end)
    return covered is not None and covered[0] < stop and start < covered[1]


def _span(interval: Interval) -> str:
    return f"[{_time(interval.start)}, {_time(interval.end)})"


def _time(moment: datetime) -> str:
    return moment.isoformat()
