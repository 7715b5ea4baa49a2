"""The bare ASGI app of bench/loop_starvation.py: no framework, a handler that spins
`STARVE_WORK_US` microseconds of synchronous work (200 by default), then sends a 2 kB JSON
body in two `send` calls. With `STARVE_YIELD=1` the handler first awaits `asyncio.sleep(0)`,
the one yield point the candidate fix adds.

    STARVE_WORK_US=200 taskset -c 1 .venv/bin/python -m uvicorn \
        bench.loop_starvation_app:app --loop uvloop --port 8350
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

BODY = b'{"ok":true,"pad":"' + b"x" * 1900 + b'"}'
HEAD = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))],
}
MESSAGE = {"type": "http.response.body", "body": BODY}
WORK = float(os.environ.get("STARVE_WORK_US", "200")) / 1e6
YIELD = os.environ.get("STARVE_YIELD", "0") == "1"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Spin WORK seconds, then answer 200 with BODY; lifespan and other scopes are ignored."""
    if scope["type"] != "http":
        return
    if YIELD:
        await asyncio.sleep(0)
    end = time.perf_counter() + WORK
    while time.perf_counter() < end:
        pass
    await send(HEAD)
    await send(MESSAGE)
