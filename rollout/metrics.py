"""The canary's metrics, for the rollout dashboard (deploy/grafana) and alerts:

    coach_rollout_percent                 gauge: the share of users nginx sends to coach
    coach_rollout_step                    gauge: the step's index (-1 before the first)
    coach_rollout_state{state}            1 for the current of running|holding|paused|
                                          aborted|rolled_back|done, 0 for the others
    coach_rollout_decisions_total{decision} counter, kept in the state file so that it
                                          carries on (never falls) across a restart
    coach_rollout_check_value{check}      gauge: the last figure of each check

Written to STATE_DIR/metrics.prom (node_exporter's textfile collector can pick it up) after
every decision, and served on --metrics-port when given.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.exposition import generate_latest

from rollout.state import STATUSES, State, write_atomically


class RolloutMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.percent = Gauge(
            "coach_rollout_percent",
            "Share of users nginx sends to coach, percent",
            registry=self.registry,
        )
        self.step = Gauge(
            "coach_rollout_step",
            "Index of the canary step (-1 before the first)",
            registry=self.registry,
        )
        self.state = Gauge(
            "coach_rollout_state",
            "1 for the canary's current state",
            ["state"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "coach_rollout_decisions",
            "Canary decisions, by decision",
            ["decision"],
            registry=self.registry,
        )
        self.checks = Gauge(
            "coach_rollout_check_value",
            "Last figure of each canary check",
            ["check"],
            registry=self.registry,
        )
        self._counted: dict[str, int] = {}

    def update(self, state: State, values: dict[str, float] | None = None) -> None:
        self.percent.set(state.percent)
        self.step.set(state.step)
        for name in STATUSES:
            self.state.labels(state=name).set(1 if state.status == name else 0)
        for decision, total in state.counts.items():
            seen = self._counted.get(decision, 0)
            if total > seen:
                self.decisions.labels(decision=decision).inc(total - seen)
                self._counted[decision] = total
        for check, value in (values or {}).items():
            self.checks.labels(check=check).set(value)

    def text(self) -> bytes:
        return generate_latest(self.registry)

    def write(self, path: Path) -> None:
        write_atomically(path, self.text().decode())

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
