"""A second closed-loop load generator: N keep-alive connections, each sending its next
GET /fitness/wod as soon as the last response has arrived, with its own latency per request.

bench/tail.py runs it beside wrk on the same kind of fresh server, because wrk's p99 at
saturation includes a tail that this client does not see at the same throughput (see
docs/BENCHMARKS.md, "The tail against a plain FastAPI app"). One process, uvloop, raw
HTTP/1.1 (no client library between the socket and the clock); the latency of a request is
from just before its write to the end of its body.

    .venv/bin/python bench/loop_client.py --port 8000 --tokens hot.txt --connections 100 \
        --seconds 10 --mode hot

Prints one line, `RESULT {...}`: requests, seconds, p50/p99/p99.9/max in microseconds,
non-2xx responses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Iterator

import uvloop


class Tokens:
    """hot: a token drawn at random per request; cold: each token once, in order."""

    def __init__(self, tokens: list[str], mode: str, seed: int) -> None:
        self._tokens = tokens
        self._rng = random.Random(seed)
        self._next: Iterator[str] | None = iter(tokens) if mode == "cold" else None

    def take(self) -> str:
        if self._next is None:
            return self._rng.choice(self._tokens)
        return next(self._next)


async def _connection(
    port: int, tokens: Tokens, until: float, latencies: list[float], bad: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            token = tokens.take()
            started = time.perf_counter()
            if started >= until:
                return
            writer.write(
                b"GET /fitness/wod HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer "
                + token.encode()
                + b"\r\n\r\n"
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 2"):
                bad.append(1)
    finally:
        writer.close()


async def run(port: int, tokens: Tokens, connections: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    bad: list[int] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_connection(port, tokens, until, latencies, bad) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1e6

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "p50_us": pct(50),
        "p99_us": pct(99),
        "p999_us": pct(99.9),
        "max_us": latencies[-1] * 1e6,
        "non2xx": len(bad),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", required=True, help="a file of tokens, one per line")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--mode", choices=("hot", "cold"), default="hot")
    args = parser.parse_args()
    with open(args.tokens) as f:
        tokens = Tokens(f.read().split(), args.mode, seed=7)
    result = uvloop.run(run(args.port, tokens, args.connections, args.seconds))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
