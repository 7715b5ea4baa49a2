"""The WOD's tail against a plain FastAPI app, closed loop and open loop, hot and cold.

Side by side in one run, each server alone on core 0 (taskset) and the load generator on
core 1, each run on a freshly started server (so a cold run's users are new to it) after a
2 s warm-up: with the hot users themselves for a hot run (users coming back), with other
users for a cold run:

- coach: `coach api`, one worker, over a projection of 200 exercises and 100,000 workouts
  of 50,000 users;
- plain: bench/plain_app.py, a plain FastAPI app with the same HS256 check and token cache
  and a fixed body (a real WOD of coach's).

Mixes: hot (1,000 users drawn at random, their tokens cached and WODs held after the
first request) and cold (every request a user and a token the server has not seen: the
day's first WOD).

1. Closed loop: wrk at 100 and 200 connections; throughput, p50, p99, p99.9. Then the same
   with a second client, bench/loop_client.py: wrk's p99 at saturation holds a tail of its
   own that this client does not see at the same throughput (docs/BENCHMARKS.md).
2. Open loop: vegeta at a fixed rate of 50 % and 80 % of the lower of the two maxima
   measured in step 1 (latency from each request's scheduled send time, so a stall counts
   for every request it delays); p50, p99, p99.9.
3. After each coach run, the worst and the count of stalls over 100 ms of its event loop
   (`coach_event_loop_lag_seconds`).

    .venv/bin/python bench/tail.py            # about 12 minutes
    .venv/bin/python bench/tail.py --quick    # about 5 minutes, noisier

Needs wrk (apt-get install wrk) and vegeta (`go install github.com/tsenart/vegeta/v12@v12.12.0`,
found on PATH or in $(go env GOPATH)/bin).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import machine_info, save_result  # noqa: E402
from bench.tail_load import WRK_LUA, loop_client, vegeta, vegeta_binary, wrk  # noqa: E402
from bench.tail_servers import SERVERS, coach_server, get, loop_stalls, tokens_for  # noqa: E402
from bench.wod import USERS, build_projection  # noqa: E402

HOT_USERS = 1_000
COLD_TOKENS = 80_000
"""Distinct users and tokens of a cold run (more than a run sends)."""


# -- the benchmark -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (noisier)")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    seconds = 5.0 if args.quick else 10.0
    rounds = args.rounds or (1 if args.quick else 2)
    vegeta_bin = vegeta_binary()
    if shutil.which("wrk") is None or vegeta_bin is None or shutil.which("taskset") is None:
        print("needs wrk, vegeta and taskset (see --help)", file=sys.stderr)
        return 2
    info = machine_info()
    rng = random.Random(5)
    result: dict[str, Any] = {
        "seconds": seconds,
        "rounds": rounds,
        "closed": [],
        "closed_client": [],
        "open": [],
    }
    with tempfile.TemporaryDirectory(prefix="coach-tail-") as tmp:
        tmpdir = Path(tmp)
        db_path, lua = tmpdir / "coach.db", tmpdir / "wrk.lua"
        lua.write_text(WRK_LUA)
        built = build_projection(db_path)
        print(f"projection built in {built:.1f} s; {USERS:,} users with workouts")
        users = [str(u) for u in range(1, USERS + 1)]
        rng.shuffle(users)
        hot_users = users[:HOT_USERS]
        warm_users = [f"warm-{n}" for n in range(2_000)]
        # cold: users of the projection first, then new ones (a server restarts per run)
        cold_users = (users[HOT_USERS:] + [f"new-{n}" for n in range(COLD_TOKENS)])[:COLD_TOKENS]
        tokens = {
            "hot": tokens_for(hot_users, tmpdir / "hot.txt"),
            "cold": tokens_for(cold_users, tmpdir / "cold.txt"),
            "warm": tokens_for(warm_users, tmpdir / "warm.txt"),
        }
        with coach_server(db_path) as base:
            body = get(base + "/fitness/wod", tokens["hot"].read_text().split()[0])
        body_file = tmpdir / "wod.json"
        body_file.write_bytes(body)
        print(f"fixed body of the plain app: a real WOD, {len(body)} bytes\n")

        def one_run(app: str, mix: str, run: Any) -> dict[str, Any]:
            with SERVERS[app](db_path if app == "coach" else body_file) as base:
                # Warm-up. Hot: the hot users themselves, so that the run measures users
                # coming back (tokens cached, WODs held), not the first visits of 1,000
                # users in its first second. Cold: other users (the run's users stay new).
                warm = "hot" if mix == "hot" else "warm"
                wrk(base, 2, 100, tokens[warm], "hot" if mix == "hot" else "cold", lua)
                figures: dict[str, Any] = run(base)
                if app == "coach":
                    figures["loop"] = loop_stalls(base)
                return figures

        def closed_loop(key: str, measure: Any) -> None:
            for mix in ("hot", "cold"):
                for connections in (100, 200):
                    for r in range(rounds):
                        for app in ("coach", "plain") if r % 2 == 0 else ("plain", "coach"):
                            figures = one_run(
                                app,
                                mix,
                                lambda base, c=connections, m=mix: measure(base, c, m),
                            )
                            figures |= {"app": app, "mix": mix, "connections": connections}
                            result[key].append(figures)
                            loop = figures.get("loop")
                            print(
                                f"  {mix:<4} {connections:>3} conns {app:<5}"
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
            summary = summarize(result[key])
            result[f"{key}_summary"] = summary
            print()
            for name, ratios in summary.items():
                print(
                    f"  {name:<9} throughput coach/plain {ratios['throughput']:.2f}   "
                    f"p99 coach/plain {ratios['p99']:.2f}   p99.9 {ratios['p999']:.2f}"
                )

        print("closed loop (wrk):")
        closed_loop("closed", lambda base, c, m: wrk(base, seconds, c, tokens[m], m, lua))
        print("\nclosed loop, the second client (bench/loop_client.py):")
        closed_loop("closed_client", lambda base, c, m: loop_client(base, seconds, c, tokens[m], m))

        print("\nopen loop (vegeta, latency from each request's scheduled time):")
        for mix in ("hot", "cold"):
            maximum = min(
                statistics.median(
                    c["rps"] for c in result["closed"] if c["app"] == app and c["mix"] == mix
                )
                for app in ("coach", "plain")
            )
            mix_tokens = tokens[mix].read_text().split()
            if mix == "hot":
                mix_tokens = [rng.choice(mix_tokens) for _ in range(int(maximum * seconds) + 10)]
            for share in (0.5, 0.8):
                rate = int(maximum * share)
                for app in ("coach", "plain"):
                    figures = one_run(
                        app,
                        mix,
                        lambda base, r=rate, t=mix_tokens: vegeta(vegeta_bin, base, r, seconds, t),
                    )
                    figures |= {"app": app, "mix": mix, "share": share}
                    result["open"].append(figures)
                    print(
                        f"  {mix:<4} {share:.0%} of {maximum:.0f} = {rate} req/s {app:<5}"
                        f"  p50 {figures['p50_ms']:7.1f}  p99 {figures['p99_ms']:7.1f}"
                        f"  p99.9 {figures['p999_ms']:7.1f}  max {figures['max_ms']:7.1f} ms"
                        f"  errors {figures['errors']}",
                        flush=True,
                    )
        result["open_summary"] = {
            f"{mix} {share:.0%}": {
                "p99": ratio(result["open"], mix, share, "p99_ms"),
                "p999": ratio(result["open"], mix, share, "p999_ms"),
            }
            for mix in ("hot", "cold")
            for share in (0.5, 0.8)
        }
        for key, s in result["open_summary"].items():
            print(f"  {key:<9} p99 coach/plain {s['p99']:.2f}   p99.9 {s['p999']:.2f}")
    save_result("tail", result, info=info)
    return 0


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per mix and connection count: coach's median figures over the plain app's."""
    out = {}
    for mix in ("hot", "cold"):
        for connections in (100, 200):

            def med(app: str, field: str, c: int = connections, m: str = mix) -> float:
                return statistics.median(
                    r[field]
                    for r in runs
                    if r["app"] == app and r["mix"] == m and r["connections"] == c
                )

            out[f"{mix} {connections}"] = {
                "throughput": med("coach", "rps") / med("plain", "rps"),
                "p99": med("coach", "p99_ms") / med("plain", "p99_ms"),
                "p999": med("coach", "p999_ms") / med("plain", "p999_ms"),
            }
    return out


def ratio(runs: list[dict[str, Any]], mix: str, share: float, field: str) -> float:
    def one(app: str) -> float:
        return next(
            r[field] for r in runs if r["app"] == app and r["mix"] == mix and r["share"] == share
        )

    return one("coach") / one("plain")


if __name__ == "__main__":
    sys.exit(main())
