"""Keeping the issuer's key set fresh, off the request path.

`JwksKeys.load()` fetches the set once at start-up (or reads the cached copy when the issuer
cannot be reached; neither: start-up fails). Then one daemon thread per api process
refreshes it:

1. when the last fetch's lifetime is over (its `Cache-Control: max-age`, bounded by
   COACH_JWT_JWKS_MIN_REFRESH_SECONDS and COACH_JWT_JWKS_MAX_AGE_SECONDS);
2. when a request brought a token of an unknown `kid` (`request_refresh`, which only sets a
   flag and wakes the thread: the request answers 401 at once), but never sooner than
   COACH_JWT_JWKS_MIN_REFRESH_SECONDS after the previous fetch, whatever the request rate;
3. after a failed fetch, again COACH_JWT_JWKS_MIN_REFRESH_SECONDS later; meanwhile the keys
   already held keep verifying tokens, and `last_error` says what failed.

A fetched set replaces the held one in one assignment (`current`, an immutable `KeySet`):
a request reads the reference once and never sees half a set.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from api.jwks import EMPTY, JwksError, KeySet, cache_lifetime, parse_key_set
from api.jwksfetch import Fetched

log = logging.getLogger(__name__)


class JwksKeys:
    def __init__(
        self,
        *,
        fetch: Callable[[], Fetched],
        algorithms: tuple[str, ...],
        min_refresh_seconds: float,
        max_age_seconds: float,
        cache_file: Path | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self.algorithms = algorithms
        self.min_refresh = min_refresh_seconds
        self.max_age = max(max_age_seconds, min_refresh_seconds)
        self.cache_file = cache_file
        self._monotonic = monotonic
        self._wall = wall
        self.current: KeySet = EMPTY
        self.last_error: str | None = None
        self.fetches = 0
        self._last_attempt = float("-inf")
        self._next_due = float("-inf")
        self._wanted = False
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # The request path: reads and a flag, nothing that waits.

    def request_refresh(self) -> None:
        """A token named a key not in the set: fetch again as soon as the rate limit allows."""
        if not self._wanted:
            self._wanted = True
            self._wake.set()

    def age_seconds(self) -> float:
        """Seconds since the held set was fetched."""
        return max(0.0, self._wall() - self.current.fetched_at)

    # Start-up and the refresher's thread.

    def load(self) -> None:
        """The first set: fetched, else the cached copy; JwksError when there is neither."""
        try:
            self.refresh_now(raise_errors=True)
        except JwksError as exc:
            cached = self._read_cache()
            if cached is None:
                raise
            log.warning("key set: %s; using the cached copy at %s", exc, self.cache_file)

    def refresh_now(self, *, raise_errors: bool = False) -> None:
        """Fetch once, now; on failure keep the held set (and raise if asked)."""
        now = self._last_attempt = self._monotonic()
        self.fetches += 1
        try:
            fetched = self._fetch()
            keys = parse_key_set(fetched.body, self.algorithms)
        except JwksError as exc:
            self.last_error = str(exc)
            self._next_due = now + self.min_refresh
            if raise_errors:
                raise
            log.warning("key set refresh failed (keeping the keys held): %s", exc)
            return
        self.current = self.current.replaced_by(keys, self._wall())
        self.last_error = None
        self._next_due = now + cache_lifetime(
            fetched.cache_control, shortest=self.min_refresh, longest=self.max_age
        )
        self._write_cache(fetched.body)

    def due_in(self) -> float:
        """Seconds until the next fetch should start (0: now)."""
        due = self._next_due
        if self._wanted:
            due = min(due, self._last_attempt + self.min_refresh)
        return max(0.0, due - self._monotonic())

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="jwks-refresh", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            wait = self.due_in()
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
                continue
            self._wanted = False
            try:
                self.refresh_now()
            except Exception:  # a bug must not end the refresher: log, retry later
                log.exception("key set refresh failed")
                self._next_due = self._monotonic() + self.min_refresh

    def _read_cache(self) -> KeySet | None:
        if self.cache_file is None:
            return None
        try:
            body = self.cache_file.read_bytes()
            written = self.cache_file.stat().st_mtime
            keys = parse_key_set(body, self.algorithms)
        except (OSError, JwksError):
            return None
        self.current = self.current.replaced_by(keys, written)
        return self.current

    def _write_cache(self, body: bytes) -> None:
        if self.cache_file is None:
            return
        partial = self.cache_file.with_name(f".{self.cache_file.name}.{os.getpid()}")
        try:
            partial.write_bytes(body)
            os.replace(partial, self.cache_file)
        except OSError as exc:
            log.warning("cannot write the key set's cached copy %s: %s", self.cache_file, exc)
