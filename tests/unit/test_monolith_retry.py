"""deploy/monolith/retry.py without a database: which errors are retried, the backoff, the
bound, and that any other error goes through at once."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, InvalidatePoolError, OperationalError

from deploy.monolith.retry import Unavailable, backoff, is_disconnect, retried


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_disconnections_are_retried_and_a_conflict_is_not():
    """A dropped pool or connection is a disconnection; a unique violation is the request's."""
    assert is_disconnect(InvalidatePoolError())
    assert is_disconnect(OperationalError("SELECT 1", {}, Exception("gone")))
    assert not is_disconnect(IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not is_disconnect(ValueError("bad"))


def test_the_backoff_doubles_up_to_a_second():
    """0.05, 0.1, 0.2, ... never more than 1 s between attempts."""
    assert [backoff(i) for i in range(3)] == [0.05, 0.1, 0.2]
    assert backoff(30) == 1.0


def test_a_view_is_run_again_until_it_works_within_the_bound():
    """Two disconnections, then an answer: the answer, after two pauses."""
    clock = Clock()
    calls = iter([InvalidatePoolError(), InvalidatePoolError(), "ok"])

    @retried(5, sleep=clock.sleep, clock=lambda: clock.now)
    def view() -> str:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert view() == "ok"
    assert clock.sleeps == [0.05, 0.1]


def test_past_the_bound_the_view_raises_unavailable_and_another_error_at_once():
    """Always disconnected: tried until the bound, then Unavailable; a ValueError is not
    retried."""
    clock = Clock()

    @retried(5, sleep=clock.sleep, clock=lambda: clock.now)
    def down() -> None:
        raise InvalidatePoolError()

    with pytest.raises(Unavailable):
        down()
    assert sum(clock.sleeps) == pytest.approx(5)  # tried again up to the bound, not beyond

    @retried(5, sleep=clock.sleep, clock=lambda: clock.now)
    def wrong() -> None:
        raise ValueError("bad")

    before = len(clock.sleeps)
    with pytest.raises(ValueError):
        wrong()
    assert len(clock.sleeps) == before
