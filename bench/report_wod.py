"""The sections of docs/BENCHMARKS.md on serving GET /fitness/wod: throughput (bench/wod.py)
and the tail under open and closed load (bench/tail.py, bench/wod_inprocess.py), with its
plot."""

from __future__ import annotations

from typing import Any

from report_common import missing, provenance, pyplot, save, table, verdict
from report_tail_goals import tail_headline
from report_wod_findings import WHAT_MADE_THE_DIFFERENCE


def wod_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "WOD against the framework's ceiling"
    if record is None:
        return missing(title, ".venv/bin/python bench/wod.py"), []
    d = record["data"]
    main = d["main"]
    rows = [
        [name, run["rps"], run["p50_ms"], run["p95_ms"], run["p99_ms"]]
        for pair in zip(main["ceiling"], main["wod"], strict=True)
        for name, run in zip(("ceiling", "wod"), pair, strict=True)
    ]
    r = d["ratios"]
    text = f"""## {title}

{provenance(record)}

`GET /fitness/wod` against `GET /bench/ceiling` (same server, middleware and bearer check,
then a fixed body of a WOD's size) on a projection of {d["projection"]["exercises"]}
exercises and {d["projection"]["workouts"]:,} workouts of {d["projection"]["users"]:,}
users; wrk {d["wrk"]["connections"]} connections, {d["wrk"]["tokens"]:,} tokens,
{main["workers"]} worker(s), runs of {main["seconds"]:g} s alternated (bench/wod.py).
{d.get("token_micro", "")}.

{table(["endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms"], rows)}

Throughput WOD / ceiling **{r["throughput"]:.2f}** (goal at least 0.9:
{verdict(r["throughput"] >= 0.9)}); p99 WOD / ceiling **{r["p99"]:.2f}** (goal at most 1.5:
{verdict(r["p99"] <= 1.5)}); WOD p95 {r["wod_p95_ms"]:.1f} ms at 100 concurrent users.
"""
    headline = [
        [
            "WOD / ceiling throughput",
            f"{r['throughput']:.2f}",
            ">= 0.9",
            verdict(r["throughput"] >= 0.9),
            record["command"],
        ],
        [
            "WOD / ceiling p99",
            f"{r['p99']:.2f}",
            "<= 1.5",
            verdict(r["p99"] <= 1.5),
            record["command"],
        ],
    ]
    return text, headline


PATH_TITLES = {
    "direct": "direct",
    "nginx": "nginx, one worker",
    "workers2": "nginx, --workers 2",
    "replicas2": "nginx, two replicas",
}
"""bench/tail_paths.py's paths (runs of older results have no path: direct)."""


def path_of(r: dict[str, Any]) -> str:
    return PATH_TITLES[r.get("path", "direct")]


