"""How late the event loop runs what should run now: stalls measured where they happen.

A background task of each api process asks to be woken every `INTERVAL_SECONDS` and
records, in `coach_event_loop_lag_seconds`, how much later than asked it was run: the
time every request waiting in that process was held up by whatever ran in between (a slow
callback, a long computation on the loop, the garbage collector, the process descheduled).
A histogram per process, so a stall shows in production, not only in a benchmark.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Histogram

INTERVAL_SECONDS = 0.05
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LoopLag:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.histogram = Histogram(
            "coach_event_loop_lag_seconds",
            "How much later than asked this process's event loop ran a timer callback "
            f"(one every {INTERVAL_SECONDS} s): the stall every waiting request saw.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.worst = 0.0
        """The longest lag seen (for tests and benchmarks)."""

    async def run(self, interval: float = INTERVAL_SECONDS) -> None:
        loop = asyncio.get_running_loop()
        observe = self.histogram.observe
        while True:
            asked = loop.time() + interval
            await asyncio.sleep(interval)
            late = max(0.0, loop.time() - asked)
            observe(late)
            if late > self.worst:
                self.worst = late
