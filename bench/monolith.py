"""The monolith as the ADR's synchronous design would have called it: a stand-in, for the
benchmark of that design (bench/adr.py). Not the monolith, and not deploy/legacy/app.py
(that one answers the whole legacy WOD after a fixed delay; this one answers the two
questions the ADR's WOD service would ask, from real data).

It serves a copy of the benchmark's projection file, so both designs see the same data, and
does per call what a database behind the monolith would do: no sleeps, no cache.

- `GET /catalog`: the live exercise catalog, `{"version": V, "exercises": [{"id", "name",
  "description", "difficulty", "default_weight", "default_reps", "muscle_groups": [...]},
  ...]}` ordered by id. Per call: the catalog version and the catalog's two queries
  (`store.reads.catalog_version` and `load_catalog`: exercises, and their muscle groups
  joined), in one read transaction, rendered with orjson.
- `GET /users/{user_id}/exercises`: what the user did, `{"workouts": [[completed_at_us,
  [[exercise_id, sets, reps, weight], ...]], ...], "performances": [[exercise_id,
  completed_at_us, weight, reps], ...]}`: their workouts of the history window (which hold
  yesterday's exercises and the recent performances) and their folded latest performances.
  Per call: the same two indexed queries coach's WOD makes (the user's workouts, the user's
  performances), in one read transaction; the stored exercise lists are JSON already and
  are spliced into the answer as they are.
- `GET /health`: 200. Anything else: 404.

A bare ASGI app (no framework) under uvicorn with httptools and uvloop, each worker with
its own read-only SQLite connection: the cheapest honest HTTP front a database can have, so
the baseline is not slowed by a slow stand-in.

    ADR_MONOLITH_DB=copy.db .venv/bin/uvicorn bench.monolith:app --workers 2 --port 8081
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import orjson

from store import reads
from store.db import connect

JSON_HEADERS = [(b"content-type", b"application/json")]
USER_PREFIX = "/users/"
USER_SUFFIX = "/exercises"

_conn: sqlite3.Connection | None = None


def _db() -> sqlite3.Connection:
    global _conn
    if _conn is None:
        _conn = connect(os.environ["ADR_MONOLITH_DB"], readonly=True)
    return _conn


def catalog_body(conn: sqlite3.Connection) -> bytes:
    conn.execute("BEGIN")
    try:
        version = reads.catalog_version(conn)
        exercises = reads.load_catalog(conn)
    finally:
        conn.execute("COMMIT")
    return orjson.dumps(
        {
            "version": version,
            "exercises": [
                {
                    "id": e.id,
                    "name": e.name,
                    "description": e.description,
                    "difficulty": e.difficulty,
                    "default_weight": e.default_weight,
                    "default_reps": e.default_reps,
                    "muscle_groups": e.muscle_groups,
                }
                for e in exercises
            ],
        }
    )


def user_body(conn: sqlite3.Connection, user_id: str) -> bytes:
    conn.execute("BEGIN")
    try:
        workouts = conn.execute(
            """SELECT completed_at_us, workout_id, deleted, exercises FROM workouts
               WHERE user_id = ? AND exercises IS NOT NULL""",
            (user_id,),
        ).fetchall()
        performances = conn.execute(
            """SELECT exercise_id, completed_at_us, workout_id, sets, reps, weight, deleted
               FROM performances WHERE user_id = ?""",
            (user_id,),
        ).fetchall()
    finally:
        conn.execute("COMMIT")
    workouts.sort(key=lambda row: row[0])
    return b"".join(
        (
            b'{"workouts":[',
            b",".join(
                b"[%d,%s,%d,%s]" % (at, orjson.dumps(w), d, blob) for at, w, d, blob in workouts
            ),
            b'],"performances":',
            orjson.dumps(performances),
            b"}",
        )
    )


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _db()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    status, body = 404, b'{"detail":"Not Found"}'
    if scope["method"] == "GET":
        if path == "/catalog":
            status, body = 200, catalog_body(_db())
        elif path.startswith(USER_PREFIX) and path.endswith(USER_SUFFIX):
            user_id = path[len(USER_PREFIX) : -len(USER_SUFFIX)]  # decoded by the server
            status, body = 200, user_body(_db(), user_id)
        elif path == "/health":
            status, body = 200, b'{"status":"ok"}'
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
