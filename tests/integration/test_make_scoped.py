"""The make targets that start servers stop them when they end, a failure included: `make
faults` (and the broker it starts when none runs), `make bench`, `make loadtest`. Each runs
here with stand-ins that start a listening server in the background and return: the
programs of .venv/bin (pytest, python) and the broker's start (`$(PYTHON)
tools/kafka/broker.py start`); after make, none of those servers may still run."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.test_leftovers import LISTENER, _alive, _pid_port

# Starts a listener in the background (it outlives this script, as a daemon does), waits
# until it listens, then exits with STUB_EXIT: a test suite or benchmark that fails after
# starting a server.
STUB = """#!/bin/sh
out="$STUB_DIR/$(basename "$0").$$.pid"
"$STUB_PYTHON" "$STUB_DIR/listener.py" "$out" >/dev/null 2>&1 &
while [ ! -e "$out" ]; do sleep 0.05; done
exit "${STUB_EXIT:-0}"
"""
# The broker's start succeeds (the broker then runs, detached, as broker.py leaves it).
BROKER_START = STUB.replace('"${STUB_EXIT:-0}"', "0")
# $(PYTHON): the broker's start is a stand-in, everything else (machine.py run) is Python.
PYTHON_WRAPPER = """#!/bin/sh
if [ "$1" = tools/kafka/broker.py ]; then exec "$STUB_DIR/bin/broker-start"; fi
exec "$STUB_PYTHON" "$@"
"""


@pytest.fixture
def stub_dir(tmp_path: Path):
    """bin/ with pytest, python and broker-start stand-ins and a fresh .installed (so that
    `make install` has nothing to do); every listener they started is killed at the end."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "listener.py").write_text(LISTENER)
    for name, text in {
        "pytest": STUB, "python": STUB, "broker-start": BROKER_START, "python3": PYTHON_WRAPPER,
    }.items():  # fmt: skip
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (bin_dir / ".installed").touch()
    yield tmp_path
    for path in tmp_path.glob("*.pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(path.read_text().split()[0]), signal.SIGKILL)


# The programs each target installs with apt-get when they are missing: never from a test.
NEEDS = {"faults": [], "bench": ["wrk"], "loadtest": ["nginx", "envsubst"]}


def _missing(target: str) -> list[str]:
    return [p for p in NEEDS[target] if not (shutil.which(p) or Path("/usr/sbin", p).exists())]


@pytest.mark.parametrize(
    ("target", "started"),
    [("faults", {"broker-start", "pytest"}), ("bench", {"python"}), ("loadtest", {"python"})],
)
@pytest.mark.parametrize("exit_code", [0, 1])
def test_make_stops_the_servers_its_target_started(stub_dir, target, started, exit_code):
    if _missing(target):
        pytest.skip(f"make {target} would install {', '.join(_missing(target))} (apt-get)")
    env = {
        **os.environ,
        "STUB_DIR": str(stub_dir),
        "STUB_PYTHON": sys.executable,
        "STUB_EXIT": str(exit_code),
    }
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), target,
         f"BIN={stub_dir / 'bin'}", f"PYTHON={stub_dir / 'bin' / 'python3'}",
         "VEGETA_INSTALL=true"],  # never `go install` from a test
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert (result.returncode == 0) == (exit_code == 0), out
    pid_files = sorted(stub_dir.glob("*.pid"))
    assert {p.name.split(".")[0] for p in pid_files} >= started, out
    left = [f"{p.name}: pid {pid}" for p in pid_files if _alive(pid := _pid_port(p)[0])]
    assert not left, f"make {target} left running: {left}\n{out}"
