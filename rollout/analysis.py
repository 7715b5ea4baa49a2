"""One analysis of the canary: the figures of a time window and the checks over them.

Both sides are measured over the same window of nginx's access log, so coach is compared
with the monolith at the same moment (same load, same time of day):

- fallback ratio: of coach's side, the requests the monolith answered after coach failed;
- error ratios: coach's side, requests that coach as a whole failed: the last replica nginx
  tried answered a 5xx, refused or timed out (a replica skipped for another that answered
  is counted apart, as `replica_retries`, not as an error); the monolith's side, requests
  it answered with a 5xx;
- latency: the p99 of the first coach try's upstream time against the monolith's p99.

Then coach's own word, per replica (`/ready`, lag, data age), and Prometheus' firing alerts.

The verdict: `fail` when a check fails on enough data; else `insufficient` when either side
had fewer than `min_requests` requests (the traffic checks cannot say: never pass, never
fail on too little traffic); else `pass`. Replica health and alerts need no traffic, so they
fail a window whatever its size. The replicas are judged together: none ready fails; some
not ready while others are (nginx routes around them: a restart, an upgrade) is
`insufficient`, so the step waits for them and the window stays open, never advancing and
never rolling back on a replica alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from rollout.access_log import Request

Verdict = Literal["pass", "fail", "insufficient"]
CheckResult = Literal["pass", "fail", "insufficient", "skipped"]


@dataclass(frozen=True)
class Thresholds:
    min_requests: int = 50  # per side and window
    max_fallback_ratio: float = 0.01
    max_error_factor: float = 2.0  # coach errors <= legacy errors x factor + margin
    error_margin: float = 0.005
    max_latency_ratio: float = 1.5  # coach p99 <= legacy p99 x ratio ...
    latency_floor_seconds: float = 0.1  # ... unless coach's p99 is under this
    max_lag_records: int | None = 1000
    max_data_age_seconds: float | None = 300.0


def p99(values: list[float]) -> float | None:
    """The 99th percentile, nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Side:
    requests: int = 0
    errors: int = 0
    fallbacks: int = 0
    p99_seconds: float | None = None
    retries: int = 0  # requests where a replica was skipped for another one

    @property
    def error_ratio(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def fallback_ratio(self) -> float | None:
        return self.fallbacks / self.requests if self.requests else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "fallbacks": self.fallbacks,
            "p99_seconds": self.p99_seconds,
            "retries": self.retries,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Side:
        side = cls(**{k: data[k] for k in ("requests", "errors", "fallbacks", "p99_seconds")})
        return replace(side, retries=int(data.get("retries", 0)))


@dataclass(frozen=True)
class Window:
    coach: Side
    legacy: Side


def window_of(requests: Iterable[Request]) -> Window:
    """Both sides' figures over one window's requests."""
    coach: list[Request] = []
    legacy: list[Request] = []
    for r in requests:
        (coach if r.side == "coach" else legacy).append(r)
    return Window(
        coach=Side(
            requests=len(coach),
            errors=sum(not r.answered for r in coach),
            fallbacks=sum(r.fallback for r in coach),
            p99_seconds=p99([r.first_time for r in coach if r.first_time is not None]),
            retries=sum(r.tries > 1 for r in coach),
        ),
        legacy=Side(
            requests=len(legacy),
            errors=sum(r.status >= 500 for r in legacy),
            p99_seconds=p99([r.first_time for r in legacy if r.first_time is not None]),
        ),
    )


@dataclass(frozen=True)
class Replica:
    """What one coach upstream said: /ready's status (None: no answer) and /lag's figures."""

    url: str
    ready: bool
    detail: str = ""
    lag_records: int | None = None
    data_age_seconds: float | None = None


@dataclass(frozen=True)
class Check:
    name: str
    result: CheckResult
    value: float | None = None
    limit: float | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.name, "result": self.result}
        for key in ("value", "limit"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 6)
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class Analysis:
    verdict: Verdict
    checks: list[Check]
    values: dict[str, float] = field(default_factory=dict)  # the figures, for the metrics
    legacy_measured: Side | None = None  # the monolith's side, when this window had enough

    def failing(self) -> list[str]:
        return [c.name for c in self.checks if c.result == "fail"]


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if b == 0:
        return math.inf if a > 0 else 1.0
    return a / b


