"""The ADR's original, synchronous design of the WOD service, for the benchmark (bench/adr.py).

On every request it asks the monolith (bench/monolith.py, over HTTP/1.1 keep-alive) for the
exercise catalog and for the user's exercises, both at once, then filters and draws with
coach's own pure functions (`choose_wod`, `daily_rng`, `suggest`, the same "yesterday"), so
that only the architecture differs from coach: the same FastAPI and uvicorn, the same JWT
check (coach's verifier and token cache, from the same COACH_ settings), the same JSON
answer; no projection, no catalog cache.

The HTTP client is chosen by ADR_CLIENT:
- `httpx` (default): httpx2's AsyncClient with a keep-alive pool, what such a service
  would use;
- `raw`: a minimal keep-alive HTTP/1.1 client on asyncio streams (`RawPool` below), a bound
  on what any client could save: it does nothing but write the request line and read a
  Content-Length body.

    ADR_MONOLITH_URL=http://127.0.0.1:8081 COACH_JWT_SECRET=... \\
        .venv/bin/uvicorn bench.adr_service:create_app --factory --workers 2 --port 8082
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx2
import orjson
from fastapi import FastAPI, Request

from api.app import make_verifier
from api.deps import PrincipalDep
from api.errors import ApiError, handle_api_error
from api.query import QueryError, parse_wod_query
from api.render import UtcStamps
from api.responses import JSONBytes
from api.zones import is_known_zone, zone
from config.settings import load_settings
from wod.choose import choose_wod, daily_rng, fresh_rng
from wod.day import YesterdayCache
from wod.history import CompletedRow, History, WindowWorkout
from wod.suggestion import Entry, Performance, best_performances, suggest


def history_of(workouts: Iterable[Sequence[Any]]) -> History:
    """The monolith's `workouts` ([[completed_at_us, workout_id, deleted, [[id, sets, reps,
    weight], ...]], ...]) as coach's History, oldest first."""
    return History(
        sorted(
            (
                WindowWorkout(int(at), str(w), [CompletedRow(*row) for row in rows], bool(d))
                for at, w, d, rows in workouts
            ),
            key=lambda w: (w.completed_at_us, w.workout_id),
        )
    )


def latest_performances(
    recent: History, folded: Iterable[Sequence[Any]], wanted: Iterable[int]
) -> dict[int, Performance]:
    """Per wanted exercise, the suggestion by coach's rule (wod/suggestion.py
    `suggested_entry`) over the folded performances ([[exercise_id, completed_at_us,
    workout_id, sets, reps, weight, deleted], ...]) and the window's workouts."""
    wanted = set(wanted)
    entries: dict[int, list[Entry]] = {}
    for exercise_id, *entry in folded:
        if exercise_id in wanted:
            entries.setdefault(int(exercise_id), []).append(Entry(*entry[:5], bool(entry[5])))
    for exercise_id, window in recent.entries(wanted).items():
        entries.setdefault(exercise_id, []).extend(window)
    return best_performances(entries)


class RawResponse(NamedTuple):
    status_code: int
    content: bytes


class RawPool:
    """Keep-alive HTTP/1.1 GETs to one host: idle connections are reused, new ones opened
    when none is idle. Only what the stand-in sends is understood (a Content-Length body)."""

    def __init__(self, base_url: str) -> None:
        host_port = base_url.split("://", 1)[1].rstrip("/")
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str) -> RawResponse:
        if self._idle:
            reader, writer = self._idle.pop()
            try:
                return await self._get(reader, writer, path)
            except (OSError, asyncio.IncompleteReadError):
                pass  # the server closed the idle connection: once more on a new one
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return await self._get(reader, writer, path)

    async def _get(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
    ) -> RawResponse:
        try:
            writer.write(
                b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), self.host.encode())
            )
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        self._idle.append((reader, writer))
        return RawResponse(status, body)

    async def aclose(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


def create_app() -> FastAPI:
    settings = load_settings()
    monolith = os.environ.get("ADR_MONOLITH_URL", "http://127.0.0.1:8081")
    raw = os.environ.get("ADR_CLIENT", "httpx") == "raw"
    verifier = make_verifier(settings)
    days = YesterdayCache()
    stamps = UtcStamps()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if raw:
            pool = RawPool(monolith)
            app.state.client = pool
            try:
                yield
            finally:
                await pool.aclose()
            return
        limits = httpx2.Limits(max_connections=256, max_keepalive_connections=256)
        async with httpx2.AsyncClient(base_url=monolith, limits=limits, timeout=10.0) as client:
            app.state.client = client
            yield

    app = FastAPI(title="ADR baseline", lifespan=lifespan)
    # api.deps.get_principal finds the verifier here, as in coach.
    app.state.coach = SimpleNamespace(verifier=verifier)
    app.add_exception_handler(ApiError, handle_api_error)

    @app.get("/health")
    async def health() -> Any:
        return JSONBytes(b'{"status":"ok"}')

    @app.get("/fitness/wod")
    async def get_wod(request: Request, principal: PrincipalDep) -> Any:
        try:
            query = parse_wod_query(request.scope["query_string"])
        except QueryError as exc:
            raise ApiError(422, f"invalid query.{exc.name}: {exc}") from None
        zone_name = query.tz if query.tz is not None else principal.zoneinfo or settings.default_tz
        if not is_known_zone(zone_name):
            raise ApiError(422, f"unknown time zone {zone_name[:64]!r}")
        now_us = time.time_ns() // 1000
        day = days.get(now_us, zone_name, zone(zone_name))
        user_id = principal.user_id
        client: httpx2.AsyncClient | RawPool = request.app.state.client
        try:
            responses: tuple[Any, Any] = await asyncio.gather(
                client.get("/catalog"), client.get(f"/users/{quote(user_id, safe='')}/exercises")
            )
        except (httpx2.HTTPError, OSError, asyncio.IncompleteReadError) as exc:
            raise ApiError(502, f"the monolith did not answer: {exc!r}") from None
        catalog_response, user_response = responses
        if catalog_response.status_code != 200 or user_response.status_code != 200:
            raise ApiError(502, "the monolith answered with an error")
        catalog = orjson.loads(catalog_response.content)
        user = orjson.loads(user_response.content)
        exercises = {e["id"]: e for e in catalog["exercises"]}
        if not exercises:
            raise ApiError(503, "the exercise catalog is empty", headers={"Retry-After": "5"})
        recent = history_of(user["workouts"])
        done = recent.done_between(day.start_us, day.end_us)
        rng = (
            fresh_rng()
            if query.fresh
            else daily_rng(
                user_id=user_id,
                day=day.local_date,
                catalog_version=catalog["version"],
                done_yesterday=done,
            )
        )
        chosen = choose_wod(list(exercises), done, rng, settings.wod_size)
        latest = latest_performances(recent, user["performances"], chosen)
        body = []
        for exercise_id in chosen:
            e = exercises[exercise_id]
            performance = latest.get(exercise_id)
            weight, reps = suggest(
                default_weight=e["default_weight"],
                default_reps=e["default_reps"],
                latest=None if performance is None else (performance.weight, performance.reps),
            )
            body.append(
                {
                    "id": e["id"],
                    "name": e["name"],
                    "description": e["description"],
                    "difficulty": e["difficulty"],
                    "muscle_groups": e["muscle_groups"],
                    "suggested_weight": weight,
                    "suggested_reps": reps,
                }
            )
        return JSONBytes(orjson.dumps({"exercises": body, "generated_at": stamps(now_us)}))

    return app
