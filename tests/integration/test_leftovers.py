"""The test session's leftover check (tests/leftovers.py), run for real: a pytest session in a
subprocess, on a small test file written for the case, with the plugin loaded as
tests/conftest.py loads it. The processes are real ones, listening on real ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

# each test runs a pytest session of its own (tens of seconds): `make check` skips them
pytestmark = pytest.mark.slow

LISTENER = textwrap.dedent(
    """
    import os, socket, sys, time
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    with open(sys.argv[1] + ".tmp", "w") as fh:
        fh.write(f"{os.getpid()} {s.getsockname()[1]}")
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(600)
    """
)


def _session(
    tmp_path: Path, body: str, *, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a pytest session on BODY (a test module) with the plugin; its result."""
    (tmp_path / "listener.py").write_text(LISTENER)
    (tmp_path / "test_case.py").write_text(textwrap.dedent(body))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LEFTOVERS_GRACE_SECONDS": "2",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.leftovers", "-p", "no:cacheprovider",
         "-q", "test_case.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _pid_port(path: Path, timeout: float = 20) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"no {path}"
        time.sleep(0.05)
    pid, port = path.read_text().split()
    return int(pid), int(port)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.fixture
def reaper(tmp_path: Path) -> Iterator[list[Path]]:
    """Files naming listeners (pid port); each one still alive at the end is killed."""
    files: list[Path] = []
    yield files
    for path in files:
        if path.exists():
            pid, _ = path.read_text().split()
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def test_a_process_left_running_fails_the_run_with_its_pid_command_and_port(tmp_path, reaper):
    """A test that starts a listening server and never stops it: the session exits 1 and
    names the process (pid, command line) and its port."""
    reaper.append(tmp_path / "leak")
    result = _session(
        tmp_path,
        """
        import subprocess, sys
        def test_leaks():
            subprocess.Popen([sys.executable, "listener.py", "leak"], start_new_session=True)
            import time
            while not __import__("os").path.exists("leak"):
                time.sleep(0.05)
        """,
    )
    pid, port = _pid_port(tmp_path / "leak")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "1 passed" in out, out
    assert "processes left behind" in out, out
    assert f"pid {pid} (listening on: {port})" in out, out
    assert "listener.py leak" in out, out


def test_a_daemon_that_left_its_parent_is_found_by_the_sessions_mark(tmp_path, reaper):
    """A server started through a shell that exits at once (so it is nobody's child in the
    session any more) is still found: it carries the session's mark in its environment."""
    reaper.append(tmp_path / "daemon")
    result = _session(
        tmp_path,
        """
        import os, subprocess, sys, time
        def test_daemon():
            subprocess.run(["sh", "-c", f"{sys.executable} listener.py daemon >/dev/null 2>&1 &"],
                           check=True)
            while not os.path.exists("daemon"):
                time.sleep(0.05)
        """,
    )
    pid, port = _pid_port(tmp_path / "daemon")
    assert result.returncode == 1, result.stdout
    assert f"pid {pid} (listening on: {port})" in result.stdout


