"""The headline rows of the tail section of docs/BENCHMARKS.md: issue 28's goals for
bench/tail.py, each ratio against its bound."""

from __future__ import annotations

from typing import Any

from report_common import verdict


def tail_headline(
    record: dict[str, Any],
    closed: dict[str, dict[str, float]],
    client: dict[str, dict[str, float]],
    open_loop: dict[str, dict[str, float]],
) -> list[list[Any]]:
    """The tail's goals (issue 28): p99 at most the plain app's in every closed and open run,
    max under 10x the median, throughput at least 2x the plain app's hot and 1.2x cold."""
    command = record["command"]
    rows: list[list[Any]] = []
    for key, v in closed.items():
        least = 2.0 if " hot " in f" {key.split(', ')[-1]} " else 1.2
        rows.append(
            [
                f"WOD / plain app p99, {key} conns",
                f"{v['p99']:.2f}",
                "<= 1.0",
                verdict(v["p99"] <= 1.0),
                command,
            ]
        )
        rows.append(
            [
                f"WOD / plain app throughput, {key} conns",
                f"{v['throughput']:.2f}",
                f">= {least:g}",
                verdict(v["throughput"] >= least),
                command,
            ]
        )
        if "max_over_p50" in v:
            rows.append(
                [
                    f"WOD max / p50, {key} conns",
                    f"{v['max_over_p50']:.1f}",
                    "< 10",
                    verdict(v["max_over_p50"] < 10),
                    command,
                ]
            )
    for key, v in client.items():
        rows.append(
            [
                f"WOD / plain app p99, {key} conns, second client",
                f"{v['p99']:.2f}",
                "<= 1.0",
                verdict(v["p99"] <= 1.0),
                command,
            ]
        )
    for key, v in open_loop.items():
        if key.endswith("80%"):
            rows.append(
                [
                    f"WOD / plain app p99, open loop, {key}",
                    f"{v['p99']:.2f}",
                    "<= 1.0",
                    verdict(v["p99"] <= 1.0),
                    command,
                ]
            )
    return rows
