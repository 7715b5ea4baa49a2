"""Dependencies of the routes: the store, the settings-derived services, the caller."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from api.auth import AuthError, Principal, TokenVerifier
from api.catalog import CatalogCache
from api.errors import ApiError


@dataclass
class AppState:
    """What the routes need, built once in the app's lifespan."""

    conn: sqlite3.Connection
    verifier: TokenVerifier
    catalog: CatalogCache
    default_tz: str
    wod_size: int


def get_state(request: Request) -> AppState:
    return request.app.state.coach  # type: ignore[no-any-return]


StateDep = Annotated[AppState, Depends(get_state)]


def get_store(state: StateDep) -> sqlite3.Connection:
    return state.conn


StoreDep = Annotated[sqlite3.Connection, Depends(get_store)]


def get_principal(
    state: StateDep, authorization: Annotated[str | None, Header(include_in_schema=False)] = None
) -> Principal:
    try:
        return state.verifier.verify_header(authorization)
    except AuthError as exc:
        raise ApiError(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


PrincipalDep = Annotated[Principal, Depends(get_principal)]
