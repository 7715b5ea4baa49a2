"""The rehearsal's pure parts: the plans' fault schedules and rollback bound, the access
log's per-request records and per-phase figures, and the accounting's verdicts."""

from __future__ import annotations

from rehearsal import plan
from rehearsal.accounting import Held, Truth, account
from rehearsal.records import figures, parse, per_second, quantile

LINE = (
    '2026-12-07T12:00:{s:02d}+00:00 127.0.0.1 "GET /fitness/wod HTTP/1.1" status={status} '
    "side={side} served_by={served} upstream=127.0.0.1:1, 127.0.0.1:2 upstream_status=502, 200 "
    "request_time={t} upstream_time=0.001, 0.001 request_id=x shadow=0"
)


def test_both_plans_schedule_every_kind_of_fault_once():
    """Each plan has each fault of FAULTS once, in a phase that runs faults."""
    for p in (plan.full(), plan.short()):
        assert sorted(f.kind for f in p.faults) == sorted(plan.FAULTS)
        assert {f.phase for f in p.faults} <= {"shadow", "canary"}


def test_the_rollback_bound_is_the_runbooks():
    """F x I + min(2 s, I / 2) + a second for the reload, with F = 2."""
    assert plan.short().rollback_bound == 2 * 1 + 0.5 + 1
    assert plan.full().rollback_bound == 2 * 5 + 2 + 1


def test_faults_of_a_phase_come_in_order():
    assert [f.at for f in plan.faults_of(plan.full(), "canary")] == [60, 100, 140, 170]


def test_a_line_gives_the_clients_status_not_the_upstreams():
    """`upstream_status=502, 200` is a replica skipped: the client's status is `status=`."""
    (rec,) = parse([LINE.format(s=1, status=200, side="coach", served="coach", t="0.004")])
    assert (rec.status, rec.side, rec.served_by, rec.seconds, rec.wod) == (
        200, "coach", "coach", 0.004, True,
    )  # fmt: skip


def test_other_lines_are_skipped():
    assert parse(["nginx: [warn] something", "", "garbage"]) == []


def test_figures_per_phase_count_5xx_fallbacks_and_the_share():
    recs = parse(
        [
            LINE.format(s=1, status=200, side="coach", served="coach", t="0.002"),
            LINE.format(s=2, status=200, side="coach", served="legacy_fallback", t="2.1"),
            LINE.format(s=3, status=502, side="legacy", served="legacy", t="0.5"),
            LINE.format(s=50, status=200, side="coach", served="coach", t="0.002"),
        ]
    )
    start = recs[0].t
    f = figures("p", recs, start, start + 10)
    assert (f.requests, f.client_errors, f.fallbacks) == (3, 1, 1)
    assert round(f.coach_share, 2) == 0.33
    assert f.within_bound
    seconds = per_second(recs)
    assert [s.errors for s in seconds] == [0, 0, 1, 0]
    assert seconds[1].fallback_ratio == 1.0


def test_quantile_by_nearest_rank():
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert quantile(list(map(float, range(1, 101))), 0.95) == 95.0
    assert quantile([], 0.5) != quantile([], 0.5)  # NaN


def test_an_exact_projection_balances():
    truth = Truth(live={"w1": "1", "w2": "2"}, deleted=frozenset({"w3"}), erased=frozenset({"9"}))
    held = Held(
        rows=[("w1", "1", 0), ("w2", "2", 0), ("w3", "1", 1)], erased=frozenset({"9"}),
        erased_user_rows=0,
    )  # fmt: skip
    assert account("a", truth, held).ok


def test_lost_doubled_ghosts_and_erasures_are_each_named():
    truth = Truth(live={"w1": "1", "w2": "2"}, deleted=frozenset({"w3"}), erased=frozenset({"9"}))
    held = Held(
        rows=[("w1", "1", 0), ("w1", "1", 0), ("w3", "1", 0), ("w9", "9", 1)],
        erased=frozenset(), erased_user_rows=2,
    )  # fmt: skip
    result = account("b", truth, held)
    assert result.lost == ["w2"]
    assert result.doubled == ["w1"]
    assert result.ghosts == ["w3"]
    assert result.erasures_missing == ["9"]
    assert result.erased_user_rows == 3
    assert not result.ok


def test_a_second_signal_cannot_cut_the_stopping_short():
    """The first SIGTERM interrupts the run; one more while it stops everything (a wrapper
    passing its own on) is ignored, so the stopping finishes (a full run left its nginx
    behind when the second one raised inside the cleanup)."""
    import os
    import signal

    from rehearsal.procs import Interrupted, install_signal_handlers

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        install_signal_handlers()
        stopped = False
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("the first SIGTERM did not interrupt")
        except Interrupted:
            os.kill(os.getpid(), signal.SIGTERM)  # during the stopping
            os.kill(os.getpid(), signal.SIGINT)
            stopped = True
        assert stopped
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