def plot_tail(d: dict[str, Any]) -> str:
    plt = pyplot()
    paths = d.get("paths", ["direct"])
    fig, grid = plt.subplots(
        len(paths), 2, figsize=(9, 3.2 * len(paths)), sharey=True, squeeze=False
    )
    for (path, mix), ax in zip(
        ((p, m) for p in paths for m in ("hot", "cold")), grid.flat, strict=True
    ):
        for run in (r for r in d["open"] if r["mix"] == mix and r.get("path", "direct") == path):
            points = sorted((float(p), ms) for p, ms in run["percentiles_ms"].items())
            xs = [1 / (1 - p / 100) for p, _ in points]  # 2 = p50, 100 = p99, 1000 = p99.9
            ax.plot(
                xs,
                [ms for _, ms in points],
                "o-" if run["app"] == "coach" else "s--",
                label=f"{run['app']}, {run['share']:.0%} of max ({run['rate']} req/s)",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [2, 4, 10, 20, 100, 200, 1000, 10000]
        ax.set_xticks(ticks, ["p50", "p75", "p90", "p95", "p99", "p99.5", "p99.9", "p99.99"])
        ax.set_title(f"{PATH_TITLES[path]}: {mix} mix, open loop", fontsize=9)
        ax.set_ylabel("latency, ms (log)")
        ax.legend(fontsize=7)
    return save(fig, "tail.png")


CLOSED_HEADER = [
    "path",
    "mix",
    "connections",
    "app",
    "req/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "errors",
    "loop stalls > 100 ms",
]


OPEN_HEADER = [
    "path",
    "mix",
    "share",
    "req/s",
    "app",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "errors",
]


def inprocess_part(record: dict[str, Any] | None) -> str:
    """CPU per request in process, coach against the plain app: where the two differ."""
    if record is None:
        return "(`.venv/bin/python bench/wod_inprocess.py --plain` has not run yet.)"
    d = record["data"]
    rows = [
        [mix, d[mix]["coach_us"], d[mix]["plain_us"], d[mix]["coach_us"] / d[mix]["plain_us"]]
        for mix in ("hot", "cold")
    ]
    return f"""CPU time per request of the two apps themselves, in one process without sockets (the
ASGI app called directly, best of {d["rounds"]} rounds of {d["requests"]:,} requests,
alternating the apps; {provenance(record)}):

{table(["mix", "coach (us)", "plain app (us)", "coach / plain"], rows)}"""


def closed_row(r: dict[str, Any]) -> list[Any]:
    """One closed-loop run, as a row of CLOSED_HEADER (without the loop stalls)."""
    fields = ("mix", "connections", "app", "rps", "p50_ms", "p99_ms", "p999_ms", "max_ms")
    return [path_of(r), *(r[f] for f in fields), r["errors"]]


def second_client_part(d: dict[str, Any]) -> str:
    """The closed loop again, from bench/loop_client.py (absent in older results)."""
    runs = d.get("closed_client")
    if not runs:
        return ""
    rows = [closed_row(r) for r in runs]
    ratios = [
        [k, v["throughput"], v["p99"], v["p999"]] for k, v in d["closed_client_summary"].items()
    ]
    return f"""
The same closed loop from a second client (bench/loop_client.py: one uvloop process, raw
HTTP/1.1 on the same number of keep-alive connections, each sending its next request when
its last response has arrived):

{table(CLOSED_HEADER[:-1], rows)}

Ratios coach / plain, second client (medians of the rounds):

{table(["mix, connections", "throughput", "p99", "p99.9"], ratios)}
"""


def tail_section(
    record: dict[str, Any] | None, inprocess: dict[str, Any] | None = None
) -> tuple[str, list[list[Any]]]:
    title = "The tail against a plain FastAPI app"
    if record is None:
        return missing(title, ".venv/bin/python bench/tail.py"), []
    d = record["data"]
    closed_rows = [
        [*closed_row(r), r["loop"]["over_100ms"] if "loop" in r else ""] for r in d["closed"]
    ]
    open_rows = [
        [
            path_of(r),
            r["mix"],
            f"{r['share']:.0%}",
            r["rate"],
            r["app"],
            r["p50_ms"],
            r["p99_ms"],
            r["p999_ms"],
            r["max_ms"],
            r["errors"],
        ]
        for r in d["open"]
    ]
    s, o = d["closed_summary"], d["open_summary"]
    ratio_rows = [[k, v["throughput"], v["p99"], v["p999"]] for k, v in s.items()]
    second = second_client_part(d)
    paths = ", ".join(path_of({"path": p}) for p in d.get("paths", ["direct"]))
    text = f"""## {title}

{provenance(record)}

coach (`coach api`, one worker, a projection of 200 exercises and 100,000 workouts of 50,000
users) against a plain FastAPI app (bench/plain_app.py: the same HS256 check and token
cache, a real WOD as its fixed body), each on a freshly started server alone on core 0,
the load on core 1. Hot: 1,000 users at random. Cold: every request a user and a token
the server has not seen (the day's first WOD). Runs of {d["seconds"]:g} s,
{d["rounds"]} round(s), the two apps alternated (bench/tail.py), each after a 2 s warm-up:
with the hot users themselves before a hot run (users coming back), with other users
before a cold run.

Each app is reached by the paths of this run ({paths}):
directly, or as users reach coach, through nginx rendered from the project's template at
100 % (one nginx worker on the load's core, beside the load generator; nothing listens on
the legacy side, so a fallback is an error) in front of one worker, of `--workers 2`, or of
two replicas (each its own copy of the projection). Every app process runs on core 0,
whatever their number: each path has one core of server.

Closed loop (wrk):

{table(CLOSED_HEADER, closed_rows)}

Ratios coach / plain (medians of the rounds):

{table(["mix, connections", "throughput", "p99", "p99.9"], ratio_rows)}
{second}
Open loop (vegeta: a fixed rate, 50 % and 80 % of the lower of the two maxima; latency from
each request's scheduled time, so a stall counts for every request it delays):

{table(OPEN_HEADER, open_rows)}

{plot_tail(d)}

{inprocess_part(inprocess)}

{WHAT_MADE_THE_DIFFERENCE}
"""
    return text, tail_headline(record, s, d.get("closed_client_summary", {}), o)
