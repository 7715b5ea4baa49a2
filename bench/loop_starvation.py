"""Why a closed loop's tail starves under uvloop: a bare ASGI app (bench/loop_starvation_app.py)
under uvicorn, one worker pinned to one core, driven from the other core by wrk and by a
per-connection client (bench/loop_starvation_client.py), once per configuration, each on a
fresh server.

    .venv/bin/python bench/loop_starvation.py                      # direct, both loops
    .venv/bin/python bench/loop_starvation.py --via nginx --nginx-keepalive 32,128
    .venv/bin/python bench/loop_starvation.py --variants plain,yield,h11 --seconds 10

A configuration is a loop (`--loops`), a variant (`--variants`: `plain`; `yield`, the
handler awaits `asyncio.sleep(0)` first; `h11`, uvicorn's pure-Python HTTP protocol) and,
with `--via nginx`, nginx's upstream `keepalive` (`--nginx-keepalive`). The table gives per
configuration wrk's req/s, p50, p99 and max (wrk opens all its connections at once), then
the per-connection client's: its p99 and max; the worst first request of the `--late`
connections it opens `--late-after` seconds in, into a saturated server (that wait includes
the wait to be accepted); and for the other connections, their worst wait after their
first request and the fewest and median numbers of requests answered per connection (a
starved connection gets fewer). wrk runs with a 60 s timeout: at its default of 2 s, a
longer wait is not in its histogram, only counted as a timeout. `--probe` runs wrk against
a server that notes when each connection was accepted and read
(bench/loop_starvation_probe.py) and prints those figures instead of the table.

nginx, when asked for, is rendered into a temporary directory and started as a child
process (never the system service), pinned to the load core. Every process started here is
stopped at the end, on an error and on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import loop_starvation_probe  # noqa: E402
from bench.loop_starvation_procs import (  # noqa: E402
    Children,
    die_with_parent,
    free_port,
    start_nginx,
    wait_listening,
)

PYTHON = sys.executable
CLIENT = REPO / "bench/loop_starvation_client.py"

WRK_LUA = """
function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"non2xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def start_target(
    children: Children,
    args: argparse.Namespace,
    loop: str,
    variant: str,
    keepalive: int,
    probe_out: Path | None = None,
) -> int:
    """Start the app (and nginx in front of it with --via nginx); the port the load goes to.
    With `probe_out`, the app is bench/loop_starvation_probe.py's, writing its records there."""
    port = free_port()
    env = dict(os.environ, STARVE_WORK_US=str(args.work_us))
    env["STARVE_YIELD"] = "1" if variant == "yield" else "0"
    http = "h11" if variant == "h11" else "httptools"
    app = "bench.loop_starvation_app:app"
    if probe_out is not None:
        env["PROBE_OUT"] = str(probe_out)
        app, http = "bench.loop_starvation_probe:app", "bench.loop_starvation_probe:Probe"
    server = children.start(
        [
            *("taskset", "-c", args.server_cpu, PYTHON, "-m", "uvicorn"),
            *(app, "--loop", loop, "--http", http),
            *("--port", str(port), "--no-access-log", "--log-level", "warning"),
        ],
        env=env,
    )
    wait_listening(port, server, "uvicorn")
    if args.via == "direct":
        return port
    return start_nginx(children, backend=port, keepalive=keepalive, cpu=args.load_cpu)


