"""CPU time per request of GET /fitness/wod and /bench/ceiling, in process (no sockets).

Builds the same projection and tokens as bench/wod.py, then sends requests straight to the
ASGI app (lifespan started, the same settings as `coach api`) and reports the best of
`--rounds` rounds of CPU time per request, for each path. `--profile` prints a cProfile of
the WOD path instead (sorted by own time).

`--plain` compares coach's WOD with bench/plain_app.py (a plain FastAPI app: the same HS256
check and token cache, a fixed body) in the two mixes of bench/tail.py, alternating the two
apps round by round: hot (1,000 users at random, their tokens cached and WODs held) and cold
(every request a user and a token not seen before). No sockets and no HTTP parsing: what
the apps themselves cost, which is where they differ (uvicorn's share is the same for both).

    .venv/bin/python bench/wod_inprocess.py
    .venv/bin/python bench/wod_inprocess.py --profile
    .venv/bin/python bench/wod_inprocess.py --wod-cache-size 0   # every WOD read and drawn
    .venv/bin/python bench/wod_inprocess.py --plain
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import os
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from api.app import create_app  # noqa: E402
from bench.common import save_result  # noqa: E402
from bench.wod import SECRET, USERS, build_projection, write_tokens  # noqa: E402
from config.settings import Settings  # noqa: E402


async def _request(app: Any, path: str, token: str, body: list[bytes] | None = None) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif body is not None:
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status


async def _run(app: Any, path: str, tokens: list[str], n: int) -> float:
    started = time.process_time()
    for i in range(n):
        status = await _request(app, path, tokens[i % len(tokens)])
        assert status == 200, (path, status)
    return (time.process_time() - started) / n * 1e6


async def _with_lifespan(app: Any, body: Callable[[], Awaitable[None]]) -> None:
    async with app.router.lifespan_context(app):
        await body()


def _tokens(users: list[str]) -> list[str]:
    import jwt

    exp = int(time.time()) + 4 * 3600
    return [jwt.encode({"sub": u, "exp": exp}, SECRET, algorithm="HS256") for u in users]


async def _plain_comparison(app: Any, tmp: Path, rounds: int, requests: int) -> None:
    """coach's WOD against the plain app, hot and cold, round by round."""
    users = [str(u) for u in random.Random(5).sample(range(1, USERS + 1), USERS)]
    hot = _tokens(users[:1000])
    cold_needed = rounds * requests + 1000
    cold_users = (users[1000:] + [f"new-{n}" for n in range(cold_needed)])[:cold_needed]
    body: list[bytes] = []
    assert await _request(app, "/fitness/wod", hot[0], body) == 200
    (tmp / "body.json").write_bytes(b"".join(body))
    os.environ.update(BENCH_SECRET=SECRET, BENCH_BODY_FILE=str(tmp / "body.json"))
    plain = importlib.import_module("bench.plain_app").app
    apps = {"coach": app, "plain": plain}
    for each in apps.values():  # warm: the hot tokens verified, the WODs held
        await _run(each, "/fitness/wod", hot, len(hot))
    rng = random.Random(7)
    best: dict[tuple[str, str], float] = {}
    cold_at = {"coach": 0, "plain": 0}
    cold = {name: _tokens(cold_users) for name in apps}  # the same users, each app its own
    for _ in range(rounds):
        for name, each in apps.items():
            for mix in ("hot", "cold"):
                if mix == "hot":
                    tokens = [rng.choice(hot) for _ in range(requests)]
                else:
                    start = cold_at[name]
                    tokens = cold[name][start : start + requests]
                    cold_at[name] = start + requests
                us = await _run(each, "/fitness/wod", tokens, len(tokens))
                best[name, mix] = min(best.get((name, mix), us), us)
    figures: dict[str, Any] = {"rounds": rounds, "requests": requests}
    for mix in ("hot", "cold"):
        coach_us, plain_us = best["coach", mix], best["plain", mix]
        figures[mix] = {"coach_us": coach_us, "plain_us": plain_us}
        print(
            f"{mix:<5} coach {coach_us:6.1f} us  plain {plain_us:6.1f} us  "
            f"coach/plain {coach_us / plain_us:.2f}  (CPU per request, best of {rounds})"
        )
    save_result("inprocess", figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=2000, help="per round")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--plain", action="store_true", help="against bench/plain_app.py")
    parser.add_argument(
        "--wod-cache-size", type=int, default=10_000, help="COACH_WOD_CACHE_SIZE (0: off)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coach-inproc-") as tmp:
        db_path, token_file = Path(tmp) / "coach.db", Path(tmp) / "tokens.txt"
        build_projection(db_path)
        write_tokens(token_file)
        tokens = token_file.read_text().split()
        settings = Settings(
            db_path=db_path,
            jwt_secret=SECRET,
            bench_ceiling=True,
            wod_cache_size=args.wod_cache_size,
        )
        app = create_app(settings)

        async def body() -> None:
            if args.plain:
                await _plain_comparison(app, Path(tmp), args.rounds, args.requests)
                return
            for path in ("/bench/ceiling", "/fitness/wod"):  # warm: every token verified
                await _run(app, path, tokens, len(tokens))
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                await _run(app, "/fitness/wod", tokens, args.requests * 5)
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
                return
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                for path in ("/bench/ceiling", "/fitness/wod"):
                    us = await _run(app, path, tokens, args.requests)
                    best[path] = min(best.get(path, us), us)
            for path, us in best.items():
                print(f"{path:<16} {us:6.1f} us CPU per request (best of {args.rounds})")
            print(f"ratio ceiling/wod {best['/bench/ceiling'] / best['/fitness/wod']:.2f}")

        asyncio.run(_with_lifespan(app, body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
