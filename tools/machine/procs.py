"""What runs on this machine, read from /proc: processes and the TCP ports they listen on.

Shared by tools/machine/machine.py (`make status`, `make clean-all`, `run`) and the test
session's leftover check (tests/leftovers.py). Standard library only; Linux only (without
/proc every function answers "nothing").

A process belongs to a checkout ROOT when its command line names a path inside ROOT, when
its working directory is inside ROOT, or when it carries a marker in its environment (a
variable every child inherits, so a daemon that forked away from its parent is still found).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


@dataclass(frozen=True)
class Proc:
    """One live process: its pid, start time (with the pid, a unique key), parent and
    command line, working directory, and the TCP ports it listens on."""

    pid: int
    started: int
    ppid: int
    argv: tuple[str, ...]
    cwd: str
    ports: tuple[int, ...] = field(default=())

    @property
    def key(self) -> tuple[int, int]:
        return (self.pid, self.started)

    @property
    def command(self) -> str:
        return " ".join(self.argv)

    def describe(self) -> str:
        ports = ", ".join(str(p) for p in self.ports) or "none"
        return f"pid {self.pid} (listening on: {ports}): {self.command[:300]}"


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of `pid`, or None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[19])


def _listening_inodes() -> dict[int, int]:
    """socket inode -> TCP port, for every listening socket (IPv4 and IPv6)."""
    inodes: dict[int, int] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == LISTEN:
                inodes[int(cols[9])] = int(cols[1].rsplit(":", 1)[1], 16)
    return inodes


def _ports_of(pid: int, inodes: dict[int, int]) -> tuple[int, ...]:
    ports: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in (PROC / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    port = inodes.get(int(target[8:-1]))
                    if port is not None:
                        ports.add(port)
    return tuple(sorted(ports))


def processes() -> list[Proc]:
    """Every live process (zombies left out) with the ports it listens on."""
    inodes = _listening_inodes()
    found = []
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is None or stat[0] in ("Z", "X"):
            continue
        try:
            argv = tuple(
                a.decode(errors="replace")
                for a in (entry / "cmdline").read_bytes().split(b"\0")
                if a
            )
        except OSError:
            continue
        if not argv:  # a kernel thread
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        found.append(Proc(pid, stat[2], stat[1], argv, cwd, _ports_of(pid, inodes)))
    return found


def environ_value(pid: int, name: str) -> str | None:
    """The value of NAME in the process's environment (None: unset, or unreadable)."""
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return None
    prefix = name.encode() + b"="
    for entry in environ.split(b"\0"):
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return None


def has_marker(pid: int, name: str, value: str) -> bool:
    """The process's environment holds NAME=VALUE (False when it cannot be read)."""
    return environ_value(pid, name) == value


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def names_root(proc: Proc, root: Path, by_cwd: bool = True) -> bool:
    """The command line names a path inside ROOT, or (BY_CWD) the process works inside it."""
    r = str(root)
    return (by_cwd and _inside(proc.cwd, r)) or any(r + "/" in arg or arg == r for arg in proc.argv)


def descendants(procs: Iterable[Proc], ancestor: int) -> set[int]:
    """The pids of the descendants of ANCESTOR (not itself)."""
    children: dict[int, list[int]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    found: set[int] = set()
    todo = list(children.get(ancestor, []))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def belonging(
    root: Path | None,
    *,
    marker: tuple[str, str] | None = None,
    ancestor: int | None = None,
    procs: list[Proc] | None = None,
    by_cwd: bool = True,
) -> list[Proc]:
    """The live processes of the checkout ROOT (None: of no checkout): named after it,
    working in it, carrying MARKER (name, value) in their environment, or descending from
    ANCESTOR. The calling process and its own ancestors are never counted. BY_CWD=False
    leaves out the processes that only work in ROOT (a container's conmon started from it,
    an editor): they are nobody's servers."""
    procs = processes() if procs is None else procs
    by_pid = {p.pid: p for p in procs}
    mine: set[int] = set()
    pid = os.getpid()
    while pid in by_pid and pid not in mine:
        mine.add(pid)
        pid = by_pid[pid].ppid
    below = descendants(procs, ancestor) if ancestor is not None else set()
    return [
        p
        for p in procs
        if p.pid not in mine
        and (
            p.pid in below
            or (root is not None and names_root(p, root, by_cwd))
            or (marker is not None and has_marker(p.pid, *marker))
        )
    ]


PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def become_subreaper() -> None:
    """Adopt every orphan among this process's descendants (prctl PR_SET_CHILD_SUBREAPER):
    a daemon that forks away from its parent stays below this process instead of going to
    init. The environment marker alone misses a daemon that writes over its environment:
    nginx's master puts its process title there, so its /proc/PID/environ holds no marker."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap() -> None:
    """Collect the adopted orphans that have already exited (they would show as zombies)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
