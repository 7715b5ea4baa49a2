"""The baseline of the WOD benchmarks: a plain FastAPI app, not coach's.

What any FastAPI service answering an authenticated GET costs: the same HS256 check as
coach (PyJWT, `exp` and `sub` required, 30 s leeway), a cache of verified tokens like
coach's (least recently used first, never used past `exp`), and a fixed body of the WOD's
size (a real WOD of coach's, read from BENCH_BODY_FILE). No projection, no SQLite, no
middleware, no background task. Served by uvicorn with coach's own settings (warning log
level, no access log, keep-alive 75 s), one worker unless `--workers N`:

    BENCH_SECRET=... BENCH_BODY_FILE=wod.json .venv/bin/python bench/plain_app.py --port 8001
"""

from __future__ import annotations

import argparse
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Annotated

import jwt
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response

SECRET = os.environ.get("BENCH_SECRET", "")
BODY = (
    Path(os.environ["BENCH_BODY_FILE"]).read_bytes() if "BENCH_BODY_FILE" in os.environ else b"{}"
)
CACHE_SIZE = int(os.environ.get("BENCH_TOKEN_CACHE", "10000"))

app = FastAPI()
_verified: OrderedDict[str, tuple[str, float]] = OrderedDict()


async def user_id(request: Request) -> str:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token")
    hit = _verified.get(token)
    if hit is not None and time.time() < hit[1]:
        _verified.move_to_end(token)
        return hit[0]
    try:
        claims = jwt.decode(
            token, SECRET, algorithms=["HS256"], leeway=30, options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError as exc:
        raise HTTPException(401, f"invalid token: {exc}") from None
    _verified[token] = (claims["sub"], float(claims["exp"]))
    while len(_verified) > CACHE_SIZE:
        _verified.popitem(last=False)
    return str(claims["sub"])


@app.get("/fitness/wod")
async def wod(user: Annotated[str, Depends(user_id)]) -> Response:
    return Response(BODY, media_type="application/json")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (uvicorn's --workers)"
    )
    args = parser.parse_args()
    uvicorn.run(
        # uvicorn starts worker processes from an import string only (bench/ on PYTHONPATH)
        "bench.plain_app:app" if args.workers > 1 else app,
        workers=args.workers,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
