"""The timeline (DIR/timeline.png): coach's share, requests/s, p50/p99 per side, the fallback
ratio, 5xx seen by clients, lag and data age per replica, the phases and the faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rehearsal.records import Rec, per_second


def lag_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def draw(out: Path, recs: list[Rec], lags: list[dict[str, Any]], journal: Any, t0: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    secs = per_second(recs)
    x = [s.t - t0 for s in secs]
    fig, axes = plt.subplots(5, 1, figsize=(12, 13), sharex=True)
    share, rate, latency, errors, lag = axes
    share.plot(x, [s.coach_share * 100 for s in secs], label="coach share %")
    share.plot(x, [s.fallback_ratio * 100 for s in secs], label="fallback % of coach side")
    conf = [r for r in lags if "percent" in r and r["percent"] is not None]
    share.step([r["t"] - t0 for r in conf], [r["percent"] for r in conf], ":", where="post",
               label="nginx's coach % (conf)")  # fmt: skip
    share.set_ylabel("%")
    rate.plot(x, [s.rps for s in secs], label="requests/s (all, through nginx)")
    for side, style in (("coach", "-"), ("monolith", "--")):
        pts = [(s.t - t0, s.p50[side], s.p99[side]) for s in secs if side in s.p50]
        latency.plot([p[0] for p in pts], [p[1] * 1000 for p in pts], style, label=f"{side} p50")
        latency.plot([p[0] for p in pts], [p[2] * 1000 for p in pts], style, label=f"{side} p99")
    latency.set_yscale("symlog")
    latency.set_ylabel("ms (WOD)")
    errors.plot(x, [s.errors for s in secs], color="red", label="5xx seen by clients / s")
    for replica in sorted({r["replica"] for r in lags if "replica" in r}):
        rows = [r for r in lags if r.get("replica") == replica]
        lag.plot([r["t"] - t0 for r in rows], [r["lag"] or 0 for r in rows], label=f"{replica} lag")
        lag.plot([r["t"] - t0 for r in rows], [r["age"] or 0 for r in rows], ":",
                 label=f"{replica} data age s")  # fmt: skip
    lag.set_yscale("symlog")
    lag.set_xlabel("seconds since the start")
    for ax in axes:
        for _name, start, _end in journal.phases:
            ax.axvline(start - t0, color="grey", lw=0.8)
        for fault in journal.faults:
            ax.axvspan(fault["start"] - t0, max(fault["end"], fault["start"] + 1) - t0,
                       color="orange", alpha=0.25)  # fmt: skip
        ax.legend(loc="upper left", fontsize=7)
    for name, start, _end in journal.phases:
        share.text(start - t0, 102, name, fontsize=8)
    for fault in journal.faults:
        errors.text(fault["start"] - t0, 0.5, fault["kind"], rotation=90, fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
