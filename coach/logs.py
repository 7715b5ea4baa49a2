"""The processes' logging: one format on stderr, and aiokafka's connection retries held back.

During a broker outage aiokafka logs an ERROR at every reconnection attempt ("Unable connect
to node with id 1: ...", "Unable to update metadata from [1]", one every ~100 ms: 1,376 lines
in a 33 s outage). The consumer itself says when an outage starts, how long it has lasted
and when it ends (consumer/health.py), so of each of those messages only the first, then one
per `REPEAT_SECONDS` with the number held back, reaches the log. Every other aiokafka
message passes as it comes.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

REPEAT_SECONDS = 60.0

CONNECTION_RETRIES = frozenset(
    {
        'Unable connect to "%s:%s": %s',
        "Unable connect to node with id %s: %s",
        "Unable to update metadata from %s",
        "Failed fetch messages from %s: %s",
        "Failed fetch offsets from %s: %s",
    }
)
"""aiokafka's messages (their format strings, aiokafka/client.py and consumer/fetcher.py)
for a connection attempt that failed and will be retried."""


class ConnectionRetryFilter(logging.Filter):
    """Lets the first of each aiokafka connection-retry message through, then one per
    `every` seconds (counting those held back); every other record passes."""

    def __init__(self, every: float = REPEAT_SECONDS, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.every = every
        self.clock = clock
        self._shown: dict[object, float] = {}
        self._held: dict[object, int] = {}
        self._last: tuple[logging.LogRecord, bool] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self._last is not None and self._last[0] is record:
            return self._last[1]  # the same record at another handler: the same answer
        keep = self._keep(record)
        self._last = (record, keep)
        return keep

    def _keep(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka") or record.msg not in CONNECTION_RETRIES:
            return True
        now = self.clock()
        shown = self._shown.get(record.msg)
        if shown is not None and now - shown < self.every:
            self._held[record.msg] = self._held.get(record.msg, 0) + 1
            return False
        self._shown[record.msg] = now
        held = self._held.pop(record.msg, 0)
        if held and shown is not None:
            record.msg = f"{record.msg} ({held} more like it in the last {now - shown:.0f} s)"
        return True


def setup_logging(level: str) -> None:
    """One line per record on stderr; aiokafka at WARNING, its connection retries rate-limited."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    retries = ConnectionRetryFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(retries)
