"""One analysis over fixed figures (rollout/analysis.py): the statistics of a window and the
checks, with the monolith's figures of the same window as the reference."""

from __future__ import annotations

import math

from rollout.access_log import Request
from rollout.analysis import Replica, Side, Thresholds, Window, analyse, p99, window_of

T = Thresholds(min_requests=10, max_lag_records=100, max_data_age_seconds=60)
READY = [Replica("http://c1", True, lag_records=3, data_age_seconds=1.0)]


def ok_coach(n: int, t: float = 0.005) -> list[Request]:
    return [Request("coach", 200, False, 200, t) for _ in range(n)]


def ok_legacy(n: int, t: float = 0.5) -> list[Request]:
    return [Request("legacy", 200, False, 200, t) for _ in range(n)]


def fallbacks(n: int) -> list[Request]:
    return [Request("coach", 200, True, 502, 0.001) for _ in range(n)]


def run(requests, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("replicas", READY)
    kw.setdefault("alerts", None)
    return analyse(window_of(requests), thresholds=kw.pop("thresholds", T), **kw)


def result(analysis, name):  # type: ignore[no-untyped-def]
    return next(c.result for c in analysis.checks if c.name == name)


def test_p99_is_the_nearest_rank():
    assert p99([]) is None
    assert p99([0.3]) == 0.3
    assert p99([float(i) for i in range(1, 101)]) == 99.0
    assert p99([float(i) for i in range(1, 1001)]) == 990.0


def test_the_window_counts_each_side():
    """Fallbacks and failed first tries on coach's side, 5xx on the monolith's."""
    window = window_of(
        [
            *ok_coach(7),
            *fallbacks(2),
            Request("coach", 200, False, 503, 0.002),
            *ok_legacy(4),
            Request("legacy", 502, False, None, None),
        ]
    )
    assert window.coach == Side(requests=10, errors=3, fallbacks=2, p99_seconds=0.005)
    assert window.legacy == Side(requests=5, errors=1, fallbacks=0, p99_seconds=0.5)


def test_healthy_with_enough_traffic_passes():
    analysis = run(ok_coach(20) + ok_legacy(20))
    assert analysis.verdict == "pass", analysis.checks
    assert analysis.values["fallback_ratio"] == 0.0
    assert analysis.values["lag_records"] == 3
    assert analysis.legacy_measured is not None
    assert result(analysis, "alerts") == "skipped"


def test_too_few_requests_on_either_side_never_passes_nor_fails():
    """9 coach requests, all fallbacks: too few to judge, so hold (not fail); and 9 healthy
    legacy requests with healthy coach: not a pass either."""
    assert run(fallbacks(9) + ok_legacy(50)).verdict == "insufficient"
    assert run(ok_coach(50) + ok_legacy(9)).verdict == "insufficient"
    assert run([]).verdict == "insufficient"


def test_fallbacks_over_the_limit_fail():
    analysis = run(ok_coach(95) + fallbacks(5) + ok_legacy(50))
    assert analysis.verdict == "fail"
    assert "fallback_ratio" in analysis.failing()
    assert analysis.values["fallback_ratio"] == 0.05


def test_coach_errors_are_judged_against_the_monolith_at_the_same_moment():
    """3 % of coach's requests failing on every replica tried fails when the monolith had
    none, and passes when the monolith was failing as much itself."""
    skipped = [Request("coach", 200, False, 503, 0.002) for _ in range(3)]
    legacy_bad = [Request("legacy", 503, False, 503, 0.1) for _ in range(2)]
    assert run(ok_coach(97) + skipped + ok_legacy(100)).failing() == ["coach_error_ratio"]
    assert run(ok_coach(97) + skipped + ok_legacy(98) + legacy_bad).verdict == "pass"


def test_latency_is_relative_with_a_floor():
    """coach 10x slower than a fast monolith but under the floor passes; over the floor and
    over the ratio fails; the ratio is reported either way."""
    fast_legacy = ok_legacy(20, t=0.01)
    under = run(ok_coach(20, t=0.09) + fast_legacy)
    assert under.verdict == "pass"
    assert math.isclose(under.values["latency_p99_ratio"], 9.0)
    slow = run(ok_coach(20, t=0.6) + fast_legacy)
    assert slow.failing() == ["latency_p99_ratio"]
    assert run(ok_coach(20, t=0.6) + ok_legacy(20, t=0.5)).verdict == "pass"


def test_a_replica_skipped_for_another_that_answered_is_not_an_error():
    """10 % of coach's requests went to a replica that was down and were answered by the
    next one ("502, 200"): no error, no fallback, counted as replica_retries; a pass."""
    skipped = [Request("coach", 200, False, 502, 0.001, (502, 200)) for _ in range(10)]
    analysis = run(ok_coach(90) + skipped + ok_legacy(100))
    assert analysis.verdict == "pass", analysis.checks
    assert analysis.values["coach_error_ratio"] == 0.0
    assert analysis.values["replica_retries"] == 10


def test_no_replica_ready_fails_even_without_traffic():
    """Readiness needs no traffic: when no replica's /ready answers 200, the window fails
    whatever its size."""
    down = [Replica("http://c1", False, "/ready 503: ['heartbeat']")]
    analysis = run([], replicas=down)
    assert analysis.verdict == "fail"
    assert analysis.failing() == ["ready"]
    assert analysis.values["not_ready_upstreams"] == 1


def test_one_replica_not_ready_while_another_is_waits_never_fails():
    """Two replicas, one restarting (not ready), healthy traffic: nginx routes around it,
    so the window neither fails nor passes: the step waits for the replica (insufficient),
    naming it."""
    replicas = [*READY, Replica("http://c2", False, "/ready did not answer within 2 s")]
    analysis = run(ok_coach(50) + ok_legacy(50), replicas=replicas)
    assert analysis.verdict == "insufficient"
    assert analysis.failing() == []
    ready = next(c for c in analysis.checks if c.name == "ready")
    assert ready.result == "insufficient" and "http://c2" in ready.detail
    assert "1 of 2 replicas not ready" in ready.detail


def test_lag_and_data_age_take_the_worst_replica():
    replicas = [*READY, Replica("http://c2", True, lag_records=500, data_age_seconds=2.0)]
    analysis = run(ok_coach(20) + ok_legacy(20), replicas=replicas)
    assert analysis.failing() == ["lag_records"]
    assert analysis.values["lag_records"] == 500
    unknown = run(ok_coach(20) + ok_legacy(20), replicas=[Replica("http://c", True)])
    assert unknown.verdict == "pass"
    assert result(unknown, "lag_records") == "skipped"


def test_alerts_firing_fail_and_an_unreachable_prometheus_holds():
    traffic = ok_coach(20) + ok_legacy(20)
    assert run(traffic, alerts=[]).verdict == "pass"
    firing = run(traffic, alerts=["CoachWodErrors"])
    assert firing.failing() == ["alerts"]
    unknown = run(traffic, alerts=None, alerts_error="Prometheus could not be asked")
    assert unknown.verdict == "insufficient"


def test_at_100_percent_the_monolith_baseline_stands_in_for_its_empty_side():
    """No user is left on the monolith's side at 100 %: its figures from the last conclusive
    window are used, and say so; without a baseline, too little traffic."""
    baseline = Side(requests=200, errors=0, fallbacks=0, p99_seconds=0.5)
    window = window_of(ok_coach(50))
    assert analyse(window, thresholds=T, replicas=READY, alerts=None).verdict == "insufficient"
    analysis = analyse(window, thresholds=T, replicas=READY, alerts=None, baseline=baseline)
    assert analysis.verdict == "pass"
    assert "(baseline)" in next(c.detail for c in analysis.checks if c.name == "coach_error_ratio")
    assert analysis.legacy_measured is None  # a baseline is never re-measured from itself


def test_a_window_of_fixed_sides():
    window = Window(Side(100, 0, 0, 0.01), Side(100, 0, 0, 0.4))
    assert analyse(window, thresholds=T, replicas=READY, alerts=None).verdict == "pass"
