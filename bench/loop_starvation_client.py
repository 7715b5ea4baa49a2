"""The per-connection view of bench/loop_starvation.py: N keep-alive connections in a
closed loop (each sends its next `GET /` as soon as the last response has arrived), each
keeping its own count of answered requests and its own worst latency.

wrk gives one latency histogram over all connections; this client says whether the tail is
spread over every connection or held by a few starved ones (a starved connection answers
far fewer requests than the median connection and holds the worst waits).

    taskset -c 0 .venv/bin/python bench/loop_starvation_client.py --port 8350 \
        --connections 100 --seconds 6

With `--late K`, the last K connections open only `--late-after` seconds into the run,
into a saturated server, as nginx opens upstream connections when its clients need them:
their first request's wait includes their wait to be accepted.

Prints one line, `RESULT {...}`: requests, seconds, p50/p99/max latency over all requests
in microseconds, non-2xx answers, and `connections`: per connection `[requests, first_us,
max_after_first_us, late]` (the wait of its first request, which includes the wait to be
accepted, its worst wait after that, and 1 for a late connection).
With `--trace FILE`, also writes one line per request: connection, local port, the
monotonic clock (`time.perf_counter`, shared by every process on the machine) when the
request was written and when its answer had arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import IO

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


class Connection:
    """One connection's own figures."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.bad = 0
        self.port = 0
        self.trace: list[tuple[float, float]] = []
        self.delay = 0.0


async def _drive(host: str, port: int, until: float, conn: Connection, trace: bool) -> None:
    await asyncio.sleep(conn.delay)
    reader, writer = await asyncio.open_connection(host, port)
    conn.port = writer.get_extra_info("sockname")[1]
    try:
        while True:
            started = time.perf_counter()
            if started >= until:
                return
            writer.write(REQUEST)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            ended = time.perf_counter()
            conn.latencies.append(ended - started)
            if trace:
                conn.trace.append((started, ended))
            if not head.startswith(b"HTTP/1.1 2"):
                conn.bad += 1
    finally:
        writer.close()


def _percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


async def run(
    host: str,
    port: int,
    connections: int,
    seconds: float,
    trace: IO[str] | None,
    late: tuple[int, float] = (0, 0.0),
) -> dict[str, object]:
    """Drive `connections` closed-loop connections for `seconds`, `late[0]` of them opened
    `late[1]` seconds in; the figures as a dict."""
    conns = [Connection() for _ in range(connections)]
    for c in conns[connections - late[0] :]:
        c.delay = late[1]
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_drive(host, port, until, c, trace is not None) for c in conns))
    elapsed = time.perf_counter() - started
    every = sorted(x for c in conns for x in c.latencies)
    if trace is not None:
        for number, c in enumerate(conns):
            for sent, answered in c.trace:
                trace.write(f"{number} {c.port} {sent:.6f} {answered:.6f}\n")
    return {
        "requests": len(every),
        "seconds": elapsed,
        "p50_us": _percentile(every, 50) * 1e6 if every else 0,
        "p99_us": _percentile(every, 99) * 1e6 if every else 0,
        "max_us": every[-1] * 1e6 if every else 0,
        "non2xx": sum(c.bad for c in conns),
        "connections": [
            [
                len(c.latencies),
                c.latencies[0] * 1e6 if c.latencies else 0.0,
                max(c.latencies[1:], default=0.0) * 1e6,
                1 if c.delay else 0,
            ]
            for c in conns
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--trace", help="write one line per request to this file")
    parser.add_argument("--late", type=int, default=0, help="connections opened late")
    parser.add_argument("--late-after", type=float, default=1.0, help="seconds (default 1)")
    args = parser.parse_args()
    trace = open(args.trace, "w") if args.trace else None  # noqa: SIM115 (closed below)
    try:
        late = (args.late, args.late_after)
        result = asyncio.run(run(args.host, args.port, args.connections, args.seconds, trace, late))
    finally:
        if trace is not None:
            trace.close()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
