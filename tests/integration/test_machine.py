"""tools/machine/machine.py for real: `run` stops what its command left running (a daemon
included, and on SIGTERM), leaves alone what ran before; `status` lists a checkout's servers
with their ports; `clean-all` says what it removes and then removes it. clean-all runs on a
copy of the tool in a checkout made for the test (its REPO is where the tool sits), with the
container engine left out, so that the real checkout and image store are never touched."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.test_leftovers import LISTENER, _alive, _pid_port

MACHINE = REPO / "tools/machine/machine.py"


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Path]:
    """listener.py in tmp_path; every listener that named a file in tmp_path is killed."""
    (tmp_path / "listener.py").write_text(LISTENER)
    yield tmp_path / "listener.py"
    for path in tmp_path.rglob("*.pid"):
        pid, _ = path.read_text().split()
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def _daemon(listener: Path, out: Path) -> str:
    """A shell line that starts a listener in the background and returns at once."""
    return f"{sys.executable} {listener} {out} >/dev/null 2>&1 &"


def test_run_stops_the_daemon_its_command_left_and_keeps_the_exit_code(tmp_path, listener):
    """The command starts a server that leaves its parent, then exits 3: run exits 3 and
    the server no longer runs."""
    pid_file = tmp_path / "daemon.pid"
    script = f"{_daemon(listener, pid_file)} while [ ! -e {pid_file} ]; do sleep 0.05; done; exit 3"
    result = subprocess.run(
        [sys.executable, str(MACHINE), "run", "--", "sh", "-c", script],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    pid, port = _pid_port(pid_file)
    assert result.returncode == 3, result.stdout + result.stderr
    assert not _alive(pid), result.stdout
    assert f"pid {pid} (listening on: {port})" in result.stdout


def test_run_stops_a_daemon_that_wrote_over_its_environment(tmp_path, listener):
    """A server that leaves its parent *and* loses the run's marker from its environment,
    as nginx's master does (its process title is written over the environment's memory, so
    /proc/PID/environ holds no marker): `env -i` starts it with none at all, setsid takes it
    out of the command's session. run adopts orphans, so it is still found and stopped
    (before: it was left running)."""
    pid_file = tmp_path / "daemon.pid"
    script = (
        f"setsid env -i {sys.executable} {listener} {pid_file} >/dev/null 2>&1 & "
        f"while [ ! -e {pid_file} ]; do sleep 0.05; done"
    )
    result = subprocess.run(
        [sys.executable, str(MACHINE), "run", "--", "sh", "-c", script],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    pid, port = _pid_port(pid_file)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert not _alive(pid), result.stdout
        assert f"pid {pid} (listening on: {port})" in result.stdout
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_run_of_a_missing_program_says_so_and_exits_127():
    result = subprocess.run(
        [sys.executable, str(MACHINE), "run", "--", "/nonexistent/program"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 127
    assert "cannot start /nonexistent/program" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_leaves_a_server_that_ran_before_it(tmp_path, listener):
    before = tmp_path / "before.pid"
    subprocess.Popen([sys.executable, str(listener), str(before)], start_new_session=True)
    pid, _ = _pid_port(before)
    result = subprocess.run(
        [sys.executable, str(MACHINE), "run", "--", "true"], capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    assert _alive(pid)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_run_stops_the_command_and_what_it_started(tmp_path, listener, signum):
    """SIGTERM (a CI timeout) or SIGINT (Ctrl-C) to `run`: the command ends, and so does
    the server it started in the background."""
    pid_file = tmp_path / "served.pid"
    script = f"{_daemon(listener, pid_file)} sleep 120"
    runner = subprocess.Popen(
        [sys.executable, str(MACHINE), "run", "--", "sh", "-c", script],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        pid, _ = _pid_port(pid_file)
        runner.send_signal(signum)
        out, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert not _alive(pid), out


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout with the tool and the project's state: .kafka/, .coach-dev/, and .cdc/pg
    linked to a cluster folder outside it (a clone the postgres user cannot traverse)."""
    root = tmp_path / "checkout"
    shutil.copytree(REPO / "tools/machine", root / "tools/machine")
    for name in (".kafka/data", ".coach-dev", ".cdc/lib"):
        (root / name).mkdir(parents=True)
        (root / name / "file").write_text("x")
    outside = tmp_path / "var/lib/postgresql" / "coach-cdc-0123456789ab"
    (outside / "data").mkdir(parents=True)
    (root / ".cdc/pg").symlink_to(outside)
    return root


def _machine(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "tools/machine/machine.py"), *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "COACH_MACHINE_ENGINE": "none"},
    )  # fmt: skip


def test_status_lists_the_checkouts_servers_with_their_ports(checkout, listener):
    """A server of the checkout (working in .kafka/, named after it) shows with pid and
    port; so does the state, the linked cluster folder included."""
    pid_file = checkout / ".kafka" / "server.pid"
    subprocess.Popen(
        [sys.executable, str(listener), str(pid_file)], cwd=checkout / ".kafka",
        start_new_session=True,
    )  # fmt: skip
    pid, port = _pid_port(pid_file)
    out = _machine(checkout, "status").stdout
    assert f"pid {pid} (listening on: {port})" in out, out
    assert str(checkout / ".kafka") in out, out
    assert str((checkout / ".cdc/pg").resolve()) in out, out


def test_clean_all_says_what_it_removes_then_removes_it(checkout, listener):
    """--dry-run lists the server and every state folder and changes nothing; without a
    confirmation nothing goes either; with --yes the server is stopped and the state (the
    cluster outside the checkout too) removed."""
    pid_file = checkout / ".coach-dev" / "api.pid"
    subprocess.Popen(
        [sys.executable, str(listener), str(pid_file)], cwd=checkout, start_new_session=True
    )
    pid, _ = _pid_port(pid_file)
    outside = (checkout / ".cdc/pg").resolve()

    dry = _machine(checkout, "clean-all", "--dry-run")
    assert dry.returncode == 0
    for text in (
        f"pid {pid}",
        str(checkout / ".kafka"),
        str(checkout / ".coach-dev"),
        str(outside),
    ):
        assert text in dry.stdout, dry.stdout
    assert _alive(pid) and outside.exists() and (checkout / ".kafka").exists()

    unconfirmed = _machine(checkout, "clean-all")
    assert unconfirmed.returncode == 1 and _alive(pid), unconfirmed.stdout

    done = _machine(checkout, "clean-all", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)
    left = [p for p in (".kafka", ".cdc", ".coach-dev") if (checkout / p).exists()]
    assert not left and not outside.exists(), (left, done.stdout)
    assert "nothing" in _machine(checkout, "status").stdout.split("running:")[1].splitlines()[0]


def test_clean_all_does_not_follow_a_link_it_did_not_make(checkout, tmp_path):
    """.cdc/pg linked to a folder that is no cluster of tools/cdc/cdc.py's: clean-all removes
    the link (with .cdc/) and leaves the folder and its files alone."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep").write_text("x")
    (checkout / ".cdc/pg").unlink()
    (checkout / ".cdc/pg").symlink_to(precious)
    done = _machine(checkout, "clean-all", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert str(precious) not in done.stdout
    assert not (checkout / ".cdc").exists() and (precious / "keep").exists()
