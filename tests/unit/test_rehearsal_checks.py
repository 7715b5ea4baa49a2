"""rehearsal/checks.py's pure verdicts: the SLO burn per phase from Prometheus's answers,
yesterday agreed by the monolith and both replicas, and the tail while nginx holds 100 %."""

from __future__ import annotations

import math

from rehearsal import checks
from rehearsal.records import Rec, locust_failures, parse


def answer(*values: str) -> dict:
    return {"status": "success", "data": {"result": [{"value": [0, v]} for v in values]}}


def test_the_burn_is_the_phases_highest_5m_ratio_over_the_budget():
    """The query divides the recording rule's maximum over the phase by the SLO's budget."""
    q = checks.burn_query("latency", 61.2)
    assert q == "max(max_over_time(job:coach_wod_slow:ratio_rate5m[62s:1s])) / 0.01"
    assert "job:coach_wod_errors:ratio_rate5m" in checks.burn_query("availability", 10)


def test_no_series_and_nan_are_no_burn():
    """A ratio absent (no 5xx ever) or 0 / 0 (no request yet) burns nothing."""
    assert checks.value_of(answer()) == 0.0
    assert checks.value_of(answer("NaN")) == 0.0
    assert checks.value_of(answer("2.5")) == 2.5


def test_each_phase_is_asked_at_its_end_and_a_page_rate_breaks_the_promise():
    """burn_per_phase asks once per SLO at the phase's end; 14.4x or more is broken."""
    asked = []

    def query(promql: str, at: float) -> dict:
        asked.append(at)
        return answer("20" if "slow" in promql and at == 30 else "0.5")

    rows = checks.burn_per_phase(query, [("1 backfill", 0, 10), ("3 canary", 10, 30)])
    assert asked == [10, 10, 30, 30]
    assert rows[0] == {"phase": "1 backfill", "availability": 0.5, "latency": 0.5}
    (broken,) = checks.burns_broken(rows)
    assert "3 canary" in broken and "latency" in broken


def test_a_user_the_sides_disagree_on_is_named():
    """Same sets: nothing; b missing an exercise: that user, with each side's set."""
    same = {"1": {"monolith": frozenset({1, 2}), "a": frozenset({1, 2}), "b": frozenset({1, 2})}}
    assert checks.disagreements(same) == []
    differ = same | {"2": {"monolith": frozenset({3}), "a": frozenset({3}), "b": frozenset()}}
    assert checks.disagreements(differ) == ["user 2: a [3]; b []; monolith [3]"]


def rec(t: float, seconds: float, path: str = "/fitness/wod") -> Rec:
    return Rec(t, "GET", path, 200, "coach", "coach", seconds, False)


def test_the_tail_counts_only_wods_while_nginx_held_100_outside_the_drill():
    """Seconds at 50 % and the drill's span (a second either side) are left out, and so are
    refusals (a hostile client's 401 is not a WOD answered)."""
    samples = [{"t": t + 0.5, "percent": 100 if t < 20 else 50} for t in range(30)]
    seconds = checks.full_seconds(samples, drill=[(10.2, 12.0)])
    assert seconds == set(range(0, 9)) | set(range(13, 20))
    refused = Rec(5.0, "GET", "/fitness/wod", 401, "coach", "coach", 9.0, False)
    recs = [rec(t + 0.1, 0.004) for t in range(30)] + [rec(11.0, 5.0), rec(3.0, 9.0, "/x"), refused]
    n, p95 = checks.tail_at_full(recs, seconds)
    assert (n, p95) == (16, 0.004)
    assert math.isnan(checks.tail_at_full(recs, set())[1])


def test_a_request_coach_refused_that_nginx_sent_on_is_told_apart_from_a_fallback():
    """401 from coach then the monolith: refused then forwarded; 502 then the monolith is a
    fallback; the monolith's own side is neither, nor a coach user's request for another path
    (/fitness/wod/ goes to the monolith first: the full run's 11 false alarms)."""
    line = (
        '2026-12-07T12:00:01+00:00 127.0.0.1 "GET /fitness/wod HTTP/1.1" status=200 side={side} '
        "served_by={by} upstream=a upstream_status={up} request_time=0.1 upstream_time=0.1 "
        "request_id=x shadow=0"
    )
    cases = [("coach", "legacy_fallback", "401"), ("coach", "legacy_fallback", "502,"),
             ("legacy", "legacy", "401"), ("coach", "coach", "200"),
             ("coach", "legacy", "404")]  # fmt: skip
    recs = parse([line.format(side=s, by=b, up=u) for s, b, u in cases])
    assert [r.refused_then_forwarded for r in recs] == [True, False, False, False, False]


def test_locusts_failures_are_read_per_request_name():
    """Rows with failures, the aggregate aside."""
    stats = (
        "Type,Name,Request Count,Failure Count,Median Response Time\n"
        "GET,/fitness/wod,100,0,3\nHOSTILE,hostile corpus,40,2,1\n"
        "POST,/workouts,30,1,20\n,Aggregated,170,3,3\n"
    )
    assert locust_failures(stats) == {"HOSTILE hostile corpus": (40, 2), "POST /workouts": (30, 1)}
