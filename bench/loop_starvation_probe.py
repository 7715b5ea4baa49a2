"""Where the starved connections of bench/loop_starvation.py wait, seen from the server:
the bare app again, with clocks (`bench/loop_starvation.py --probe` runs it under wrk).

The server side (`--http bench.loop_starvation_probe:Probe`, app `...:app`) notes when each
connection was made (`connection_made`) and when each request's bytes were read
(`data_received`, inside the loop's I/O phase). At shutdown (the lifespan's end: uvicorn
re-raises SIGTERM after it, so no atexit hook would run) it writes them as JSON to
`$PROBE_OUT`.

`analyse` turns that into: over how long the connections were accepted (wrk opens all of
its connections within a few milliseconds), and per connection the number of requests read
once all were accepted (a starved connection gets fewer). Connections without a request
(the check that the server listens) are left out.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bench import loop_starvation_app

ACCEPTED: dict[int, float] = {}
"""Client port: when the connection was made."""
READS: dict[int, list[float]] = {}
"""Client port: when each request's bytes were read."""


def _dump() -> None:
    Path(os.environ["PROBE_OUT"]).write_text(json.dumps({"accepted": ACCEPTED, "reads": READS}))


class Probe(HttpToolsProtocol):
    """uvicorn's httptools protocol, noting when each connection came and was read."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client is not None:
            ACCEPTED[self.client[1]] = time.perf_counter()

    def data_received(self, data: bytes) -> None:
        if self.client is not None:
            READS.setdefault(self.client[1], []).append(time.perf_counter())
        super().data_received(data)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The bare app of bench/loop_starvation_app.py, writing the records at shutdown."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        _dump()
        await send({"type": "lifespan.shutdown.complete"})
        return
    await loop_starvation_app.app(scope, receive, send)


def analyse(
    accepted: dict[Any, float], reads: dict[Any, list[float]], settle: float
) -> dict[str, Any]:
    """The figures of one probe run (pure: what the server wrote in, figures out); the
    steady window starts `settle` seconds after the last connection was accepted."""
    ports = [port for port in accepted if reads.get(port)]
    times = sorted(accepted[port] for port in ports)
    steady = times[-1] + settle
    last_read = max(reads[port][-1] for port in ports)
    counts = sorted(sum(1 for t in reads[port] if t >= steady) for port in ports)
    return {
        "connections": len(times),
        "accepted_over_ms": round((times[-1] - times[0]) * 1e3, 1),
        "accepted_at_ms": [round((t - times[0]) * 1e3) for t in times],
        "steady_seconds": round(last_read - steady, 1),
        "steady_requests_per_connection": {
            "min": counts[0],
            "p10": counts[len(counts) // 10],
            "median": counts[len(counts) // 2],
            "max": counts[-1],
        },
    }


def load(path: Path, settle: float = 0.5) -> dict[str, Any]:
    """analyse() over the file a probe server wrote."""
    data = json.loads(path.read_text())
    return analyse(data["accepted"], data["reads"], settle)
