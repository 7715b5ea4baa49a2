"""Errors the routes raise, rendered as JSON bodies with the right status and headers."""

from __future__ import annotations

from fastapi import Request

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
