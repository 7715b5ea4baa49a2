"""A request of the monolith during a database restart: retried within a bound, then 503.

PostgreSQL restarting drops every pooled connection; the request that meets a dropped one
raises a disconnection (`DisconnectionError`, `InvalidatePoolError`, an `OperationalError`
or `InterfaceError` of the driver). `retried(view)` runs the view again, each attempt in the
fresh transaction the view opens, so a write and its outbox event still commit together or
not at all, after a backoff (0.05 s doubling up to 1 s) until `bound` seconds have passed;
past the bound it raises `Unavailable`, which the app answers 503 JSON with Retry-After.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

View = TypeVar("View", bound=Callable[..., Any])
RETRY_AFTER_SECONDS = 2


class Unavailable(Exception):
    """The database did not answer within the bound."""


def is_disconnect(exc: BaseException) -> bool:
    """Whether `exc` says the database went away (worth a retry), not that the request is wrong."""
    if isinstance(exc, DisconnectionError | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt `attempt` + 1: 0.05, 0.1, 0.2, ... up to 1."""
    return float(min(1.0, 0.05 * 2**attempt))


def retried(
    bound: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[View], View]:
    """The view run again on a disconnection until `bound` seconds have passed."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            deadline = clock() + bound
            attempt = 0
            while True:
                try:
                    return view(*args, **kwargs)
                except Exception as exc:
                    if not is_disconnect(exc):
                        raise
                    remaining = deadline - clock()
                    if remaining <= 0:
                        raise Unavailable(
                            f"the database did not answer within {bound:g} s"
                        ) from exc
                    sleep(min(backoff(attempt), remaining))  # the last try at the bound
                    attempt += 1

        return run  # type: ignore[return-value]

    return decorate
