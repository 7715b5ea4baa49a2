"""The canary's state machine over fixed analyses (rollout/canary.py)."""

from __future__ import annotations

from rollout import canary
from rollout.access_log import Position
from rollout.analysis import Analysis, Check, Side
from rollout.state import Config, State

CFG = Config(steps=(5, 25, 100), hold_seconds=10, max_failures=2, max_extension_seconds=20)
END = Position(1, 1000)
LEGACY = Side(100, 0, 0, 0.4)
PASS = Analysis("pass", [Check("fallback_ratio", "pass", 0.0, 0.01)], legacy_measured=LEGACY)
FAIL = Analysis("fail", [Check("fallback_ratio", "fail", 0.2, 0.01)])
FEW = Analysis("insufficient", [Check("fallback_ratio", "insufficient")])


def started(now: float = 0.0) -> State:
    state, decisions = canary.begin(State(config=CFG), now=now)
    assert [(d.decision, d.percent_after) for d in decisions] == [("advance", 5)]
    return state


def names(decisions):  # type: ignore[no-untyped-def]
    return [d.decision for d in decisions]


def test_begin_goes_to_the_first_step():
    state = started(now=100.0)
    assert (state.step, state.percent, state.status, state.step_started_at) == (
        0,
        5,
        "running",
        100.0,
    )
    assert state.counts == {"advance": 1}


def test_a_pass_before_the_hold_stays_then_advances_and_finishes():
    state = started()
    state, d = canary.on_analysis(state, PASS, now=5, window_end=END)
    assert names(d) == ["pass"] and state.percent == 5 and state.window == END
    assert state.baseline == LEGACY
    state, d = canary.on_analysis(state, PASS, now=10, window_end=END)
    assert names(d) == ["advance"] and (state.step, state.percent) == (1, 25)
    assert (state.step_started_at, state.passes, state.failures) == (10, 0, 0)
    state, d = canary.on_analysis(state, PASS, now=20, window_end=END)
    assert (state.percent, names(d)) == (100, ["advance"])
    state, d = canary.on_analysis(state, PASS, now=30, window_end=END)
    assert (state.status, state.percent, names(d)) == ("done", 100, ["done"])
    assert canary.on_analysis(state, FAIL, now=40, window_end=END) == (state, [])


def test_too_little_traffic_holds_keeps_the_window_open_and_never_advances():
    """Insufficient analyses hold (the window is not consumed, so the next analysis sees
    these requests too), however long past the hold; past hold + extension: paused as
    inconclusive, still never advanced."""
    state = started()
    state.window = Position(1, 10)
    state, d = canary.on_analysis(state, FEW, now=15, window_end=END)
    assert (names(d), state.status, state.window) == (["hold"], "holding", Position(1, 10))
    state, d = canary.on_analysis(state, FEW, now=29.9, window_end=END)
    assert names(d) == ["hold"] and state.percent == 5
    state, d = canary.on_analysis(state, FEW, now=30, window_end=END)
    assert (names(d), state.status, state.percent) == (["pause"], "paused", 5)
    assert d[0].reason.startswith("inconclusive")
    # paused: a pass does not advance it, a later pass neither
    state, d = canary.on_analysis(state, PASS, now=100, window_end=END)
    assert (names(d), state.status, state.percent) == (["hold"], "paused", 5)


def test_failures_within_a_step_roll_back_at_the_configured_count():
    state = started()
    state, d = canary.on_analysis(state, FAIL, now=1, window_end=END)
    assert (names(d), state.failures, state.percent) == (["fail"], 1, 5)
    state, d = canary.on_analysis(state, PASS, now=2, window_end=END)  # not consecutive
    state, d = canary.on_analysis(state, FAIL, now=3, window_end=END)
    assert names(d) == ["fail", "rollback"]
    assert [x.status for x in d] == ["running", "rolled_back"]  # each as it left the rollout
    assert (d[1].percent_before, d[1].percent_after) == (5, 0)
    assert (state.status, state.percent) == ("rolled_back", 0)
    assert state.counts == {"advance": 1, "fail": 2, "pass": 1, "rollback": 1}


def test_a_failure_in_a_paused_rollout_still_rolls_back():
    state = started()
    state, _ = canary.on_request(state, "pause", now=1)
    for now in (2, 3):
        state, d = canary.on_analysis(state, FAIL, now=now, window_end=END)
    assert (names(d), state.status, state.percent) == (["fail", "rollback"], "rolled_back", 0)


def test_failures_are_counted_per_step():
    state = started()
    state, _ = canary.on_analysis(state, FAIL, now=1, window_end=END)
    state, d = canary.on_analysis(state, PASS, now=10, window_end=END)
    assert names(d) == ["advance"] and state.failures == 0
    state, d = canary.on_analysis(state, FAIL, now=11, window_end=END)
    assert names(d) == ["fail"] and state.percent == 25


