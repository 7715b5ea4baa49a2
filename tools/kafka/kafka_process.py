"""Which broker runs from a home: its pid file checked against the live process (a pid
reused by another program is not the broker), and the broker.json state start() writes.
Standard library only; tools/kafka/broker.py imports it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

from kafka_base import _home

# Popen objects of brokers started by this Python process, keyed by pid: lets stop() reap its
# own children (otherwise a SIGTERMed child stays a zombie and looks alive to kill(pid, 0)).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _pid_alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap if it happens to be our child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_our_broker(pid: int, home: Path) -> bool:
    """The pid is a live kafka.Kafka process started with this home's server.properties."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the pid file
    args = [a.decode(errors="replace") for a in cmdline]
    return "kafka.Kafka" in args and str(home / "server.properties") in args


def broker_pid(home: str | os.PathLike[str] | None = None) -> int | None:
    """Pid of the broker started from ``home`` if it is still running, else None."""
    h = _home(home)
    pidfile = h / "broker.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    if _is_our_broker(pid, h):
        return pid
    return None


def is_running(home: str | os.PathLike[str] | None = None) -> bool:
    """True when the broker process started from ``home`` is alive (it may still be starting)."""
    return broker_pid(home) is not None


def _state(home: Path) -> dict:
    try:
        return json.loads((home / "broker.json").read_text())
    except (OSError, ValueError):
        return {}
