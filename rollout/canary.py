"""The canary's state machine: an analysis or an operator's request in, decisions out.

Pure: no clock, no files, no nginx. The controller (rollout/controller.py) does what the
decisions say (set-percent, the state file, the decision log, the metrics).

Statuses and how they change:

    running/holding --analysis pass, step held long enough--> advance (next step) or done
    running/holding --analysis pass, not yet---------------> pass (stay)
    running/holding --too little traffic-------------------> hold (status holding); past
                      hold + max extension the step is inconclusive: pause, never advance
    any live status --analysis fail------------------------> fail; the max_failures-th
                      failed analysis of a step: rollback (0 %, rolled_back, final)
    paused          --analysis pass or too little----------> hold (paused: it still watches,
                      and a failing analysis still rolls back)
    running/holding --pause request------------------------> pause
    paused          --resume request-----------------------> resume: the step's hold starts
                      again in full
    any live status --abort request------------------------> abort (0 %, aborted, final)

A decision that changes the percentage names it (`percent_after`); the controller renders it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from rollout.access_log import Position
from rollout.analysis import Analysis
from rollout.state import FINAL, State

DECISIONS = ("advance", "pass", "hold", "fail", "rollback", "pause", "abort", "resume", "done")


@dataclass(frozen=True)
class Decision:
    decision: str
    percent_before: int
    percent_after: int
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)
    status: str = ""  # the rollout's status once this decision is taken

    @property
    def moves(self) -> bool:
        return self.percent_after != self.percent_before


def _taken(state: State, decision: Decision) -> Decision:
    """Count `decision` in `state` and stamp it with the status it leaves."""
    _count(state, decision)
    return replace(decision, status=state.status)


def _count(state: State, *decisions: Decision) -> None:
    """Count the decisions in `state` (a new dict: the state it was replaced from keeps its
    own counts)."""
    counts = dict(state.counts)
    for d in decisions:
        counts[d.decision] = counts.get(d.decision, 0) + 1
    state.counts = counts


def begin(state: State, *, now: float) -> tuple[State, list[Decision]]:
    """A new rollout (step -1): the first step, without analysis (at 0 % coach has no
    users to judge it by)."""
    if state.step >= 0 or state.status in FINAL:
        return state, []
    return _advance(state, now=now, reason="rollout started")


def _advance(state: State, *, now: float, reason: str) -> tuple[State, list[Decision]]:
    steps = state.config.steps
    nxt = state.step + 1
    new = replace(
        state,
        step=nxt,
        percent=steps[nxt],
        status="running",
        step_started_at=now,
        failures=0,
        passes=0,
        reason="",
    )
    return new, [_taken(new, Decision("advance", state.percent, new.percent, reason))]


def on_analysis(
    state: State, analysis: Analysis, *, now: float, window_end: Position
) -> tuple[State, list[Decision]]:
    """The decisions one analysis leads to. A conclusive analysis (pass or fail) consumes
    its window (the next one starts at `window_end`); too little traffic leaves the window
    open, so that the next analysis sees these requests and more."""
    if state.status in FINAL:
        return state, []
    cfg = state.config
    figures: dict[str, Any] = {
        "verdict": analysis.verdict,
        "elapsed_seconds": round(now - state.step_started_at, 3),
        "figures": {k: round(v, 6) for k, v in analysis.values.items()},
        "checks": [c.as_dict() for c in analysis.checks],
    }
    before = state.percent
    if analysis.verdict == "fail":
        state = replace(state, failures=state.failures + 1, window=window_end)
        failing = ", ".join(analysis.failing())
        fail = Decision(
            "fail",
            before,
            before,
            f"failed: {failing} ({state.failures} of {cfg.max_failures} in this step)",
            figures,
        )
        fail = _taken(state, fail)
        if state.failures < cfg.max_failures:
            return state, [fail]
        state = replace(state, status="rolled_back", percent=0, reason=fail.reason)
        rollback = Decision(
            "rollback", before, 0, f"{cfg.max_failures} failed analyses: {failing}", figures
        )
        return state, [fail, _taken(state, rollback)]

    elapsed = now - state.step_started_at
    if analysis.verdict == "insufficient":
        if state.status == "paused":
            return _decided(state, Decision("hold", before, before, "paused", figures))
        waiting = _waiting_for(analysis)
        # At 100 % with no baseline (started while nginx already sent every user to coach)
        # the monolith has no figures and never will: no extension can make it pass.
        blind = before >= 100 and state.baseline is None
        if blind and waiting == "too little traffic":
            waiting = NO_MONOLITH
        limit = cfg.hold_seconds + (0 if blind else cfg.max_extension_seconds)
        if elapsed >= limit:
            reason = (
                f"inconclusive: {waiting} to judge {before} % within {limit:g} s; resume or abort"
            )
            state = replace(state, status="paused", reason=reason)
            return _decided(state, Decision("pause", before, before, reason, figures))
        state = replace(state, status="holding")
        return _decided(state, Decision("hold", before, before, waiting, figures))

    # pass: the window is consumed, and the monolith's figures are the new baseline
    baseline = analysis.legacy_measured or state.baseline
    state = replace(state, passes=state.passes + 1, window=window_end, baseline=baseline)
    if state.status == "paused":
        return _decided(state, Decision("hold", before, before, "paused", figures))
    if elapsed < cfg.hold_seconds:
        state = replace(state, status="running")
        reason = f"held {elapsed:.1f} of {cfg.hold_seconds:g} s"
        return _decided(state, Decision("pass", before, before, reason, figures))
    if state.step + 1 >= len(cfg.steps):
        state = replace(state, status="done", reason="")
        return _decided(state, Decision("done", before, before, "last step held", figures))
    state, decisions = _advance(state, now=now, reason=f"step held {elapsed:.1f} s, checks pass")
    decisions = [replace(d, figures=figures) for d in decisions]
    return state, decisions


NO_MONOLITH = (
    "no figures of the monolith to compare with (nginx sent every user to coach since this "
    "canary started: set-percent.sh to a lower share and start again, or abort)"
)
TRAFFIC_CHECKS = frozenset({"fallback_ratio", "coach_error_ratio", "latency_p99_ratio"})


def _waiting_for(analysis: Analysis) -> str:
    """What an insufficient analysis lacks, in words: traffic, or another check's say (a
    replica not ready while others are, Prometheus not answering)."""
    others = [c for c in analysis.checks if c.result == "insufficient"]
    others = [c for c in others if c.name not in TRAFFIC_CHECKS]
    if not others:
        return "too little traffic"
    return "; ".join(f"{c.name}: {c.detail}" for c in others)


def _decided(state: State, decision: Decision) -> tuple[State, list[Decision]]:
    return state, [_taken(state, decision)]


def on_request(state: State, action: str, *, now: float) -> tuple[State, list[Decision]]:
    """An operator's request from another shell (pause, resume, abort)."""
    before = state.percent
    if state.status in FINAL:
        return state, []
    if action == "abort":
        state = replace(state, status="aborted", percent=0, reason="aborted by an operator")
        return _decided(state, Decision("abort", before, 0, state.reason))
    if action == "pause" and state.status != "paused":
        state = replace(state, status="paused", reason="paused by an operator")
        return _decided(state, Decision("pause", before, before, state.reason))
    if action == "resume" and state.status == "paused":
        state = replace(state, status="running", step_started_at=now, passes=0, reason="")
        reason = f"resumed at {before} %: the step's hold starts again"
        return _decided(state, Decision("resume", before, before, reason))
    return state, []


def on_restart(state: State, *, now: float) -> tuple[State, list[Decision]]:
    """The controller started again on a live state: the same step and percentage (the
    controller renders it again; set-percent is idempotent). A paused rollout is resumed:
    `resume` is how the operator asked for it."""
    if state.status in FINAL:
        return state, []
    before = state.percent
    status = "running" if state.status == "paused" else state.status
    step_started_at = now if state.status == "paused" else state.step_started_at
    state = replace(state, status=status, step_started_at=step_started_at, reason="")
    reason = f"controller started again at step {state.step} ({before} %)"
    return _decided(state, Decision("resume", before, before, reason))
