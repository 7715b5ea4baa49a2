"""Showing a replay's progress: a progress bar per topic on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import Protocol

log = logging.getLogger("coach.replay")

LOG_EVERY_SECONDS = 5.0


class Progress(Protocol):
    def phase(self, name: str, totals: Mapping[str, int]) -> None:
        """A new phase begins: `totals` are the records to read per topic."""

    def advance(self, topic: str, records: int) -> None: ...

    def close(self) -> None: ...


def for_terminal(stream: object = None) -> Progress:
    """Bars when `stream` (stderr) is a terminal, plain log lines otherwise."""
    stream = stream if stream is not None else sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        return BarProgress()
    return LogProgress()


class LogProgress:
    """One log line every few seconds: per topic done/total, events per second, ETA."""

    def __init__(self, every: float = LOG_EVERY_SECONDS) -> None:
        self.every = every
        self._name = ""
        self._totals: dict[str, int] = {}
        self._done: dict[str, int] = {}
        self._started = self._last = time.monotonic()

    def phase(self, name: str, totals: Mapping[str, int]) -> None:
        self._flush(final=True)
        self._name = name
        self._totals = dict(totals)
        self._done = dict.fromkeys(totals, 0)
        self._started = self._last = time.monotonic()
        log.info("%s: %s records to read", name, _fmt(totals))

    def advance(self, topic: str, records: int) -> None:
        self._done[topic] = self._done.get(topic, 0) + records
        if time.monotonic() - self._last >= self.every:
            self._flush()

    def _flush(self, *, final: bool = False) -> None:
        if not self._name:
            return
        now = time.monotonic()
        elapsed = max(now - self._started, 1e-9)
        parts = []
        for topic, total in self._totals.items():
            done = self._done.get(topic, 0)
            rate = done / elapsed
            eta = (total - done) / rate if rate > 0 and total > done else 0.0
            parts.append(f"{topic} {done:,}/{total:,} ({rate:,.0f} ev/s, ETA {eta:.0f} s)")
        log.info("%s%s: %s", self._name, " done" if final else "", "; ".join(parts))
        self._last = now

    def close(self) -> None:
        self._flush(final=True)
        self._name = ""


class BarProgress:
    """rich progress bars, one per topic: events applied, events per second, ETA."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bars

        self._bars = Bars(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._tasks: dict[str, object] = {}
        self._bars.start()

    def phase(self, name: str, totals: Mapping[str, int]) -> None:
        for task in self._tasks.values():
            self._bars.stop_task(task)  # type: ignore[arg-type]
        self._tasks = {
            topic: self._bars.add_task(f"{name} {topic}", total=total, rate="")
            for topic, total in totals.items()
        }

    def advance(self, topic: str, records: int) -> None:
        task = self._tasks.get(topic)
        if task is None:
            return
        self._bars.advance(task, records)  # type: ignore[arg-type]
        speed = next((t.speed for t in self._bars.tasks if t.id == task), None)
        self._bars.update(task, rate=f"{speed:,.0f} ev/s" if speed else "")  # type: ignore[arg-type]

    def close(self) -> None:
        self._bars.stop()


def _fmt(totals: Mapping[str, int]) -> str:
    return ", ".join(f"{topic} {n:,}" for topic, n in totals.items())
