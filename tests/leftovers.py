"""A pytest plugin: the test session leaves behind no process and no listening port that was
not there before it, and a SIGTERM stops it as cleanly as Ctrl-C.

At the session's start it notes the processes of this checkout (tools/machine/procs.py:
descending from pytest, carrying this session's mark in their environment, which every
child inherits, or naming a path of the checkout on their command line, unless another
session or `machine.py run` marked them) and, at its end, after every fixture has been torn
down, looks again. A process of the checkout that was not there before fails the run (exit
code 1) with its pid, command line and listening ports. What ran before the session (the
broker and the CDC services that .ci/run starts, another engineer's servers run from another
checkout) is not the session's, and is neither reported nor touched.

SIGTERM: pytest turns Ctrl-C (SIGINT) into KeyboardInterrupt, which runs the fixtures'
finalizers; a SIGTERM would end the process on the spot and leave its servers running. The
plugin turns SIGTERM into the same KeyboardInterrupt.

Containers and volumes: tests/container names theirs after the session's mark
(`container_prefix()`); a session that imported tests/container (or that runs with
LEFTOVERS_CHECK_CONTAINERS=1) fails as well when one of those is still there at its end.

Registered by tests/conftest.py (`pytest_plugins`); `-p no:tests.leftovers` turns it off.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
MARKER = "LEFTOVERS_SESSION_MARK"  # not COACH_*: env_of() drops those
OTHER_RUNS_MARKER = "MACHINE_RUN_MARK"  # tools/machine/machine.py run's (make run, bench...)
GRACE_SECONDS = float(os.environ.get("LEFTOVERS_GRACE_SECONDS", "10"))
"""How long a process that is on its way out (a server sent SIGTERM by a finalizer) is given
before it counts as left behind (LEFTOVERS_GRACE_SECONDS overrides it)."""


def _load_procs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("machine_procs", REPO / "tools/machine/procs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("machine_procs", module)
    spec.loader.exec_module(module)
    return module


procs = _load_procs()
_state: dict[str, Any] = {}


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Once: a second SIGTERM must not cut short the finalizers the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum} (SIGTERM)")


def _ours() -> list[Any]:
    """The live processes of the session: its descendants, those with its mark, and those of
    the checkout (or of the cluster folder .cdc/pg links to) that no other session or
    `machine.py run` of the checkout marked as its own (a `make test-container` run beside
    this session is not this session's)."""
    everything = procs.processes()
    below = procs.descendants(everything, os.getpid())
    found = {}
    for root in _roots():
        for p in procs.belonging(
            root,
            marker=(MARKER, _state["mark"]),
            ancestor=os.getpid(),
            procs=everything,
            by_cwd=False,
        ):
            if p.pid in below or _not_anothers(p.pid):
                found[p.pid] = p
    return list(found.values())


def _not_anothers(pid: int) -> bool:
    mark = procs.environ_value(pid, MARKER)
    if mark is not None:
        return bool(mark == _state["mark"])
    return procs.environ_value(pid, OTHER_RUNS_MARKER) is None


def _roots() -> list[Path]:
    pg = REPO / ".cdc" / "pg"
    return [REPO, pg.resolve()] if pg.is_symlink() else [REPO]


def container_prefix() -> str:
    """What the names of this session's containers, volumes and compose projects begin
    with (tests/container names them so), so that those left behind can be told apart from
    another session's."""
    return f"coach-test-{os.environ.get(MARKER, 'nosession')[:8]}-"


def _engine_lines(*args: str) -> list[str]:
    engine = shutil.which("podman") or shutil.which("docker")
    if engine is None:
        return []
    env = dict(os.environ)
    if engine.endswith("podman"):
        env.setdefault("CONTAINERS_CONF", str(REPO / "tools/image/containers.conf"))
    try:
        out = subprocess.run(
            [engine, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in out.stdout.splitlines() if line.strip()]


def container_leftovers() -> list[str]:
    """This session's containers and volumes that are still there."""
    prefix = container_prefix()
    found = [
        f"container {name}"
        for name in _engine_lines("ps", "-a", "--format", "{{.Names}}")
        if name.startswith(prefix)
    ]
    found += [
        f"volume {name}"
        for name in _engine_lines("volume", "ls", "--format", "{{.Name}}")
        if name.startswith(prefix)
    ]
    return found


def leftovers(before: set[tuple[int, int]], grace: float = GRACE_SECONDS) -> list[Any]:
    """The processes of the checkout that were not there at the start, once those on their
    way out have had GRACE seconds to go."""
    deadline = time.monotonic() + grace
    while True:
        left = [p for p in _ours() if p.key not in before]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.2)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # A mark of this session's own (a session run inside another one gets a new one).
    _state["mark"] = os.environ[MARKER] = uuid.uuid4().hex
    _state["before"] = {p.key for p in _ours()}
    _state["report"] = []
    _state["containers_left"] = []
    _state["containers"] = os.environ.get("LEFTOVERS_CHECK_CONTAINERS") == "1"
    if hasattr(signal, "SIGTERM"):
        _state["old_handler"] = signal.signal(signal.SIGTERM, _on_sigterm)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if "old_handler" in _state:
        signal.signal(signal.SIGTERM, _state.pop("old_handler"))
    if "before" not in _state:
        return
    left = leftovers(_state["before"])
    _state["report"] = left
    # Only a session that made containers looks for them (an engine's answer takes a second).
    if _state.get("containers") or "tests.container.conftest" in sys.modules:
        _state["containers_left"] = container_leftovers()
    if (left or _state.get("containers_left")) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    left = _state.get("report") or []
    if left:
        terminalreporter.section("processes left behind", sep="=", red=True, bold=True)
        terminalreporter.write_line(
            f"{len(left)} process(es) of this checkout ({REPO}) started during the session "
            "still run after it (each fixture must stop what it started):"
        )
        for proc in left:
            terminalreporter.write_line(f"  {proc.describe()}")
    containers = _state.get("containers_left") or []
    if containers:
        terminalreporter.section("containers left behind", sep="=", red=True, bold=True)
        for what in containers:
            terminalreporter.write_line(f"  {what}")
