"""GET /fitness/wod: the workout of the day, answered from the projection alone."""

from __future__ import annotations

import logging
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Request, Security

from api.auth import AuthError
from api.catalog import Catalog
from api.deps import UNAUTHORIZED_HEADERS, AppState, bearer_scheme
from api.errors import ApiError
from api.freshness import Freshness
from api.health import checks_of
from api.query import TZ_MAX_LENGTH, QueryError, parse_wod_query
from api.render import suggestion_tail, wod_json
from api.responses import JSONBytes
from api.schemas import ErrorBody, WodResponse
from api.wodcache import WodCache
from api.zones import is_known_zone, known_zones, zone
from store import changes, erasure, reads
from store.changes import ChangeMark
from store.db import begin_read, end_read
from wod.choose import choose_wod, daily_rng, fresh_rng
from wod.day import Day
from wod.suggestion import Performance, suggest

router = APIRouter()
log = logging.getLogger(__name__)

WOD_PATH = "/fitness/wod"

RETRY_AFTER_SECONDS = 5

FRESHNESS_HEADERS: dict[str, Any] = {
    "X-Projection-Lag": {
        "description": "Records on the topics the projection had not applied when the "
        "consumer last looked (sum over partitions), or `unknown`.",
        "schema": {"type": "string", "pattern": "^([0-9]+|unknown)$"},
        "required": True,
    },
    "X-Data-Age": {
        "description": "Whole seconds: the projection holds every event published before "
        "now minus this, or `unknown`.",
        "schema": {"type": "string", "pattern": "^([0-9]+|unknown)$"},
        "required": True,
    },
}
UNAUTHORIZED: dict[str, Any] = {
    "model": ErrorBody,
    "description": "Missing or invalid bearer token",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
}


def _parameters() -> list[dict[str, Any]]:
    """The route's query parameters, for the OpenAPI document (see api/query.py)."""
    return [
        {
            "name": "tz",
            "in": "query",
            "required": False,
            "description": "IANA time zone that decides 'yesterday' (else the token's "
            "`zoneinfo` claim, else the server's default)",
            "schema": {"type": "string", "maxLength": TZ_MAX_LENGTH, "enum": known_zones()},
        },
        {
            "name": "fresh",
            "in": "query",
            "required": False,
            "description": "Draw a new WOD instead of today's",
            "schema": {"type": "boolean", "default": False},
        },
    ]


@router.get(
    WOD_PATH,
    response_model=WodResponse,
    response_class=JSONBytes,
    responses={
        200: {"description": "The workout of the day", "headers": FRESHNESS_HEADERS},
        401: UNAUTHORIZED,
        422: {"model": ErrorBody, "description": "Unknown time zone or bad parameter"},
        503: {
            "model": ErrorBody,
            "description": "The catalog has not arrived yet (or, with "
            "COACH_WOD_ONLY_WHEN_READY, this replica is not ready)",
            "headers": {"Retry-After": {"schema": {"type": "string"}, "required": True}},
        },
    },
    openapi_extra={"parameters": _parameters()},
    tags=["wod"],
)
async def get_wod(
    request: Request, authorization: Annotated[str | None, Security(bearer_scheme)]
) -> Any:
    """The workout of the day: exercises the user did not do yesterday, with suggestions."""
    return answer_wod(request.app.state.coach, request.scope["query_string"], authorization)


