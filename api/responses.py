"""Responses: JSON rendered with orjson (FastAPI's ORJSONResponse is deprecated), and a
response of ready-made bytes for the hot path. Both are JSONResponses, so that FastAPI
documents the routes' response models in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.responses import JSONResponse

JSON = b"application/json"


class JSONBody(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


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
