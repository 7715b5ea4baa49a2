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
configuration wrk's req/s, p50, p99 and max, then the per-connection client's p99 and max,
the worst wait of a connection's *first* request (which includes its wait to be accepted),
the worst wait after the first, and the fewest requests any connection got answered.

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
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
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

NGINX_CONF = """
worker_processes 1;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    upstream app {{
        server 127.0.0.1:{backend};
        keepalive {keepalive};
        keepalive_timeout 4s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within 30 s")


class Children:
    """The processes this run started, each in a session of its own; stopped by their ids."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dirs: list[Path] = []

    def start(self, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            args, env=env, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()
        for path in self.dirs:
            shutil.rmtree(path, ignore_errors=True)
        self.dirs.clear()


def start_target(
    children: Children, args: argparse.Namespace, loop: str, variant: str, keepalive: int
) -> int:
    """Start the app (and nginx in front of it with --via nginx); the port the load goes to."""
    port = free_port()
    env = dict(os.environ, STARVE_WORK_US=str(args.work_us))
    env["STARVE_YIELD"] = "1" if variant == "yield" else "0"
    http = "h11" if variant == "h11" else "httptools"
    server = children.start(
        [
            *("taskset", "-c", args.server_cpu, PYTHON, "-m", "uvicorn"),
            *("bench.loop_starvation_app:app", "--loop", loop, "--http", http),
            *("--port", str(port), "--no-access-log", "--log-level", "warning"),
        ],
        env=env,
    )
    wait_listening(port, server, "uvicorn")
    if args.via == "direct":
        return port
    root = Path(tempfile.mkdtemp(prefix="loop-starvation-nginx-"))
    children.dirs.append(root)
    root.chmod(0o755)
    (root / "tmp").mkdir()
    front = free_port()
    conf = NGINX_CONF.format(root=root, backend=port, keepalive=keepalive, port=front)
    (root / "nginx.conf").write_text(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = children.start(
        [
            *("taskset", "-c", args.load_cpu, nginx, "-p", str(root)),
            *("-c", str(root / "nginx.conf"), "-g", "daemon off;"),
        ]
    )
    wait_listening(front, proc, "nginx")
    return front


def run_wrk(args: argparse.Namespace, port: int, lua: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            *("taskset", "-c", args.load_cpu, "wrk", "-t1", f"-c{args.connections}"),
            *(f"-d{args.seconds}s", "--latency", "-s", str(lua), f"http://127.0.0.1:{port}/"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[7:])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def run_client(args: argparse.Namespace, port: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            *("taskset", "-c", args.load_cpu, PYTHON, str(CLIENT), "--port", str(port)),
            *(f"--connections={args.connections}", f"--seconds={args.seconds}"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line[7:])
    conns = result.pop("connections")
    result["first_max_us"] = max(c[1] for c in conns)
    result["after_first_max_us"] = max(c[2] for c in conns)
    result["fewest"] = min(c[0] for c in conns)
    result["median_count"] = sorted(c[0] for c in conns)[len(conns) // 2]
    return result


def ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def row(name: str, wrk: dict[str, Any] | None, client: dict[str, Any] | None) -> str:
    cells = [name]
    if wrk is not None:
        cells += [f"{wrk['rps']:,.0f}", ms(wrk["p50_us"]), ms(wrk["p99_us"]), ms(wrk["max_us"])]
    else:
        cells += ["-"] * 4
    if client is not None:
        cells += [ms(client["p99_us"]), ms(client["max_us"]), ms(client["first_max_us"])]
        cells += [ms(client["after_first_max_us"])]
        cells += [f"{client['fewest']} / {client['median_count']}"]
    else:
        cells += ["-"] * 5
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| configuration | wrk req/s | wrk p50 ms | wrk p99 ms | wrk max ms | client p99 ms "
    "| client max ms | worst first request ms | worst after first ms "
    "| fewest / median requests per connection |\n|" + "---|" * 10
)


def configurations(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    keepalives = [int(k) for k in args.nginx_keepalive.split(",")] if args.via == "nginx" else [0]
    loops, variants = args.loops.split(","), args.variants.split(",")
    return list(itertools.product(loops, variants, keepalives))


def name_of(loop: str, variant: str, keepalive: int) -> str:
    name = loop if variant == "plain" else f"{loop} + {variant}"
    return f"{name} (nginx keepalive {keepalive})" if keepalive else name


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
    parser.add_argument("--server-cpu", default="1")
    parser.add_argument("--load-cpu", default="0")
    args = parser.parse_args()
    for program in ("taskset", "wrk") + (("nginx",) if args.via == "nginx" else ()):
        if shutil.which(program) is None and not Path(f"/usr/sbin/{program}").exists():
            raise SystemExit(f"{program} is missing (Debian: apt-get install -y {program})")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    children = Children()
    lua = Path(tempfile.mkdtemp(prefix="loop-starvation-")) / "done.lua"
    lua.write_text(WRK_LUA)
    print(
        f"{args.connections} connections, {args.seconds} s per run, handler {args.work_us} us, "
        f"server on core {args.server_cpu}, load on core {args.load_cpu}, via {args.via}",
        flush=True,
    )
    lines = []
    try:
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