def answer_wod(state: AppState, query_string: bytes, authorization: str | None) -> JSONBytes:
    """The WOD's response for a request's raw query string and Authorization header, or an
    ApiError (401, 422, 503). The route above and api/fastpath.py both answer with this."""
    try:
        principal = state.verifier.verify_header(authorization)
    except AuthError as exc:
        raise ApiError(401, str(exc), headers=UNAUTHORIZED_HEADERS) from None
    try:
        query = parse_wod_query(query_string)
    except QueryError as exc:
        raise ApiError(422, f"invalid query.{exc.name}: {exc}") from None
    if query.tz is not None:
        zone_name = query.tz
        if not is_known_zone(zone_name):
            raise ApiError(422, "unknown time zone in the tz parameter")
    else:
        zone_name = principal.zoneinfo or state.settings.default_tz
        if not is_known_zone(zone_name):
            raise ApiError(422, "unknown time zone in the token's zoneinfo claim")
    now_us = state.clock()
    day = state.days.get(now_us, zone_name, zone(zone_name))
    try:
        freshness, exercises = _exercises(state, principal.user_id, day, query.fresh)
    except sqlite3.Error as exc:
        log.warning("the projection cannot be read: %s", exc)
        raise ApiError(
            503,
            "the projection cannot be read",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    return JSONBytes(
        wod_json(exercises, state.stamps(now_us)),
        (freshness.lag_header, freshness.age_header(now_us)),
    )


# HEAD answers like GET (nginx sends HEAD the same way); the server sends no body.
router.add_api_route(
    WOD_PATH, get_wod, methods=["HEAD"], response_class=JSONBytes, include_in_schema=False
)


def _exercises(state: AppState, user_id: str, day: Day, fresh: bool) -> tuple[Freshness, bytes]:
    """The status, and the WOD's exercises as JSON: the user's rendered WOD of this day and
    catalog if this process holds one, else chosen and rendered now (and kept)."""
    conn = state.conn
    freshness = state.status.get(conn)
    wods = state.wods
    if wods.stale(freshness.changes):
        _forget_changed_users(conn, wods, freshness.changes)
    if freshness.snapshot.erasures != state.erasures_seen:
        _forget_erased_users(state, conn, freshness.snapshot.erasures)
    if state.settings.wod_only_when_ready:
        _refuse_unless_ready(state, freshness)
    if not fresh:
        held = wods.get(user_id, day, freshness.catalog_version)
        if held is not None:
            return freshness, held
    catalog, chosen, latest = _read_and_choose(state, freshness, user_id, day, fresh)
    parts = []
    for exercise_id in chosen:
        performance = latest.get(exercise_id)
        if performance is None:
            tail = catalog.default_tails[exercise_id]
        else:
            default_weight, default_reps = catalog.defaults[exercise_id]
            tail = suggestion_tail(
                *suggest(
                    default_weight=default_weight,
                    default_reps=default_reps,
                    latest=(performance.weight, performance.reps),
                )
            )
        parts.append(catalog.heads[exercise_id] + tail)
    exercises = b",".join(parts)
    if not fresh:
        wods.put(user_id, day, catalog.version, exercises)
    return freshness, exercises


def _refuse_unless_ready(state: AppState, freshness: Freshness) -> None:
    """503 while this process's /ready fails (COACH_WOD_ONLY_WHEN_READY): nginx then asks
    the next replica, and the monolith after the last. Judged once per status read."""
    held = state.readiness
    if held is None or held[0] is not freshness:
        catalog = state.catalog.current(state.conn, freshness.catalog_version)
        checks = checks_of(state, freshness.snapshot, len(catalog.ids))
        held = state.readiness = (freshness, tuple(c.name for c in checks if not c.ok))
    if held[1]:
        raise ApiError(
            503,
            f"this replica is not ready ({', '.join(held[1])}): see GET /ready",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


def _forget_changed_users(conn: sqlite3.Connection, wods: WodCache, mark: ChangeMark) -> None:
    """Bring the held WODs up to the projection's change mark (see api/wodcache.py)."""
    last = wods.mark
    if last is None or not wods.size or not mark.follows(last):
        wods.advance(mark, None)
        return
    wods.advance(mark, changes.changed_users(conn, after=last, upto=mark, limit=wods.size))


def _forget_erased_users(state: AppState, conn: sqlite3.Connection, seq: int) -> None:
    """Drop the held WODs and cached tokens of the users erased since the stamp last seen
    (the first stamp read from a file drops nothing: nothing was held from it before)."""
    seen = state.erasures_seen
    state.erasures_seen = seq
    if seen is None or seq <= seen:
        return
    users = erasure.erased_since(conn, seq=seen)
    state.wods.forget(users)
    state.verifier.forget(users)


def _read_and_choose(
    state: AppState, freshness: Freshness, user_id: str, day: Day, fresh: bool
) -> tuple[Catalog, list[int], dict[int, Performance]]:
    """The catalog, the chosen exercise ids and the user's latest performances."""
    conn = state.conn
    catalog = state.catalog.current(conn, freshness.catalog_version)
    if not catalog.ids:
        raise ApiError(
            503,
            "the exercise catalog has not arrived yet",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    # One read transaction: the two reads see the same snapshot, and take the WAL read
    # lock once instead of once per statement.
    begin_read(conn)
    try:
        recent = reads.history(conn, user_id=user_id)
        done = recent.done_between(day.start_us, day.end_us)
        rng = (
            fresh_rng()
            if fresh
            else daily_rng(
                user_id=user_id,
                day=day.local_date,
                catalog_version=catalog.version,
                done_yesterday=done,
            )
        )
        chosen = choose_wod(catalog.ids, done, rng, state.settings.wod_size)
        latest = reads.performances(conn, user_id=user_id, exercise_ids=chosen, recent=recent)
    finally:
        end_read(conn)
    return catalog, chosen, latest
