"""GET /bench/ceiling: the benchmark's ceiling. Only served when COACH_BENCH_CEILING is set.

Same app, middleware and bearer check as GET /fitness/wod, then a fixed body of a WOD's
size (the first COACH_WOD_SIZE exercises of the catalog with their defaults, rendered once)
and freshness headers of the same length: what the WOD would cost if choosing it were free.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import AppState, PrincipalDep
from api.errors import ApiError
from api.render import wod_body
from api.responses import JSONBytes

router = APIRouter(include_in_schema=False)

HEADERS = ((b"x-projection-lag", b"0"), (b"x-data-age", b"1"))
GENERATED_AT = "2026-01-01T00:00:00.000000Z"


@router.get("/bench/ceiling")
async def get_ceiling(request: Request, principal: PrincipalDep) -> Any:
    state: AppState = request.app.state.coach
    body = state.ceiling_body
    if body is None:
        catalog = state.catalog.current(state.conn)
        if not catalog.ids:
            raise ApiError(503, "the exercise catalog has not arrived yet")
        chosen = catalog.ids[: state.settings.wod_size]
        body = wod_body((catalog.heads[i] + catalog.default_tails[i] for i in chosen), GENERATED_AT)
        state.ceiling_body = body
    return JSONBytes(body, HEADERS)
