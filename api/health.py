"""Operational endpoints. None of them calls Kafka: they read what the consumer recorded."""

from __future__ import annotations

import sqlite3
from typing import Any

from fastapi import APIRouter

from api.deps import StateDep
from api.responses import JSONBody
from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, response_class=JSONBody)
async def get_health(state: StateDep) -> Any:
    """Liveness: the process answers and the projection can be read."""
    try:
        state.conn.execute("SELECT 1").fetchone()
    except sqlite3.Error as exc:
        return JSONBody({"status": "failing", "database": str(exc)}, status_code=503)
    return JSONBody({"status": "ok", "database": "ok"})
