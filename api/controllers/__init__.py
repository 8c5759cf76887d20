"""HTTP endpoints, one controller per resource: they parse, call `scheduler`, and answer in schemas."""

from __future__ import annotations

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
"""The OpenAPI security requirement of every endpoint that needs a token."""
