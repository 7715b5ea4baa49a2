"""bench/tail.py's figures: coach's event-loop stalls from its /metrics, a closed run's line,
and the ratios coach / plain app per path, mix and connection count."""

from __future__ import annotations

import statistics
import urllib.request
from typing import Any

from bench.tail_paths import PATH_TITLES, PATHS


def get(url: str, token: str | None = None) -> bytes:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()  # type: ignore[no-any-return]


def loop_stalls(backends: list[str]) -> dict[str, float]:
    """coach's event-loop lag so far, over its servers: samples, those over 100 ms, and the
    bucket of the worst. (With --workers 2 a scrape reaches one of the two workers.)"""
    from prometheus_client.parser import text_string_to_metric_families

    out = {"samples": 0.0, "over_100ms": 0.0, "worst_bucket_s": 0.0}
    for base in backends:
        text = get(base + "/metrics").decode()
        buckets: list[tuple[float, float]] = []
        for family in text_string_to_metric_families(text):
            if family.name == "coach_event_loop_lag_seconds":
                buckets = [
                    (float(s.labels["le"]), s.value)
                    for s in family.samples
                    if s.name.endswith("_bucket")
                ]
        total = max(v for _, v in buckets)
        under_100ms = next(v for le, v in buckets if le == 0.1)
        worst = next(le for le, v in sorted(buckets) if v == total)
        out["samples"] += total
        out["over_100ms"] += total - under_100ms
        out["worst_bucket_s"] = max(out["worst_bucket_s"], worst)
    return out


def print_closed(figures: dict[str, Any]) -> None:
    loop = figures.get("loop")
    print(
        f"  {figures['mix']:<4} {figures['connections']:>3} conns {figures['app']:<5}"
        f" {figures['rps']:7.0f} req/s"
        f"  p50 {figures['p50_ms']:7.1f}  p99 {figures['p99_ms']:7.1f}"
        f"  p99.9 {figures['p999_ms']:7.1f}"
        f"  max {figures['max_ms']:7.1f} ms  errors {figures['errors']}"
        + (
            f"  loop stalls > 100 ms: {loop['over_100ms']:.0f} "
            f"(worst <= {loop['worst_bucket_s']} s)"
            if loop
            else ""
        ),
        flush=True,
    )


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per path, mix and connection count: coach's median figures over the plain app's."""
    out = {}
    paths = [p for p in PATHS if any(r.get("path", "direct") == p for r in runs)]
    for path, mix, connections in (
        (p, m, c) for p in paths for m in ("hot", "cold") for c in (100, 200)
    ):

        def med(app: str, field: str, c: int = connections, m: str = mix, p: str = path) -> float:
            return statistics.median(
                r[field]
                for r in runs
                if r["app"] == app
                and r["mix"] == m
                and r["connections"] == c
                and r.get("path", "direct") == p
            )

        out[f"{PATH_TITLES[path]}, {mix} {connections}"] = {
            "throughput": med("coach", "rps") / med("plain", "rps"),
            "p99": med("coach", "p99_ms") / med("plain", "p99_ms"),
            "p999": med("coach", "p999_ms") / med("plain", "p999_ms"),
            "max_over_p50": med("coach", "max_ms") / med("coach", "p50_ms"),
        }
    return out


def ratio(runs: list[dict[str, Any]], path: str, mix: str, share: float, field: str) -> float:
    def one(app: str) -> float:
        return next(
            r[field]
            for r in runs
            if r["app"] == app and r["mix"] == mix and r["share"] == share and r["path"] == path
        )

    return one("coach") / one("plain")