def run_wrk(args: argparse.Namespace, port: int, lua: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            *("taskset", "-c", args.load_cpu, "wrk", "-t1", f"-c{args.connections}"),
            *(f"-d{args.seconds}s", "--timeout", "60s", "--latency", "-s", str(lua)),
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=die_with_parent,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[7:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def run_client(args: argparse.Namespace, port: int, trace: Path | None = None) -> dict[str, Any]:
    out = subprocess.run(
        [
            *("taskset", "-c", args.load_cpu, PYTHON, str(CLIENT), "--port", str(port)),
            *(f"--connections={args.connections}", f"--seconds={args.seconds}"),
            *(f"--late={args.late}", f"--late-after={args.late_after}"),
            *(("--trace", str(trace)) if trace else ()),
        ],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=die_with_parent,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[7:])
    conns = result.pop("connections")
    on_time, late = [c for c in conns if not c[3]], [c for c in conns if c[3]]
    result["late_first_max_us"] = max((c[1] for c in late), default=None)
    result["after_first_max_us"] = max(c[2] for c in on_time)
    result["fewest"] = min(c[0] for c in on_time)
    result["median_count"] = sorted(c[0] for c in on_time)[len(on_time) // 2]
    return result


def ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def row(name: str, wrk: dict[str, Any] | None, client: dict[str, Any] | None) -> str:
    cells = [name]
    if wrk is not None:
        errors = wrk["non2xx"] + wrk["socket_errors"]
        rps = f"{wrk['rps']:,.0f}" + (f" ({errors} errors)" if errors else "")
        cells += [rps, ms(wrk["p50_us"]), ms(wrk["p99_us"]), ms(wrk["max_us"])]
    else:
        cells += ["-"] * 4
    if client is not None:
        late = client["late_first_max_us"]
        cells += [ms(client["p99_us"]), ms(client["max_us"]), "-" if late is None else ms(late)]
        cells += [ms(client["after_first_max_us"])]
        cells += [f"{client['fewest']} / {client['median_count']}"]
    else:
        cells += ["-"] * 5
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| configuration | wrk req/s | wrk p50 ms | wrk p99 ms | wrk max ms | client p99 ms "
    "| client max ms | late connections: worst first request ms "
    "| others: worst wait after their first ms | others: fewest / median requests "
    "|\n|" + "---|" * 10
)


def configurations(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    keepalives = [int(k) for k in args.nginx_keepalive.split(",")] if args.via == "nginx" else [0]
    loops, variants = args.loops.split(","), args.variants.split(",")
    return list(itertools.product(loops, variants, keepalives))


def name_of(loop: str, variant: str, keepalive: int) -> str:
    name = loop if variant == "plain" else f"{loop} + {variant}"
    return f"{name} (nginx keepalive {keepalive})" if keepalive else name


def run_probe(
    children: Children, args: argparse.Namespace, loop: str, variant: str, lua: Path
) -> None:
    """wrk against the probe app; when its connections were accepted and how they fared."""
    work = Path(tempfile.mkdtemp(prefix="loop-starvation-probe-"))
    children.dirs.append(work)
    port = start_target(children, args, loop, variant, 0, probe_out=work / "server.json")
    wrk = run_wrk(args, port, lua)
    children.stop_all(keep_dirs=True)
    deadline = time.monotonic() + 10
    while not (work / "server.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    result = loop_starvation_probe.load(work / "server.json")
    result["wrk"] = {k: wrk[k] for k in ("rps", "p50_us", "p99_us", "max_us")}
    print(f"probe {name_of(loop, variant, 0)}: {json.dumps(result)}", flush=True)


def check_arguments(args: argparse.Namespace) -> list[str]:
    """What is wrong with the command line, in words (empty when nothing)."""
    problems = []
    if args.seconds < 1 or args.connections < 1 or args.work_us < 0:
        problems.append("--seconds and --connections must be at least 1, --work-us at least 0")
    if not 0 <= args.late < args.connections:
        problems.append("--late must be at least 0 and fewer than --connections")
    if not set(args.loops.split(",")) <= {"uvloop", "asyncio"}:
        problems.append("--loops takes uvloop and asyncio")
    if not set(args.variants.split(",")) <= {"plain", "yield", "h11"}:
        problems.append("--variants takes plain, yield and h11")
    if args.probe and "h11" in args.variants.split(","):
        problems.append("--probe watches httptools: leave h11 out")
    if args.via == "nginx" and not all(k.isdigit() for k in args.nginx_keepalive.split(",")):
        problems.append("--nginx-keepalive takes whole numbers")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=6, help="per run (default 6)")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--work-us", type=int, default=200, help="the handler's spin")
    parser.add_argument("--loops", default="uvloop,asyncio", help="comma-separated")
    parser.add_argument("--variants", default="plain,yield", help="plain, yield, h11")
    parser.add_argument("--via", choices=("direct", "nginx"), default="direct")
    parser.add_argument("--nginx-keepalive", default="32", help="comma-separated, with nginx")
    parser.add_argument("--client", choices=("wrk", "python", "both"), default="both")
    parser.add_argument("--late", type=int, default=10, help="client connections opened late")
    parser.add_argument("--late-after", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument("--server-cpu", default="1")
    parser.add_argument("--load-cpu", default="0")
    parser.add_argument(
        "--probe", action="store_true", help="instead of the table, where requests waited"
    )
    args = parser.parse_args()
    problems = check_arguments(args)
    if problems:
        parser.error("; ".join(problems))
    for program in ("taskset", "wrk") + (("nginx",) if args.via == "nginx" else ()):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            raise SystemExit(f"{program} is missing (Debian: apt-get install -y {program})")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    children = Children()
    lua = Path(tempfile.mkdtemp(prefix="loop-starvation-")) / "done.lua"
    lua.write_text(WRK_LUA)
    print(
        f"{args.connections} connections, {args.seconds} s per run, handler {args.work_us} us, "
        f"server on core {args.server_cpu}, load on core {args.load_cpu}, via {args.via}; "
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (compare rows of one run only)",
        flush=True,
    )
    lines = []
    try:
        if args.probe:
            for loop, variant in itertools.product(args.loops.split(","), args.variants.split(",")):
                run_probe(children, args, loop, variant, lua)
            return
        for loop, variant, keepalive in configurations(args):
            wrk = client = None
            if args.client in ("wrk", "both"):
                port = start_target(children, args, loop, variant, keepalive)
                wrk = run_wrk(args, port, lua)
                children.stop_all()
            if args.client in ("python", "both"):
                port = start_target(children, args, loop, variant, keepalive)
                client = run_client(args, port)
                children.stop_all()
            lines.append(row(name_of(loop, variant, keepalive), wrk, client))
            print(lines[-1], flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        children.stop_all()
        shutil.rmtree(lua.parent, ignore_errors=True)
    print()
    print(HEADER)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