def test_a_server_stopped_by_its_fixture_passes(tmp_path, reaper):
    """A session fixture that stops the server it started leaves nothing: exit 0."""
    reaper.append(tmp_path / "served")
    result = _session(
        tmp_path,
        """
        import os, subprocess, sys, time
        import pytest
        @pytest.fixture(scope="session")
        def server():
            proc = subprocess.Popen([sys.executable, "listener.py", "served"])
            while not os.path.exists("served"):
                time.sleep(0.05)
            yield proc
            proc.terminate()
            proc.wait()
        def test_uses_it(server):
            assert server.poll() is None
        """,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "left behind" not in result.stdout


def test_a_server_running_before_the_session_is_neither_reported_nor_stopped(tmp_path, reaper):
    """A process of the checkout that ran before the session (the broker .ci/run starts) is
    not the session's: the run passes and the process still runs."""
    marker = tmp_path / "before"
    reaper.append(marker)
    subprocess.Popen(
        [sys.executable, str(tmp_path / "listener.py"), str(marker)],
        cwd=REPO, start_new_session=True,
    )  # fmt: skip
    (tmp_path / "listener.py").write_text(LISTENER)
    pid, _ = _pid_port(marker)
    result = _session(tmp_path, "def test_nothing():\n    pass\n")
    assert result.returncode == 0, result.stdout
    assert _alive(pid)


def test_sigterm_runs_the_finalizers_that_stop_the_servers(tmp_path, reaper):
    """SIGTERM to pytest in the middle of a test: the session fixture's finalizer still
    stops its server (as Ctrl-C would), so nothing is left running."""
    reaper.append(tmp_path / "served")
    (tmp_path / "listener.py").write_text(LISTENER)
    (tmp_path / "test_case.py").write_text(
        textwrap.dedent(
            """
            import os, subprocess, sys, time
            import pytest
            @pytest.fixture(scope="session")
            def server():
                proc = subprocess.Popen([sys.executable, "listener.py", "served"],
                                        start_new_session=True)
                try:
                    yield proc
                finally:
                    proc.terminate()
                    proc.wait()
            def test_long(server):
                while not os.path.exists("served"):
                    time.sleep(0.05)
                open("running", "w").close()
                time.sleep(120)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "LEFTOVERS_GRACE_SECONDS": "2"}
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "tests.leftovers", "-p", "no:cacheprovider",
         "-q", "test_case.py"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "running").exists():
            assert session.poll() is None and time.monotonic() < deadline, session.stdout
            time.sleep(0.05)
        pid, _ = _pid_port(tmp_path / "served")
        session.send_signal(signal.SIGTERM)
        out, _ = session.communicate(timeout=60)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
    assert not _alive(pid), f"the server (pid {pid}) outlived the SIGTERMed session:\n{out}"
    assert "KeyboardInterrupt" in out, out


def test_a_second_sigterm_does_not_cut_the_finalizers_short(tmp_path, reaper):
    """A CI runner that sends SIGTERM again while the finalizers run: they still finish and
    the server stops."""
    reaper.append(tmp_path / "served")
    (tmp_path / "listener.py").write_text(LISTENER)
    (tmp_path / "test_case.py").write_text(
        textwrap.dedent(
            """
            import os, subprocess, sys, time
            import pytest
            @pytest.fixture(scope="session")
            def server():
                proc = subprocess.Popen([sys.executable, "listener.py", "served"],
                                        start_new_session=True)
                try:
                    yield proc
                finally:
                    open("tearing", "w").close()
                    time.sleep(3)
                    proc.terminate()
                    proc.wait()
            def test_long(server):
                while not os.path.exists("served"):
                    time.sleep(0.05)
                open("running", "w").close()
                time.sleep(120)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "LEFTOVERS_GRACE_SECONDS": "2"}
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "tests.leftovers", "-p", "no:cacheprovider",
         "-q", "test_case.py"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        for name in ("running", "tearing"):
            deadline = time.monotonic() + 60
            while not (tmp_path / name).exists():
                assert session.poll() is None and time.monotonic() < deadline, name
                time.sleep(0.05)
            session.send_signal(signal.SIGTERM)
        pid, _ = _pid_port(tmp_path / "served")
        out, _ = session.communicate(timeout=60)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
    assert not _alive(pid), f"the server (pid {pid}) outlived the second SIGTERM:\n{out}"


def test_a_server_of_another_session_in_the_same_checkout_is_not_this_ones(tmp_path, reaper):
    """Two sessions in one checkout (`make test-unit` beside `make test-container`): what the
    other one starts meanwhile, in the checkout, carries its mark and is not reported here."""
    other = tmp_path / "other"
    reaper.append(other)
    (tmp_path / "listener.py").write_text(LISTENER)
    (tmp_path / "test_case.py").write_text(
        "import os, time\n"
        "def test_waits():\n"
        "    open('running', 'w').close()\n"
        "    while not os.path.exists('other'):\n"
        "        time.sleep(0.05)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "LEFTOVERS_GRACE_SECONDS": "2"}
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "tests.leftovers", "-p", "no:cacheprovider",
         "-q", "test_case.py"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "running").exists():
            assert session.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        subprocess.Popen(
            [sys.executable, str(tmp_path / "listener.py"), str(other)], cwd=REPO,
            start_new_session=True, env={**os.environ, "LEFTOVERS_SESSION_MARK": "another"},
        )  # fmt: skip
        pid, _ = _pid_port(other)
        out, _ = session.communicate(timeout=60)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
    assert session.returncode == 0, out
    assert f"pid {pid}" not in out


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_a_volume_left_by_the_session_fails_it(tmp_path):
    """A container test that leaves a volume named after the session (as tests/container
    names them): the session exits 1 and names it."""
    result = _session(
        tmp_path,
        """
        import subprocess
        from tests.leftovers import container_prefix
        def test_leaves_a_volume():
            name = container_prefix() + "leak"
            open("volume", "w").write(name)
            subprocess.run(["podman", "volume", "create", name], check=True,
                           capture_output=True)
        """,
        env={"LEFTOVERS_CHECK_CONTAINERS": "1"},
    )
    name = (tmp_path / "volume").read_text()
    subprocess.run(["podman", "volume", "rm", "-f", name], capture_output=True, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"volume {name}" in result.stdout
