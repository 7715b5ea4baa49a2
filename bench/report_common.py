"""What every section of docs/BENCHMARKS.md uses (bench/report.py writes it): the paths,
the goals, table and number formatting, the machine line, loading bench/results/*.json,
and saving a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "BENCHMARKS.md"
PLOTS = REPO / "docs" / "bench"

ADR_GOAL_THROUGHPUT = 5.0
ADR_GOAL_P95 = 0.2
USERS_GOAL_P50 = 1.2


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; numbers right-aligned."""
    align = [
        "---:" if rows and isinstance(rows[0][i], int | float) else "---"
        for i in range(len(header))
    ]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def machine_line(record: dict[str, Any]) -> str:
    m = record["machine"]
    load = ", ".join(f"{x:g}" for x in m.get("load_average_at_start") or [])
    return (
        f"{m['cpu_model']}, {m['cpus']} CPUs, {m['memory_gb']} GB RAM; {m['os']}; "
        f"Python {m['python']}, SQLite {m['sqlite']}, {m.get('wrk') or 'no wrk'}; "
        f"load average at start {load}; finished {record['finished_at']}"
    )


def provenance(record: dict[str, Any]) -> str:
    return f"Command: `{record['command']}`  \nMachine: {machine_line(record)}"


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "font.size": 9})
    return plt


def save(fig: Any, name: str) -> str:
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(PLOTS / name)
    pyplot().close(fig)
    return f"![{name}](bench/{name})"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def missing(title: str, command: str) -> str:
    return f"## {title}\n\nNot measured yet: `{command}`.\n"
