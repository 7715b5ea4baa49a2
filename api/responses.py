"""Responses: JSON rendered with orjson (FastAPI's ORJSONResponse is deprecated), and a
response of ready-made bytes for the hot path. Both are JSONResponses, so that FastAPI
documents the routes' response models in the OpenAPI document."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.responses import JSONResponse

JSON = b"application/json"

UNRENDERABLE = b'{"detail":"the response body could not be rendered"}'
"""The body of a response whose content orjson refuses: fixed bytes, so rendering an error
can never raise (and turn a 4xx into a 500)."""

log = logging.getLogger(__name__)


def render_json(content: Any) -> bytes:
    """`content` as JSON; UNRENDERABLE if orjson refuses it (a lone surrogate in a string,
    a value of no JSON type, nesting too deep)."""
    try:
        return orjson.dumps(content)
    except Exception as exc:  # orjson.JSONEncodeError is a TypeError; anything else too
        log.error("a response body could not be rendered (%s)", type(exc).__name__)
        return UNRENDERABLE


class JSONBody(JSONResponse):
    def render(self, content: Any) -> bytes:
        return render_json(content)


class JSONBytes(JSONResponse):
    """A JSON body already rendered, with extra raw headers; skips Starlette's header
    building, which costs more than the WOD's own work."""

    def __init__(
        self, body: bytes, extra_headers: Iterable[tuple[bytes, bytes]] = (), status_code: int = 200
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.background = None
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", JSON),
            *extra_headers,
        ]
