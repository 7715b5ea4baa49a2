"""The canary controller: the loop that reads, decides (rollout/canary.py) and acts.

Every `poll_seconds` it takes an operator's request (pause, resume, abort) from the state
directory; every `analysis_seconds` it analyses the access log written since the last
conclusive analysis, with every replica's /ready and /lag and Prometheus' alerts. Each
decision is appended to decisions.jsonl and printed on stderr as one JSON line, the state
file is replaced, the metrics are written.

The order of the writes makes a crash at any point safe, never sending more users to coach
than a finished analysis allowed:
1. advance: set-percent first, then the state (a crash between: resume renders the old
   percentage again);
2. rollback and abort: the state first (rolled_back/aborted at 0 %), then set-percent 0
   (a crash between: resume of a final rollout renders 0 again).

So the rollback bound: a failure that starts at t is in the window of the analysis that
starts at most `analysis_seconds` after t; analyses start `analysis_seconds` apart, and each
waits at most P = probe_timeout(analysis_seconds) = min(2 s, analysis_seconds / 2) for the
replicas and Prometheus (a hung replica costs exactly that). The rollback comes with the
`max_failures`-th failing analysis: by t + max_failures x analysis_seconds + P + the reload
(set-percent: `nginx -t` and a graceful reload, well under a second), which is within
t + (max_failures + 0.5) x analysis_seconds + the reload; provided each window holds
`min_requests` requests per side (a failing /ready or a firing alert needs no traffic).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from rollout import canary
from rollout.access_log import parse_line, read_from
from rollout.analysis import Analysis, analyse, window_of
from rollout.canary import Decision
from rollout.metrics import RolloutMetrics
from rollout.probes import coach_urls_from_conf, probe_all, probe_timeout
from rollout.state import FINAL, State, StateDir

EXIT_DONE = 0
EXIT_ERROR = 1
EXIT_ROLLED_BACK = 3
EXIT_ABORTED = 4
EXIT_STOPPED = 5  # SIGTERM or SIGINT: the rollout stays where it was; `resume` goes on
EXIT_CODES = {"done": EXIT_DONE, "rolled_back": EXIT_ROLLED_BACK, "aborted": EXIT_ABORTED}


class SetPercentFailed(Exception):
    pass


def exit_code(state: State) -> int:
    return EXIT_CODES.get(state.status, EXIT_ERROR)


class Controller:
    def __init__(
        self,
        dirs: StateDir,
        state: State,
        *,
        metrics: RolloutMetrics | None = None,
        clock: Callable[[], float] = time.time,
        err: TextIO = sys.stderr,
    ) -> None:
        self.dirs = dirs
        self.state = state
        self.cfg = state.config
        self.metrics = metrics or RolloutMetrics()
        self.clock = clock
        self.err = err

    # -- acting ------------------------------------------------------------------------------

    def set_percent(self, percent: int) -> None:
        """Render nginx's configuration for `percent` (idempotent); a dry run only says so."""
        command = [self.cfg.set_percent, str(percent), self.cfg.conf]
        if self.cfg.dry_run:
            self.say(f"dry run: would run {' '.join(command)}")
            return
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SetPercentFailed(f"{' '.join(command)}: {exc}") from exc
        output = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            raise SetPercentFailed(f"{' '.join(command)} exited {done.returncode}: {output}")
        self.say(output)

    def say(self, message: str) -> None:
        print(json.dumps({"time": _now_iso(), "message": message}), file=self.err, flush=True)

    def record(self, decision: Decision) -> None:
        line: dict[str, Any] = {
            "time": _now_iso(),
            "decision": decision.decision,
            "percent_before": decision.percent_before,
            "percent_after": decision.percent_after,
            "status": decision.status or self.state.status,
            "step": self.state.step,
            "reason": decision.reason,
        }
        if self.cfg.dry_run:
            line["dry_run"] = True
        line.update(decision.figures)
        self.dirs.append_decision(line)
        print(json.dumps(line), file=self.err, flush=True)

    def commit(self, state: State, decisions: list[Decision], values: dict[str, float]) -> None:
        """Act on decisions in the safe order (the module's docstring), then record them."""
        if not decisions:
            self.state = state
            self.dirs.save(state)
            return
        moving = next((d for d in decisions if d.moves), None)
        if moving is not None and moving.percent_after < moving.percent_before:
            self.state = state
            self.dirs.save(state)
            for decision in decisions:
                self.record(decision)
            self.write_metrics(values)
            self._set_percent_down(moving.percent_after)
            return
        if moving is not None:
            try:
                self.set_percent(moving.percent_after)
            except SetPercentFailed as exc:
                self.say(str(exc))
                state = replace(self.state, status="paused", reason=f"set-percent failed: {exc}")
                decisions = [
                    Decision(
                        "pause",
                        moving.percent_before,
                        moving.percent_before,
                        state.reason,
                        status="paused",
                    )
                ]
                state.counts = {**state.counts, "pause": state.counts.get("pause", 0) + 1}
            else:  # the new step's window starts now
                state = replace(state, window=read_from(Path(self.cfg.access_log), None).end)
            self.state = state
            self.dirs.save(state)
        else:
            self.state = state
            self.dirs.save(state)
        for decision in decisions:
            self.record(decision)
        self.write_metrics(values)

    def write_metrics(self, values: dict[str, float]) -> None:
        """The metrics file, for a real rollout only: a dry run's figures (a percentage it
        never set) must not reach a dashboard as if they were nginx's."""
        self.metrics.update(self.state, values)
        if not self.cfg.dry_run:
            self.metrics.write(self.dirs.metrics_file)

    def _set_percent_down(self, percent: int, tries: int = 5) -> None:
        for attempt in range(1, tries + 1):
            try:
                self.set_percent(percent)
                return
            except SetPercentFailed as exc:
                self.say(f"set-percent {percent} failed (try {attempt} of {tries}): {exc}")
                time.sleep(1)
        raise SetPercentFailed(
            f"could not set {percent} %: run `{self.cfg.set_percent} {percent} {self.cfg.conf}` "
            "by hand"
        )

    # -- reading -----------------------------------------------------------------------------

    def coach_urls(self) -> list[str]:
        if self.cfg.coaches:
            return list(self.cfg.coaches)
        try:
            return coach_urls_from_conf(Path(self.cfg.conf).read_text())
        except OSError as exc:
            self.say(f"cannot read {self.cfg.conf} for the coach upstreams: {exc}")
            return []

    def analyse_once(self) -> None:
        chunk = read_from(Path(self.cfg.access_log), self.state.window)
        if chunk.note:
            self.say(chunk.note)
        requests = [r for r in map(parse_line, chunk.lines) if r is not None]
        probed = probe_all(
            self.coach_urls(),
            self.cfg.prometheus_url,
            timeout=probe_timeout(self.cfg.analysis_seconds),
        )
        analysis: Analysis = analyse(
            window_of(requests),
            thresholds=self.cfg.thresholds,
            replicas=probed.replicas,
            alerts=probed.alerts,
            alerts_error=probed.alerts_error,
            baseline=self.state.baseline if self.state.percent >= 100 else None,
        )
        state, decisions = canary.on_analysis(
            self.state, analysis, now=self.clock(), window_end=chunk.end
        )
        self.commit(state, decisions, analysis.values)

    def take_request(self) -> None:
        action = self.dirs.take_request()
        if action is None:
            return
        state, decisions = canary.on_request(self.state, action, now=self.clock())
        if not decisions:
            self.say(f"request {action!r} ignored in status {self.state.status}")
        self.commit(state, decisions, {})

    # -- the loop ----------------------------------------------------------------------------

    def start(self, *, new: bool) -> None:
        """A new rollout: its first step (or, when nginx is already at a step's share, that
        step). A rollout that was running: the controller started again, and renders the
        same percentage again (idempotent)."""
        if new:
            # A request can outlive its rollout (written as the last controller exited);
            # taken now, it would pause or abort this new one.
            stale = self.dirs.take_request()
            if stale is not None:
                self.say(f"discarded a request left from before this rollout: {stale!r}")
            self.state.window = read_from(Path(self.cfg.access_log), None).end
            if self.state.step < 0:
                state, decisions = canary.begin(self.state, now=self.clock())
                self.commit(state, decisions, {})
                return
            percent = self.cfg.steps[self.state.step]
            self.say(
                f"nginx is at {self.state.percent} %: starting at step "
                f"{self.state.step} ({percent} %)"
            )
            self.set_percent(percent)
            self.commit(replace(self.state, percent=percent), [], {})
            return
        was = self.state.percent
        state, decisions = canary.on_restart(self.state, now=self.clock())
        self.set_percent(was)
        self.commit(state, decisions, {})

    def run(self, *, new: bool) -> int:
        self.metrics.update(self.state)
        self.start(new=new)
        next_analysis = time.monotonic() + self.cfg.analysis_seconds
        while self.state.status not in FINAL:
            self.take_request()
            if self.state.status in FINAL:
                break
            if time.monotonic() >= next_analysis:
                next_analysis = time.monotonic() + self.cfg.analysis_seconds
                self.analyse_once()
                continue
            time.sleep(max(0.0, min(self.cfg.poll_seconds, next_analysis - time.monotonic())))
        return exit_code(self.state)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
