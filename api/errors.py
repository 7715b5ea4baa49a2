"""Errors the routes raise, rendered as JSON bodies with the right status and headers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from api.responses import JSONBody


class ApiError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


async def handle_api_error(_request: Request, exc: Exception) -> JSONBody:
    assert isinstance(exc, ApiError)
    return JSONBody({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)


async def handle_validation_error(_request: Request, exc: Exception) -> JSONBody:
    """FastAPI's own 422, in the api's error shape: a `detail` sentence, then `errors`
    (without the offending input, which may be anything)."""
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    where = ", ".join(".".join(e["loc"]) for e in errors) or "the request"
    return JSONBody({"detail": f"invalid {where}", "errors": errors}, status_code=422)
