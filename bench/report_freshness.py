"""The sections of docs/BENCHMARKS.md on freshness: publish to WOD (bench/freshness.py,
with its plot) and through the outbox and Debezium (bench/cdc_freshness.py)."""

from __future__ import annotations

from typing import Any

from report_common import missing, provenance, pyplot, save, table, verdict


def plot_freshness(d: dict[str, Any]) -> str:
    plt = pyplot()
    ms = sorted(d["all_ms"])
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(ms, [(i + 1) / len(ms) for i in range(len(ms))], "-")
    ax.axvline(100, color="grey", ls=":", label="goal: p99 < 100 ms")
    ax.set_xlabel("publish (acks=all) to a WOD that reflects it, ms")
    ax.set_ylabel("share of probes")
    ax.set_ylim(0, 1.01)
    ax.legend()
    return save(fig, "freshness.png")


def freshness_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "Freshness: publish to WOD"
    if record is None:
        return missing(title, ".venv/bin/python bench/freshness.py"), []
    d = record["data"]
    cache = d.get("status_cache_seconds")
    figures = ("p50_ms", "p90_ms", "p99_ms", "max_ms")
    text = f"""## {title}

{provenance(record)}

From the monolith's publish (acks=all) to the first GET /fitness/wod that reflects it, for
{d["probes"]} probes (a new user each, whose WOD the api already holds), with
{d["background_rate"]:.0f} other users' workouts a second in the background, through the
real `coach consume` and `coach api` (COACH_STATUS_CACHE_SECONDS
{"default" if cache is None else f"{cache:g}"}; bench/freshness.py).

{table(["p50 ms", "p90 ms", "p99 ms", "max ms"], [[d[k] for k in figures]])}

{plot_freshness(d)}
"""
    headline = [
        [
            "Publish-to-WOD freshness p99",
            f"{d['p99_ms']:.0f} ms",
            "< 100 ms",
            verdict(d["p99_ms"] < 100),
            record["command"],
        ]
    ]
    return text, headline


def cdc_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "Freshness through the outbox and Debezium"
    if record is None:
        return missing(title, ".venv/bin/python bench/cdc_freshness.py"), []
    d = record["data"]
    ok = d["p99_ms"] < 200 and d["rate"] >= 500
    rows = [
        ["commit -> WOD", d["p50_ms"], d["p90_ms"], d["p99_ms"], d["max_ms"]],
        ["commit -> topic", d["commit_to_topic_p50_ms"], "", d["commit_to_topic_p99_ms"], ""],
    ]
    text = f"""## {title}

{provenance(record)}

From a workout's commit in the monolith's PostgreSQL (with its outbox row, through the
monolith kit) to the first WOD of its user that reflects it, through Debezium's connector
in Kafka Connect (`poll.interval.ms=20`), the broker, `coach consume` and `coach api`
(`COACH_STATUS_CACHE_SECONDS={d["status_cache_seconds"]:g}`), while pgbench commits
{d["rate"]:.0f} other workouts a second; {d["probes"]} probes, {d["missed"]} missed,
{d["dead_letters"]} dead letters (bench/cdc_freshness.py).

{table(["path", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows)}

p99 **{d["p99_ms"]:.0f} ms** under {d["rate"]:.0f} workouts/s (goal under 200 ms at 500/s or
more: {verdict(ok)}). With `COACH_STATUS_CACHE_SECONDS=1` (the default until it became
50 ms) the api reuses the consumer's status for up to a second, and that second dominates:
p50 about 490 ms and p99 about 1,030 ms in the same setup (`--status-cache 1.0`).
"""
    headline = [
        [
            "commit -> WOD p99 (outbox, Debezium)",
            f"{d['p99_ms']:.0f} ms at {d['rate']:.0f}/s",
            "< 200 ms at >= 500/s",
            verdict(ok),
            record["command"],
        ]
    ]
    return text, headline
