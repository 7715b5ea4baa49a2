"""Dependencies of the routes: the store, the settings-derived services, the caller."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from api.auth import AuthError, Principal
from api.catalog import CatalogCache
from api.errors import ApiError
from api.freshness import StatusCache
from api.render import UtcStamps
from api.wodcache import WodCache
from config.settings import Settings
from wod.day import YesterdayCache


class Verifier(Protocol):
    def verify_header(self, authorization: str | None) -> Principal: ...

    def forget(self, users: Collection[str]) -> None:
        """Drop what is held of `users` (erased)."""

    def clear(self) -> None: ...


@dataclass
class AppState:
    """What the routes need, built once in the app's lifespan."""

    conn: sqlite3.Connection
    verifier: Verifier
    catalog: CatalogCache
    status: StatusCache
    days: YesterdayCache
    settings: Settings
    clock: Callable[[], int]
    """Now, in microseconds since the epoch."""
    wods: WodCache = field(default_factory=lambda: WodCache(0))
    stamps: UtcStamps = field(default_factory=UtcStamps)
    ceiling_body: bytes | None = None
    """GET /bench/ceiling's body, rendered from the catalog on its first request."""
    readiness: tuple[object, tuple[str, ...]] | None = None
    """The status snapshot last judged for COACH_WOD_ONLY_WHEN_READY, and the readiness
    checks it failed (judged again with each status the process reads)."""
    erasures_seen: int | None = None
    """The projection's erasure stamp (store/erasure.py) that the held WODs and cached
    tokens are up to date with (None: none read from this file yet)."""

    def reset_caches(self) -> None:
        """Forget everything held from the projection file (the catalog, the consumer's
        status, the rendered WODs, the ceiling's body, the verified tokens), so that the next
        request reads the file afresh: for when another projection file replaces it. (The
        new file's erasure stamps are its own, so tokens of users erased meanwhile could
        not be told apart: all are verified again.)"""
        self.catalog.reset()
        self.status.reset()
        self.wods.clear()
        self.verifier.clear()
        self.ceiling_body = None
        self.readiness = None
        self.erasures_seen = None


def get_state(request: Request) -> AppState:
    return request.app.state.coach  # type: ignore[no-any-return]


StateDep = Annotated[AppState, Depends(get_state)]


class BearerScheme(HTTPBearer):
    """Puts the bearer scheme in the OpenAPI document; hands the raw header to the verifier,
    which gives every failure its own 401 (FastAPI's own would be a bare 401 or 403)."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


bearer_scheme = BearerScheme(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A JWT with `sub` and `exp` (and `zoneinfo`, `iss`, `aud` as configured).",
)

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


async def get_principal(
    request: Request, authorization: Annotated[str | None, Security(bearer_scheme)]
) -> Principal:
    try:
        return request.app.state.coach.verifier.verify_header(authorization)  # type: ignore[no-any-return]
    except AuthError as exc:
        raise ApiError(401, str(exc), headers=UNAUTHORIZED_HEADERS) from None


PrincipalDep = Annotated[Principal, Depends(get_principal)]
