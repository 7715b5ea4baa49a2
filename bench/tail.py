"""The WOD's tail against a plain FastAPI app, closed loop and open loop, hot and cold.

Side by side in one run, each server alone on core 0 (taskset) and the load generator on
core 1, each run on a freshly started server (so a cold run's users are new to it) after a
2 s warm-up: with the hot users themselves for a hot run (users coming back), with other
users for a cold run:

- coach: `coach api`, one worker, over a projection of 200 exercises and 100,000 workouts
  of 50,000 users;
- plain: bench/plain_app.py, a plain FastAPI app with the same HS256 check and token cache
  and a fixed body (a real WOD of coach's).

Paths (`--paths`, default all; bench/tail_paths.py): direct to the app's port, or as users
reach coach, through nginx rendered from the project's template (100 %) in front of one
worker, of `--workers 2`, or of two replicas. The app's processes always run on core 0;
nginx runs on core 1 beside the load.

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

    .venv/bin/python bench/tail.py                  # about 40 minutes (4 paths)
    .venv/bin/python bench/tail.py --quick          # about 14 minutes, noisier
    .venv/bin/python bench/tail.py --paths direct   # one path (12 minutes)

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
import time
from pathlib import Path
from typing import Any

import jwt

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import machine_info, save_result  # noqa: E402
from bench.tail_figures import get, loop_stalls, print_closed, ratio, summarize  # noqa: E402
from bench.tail_load import WRK_LUA, loop_client, vegeta, vegeta_binary, wrk  # noqa: E402
from bench.tail_paths import PATH_TITLES, PATHS, front  # noqa: E402
from bench.wod import SECRET, USERS, build_projection  # noqa: E402

HOT_USERS = 1_000
COLD_TOKENS = 80_000
"""Distinct users and tokens of a cold run (more than a run sends)."""


def tokens_for(users: list[str], path: Path) -> Path:
    exp = int(time.time()) + 6 * 3600
    path.write_text(
        "\n".join(jwt.encode({"sub": u, "exp": exp}, SECRET, algorithm="HS256") for u in users)
        + "\n"
    )
    return path


# -- the benchmark -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (noisier)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="seconds per run")
    parser.add_argument(
        "--paths",
        default=",".join(PATHS),
        help=f"comma-separated, of {', '.join(PATHS)} (default: all)",
    )
    args = parser.parse_args()
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not paths or any(p not in PATHS for p in paths):
        parser.error(f"--paths must name some of {', '.join(PATHS)}, not {args.paths!r}")
    seconds = args.seconds or (5.0 if args.quick else 10.0)
    rounds = args.rounds or (1 if args.quick else 2)
    vegeta_bin = vegeta_binary()
    if shutil.which("wrk") is None or vegeta_bin is None or shutil.which("taskset") is None:
        print("needs wrk, vegeta and taskset (see --help)", file=sys.stderr)
        return 2
    if paths != ["direct"] and not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        print("needs nginx for the paths through nginx (apt-get install nginx)", file=sys.stderr)
        return 2
    info = machine_info()
    rng = random.Random(5)
    result: dict[str, Any] = {
        "seconds": seconds,
        "rounds": rounds,
        "paths": paths,
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
        second_copy = tmpdir / "replica2.db"  # replicas2: each replica a file of its own
        shutil.copyfile(db_path, second_copy)
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
        with front("coach", "direct", db_path) as f:
            body = get(f.url + "/fitness/wod", tokens["hot"].read_text().split()[0])
        body_file = tmpdir / "wod.json"
        body_file.write_bytes(body)
        print(f"fixed body of the plain app: a real WOD, {len(body)} bytes\n")

        def one_run(app: str, path: str, mix: str, run: Any) -> dict[str, Any]:
            data = db_path if app == "coach" else body_file
            with front(app, path, data, second_copy) as f:
                # Warm-up. Hot: the hot users themselves, so that the run measures users
                # coming back (tokens cached, WODs held), not the first visits of 1,000
                # users in its first second. Cold: other users (the run's users stay new).
                warm = "hot" if mix == "hot" else "warm"
                wrk(f.url, 2, 100, tokens[warm], "hot" if mix == "hot" else "cold", lua)
                figures: dict[str, Any] = run(f.url)
                if app == "coach":
                    figures["loop"] = loop_stalls(f.backends)
                return figures

        def closed_loop(key: str, measure: Any) -> None:
            for path in paths:
                print(f" {PATH_TITLES[path]}:")
                for mix in ("hot", "cold"):
                    for connections in (100, 200):
                        for r in range(rounds):
                            for app in ("coach", "plain") if r % 2 == 0 else ("plain", "coach"):
                                figures = one_run(
                                    app,
                                    path,
                                    mix,
                                    lambda base, c=connections, m=mix: measure(base, c, m),
                                )
                                figures |= {
                                    "app": app,
                                    "path": path,
                                    "mix": mix,
                                    "connections": connections,
                                }
                                result[key].append(figures)
                                print_closed(figures)
            summary = summarize(result[key])
            result[f"{key}_summary"] = summary
            print()
            for name, ratios in summary.items():
                print(
                    f"  {name:<32} throughput coach/plain {ratios['throughput']:.2f}   "
                    f"p99 coach/plain {ratios['p99']:.2f}   p99.9 {ratios['p999']:.2f}"
                )

        print("closed loop (wrk):")
        closed_loop("closed", lambda base, c, m: wrk(base, seconds, c, tokens[m], m, lua))
        print("\nclosed loop, the second client (bench/loop_client.py):")
        closed_loop("closed_client", lambda base, c, m: loop_client(base, seconds, c, tokens[m], m))

        print("\nopen loop (vegeta, latency from each request's scheduled time):")
        for path in paths:
            for mix in ("hot", "cold"):
                maximum = min(
                    statistics.median(
                        c["rps"]
                        for c in result["closed"]
                        if c["app"] == app and c["mix"] == mix and c["path"] == path
                    )
                    for app in ("coach", "plain")
                )
                mix_tokens = tokens[mix].read_text().split()
                if mix == "hot":
                    mix_tokens = [
                        rng.choice(mix_tokens) for _ in range(int(maximum * seconds) + 10)
                    ]
                for share in (0.5, 0.8):
                    rate = int(maximum * share)
                    for app in ("coach", "plain"):
                        figures = one_run(
                            app,
                            path,
                            mix,
                            lambda base, r=rate, t=mix_tokens: vegeta(
                                vegeta_bin, base, r, seconds, t
                            ),
                        )
                        figures |= {"app": app, "path": path, "mix": mix, "share": share}
                        result["open"].append(figures)
                        print(
                            f"  {PATH_TITLES[path]:<20} {mix:<4} {share:.0%} of {maximum:.0f}"
                            f" = {rate} req/s {app:<5}  p50 {figures['p50_ms']:7.1f}"
                            f"  p99 {figures['p99_ms']:7.1f}  p99.9 {figures['p999_ms']:7.1f}"
                            f"  max {figures['max_ms']:7.1f} ms  errors {figures['errors']}",
                            flush=True,
                        )
        result["open_summary"] = {
            f"{PATH_TITLES[path]}, {mix} {share:.0%}": {
                "p99": ratio(result["open"], path, mix, share, "p99_ms"),
                "p999": ratio(result["open"], path, mix, share, "p999_ms"),
            }
            for path in paths
            for mix in ("hot", "cold")
            for share in (0.5, 0.8)
        }
        for key, s in result["open_summary"].items():
            print(f"  {key:<32} p99 coach/plain {s['p99']:.2f}   p99.9 {s['p999']:.2f}")
    save_result("tail", result, info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
