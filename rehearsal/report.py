"""The report: DIR/report.md (a table per phase, the faults, the canary's decisions, the
accounting, the verdict) and DIR/timeline.png. Returns the exit status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rehearsal import checks
from rehearsal.accounting import Account
from rehearsal.plan import Plan
from rehearsal.plot import draw, lag_rows
from rehearsal.records import P95_BOUND, figures, locust_failures, parse


def write_report(
    root: Path, plan: Plan, journal: Any, accounts: list[Account], started: float, writer: Any
) -> int:
    log = root / "state" / "nginx" / "access.log"
    recs = parse(log.read_text(errors="replace").splitlines()) if log.exists() else []
    lines = [f"# Rehearsal ({plan.name})", ""]
    broken: list[str] = list(journal.notes)
    head = (
        "| phase | s | requests | WODs | coach share | client 5xx | "
        f"p95 (bound {P95_BOUND:.0f} s) | coach p95 | fallbacks |"
    )
    lines += ["## Phases", "", head, "|---" * 9 + "|"]
    for name, start, end in journal.phases:
        f = figures(name, recs, start, end)
        lines.append(
            f"| {name} | {f.seconds:.0f} | {f.requests} | {f.wods} | {f.coach_share:.0%} | "
            f"{f.client_errors} | {f.p95 * 1000:.0f} ms | {f.p95_coach * 1000:.1f} ms | "
            f"{f.fallbacks} |"
        )
        wod_5xx = sum(r.server_error and r.wod for r in recs if start <= r.t < end + 1)
        if wod_5xx:
            broken.append(f"phase {name}: clients saw {wod_5xx} 5xx on GET /fitness/wod")
        if f.client_errors - wod_5xx:
            broken.append(
                f"the monolith's writes: phase {name}: clients saw {f.client_errors - wod_5xx} "
                "5xx on the monolith's other routes (logins, workouts)"
            )
        if not f.within_bound:
            broken.append(f"phase {name}: p95 {f.p95:.2f} s over the {P95_BOUND:.0f} s bound")
    lines += ["", "## SLO burn (Prometheus, the highest 5-minute burn rate in the phase)", ""]
    lines += ["| phase | availability (budget 0.1 %) | latency (budget 1 % over 0.25 s) |"]
    lines += ["|---|---|---|"]
    lines += [f"| {r['phase']} | {r['availability']:g}x | {r['latency']:g}x |" for r in journal.slo]
    broken += checks.burns_broken(journal.slo)
    if not journal.slo and journal.phases:
        broken.append("SLO burn: Prometheus was not asked")
    drill = [(f["start"], f["end"]) for f in journal.faults if f["phase"] == "drill"]
    full = checks.full_seconds(lag_rows(root / "lag.jsonl"), drill)
    n, p95 = checks.tail_at_full(recs, full)
    bound = checks.TAIL_BOUND
    lines += ["", f"p95 of the {n} WODs answered in the {len(full)} s nginx held 100 % (the "
              f"drill aside): {p95 * 1000:.1f} ms (promise: under {bound * 1000:.0f} ms, 1 % of "
              f"{P95_BOUND:.0f} s)"]  # fmt: skip
    if not n or not p95 < bound:
        broken.append(f"the tail at 100 %: p95 {p95 * 1000:.1f} ms of {n} WODs, over "
                      f"{bound * 1000:.0f} ms")  # fmt: skip
    lines += ["", "## The load (Locust's seed profile: people and 5 % hostile clients)", ""]
    stats = root / "locust_stats.csv"
    failed = locust_failures(stats.read_text()) if stats.exists() else {}
    lines += [f"- {name}: {bad} of {n} failed" for name, (n, bad) in failed.items()]
    lines += [] if failed else ["- no request failed" if stats.exists() else "- no stats"]
    broken += [f"the load: {name}: {bad} of {n} failed" for name, (n, bad) in failed.items()]
    if not stats.exists():
        broken.append("the load: Locust wrote no stats")
    forwarded = [r for r in recs if r.refused_then_forwarded]
    lines += [f"- refused by coach, then sent to the monolith by nginx: {len(forwarded)}"]
    if forwarded:
        broken.append(f"{len(forwarded)} requests coach refused reached the monolith")
    lines += [
        "",
        "## Faults",
        "",
        "| fault | at (s) | took (s) | ok | detail |",
        "|---|---|---|---|---|",
    ]
    for fault in journal.faults:
        lines.append(
            f"| {fault['kind']} | {fault['start'] - started:.0f} | "
            f"{fault['end'] - fault['start']:.1f} | {fault['ok']} | {fault['detail']} |"
        )
        if not fault["ok"]:
            broken.append(f"fault {fault['kind']} could not be made: {fault['detail']}")
    lines += ["", "## The comparison gate", "", f"`{journal.compare}`"]
    gate = journal.compare
    if gate.get("verdict") != "pass":
        broken.append(f"the comparison gate: {gate.get('verdict')}")
    lines += ["", "## The canary", ""]
    for run in journal.canaries:
        kinds = [d.get("decision") for d in run["decisions"]]
        lines.append(f"- {run['name']}: exit {run['exit']}, {len(kinds)} decisions: {kinds[-12:]}")
    lines += ["", f"Rollback drill: {journal.drill}"]
    if journal.drill and not journal.drill.get("ok"):
        broken.append(f"the rollback drill: {journal.drill}")
    lines += ["", "## Yesterday agreed", "", f"`{journal.agreement}`"]
    if not journal.agreement:
        broken.append("yesterday agreed: the sample was not checked")
    elif journal.agreement["disagreements"]:
        broken.append(f"yesterday agreed: {journal.agreement['disagreements'][:3]}")
    lines += ["", "## Accounting", ""]
    for a in accounts:
        lines.append(f"- {a.summary()}")
        if not a.ok:
            broken.append(f"accounting: {a.summary()}")
    if not accounts:
        broken.append("no accounting was made")
    if writer is not None:
        lines.append(f"- the writer: {writer.done}")
    lines += ["", "## Verdict", ""]
    lines += [f"- BROKEN: {b}" for b in broken] or ["every promise held"]
    try:
        draw(root / "timeline.png", recs, lag_rows(root / "lag.jsonl"), journal, started)
        lines.insert(2, "![timeline](timeline.png)\n")
    except Exception as exc:  # the report without its plot still says what happened
        broken.append(f"the timeline could not be drawn: {exc}")
    (root / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-len(broken) - 3 :]))
    return 1 if broken else 0