def test_pause_and_resume_restart_the_step_hold():
    state = started()
    state, d = canary.on_request(state, "pause", now=5)
    assert (names(d), state.status) == (["pause"], "paused")
    assert canary.on_request(state, "pause", now=6)[1] == []  # already paused
    state, d = canary.on_analysis(state, PASS, now=50, window_end=END)
    assert state.percent == 5
    state, d = canary.on_request(state, "resume", now=60)
    assert (names(d), state.status, state.step_started_at) == (["resume"], "running", 60)
    state, d = canary.on_analysis(state, PASS, now=65, window_end=END)
    assert names(d) == ["pass"]  # the hold counts from the resume
    state, d = canary.on_analysis(state, PASS, now=70, window_end=END)
    assert names(d) == ["advance"]


def test_resume_of_a_running_rollout_changes_nothing():
    state = started()
    assert canary.on_request(state, "resume", now=1) == (state, [])


def test_abort_returns_to_0_from_any_live_status_and_is_final():
    for status in ("running", "holding", "paused"):
        state = started()
        state.status = status  # type: ignore[assignment]
        state, d = canary.on_request(state, "abort", now=1)
        assert (names(d), state.status, state.percent, d[0].percent_after) == (
            ["abort"],
            "aborted",
            0,
            0,
        )
        assert canary.on_request(state, "resume", now=2) == (state, [])
        assert canary.on_analysis(state, PASS, now=3, window_end=END) == (state, [])


def test_an_unknown_request_is_ignored():
    state = started()
    assert canary.on_request(state, "promote", now=1) == (state, [])


def test_a_restart_keeps_the_step_and_its_clock():
    """The controller killed mid-step and started again: same step, same percentage, the
    step's clock unchanged (the time it was down counts, its log lines are read then)."""
    state = started(now=0)
    state, _ = canary.on_analysis(state, PASS, now=10, window_end=END)  # at 25 since 10
    state, d = canary.on_restart(state, now=14)
    assert (names(d), state.step, state.percent, state.step_started_at) == (["resume"], 1, 25, 10)
    assert d[0].percent_after == 25 and not d[0].moves


def test_a_restart_of_a_paused_rollout_resumes_it():
    state = started(now=0)
    state, _ = canary.on_request(state, "pause", now=1)
    state, _ = canary.on_restart(state, now=5)
    assert (state.status, state.step_started_at) == ("running", 5)


def test_a_restart_of_a_final_rollout_does_nothing():
    state = started()
    state, _ = canary.on_request(state, "abort", now=1)
    assert canary.on_restart(state, now=2) == (state, [])


def test_a_replica_waited_for_holds_and_says_which():
    """Traffic fine, one replica of two not ready: a hold (never a fail, never an advance)
    whose reason names the replica; past hold + extension, paused as inconclusive, saying
    why."""
    waiting = Analysis(
        "insufficient",
        [
            Check("fallback_ratio", "pass", 0.0, 0.01),
            Check("ready", "insufficient", 1, 0, "1 of 2 replicas not ready: http://c2: down"),
        ],
    )
    state = started()
    state, d = canary.on_analysis(state, waiting, now=15, window_end=END)
    assert (names(d), state.percent) == (["hold"], 5)
    assert "http://c2" in d[0].reason and "traffic" not in d[0].reason
    state, d = canary.on_analysis(state, waiting, now=30, window_end=END)
    assert names(d) == ["pause"]
    assert d[0].reason.startswith("inconclusive: ready: 1 of 2 replicas not ready")


def test_a_canary_at_100_without_the_monoliths_figures_says_so_and_pauses_after_the_hold():
    """Started while nginx already sends every user to coach (no earlier step, so no
    baseline): it can never pass, so it names why it waits and pauses once the hold is over
    (not after the extension too); a failure still rolls it back (the drill's case)."""
    cfg = Config(steps=(100,), hold_seconds=10, max_failures=2, max_extension_seconds=20)
    state, _ = canary.begin(State(config=cfg), now=0.0)
    assert (state.percent, state.baseline) == (100, None)
    state, d = canary.on_analysis(state, FEW, now=5, window_end=END)
    assert names(d) == ["hold"] and "no figures of the monolith" in d[0].reason
    state, d = canary.on_analysis(state, FEW, now=10, window_end=END)
    assert (names(d), state.status) == (["pause"], "paused")
    assert "no figures of the monolith" in d[0].reason
    state, d = canary.on_analysis(state, FAIL, now=11, window_end=END)
    state, d = canary.on_analysis(state, FAIL, now=12, window_end=END)
    assert (names(d), state.status, state.percent) == (["fail", "rollback"], "rolled_back", 0)
