"""The section of docs/BENCHMARKS.md on coach against the ADR's synchronous design
(bench/adr.py's results), with its plot."""

from __future__ import annotations

from typing import Any

from report_common import (
    ADR_GOAL_P95,
    ADR_GOAL_THROUGHPUT,
    missing,
    provenance,
    pyplot,
    save,
    table,
    verdict,
)


def plot_adr(data: dict[str, Any]) -> str:
    plt = pyplot()
    names = data["names"]
    keys = list(names)
    s = data["summary"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.bar([names[k] for k in keys], [s[k]["rps"] for k in keys], color=["C0", "C3", "C1"])
    left.set_ylabel("requests per second")
    left.set_title("Throughput (100 connections)")
    width = 0.25
    for i, k in enumerate(keys):
        xs = [j + (i - 1) * width for j in range(3)]
        right.bar(
            xs,
            [s[k][f] for f in ("p50_ms", "p95_ms", "p99_ms")],
            width,
            label=names[k],
            color=["C0", "C3", "C1"][i],
        )
    right.set_xticks(range(3), ["p50", "p95", "p99"])
    right.set_yscale("log")
    right.set_ylabel("ms (log scale)")
    right.set_title("Latency")
    right.legend()
    return save(fig, "adr.png")


def adr_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "coach against the ADR's synchronous design"
    if record is None:
        return missing(title, ".venv/bin/python bench/adr.py"), []
    d = record["data"]
    names, s, r = d["names"], d["summary"], d["ratios"]
    rows = [
        [
            names[k],
            s[k]["rps"],
            s[k]["p50_ms"],
            s[k]["p95_ms"],
            s[k]["p99_ms"],
            f"{s[k]['errors']:.0f} of {s[k]['requests']:,.0f}",
        ]
        for k in names
    ]
    cpu = d["cpu_us_per_request"]
    processes = list(next(iter(cpu.values())))
    cpu_rows = [[names[k], *(cpu[k][p] for p in processes)] for k in names]
    rounds = [
        [i + 1, names[k], run["rps"], run["p50_ms"], run["p95_ms"], run["p99_ms"]]
        for k in names
        for i, run in enumerate(d["runs"][k])
    ]
    w = d["wrk"]
    cpus = record["machine"]["cpus"]
    own = cpu["adr_raw"]["adr_raw"]
    cap = cpus / own * 1e6
    free_monolith = (
        f"A bound, derived rather than measured: if the monolith answered for free, the ADR "
        f"service's own CPU per request ({own:,.0f} us with the raw client) would cap it at "
        f"{cpus} cores / {own:,.0f} us = {cap:,.0f} requests/s on this machine (generous: "
        f"wrk needs some of the cores too); coach measured {s['coach']['rps'] / cap:.1f}x "
        "that. Most of the gap is "
        "the monolith's per-call work, but the per-request HTTP calls and the catalog's "
        "JSON alone cost the ADR service more than coach's whole request."
    )
    agreed = ", ".join(f"{names[k]} {n}" for k, n in d["same_answers"]["same"].items())
    text = f"""## {title}

{provenance(record)}

The ADR's original design: a WOD service that, on every request, asks the monolith over
HTTP for the exercise catalog and the user's exercises, then filters and draws. Both
designs serve the same projection ({d["projection"]["exercises"]} exercises,
{d["projection"]["workouts"]:,} workouts of {d["projection"]["users"]:,} users) and answer
the same WOD: before measuring, the run checked that the ADR service and coach give the
same exercises and suggestions to {d["same_answers"]["checked"]} users (agreed: {agreed}).

- **The monolith stand-in** (`bench/monolith.py`) is a bare ASGI app under uvicorn
  ({d["workers"]} workers) over a *copy* of coach's projection file. `GET /catalog` runs,
  per call, the catalog version query and the two catalog queries (exercises; their muscle
  groups joined) and renders about 100 kB of JSON; `GET /users/ID/exercises` runs the two
  indexed queries coach's WOD runs (the user's workouts of the window, their folded
  performances). No sleeps, no cache: the cost per call is that of the queries and the
  JSON, what a database behind the monolith would cost at the least.
- **The ADR service** (`bench/adr_service.py`): FastAPI under uvicorn ({d["workers"]}
  workers), coach's own JWT verifier and token cache, both calls at once over keep-alive
  connections, then coach's `choose_wod`, `daily_rng`, `suggest` and "yesterday". It runs
  twice: with httpx2's `AsyncClient` (what such a service would use) and with a minimal
  raw keep-alive client (a bound: what the fastest client could save it).
- **coach**: `coach api` with {d["workers"]} workers over the projection.
- **Load**: wrk, {w["connections"]} connections, {w["threads"]} threads, {w["tokens"]:,}
  users' tokens in rotation, {w["rounds"]} rounds of {w["seconds"]:g} s per server, the
  order rotating every round. All servers and wrk share the machine's cores (the stand-in
  and the other services idle while not measured).

{table(["Design", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows)}

Ratios, coach to ADR (httpx): throughput **{r["adr"]["throughput"]:.1f}x** (goal at least
{ADR_GOAL_THROUGHPUT:g}x: {verdict(r["adr"]["throughput"] >= ADR_GOAL_THROUGHPUT)}), p95
**{r["adr"]["p95"]:.3f}** of the ADR's (goal at most {ADR_GOAL_P95:g}:
{verdict(r["adr"]["p95"] <= ADR_GOAL_P95)}). Against the raw-client bound: throughput
{r["adr_raw"]["throughput"]:.1f}x ({verdict(r["adr_raw"]["throughput"] >= ADR_GOAL_THROUGHPUT)}),
p95 {r["adr_raw"]["p95"]:.3f} ({verdict(r["adr_raw"]["p95"] <= ADR_GOAL_P95)}).

CPU time per answered request (microseconds, user + system, each process with its
workers), during each design's runs: where the ADR design's time goes.

{table(["During the runs of", *(names.get(p, p + " stand-in") for p in processes)], cpu_rows)}

{free_monolith}

{plot_adr(d)}

<details><summary>Every run</summary>

{table(["Round", "Design", "req/s", "p50 ms", "p95 ms", "p99 ms"], rounds)}

</details>
"""
    headline = [
        [
            "coach / ADR throughput (httpx)",
            f"{r['adr']['throughput']:.1f}x",
            f">= {ADR_GOAL_THROUGHPUT:g}x",
            verdict(r["adr"]["throughput"] >= ADR_GOAL_THROUGHPUT),
            record["command"],
        ],
        [
            "coach / ADR p95 (httpx)",
            f"{r['adr']['p95']:.3f}",
            f"<= {ADR_GOAL_P95:g}",
            verdict(r["adr"]["p95"] <= ADR_GOAL_P95),
            record["command"],
        ],
        [
            "coach / ADR throughput, p95 (raw-client bound)",
            f"{r['adr_raw']['throughput']:.1f}x, {r['adr_raw']['p95']:.3f}",
            "",
            "",
            record["command"],
        ],
    ]
    return text, headline
