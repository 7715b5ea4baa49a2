#!/usr/bin/env python3
"""What the project runs and keeps on this machine: list it, remove it, or run a command
that leaves nothing running behind it.

    python3 tools/machine/machine.py status             # make status
    python3 tools/machine/machine.py clean-all [--dry-run] [--yes]   # make clean-all
    python3 tools/machine/machine.py run -- COMMAND...  # make bench, make loadtest

`status`: the processes of this checkout that serve something (its Kafka broker, PostgreSQL,
Kafka Connect workers, nginx, coach), with pid and ports; the state folders and their
sizes; the container images, containers and volumes the project made.

`clean-all`: says what it will stop and remove, then (after `--yes`, or a "yes" typed at
the prompt) stops the servers of the checkout and removes everything the project made:
.kafka/ (the broker's jars and data), .cdc/ (PostgreSQL's cluster, where .cdc/pg points to
as well, and Connect's jars), .coach-dev/ (the dev projection and its secret), the caches,
localhost/coach:dev, the stand-in bases (localhost/coach-standin/*, and a stand-in an older
build left under an official name), and the containers and volumes of the tests, the
benchmarks and the compose stack. Nothing else: the system's packages (postgresql-15,
nginx, podman...) stay.

`run`: runs COMMAND; when it ends (or when this process gets SIGTERM or Ctrl-C) every
process it started that still runs (found as its descendants or by a mark in their
environment, which a daemon keeps) is stopped, servers that ran before it are left alone.
Its exit code is COMMAND's.

Standard library only (it runs before any virtualenv exists).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import engines  # noqa: E402
import procs  # noqa: E402

REPO = HERE.parent.parent
STATE = (".kafka", ".cdc", ".coach-dev")
CACHES = (".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis")
MARKER = "MACHINE_RUN_MARK"
STOP_SECONDS = 20.0


# -- what is there ------------------------------------------------------------------------------


def linked_cluster() -> Path | None:
    """Where .cdc/pg points, when it is a link to a cluster folder as tools/cdc/cdc.py makes
    them (``.../postgresql/coach-cdc-<12 hex>``: a clone the postgres user cannot traverse).
    A link anywhere else is not followed: clean-all never removes a folder it did not make."""
    pg = REPO / ".cdc" / "pg"
    if not pg.is_symlink():
        return None
    target = pg.resolve()
    if target.parent.name == "postgresql" and re.fullmatch(r"coach-cdc-[0-9a-f]{12}", target.name):
        return target
    return None


def roots() -> list[Path]:
    """The checkout, and the cluster folder .cdc/pg links to, if any."""
    linked = linked_cluster()
    return [REPO] if linked is None else [REPO, linked]


def servers() -> list[Any]:
    """The processes of the checkout that listen on a port or name a path inside it (shells
    and editors that merely work in it are not servers)."""
    everything = procs.processes()
    found: dict[int, Any] = {}
    for root in roots():
        for p in procs.belonging(root, procs=everything):
            named = any(str(root) + "/" in a for a in p.argv)
            if p.ports or named:
                found[p.pid] = p
    return sorted(found.values(), key=lambda p: p.pid)


def state_paths() -> list[Path]:
    paths = [REPO / name for name in (*STATE, *CACHES) if (REPO / name).exists()]
    linked = linked_cluster()
    if linked is not None and linked.exists():
        paths.append(linked)
    return paths


def _size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).lstat().st_size
    return total


# -- status and clean-all -----------------------------------------------------------------------


def status() -> int:
    running = servers()
    print(f"coach on this machine (checkout {REPO})")
    print("running:" if running else "running: nothing")
    for p in running:
        print(f"  {p.describe()}")
    paths = state_paths()
    print("state:" if paths else "state: none")
    for path in paths:
        print(f"  {path}  ({_size(path) / 1e6:.0f} MB)")
    engine = engines.engine()
    if engine:
        for kind, names in (
            ("images", engines.images(engine)),
            ("containers", engines.containers(engine)),
            ("volumes", engines.volumes(engine)),
        ):
            print(f"{engine} {kind}: {', '.join(names) if names else 'none'}")
    return 0


def _stop(pids: list[int], quiet: bool = False) -> None:
    """SIGTERM (SIGINT for PostgreSQL: its fast shutdown), then SIGKILL what is left after
    STOP_SECONDS."""
    for pid in pids:
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        sig = signal.SIGINT if argv0.endswith(b"/postgres") else signal.SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    deadline = time.monotonic() + STOP_SECONDS
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in alive if _alive(pid)]
    for pid in alive:
        if not quiet:
            print(f"  pid {pid} did not stop in {STOP_SECONDS:.0f} s: SIGKILL", flush=True)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def clean_all(dry_run: bool, yes: bool) -> int:
    running = servers()
    paths = state_paths()
    engine = engines.engine()
    found = (
        {
            "images": engines.images(engine),
            "containers": engines.containers(engine),
            "volumes": engines.volumes(engine),
        }
        if engine
        else {}
    )
    print("make clean-all will stop:" if running else "make clean-all stops nothing (none runs)")
    for p in running:
        print(f"  {p.describe()}")
    print("and remove:")
    for path in paths:
        print(f"  {path}/  ({_size(path) / 1e6:.0f} MB)")
    for kind, names in found.items():
        for name in names:
            print(f"  {engine} {kind[:-1]} {name}")
    if not running and not paths and not any(found.values()):
        print("  nothing: the project has left nothing on this machine")
        return 0
    if dry_run:
        print("(--dry-run: nothing done)")
        return 0
    if not yes:
        if not sys.stdin.isatty():
            print("not confirmed: run `make clean-all CONFIRM=yes` (or type yes at the prompt)")
            return 1
        if input("remove all of it? type yes: ").strip() != "yes":
            print("nothing done")
            return 1
    _stop([p.pid for p in running])
    assert engine is not None or not found
    for name in found.get("containers", []):
        engines.run(engine, "rm", "-f", "-v", "-t", "5", name)
    for name in found.get("volumes", []):
        engines.run(engine, "volume", "rm", "-f", name)
    # An image other images are built on goes once they are gone: a few passes.
    images_left = list(found.get("images", []))
    for _ in range(4):
        images_left = [n for n in images_left if not engines.run(engine, "rmi", "-f", n)]
    for name in images_left:
        print(f"  could not remove the image {name}: `{engine} rmi -f {name}` says why")
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.unlink()  # .cdc/pg's link, if rmtree left it
    print("removed; `make status` shows what is left")
    return 0


# -- run ----------------------------------------------------------------------------------------


def run(command: list[str]) -> int:
    """COMMAND, then stop every process it started that still runs; its exit code."""
    if not command:
        print("run: no command", file=sys.stderr)
        return 2
    procs.become_subreaper()
    mark = uuid.uuid4().hex
    env = {**os.environ, MARKER: mark}

    def ours() -> list[Any]:
        return procs.belonging(None, marker=(MARKER, mark), ancestor=os.getpid())

    # The command in a process group of its own, to which this process passes a Ctrl-C or a
    # SIGTERM (as a terminal sends Ctrl-C to every process of its foreground group), once.
    try:
        child = subprocess.Popen(command, env=env, process_group=0)
    except OSError as exc:
        print(f"run: cannot start {command[0]}: {exc.strerror}", file=sys.stderr)
        return 127

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = child.wait()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        procs.reap()
        left = ours()
        if left:
            print(f"stopping what `{' '.join(command)[:80]}` left running:", flush=True)
            for p in left:
                print(f"  {p.describe()}", flush=True)
            _stop([p.pid for p in left])
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="what of the project runs and what it keeps")
    clean = sub.add_parser("clean-all", help="stop and remove all the project made")
    clean.add_argument("--dry-run", action="store_true", help="only say what would go")
    clean.add_argument("--yes", action="store_true", help="do not ask")
    runner = sub.add_parser("run", help="run a command; stop what it left running")
    runner.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "status":
        return status()
    if args.command == "clean-all":
        return clean_all(args.dry_run, args.yes)
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    return run(command)


if __name__ == "__main__":
    sys.exit(main())
