"""GET /fitness/wod: the workout of the day, answered from the projection alone."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.choose import choose_wod, daily_rng
from api.deps import PrincipalDep, StateDep
from api.errors import ApiError
from api.responses import JSONBody
from api.schemas import ErrorBody, WodResponse
from api.suggest import suggest
from api.timewindow import yesterday
from api.zones import is_known_zone, zone
from store import reads

router = APIRouter()

CATALOG_RETRY_AFTER_SECONDS = 5


@router.get(
    "/fitness/wod",
    response_model=WodResponse,
    response_class=JSONBody,
    responses={
        401: {"model": ErrorBody, "description": "Missing or invalid bearer token"},
        422: {"model": ErrorBody, "description": "Unknown time zone or bad parameter"},
        503: {"model": ErrorBody, "description": "The catalog has not arrived yet"},
    },
    tags=["wod"],
)
async def get_wod(
    principal: PrincipalDep,
    state: StateDep,
    tz: Annotated[
        str | None,
        Query(max_length=64, description="IANA time zone that decides 'yesterday'"),
    ] = None,
    fresh: Annotated[bool, Query(description="Draw a new WOD instead of today's")] = False,
) -> Any:
    """The workout of the day: exercises the user did not do yesterday, with suggestions."""
    zone_name = tz or principal.zoneinfo or state.default_tz
    if not is_known_zone(zone_name):
        raise ApiError(422, f"unknown time zone {zone_name[:64]!r}")
    now = datetime.now(UTC)
    day = yesterday(now, zone(zone_name))
    conn = state.conn
    catalog = state.catalog.current(conn)
    if not catalog.ids:
        raise ApiError(
            503,
            "the exercise catalog has not arrived yet",
            headers={"Retry-After": str(CATALOG_RETRY_AFTER_SECONDS)},
        )
    user_id = principal.user_id
    done = reads.done_between(conn, user_id=user_id, start_us=day.start_us, end_us=day.end_us)
    rng = (
        random.Random()
        if fresh
        else daily_rng(
            user_id=user_id,
            day=day.local_date,
            catalog_version=catalog.version,
            done_yesterday=done,
        )
    )
    chosen = choose_wod(catalog.ids, done, rng, state.wod_size)
    latest = reads.performances(conn, user_id=user_id, exercise_ids=chosen)
    exercises = []
    for exercise_id in chosen:
        default_weight, default_reps = catalog.defaults[exercise_id]
        performance = latest.get(exercise_id)
        suggestion = suggest(
            default_weight=default_weight,
            default_reps=default_reps,
            latest=(performance.weight, performance.reps) if performance else None,
        )
        exercises.append(
            {
                **catalog.rendered[exercise_id],
                "suggested_weight": suggestion.weight,
                "suggested_reps": suggestion.reps,
            }
        )
    body = {
        "exercises": exercises,
        "generated_at": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }
    return JSONBody(body)
