"""Per-request records from nginx's access log (the `coach_routing` format of
deploy/nginx/coach.conf.template) and the figures the report gives per phase and per second.
Pure: text in, numbers out."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

_LINE = re.compile(r'^(?P<time>\S+) \S+ "(?P<method>[A-Z]+) (?P<path>[^ ?"]*)[^"]*" (?P<rest>.*)$')
_FIELD = re.compile(r"(\w+)=(\S*)")
P95_BOUND = 5.0
"""The seed's bound for a WOD, seconds (the ADR: p95 under 5 s)."""


@dataclass(frozen=True)
class Rec:
    t: float
    method: str
    path: str
    status: int
    side: str
    served_by: str
    seconds: float
    shadow: bool
    upstream_status: str = "-"
    """The first upstream's status ("401", "502,"): nginx logs the whole chain."""

    @property
    def refused_then_forwarded(self) -> bool:
        """coach refused the request (4xx) and nginx still fell back to the monolith: the
        monolith could accept what coach refused. (A path other than /fitness/wod goes to
        the monolith first, whatever the user's side: `served_by=legacy`, not this.)"""
        first = self.upstream_status.rstrip(",")
        return self.served_by == "legacy_fallback" and first.startswith("4")

    @property
    def wod(self) -> bool:
        return self.path == "/fitness/wod" and self.method == "GET"

    @property
    def server_error(self) -> bool:
        return self.status >= 500


def parse(lines: Iterable[str]) -> list[Rec]:
    out = []
    for line in lines:
        m = _LINE.match(line.strip())
        if not m:
            continue
        fields = dict(_FIELD.findall(m["rest"]))
        try:
            t = datetime.fromisoformat(m["time"]).timestamp()
            status = int(fields.get("status", "0"))
            seconds = float(fields.get("request_time", "nan"))
        except ValueError:
            continue
        out.append(
            Rec(
                t=t,
                method=m["method"],
                path=m["path"],
                status=status,
                side=fields.get("side", "-"),
                served_by=fields.get("served_by", "-"),
                seconds=seconds,
                shadow=fields.get("shadow", "-") not in ("-", "", "0", "off"),
                upstream_status=fields.get("upstream_status", "-"),
            )
        )
    return out


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


@dataclass(frozen=True)
class PhaseFigures:
    name: str
    seconds: float
    requests: int
    wods: int
    coach_share: float
    client_errors: int
    p95: float
    p95_coach: float
    fallbacks: int

    @property
    def within_bound(self) -> bool:
        return not self.p95 > P95_BOUND


def figures(name: str, recs: list[Rec], start: float, end: float) -> PhaseFigures:
    inside = [r for r in recs if start <= r.t < end + 1]
    wods = [r for r in inside if r.wod]
    coach = [r.seconds for r in wods if r.served_by == "coach"]
    return PhaseFigures(
        name=name,
        seconds=end - start,
        requests=len(inside),
        wods=len(wods),
        coach_share=len(coach) / len(wods) if wods else 0.0,
        client_errors=sum(r.server_error for r in inside),
        p95=quantile([r.seconds for r in wods], 0.95),
        p95_coach=quantile(coach, 0.95),
        fallbacks=sum(r.served_by == "legacy_fallback" for r in wods),
    )


@dataclass(frozen=True)
class Second:
    t: int
    rps: float
    coach_share: float
    p50: dict[str, float]
    p99: dict[str, float]
    fallback_ratio: float
    errors: int


def per_second(recs: list[Rec]) -> list[Second]:
    """The timeline's request series, one point per second that saw requests."""
    buckets: dict[int, list[Rec]] = {}
    for r in recs:
        buckets.setdefault(int(r.t), []).append(r)
    out = []
    for t in sorted(buckets):
        rs = buckets[t]
        wods = [r for r in rs if r.wod]
        sides: dict[str, list[float]] = {}
        for r in wods:
            side = "coach" if r.served_by == "coach" else "monolith"
            sides.setdefault(side, []).append(r.seconds)
        on_coach = [r for r in wods if r.side == "coach"]
        out.append(
            Second(
                t=t,
                rps=float(len(rs)),
                coach_share=len(sides.get("coach", [])) / len(wods) if wods else 0.0,
                p50={k: quantile(v, 0.5) for k, v in sides.items()},
                p99={k: quantile(v, 0.99) for k, v in sides.items()},
                fallback_ratio=(
                    sum(r.served_by == "legacy_fallback" for r in on_coach) / len(on_coach)
                    if on_coach
                    else 0.0
                ),
                errors=sum(r.server_error for r in rs),
            )
        )
    return out


def locust_failures(stats_csv: str) -> dict[str, tuple[int, int]]:
    """Locust's stats CSV (`--csv`'s *_stats.csv): (requests, failures) per request type and
    name that failed at least once, the aggregate row aside."""
    import csv
    import io

    out = {}
    for row in csv.DictReader(io.StringIO(stats_csv)):
        failures = int(row.get("Failure Count") or 0)
        if failures and row.get("Name") != "Aggregated":
            out[f"{row.get('Type', '')} {row.get('Name', '')}".strip()] = (
                int(row.get("Request Count") or 0),
                failures,
            )
    return out
