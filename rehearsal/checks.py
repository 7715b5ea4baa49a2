"""The report's three further promises, each a pure verdict over what a thin reader gives:

- **SLO burn per phase** (Prometheus's HTTP API over the recording rules of
  deploy/prometheus/coach-rules.yml): the highest 5-minute burn rate of each SLO during the
  phase, the bad ratio over its budget (availability 0.1 %, latency 1 %); the promise is that
  it stays under 14.4, the rate at which the fastest page fires.
- **Yesterday agreed**: for a sample of users, the exercises each replica's projection and the
  monolith's tables say the user did yesterday (UTC): what each side excludes from the WOD.
- **The tail at 100 %**: the p95 of the WODs answered while nginx sent 100 % of users to coach
  (outside the rollback drill, whose frozen replicas are the point) under 1 % of the seed's
  5 s bound: 50 ms.
"""

from __future__ import annotations

import math
import sqlite3
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rehearsal.records import P95_BOUND, Rec, quantile

BUDGETS = {"availability": 0.001, "latency": 0.01}
RULES = {
    "availability": "job:coach_wod_errors:ratio_rate5m",
    "latency": "job:coach_wod_slow:ratio_rate5m",
}
PAGE_BURN = 14.4
TAIL_BOUND = P95_BOUND / 100


def burn_query(slo: str, seconds: float) -> str:
    """The highest 5-minute burn rate of `slo` over the last `seconds` (a subquery at 1 s)."""
    window = max(1, math.ceil(seconds))
    return f"max(max_over_time({RULES[slo]}[{window}s:1s])) / {BUDGETS[slo]}"


def value_of(answer: Mapping[str, Any]) -> float:
    """The instant query's one value; 0 when there is none (a ratio absent while no request
    was bad, or no request yet); NaN (0 / 0) is 0 too."""
    result = answer.get("data", {}).get("result", [])
    if not result:
        return 0.0
    value = float(result[0]["value"][1])
    return 0.0 if math.isnan(value) else value


def burn_per_phase(query: Any, phases: Iterable[tuple[str, float, float]]) -> list[dict[str, Any]]:
    """Each phase's highest burn per SLO; `query(promql, at)` answers Prometheus's JSON."""
    rows = []
    for name, start, end in phases:
        row: dict[str, Any] = {"phase": name}
        for slo in BUDGETS:
            row[slo] = round(value_of(query(burn_query(slo, end - start), end)), 3)
        rows.append(row)
    return rows


def prometheus_query(base: str) -> Any:
    """`query(promql, at)` against Prometheus's /api/v1/query."""
    from rehearsal.infra import get_json

    def query(promql: str, at: float) -> Any:
        args = urllib.parse.urlencode({"query": promql, "time": f"{at:.3f}"})
        return get_json(f"{base}/api/v1/query?{args}", timeout=10)

    return query


def burns_broken(rows: list[dict[str, Any]]) -> list[str]:
    return [
        f"SLO burn: phase {r['phase']}: {slo} burned at {r[slo]:g}x (page at {PAGE_BURN}x)"
        for r in rows
        for slo in BUDGETS
        if r[slo] >= PAGE_BURN
    ]


def disagreements(excluded: Mapping[str, Mapping[str, frozenset[int]]]) -> list[str]:
    """Users whose sides (monolith, a, b) do not hold the same exercises for yesterday."""
    out = []
    for user, sides in sorted(excluded.items()):
        if len(set(sides.values())) > 1:
            said = "; ".join(f"{side} {sorted(ids)}" for side, ids in sorted(sides.items()))
            out.append(f"user {user}: {said}")
    return out


def excluded_by_sides(
    database_url: str, dbs: Mapping[str, Path], users: list[str], now: datetime | None = None
) -> dict[str, dict[str, frozenset[int]]]:
    """Yesterday's exercises (UTC) of each user per side: the monolith's query and each
    replica's projection (store/reads.py, read-only)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from deploy.monolith.wod import done_between as monolith_done
    from store.reads import done_between as coach_done
    from wod.day import yesterday

    day = yesterday(now or datetime.now(UTC), ZoneInfo("UTC"))
    out: dict[str, dict[str, frozenset[int]]] = {u: {} for u in users}
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            for u in users:
                out[u]["monolith"] = monolith_done(session, u, day)
    finally:
        engine.dispose()
    for name, db in dbs.items():
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for u in users:
                out[u][name] = coach_done(conn, user_id=u, start_us=day.start_us, end_us=day.end_us)
        finally:
            conn.close()
    return out


def full_seconds(
    samples: Iterable[Mapping[str, Any]], drill: list[tuple[float, float]]
) -> set[int]:
    """The seconds nginx held 100 % (the sampler's `percent`), outside the drill's spans."""
    return {
        int(s["t"])
        for s in samples
        if s.get("percent") == 100 and not any(a - 1 <= s["t"] <= b + 1 for a, b in drill)
    }


def tail_at_full(recs: list[Rec], seconds: set[int]) -> tuple[int, float]:
    """How many WODs were answered (200) in `seconds`, and their p95 (seconds; NaN for none):
    the hostile clients' refusals aside."""
    times = [r.seconds for r in recs if r.wod and r.status == 200 and int(r.t) in seconds]
    return len(times), quantile(times, 0.95)
