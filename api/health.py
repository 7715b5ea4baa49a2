"""Operational endpoints. None of them calls Kafka: they read what the consumer recorded."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from api.deps import AppState, StateDep
from api.lag import age_seconds as age_of
from api.lag import complete_until_us, heartbeat_age_seconds, partition_lag, total_lag
from api.readiness import Check, key_set_check, readiness_checks
from api.responses import JSONBody
from api.schemas import Health, Lag, Ready
from store import status
from store.db import probe
from wod.day import from_us

router = APIRouter(tags=["operations"])


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    return from_us(us).isoformat(timespec="microseconds").replace("+00:00", "Z")


@router.get(
    "/health",
    response_model=Health,
    response_class=JSONBody,
    responses={503: {"model": Health, "description": "The projection cannot be read"}},
)
async def get_health(state: StateDep) -> Any:
    """Liveness: the process answers and the projection can be read."""
    try:
        probe(state.conn)
    except sqlite3.Error as exc:
        return JSONBody({"status": "failing", "database": str(exc)}, status_code=503)
    return JSONBody({"status": "ok", "database": "ok"})


@router.get(
    "/ready",
    response_model=Ready,
    response_class=JSONBody,
    responses={503: {"model": Ready, "description": "Not ready; `failing` names why"}},
)
async def get_ready(state: StateDep, request: Request) -> Any:
    """Readiness: the catalog is loaded, the consumer's heartbeat is recent and the
    projection is at most COACH_READY_MAX_LAG records behind its topics."""
    try:
        snapshot = status.snapshot(state.conn)
        catalog = state.catalog.current(state.conn)
    except sqlite3.Error as exc:
        checks = [Check("database", False, f"the projection cannot be read: {exc}")]
    else:
        checks = checks_of(state, snapshot, len(catalog.ids))
    failing = [c.name for c in checks if not c.ok]
    keys = request.app.state.jwks
    if keys is not None:
        checks.append(key_set_check(keys.age_seconds(), keys.last_error))
    return JSONBody(
        {
            "status": _verdict(checks),
            "failing": failing,
            "degraded": [c.name for c in checks if c.degraded],
            "checks": [c._asdict() for c in checks],
        },
        status_code=503 if failing else 200,
    )


def _verdict(checks: list[Check]) -> str:
    """ "not ready" (503) when a check fails; "degraded" (200) when one holds only just (a
    broker outage: api/readiness.py); else "ready"."""
    if any(not c.ok for c in checks):
        return "not ready"
    return "degraded" if any(c.degraded for c in checks) else "ready"


def checks_of(state: AppState, snapshot: status.Snapshot, catalog_size: int) -> list[Check]:
    """The readiness checks of this process, from a status snapshot (GET /ready's, and the
    WOD route's with COACH_WOD_ONLY_WHEN_READY)."""
    return readiness_checks(
        snapshot=snapshot,
        catalog_size=catalog_size,
        now_us=state.clock(),
        max_lag=state.settings.ready_max_lag,
        max_heartbeat_age_seconds=state.settings.ready_max_heartbeat_age_seconds,
        max_data_age_seconds=state.settings.ready_max_data_age_seconds,
        free_bytes=_free_bytes(state.settings.db_path),
    )


def _free_bytes(db_path: Path) -> int | None:
    """Free space for the consumer on the projection's file system; None when unknown."""
    try:
        return shutil.disk_usage(Path(db_path).resolve().parent).free
    except OSError:
        return None


@router.get(
    "/lag",
    response_model=Lag,
    response_class=JSONBody,
    responses={503: {"model": Health, "description": "The projection cannot be read"}},
)
async def get_lag(state: StateDep) -> Any:
    """How far behind its topics the projection is, per partition, as the consumer last
    recorded it; and the consumer's heartbeat."""
    try:
        snapshot = status.snapshot(state.conn)
        dead_letters = status.dead_letter_count(state.conn)
    except sqlite3.Error as exc:
        return JSONBody({"status": "failing", "database": str(exc)}, status_code=503)
    now_us = state.clock()
    consumer = snapshot.consumer
    return JSONBody(
        {
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "next_offset": p.next_offset,
                    "high_watermark": p.high_watermark,
                    "lag": partition_lag(p),
                    "last_event_at": _iso(p.last_event_at_us),
                }
                for p in snapshot.partitions
            ],
            "total_lag": total_lag(snapshot.partitions),
            "data_age_seconds": age_of(now_us, complete_until_us(snapshot.partitions, consumer)),
            "heartbeat_at": _iso(consumer.heartbeat_at_us),
            "heartbeat_age_seconds": heartbeat_age_seconds(now_us, consumer),
            "broker_reachable": consumer.broker_reachable,
            "last_error": consumer.last_error,
            "dead_letters": dead_letters,
        }
    )