def analyse(
    window: Window,
    *,
    thresholds: Thresholds,
    replicas: list[Replica],
    alerts: list[str] | None,
    alerts_error: str | None = None,
    baseline: Side | None = None,
) -> Analysis:
    """The checks over one window. `alerts` is None when no Prometheus was given (skipped);
    `alerts_error` says Prometheus could not be asked (the check cannot say: insufficient).
    `baseline`: the monolith's figures from an earlier window, used when this window's
    monolith side is too small (at 100 % it has no users left to compare with)."""
    t = thresholds
    coach = window.coach
    legacy = window.legacy
    legacy_from = "window"
    if legacy.requests < t.min_requests and baseline is not None:
        legacy, legacy_from = baseline, "baseline"
    enough = coach.requests >= t.min_requests and legacy.requests >= t.min_requests
    few = f"coach {coach.requests}, legacy {legacy.requests} ({legacy_from}) < {t.min_requests}"
    checks: list[Check] = []
    values: dict[str, float] = {
        "coach_requests": coach.requests,
        "legacy_requests": window.legacy.requests,
        "replica_retries": coach.retries,
    }

    def add(
        name: str, ok: bool, value: float | None, limit: float | None, detail: str = ""
    ) -> None:
        result: CheckResult = ("pass" if ok else "fail") if enough else "insufficient"
        checks.append(Check(name, result, value, limit, detail if enough else few))
        if value is not None and math.isfinite(value):
            values[name] = value

    fallback = coach.fallback_ratio
    add(
        "fallback_ratio",
        (fallback or 0.0) <= t.max_fallback_ratio,
        fallback,
        t.max_fallback_ratio,
        f"{coach.fallbacks} of {coach.requests} coach requests answered by the monolith",
    )
    coach_err, legacy_err = coach.error_ratio, legacy.error_ratio
    error_limit = (legacy_err or 0.0) * t.max_error_factor + t.error_margin
    add(
        "coach_error_ratio",
        (coach_err or 0.0) <= error_limit,
        coach_err,
        error_limit,
        f"{coach.errors} of {coach.requests} coach requests failed on every replica tried "
        f"({coach.retries} answered after a replica was skipped); "
        f"legacy {legacy.errors} of {legacy.requests} ({legacy_from})",
    )
    if legacy_err is not None:
        values["legacy_error_ratio"] = legacy_err
    latency = _ratio(coach.p99_seconds, legacy.p99_seconds)
    fast_enough = (
        coach.p99_seconds is None
        or coach.p99_seconds <= t.latency_floor_seconds
        or (latency is not None and latency <= t.max_latency_ratio)
    )
    add(
        "latency_p99_ratio",
        fast_enough,
        latency,
        t.max_latency_ratio,
        f"coach p99 {coach.p99_seconds} s, legacy p99 {legacy.p99_seconds} s ({legacy_from}); "
        f"under {t.latency_floor_seconds} s always passes",
    )
    for name, value in (
        ("coach_latency_p99_seconds", coach.p99_seconds),
        ("legacy_latency_p99_seconds", legacy.p99_seconds),
    ):
        if value is not None:
            values[name] = value

    checks.extend(_replica_checks(replicas, t, values))
    if alerts_error is not None:
        checks.append(Check("alerts", "insufficient", detail=alerts_error))
    elif alerts is None:
        checks.append(Check("alerts", "skipped", detail="no --prometheus-url"))
    else:
        values["alerts_firing"] = len(alerts)
        checks.append(
            Check("alerts", "fail" if alerts else "pass", len(alerts), 0, ", ".join(alerts))
        )

    results = {c.result for c in checks}
    verdict: Verdict = (
        "fail" if "fail" in results else "insufficient" if "insufficient" in results else "pass"
    )
    measured = window.legacy if window.legacy.requests >= t.min_requests else None
    return Analysis(verdict, checks, values, measured)


def _replica_checks(replicas: list[Replica], t: Thresholds, values: dict[str, float]):
    not_ready = [r for r in replicas if not r.ready]
    values["not_ready_upstreams"] = len(not_ready)
    named = "; ".join(f"{r.url}: {r.detail}" for r in not_ready)
    result: CheckResult = "pass"
    if not_ready and len(not_ready) == len(replicas):
        result, named = "fail", f"no replica ready: {named}"
    elif not_ready:
        result = "insufficient"
        named = (
            f"{len(not_ready)} of {len(replicas)} replicas not ready, nginx routes around "
            f"them: the step waits for them: {named}"
        )
    yield Check("ready", result, len(not_ready), 0, named)
    for name, limit, of in (
        ("lag_records", t.max_lag_records, lambda r: r.lag_records),
        ("data_age_seconds", t.max_data_age_seconds, lambda r: r.data_age_seconds),
    ):
        known = [(of(r), r.url) for r in replicas if of(r) is not None]
        if not known:
            yield Check(name, "skipped", detail="no upstream reported it")
            continue
        worst, url = max(known)
        values[name] = worst
        if limit is None:
            yield Check(name, "skipped", worst, detail="no limit set")
        else:
            yield Check(name, "pass" if worst <= limit else "fail", worst, limit, f"worst: {url}")
