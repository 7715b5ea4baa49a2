"""How many WODs a second one core of coach answers within a p99 of 50 ms and of 200 ms, hot
and cold, as users reach it (through nginx, bench/tail_paths.py), and what the decision
record's load and a day of 1,000,000 users need of it (docs/SCALING.md).

For each mix: the closed-loop maximum first (wrk, 100 connections), then an open loop
(vegeta, latency from each request's scheduled time) at rising shares of that maximum,
each on a freshly started `coach api` (one worker on core 0; nginx and the load on core 1)
after a 2 s warm-up, as bench/tail.py does. The capacity at a bound is the highest rate
measured whose p99 stayed within it (no interpolation: a rate not measured is not claimed).

    .venv/bin/python bench/capacity.py            # about 4 minutes
    .venv/bin/python bench/capacity.py --path direct
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import machine_info, save_result  # noqa: E402
from bench.tail import COLD_TOKENS, HOT_USERS, tokens_for  # noqa: E402
from bench.tail_load import WRK_LUA, vegeta, vegeta_binary, wrk  # noqa: E402
from bench.tail_paths import PATH_TITLES, PATHS, front  # noqa: E402
from bench.wod import USERS, build_projection  # noqa: E402

SHARES = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
BOUNDS_MS = (50, 200)

# The loads to size for. The decision record's: 100 users at once, each waiting 0.5 to 1.5 s
# between requests (the load test's users): at most 100 / 0.5 = 200 requests a second.
SEED_PEAK_RPS = 200.0
# A day of 1,000,000 users, each asking for the day's WOD once (cold: a token and a user
# new to the server that day) and twice more from the cache (hot); a fifth of the day's
# users in the busiest hour, and that hour's busiest second at 3x its average.
DAY_USERS = 1_000_000
BUSIEST_HOUR_SHARE = 0.2
BUSIEST_SECOND_FACTOR = 3.0


def day_peak_rps(cold_per_user: float = 1.0, hot_per_user: float = 2.0) -> dict[str, float]:
    per_second = DAY_USERS * BUSIEST_HOUR_SHARE / 3600 * BUSIEST_SECOND_FACTOR
    return {"cold": per_second * cold_per_user, "hot": per_second * hot_per_user}


def capacity_at(runs: list[dict[str, Any]], bound_ms: float) -> float:
    """The highest rate whose p99 stayed within `bound_ms` with no error (0: none did)."""
    ok = [r["rate"] for r in runs if r["p99_ms"] <= bound_ms and r["errors"] == 0]
    return float(max(ok, default=0))


def cores_for(peak: dict[str, float], capacity: dict[str, float]) -> int:
    """Cores of coach (one worker each) that answer `peak` (req/s per mix) within the bound,
    each core loaded to its capacity at most: the mixes' shares of a core added up."""
    if any(capacity[m] <= 0 for m in peak):
        return 0
    return max(1, math.ceil(sum(peak[m] / capacity[m] for m in peak)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", choices=PATHS, default="nginx")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per run")
    args = parser.parse_args()
    vegeta_bin = vegeta_binary()
    if shutil.which("wrk") is None or vegeta_bin is None or shutil.which("taskset") is None:
        print("needs wrk, vegeta and taskset (see bench/tail.py --help)", file=sys.stderr)
        return 2
    info = machine_info()
    rng = random.Random(11)
    result: dict[str, Any] = {"path": args.path, "seconds": args.seconds, "mixes": {}}
    with tempfile.TemporaryDirectory(prefix="coach-capacity-") as tmp:
        tmpdir = Path(tmp)
        db_path, lua = tmpdir / "coach.db", tmpdir / "wrk.lua"
        lua.write_text(WRK_LUA)
        build_projection(db_path)
        copy = tmpdir / "replica2.db"
        shutil.copyfile(db_path, copy)
        users = [str(u) for u in range(1, USERS + 1)]
        rng.shuffle(users)
        cold_users = (users[HOT_USERS:] + [f"new-{n}" for n in range(COLD_TOKENS)])[:COLD_TOKENS]
        tokens = {
            "hot": tokens_for(users[:HOT_USERS], tmpdir / "hot.txt"),
            "cold": tokens_for(cold_users, tmpdir / "cold.txt"),
            "warm": tokens_for([f"warm-{n}" for n in range(2_000)], tmpdir / "warm.txt"),
        }
        print(f"coach, {PATH_TITLES[args.path]}, runs of {args.seconds:g} s")
        for mix in ("hot", "cold"):
            warm = "hot" if mix == "hot" else "warm"
            with front("coach", args.path, db_path, copy) as f:
                wrk(f.url, 2, 100, tokens[warm], mix, lua)
                closed = wrk(f.url, args.seconds, 100, tokens[mix], mix, lua)
            maximum = closed["rps"]
            mix_tokens = tokens[mix].read_text().split()
            runs = []
            for share in SHARES:
                rate = max(1, int(maximum * share))
                wanted = int(rate * args.seconds) + 10
                sent = (
                    [rng.choice(mix_tokens) for _ in range(wanted)] if mix == "hot" else mix_tokens
                )
                with front("coach", args.path, db_path, copy) as f:
                    wrk(f.url, 2, 100, tokens[warm], mix, lua)
                    run = vegeta(vegeta_bin, f.url, rate, args.seconds, sent)
                run["share"] = share
                runs.append(run)
                print(
                    f"  {mix:<4} {share:4.0%} of {maximum:6.0f} = {rate:5d} req/s"
                    f"  p50 {run['p50_ms']:7.1f}  p99 {run['p99_ms']:7.1f}"
                    f"  max {run['max_ms']:7.1f} ms  errors {run['errors']}",
                    flush=True,
                )
            result["mixes"][mix] = {
                "closed_max_rps": maximum,
                "runs": runs,
                **{f"capacity_p99_{b}ms": capacity_at(runs, b) for b in BOUNDS_MS},
            }
    result["needs"] = needs(result["mixes"])
    for line in needs_lines(result):
        print(line)
    save_result("capacity", result, info=info)
    return 0


def needs(mixes: dict[str, Any]) -> dict[str, Any]:
    day = day_peak_rps()
    out: dict[str, Any] = {"day_peak_rps": day, "seed_peak_rps": SEED_PEAK_RPS}
    for bound in BOUNDS_MS:
        capacity = {m: mixes[m][f"capacity_p99_{bound}ms"] for m in ("hot", "cold")}
        out[f"p99_{bound}ms"] = {
            # the seed's users all new to the server: the cold mix, the worst case
            "seed_cores": cores_for({"cold": SEED_PEAK_RPS}, capacity),
            "day_cores": cores_for(day, capacity),
        }
    return out


def needs_lines(result: dict[str, Any]) -> list[str]:
    n = result["needs"]
    lines = [
        f"\nper core at p99 <= {b} ms: hot "
        f"{result['mixes']['hot'][f'capacity_p99_{b}ms']:.0f}, cold "
        f"{result['mixes']['cold'][f'capacity_p99_{b}ms']:.0f} WOD/s; the seed's load "
        f"({SEED_PEAK_RPS:.0f} req/s) needs {n[f'p99_{b}ms']['seed_cores']} core(s), a day of "
        f"{DAY_USERS:,} users (peak {n['day_peak_rps']['cold']:.0f} cold + "
        f"{n['day_peak_rps']['hot']:.0f} hot req/s) {n[f'p99_{b}ms']['day_cores']}"
        for b in BOUNDS_MS
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
