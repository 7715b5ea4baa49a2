"""Which rollout an operator's command acts on: the RUNBOOK's sequence (a dry run with the
default state directory, the real run with one of its own, then `status` and `abort` without
it) on a real nginx moved by the real set-percent.sh, with a stand-in coach for /ready.

A dry run never leaves a state that `status` or `abort` takes for the real one; each
command says which directory it acts on and whether it is a dry run; `status`, `pause` and
`abort` fail (exit 1, nothing changed) when the state does not drive nginx."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from rollout.probes import percent_from_conf
from tests.e2e.helpers import COACH, wait_for
from tests.rollout.conftest import SET_PERCENT
from tests.routing.conftest import (  # noqa: F401 (fixtures)
    Backend,
    Nginx,
    coach,
    legacy,
    nginx_bin,
    start_nginx,
)

DEFAULT_DIR = ".coach-canary"


class Operator:
    """`coach rollout canary ...` run from one working directory (where the default state
    directory is), against one nginx."""

    def __init__(self, nginx: Nginx, cwd: Path, stand_in: Backend) -> None:
        self.nginx = nginx
        self.cwd = cwd
        self.coach = stand_in
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
        self.env["COACH_NGINX_BIN"] = nginx.binary
        self.env["COACH_NGINX_ARGS"] = f"-p {nginx.root} -c {nginx.main_conf}"
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *options: str) -> subprocess.Popen[bytes]:
        args = [
            COACH, "rollout", "canary", "start",
            "--access-log", str(self.nginx.root / "access.log"),
            "--conf", str(self.nginx.conf), "--set-percent", str(SET_PERCENT),
            "--coach", f"http://{self.coach.address}",
            "--analysis-interval", "0.2", "--poll", "0.1", "--min-requests", "10",
            *options,
        ]  # fmt: skip
        err = open(self.cwd / f"start-{len(self.started)}.stderr", "wb")  # noqa: SIM115
        proc = subprocess.Popen(args, cwd=self.cwd, env=self.env, stderr=err)
        err.close()
        self.started.append(proc)
        return proc

    def run(self, command: str, *options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [COACH, "rollout", "canary", command, *options],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def state(self, state_dir: str) -> dict[str, object]:
        return json.loads((self.cwd / state_dir / "state.json").read_text())

    def paused_dry_run(self) -> bool:
        """The dry run's state (wherever it keeps it) says paused."""
        for where in (f"{DEFAULT_DIR}/dry-run", DEFAULT_DIR):
            if (self.cwd / where / "state.json").exists():
                return self.state(where)["status"] == "paused"
        return False

    def at(self, state_dir: str, percent: int) -> bool:
        """nginx and the rollout's saved state both at `percent`."""
        saved = self.cwd / state_dir / "state.json"
        return (
            self.nginx_percent() == percent
            and saved.exists()
            and self.state(state_dir)["percent"] == percent
        )

    def nginx_percent(self) -> int | None:
        return percent_from_conf(self.nginx.conf.read_text())

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def operator(start_nginx, coach: Backend, legacy: Backend, tmp_path: Path):  # noqa: F811
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=0)
    op = Operator(nginx, tmp_path, coach)
    yield op
    op.stop_all()


def test_the_runbooks_sequence_aborts_the_real_rollout_or_says_why_not(operator: Operator):
    """A dry run in the default directory (stopped once it paused), then the real run with
    --state-dir real at 50 %: `status` and `abort` without --state-dir fail (exit 1) and
    change nothing, naming the dry run's directory; nginx stays at 50 %; `abort --state-dir
    real` returns it to 0 % and the controller exits 4."""
    dry = operator.start("--dry-run", "--steps", "1,50", "--hold", "0.3", "--max-extension", "0.3")
    wait_for("the dry run paused", operator.paused_dry_run, 30)
    dry.send_signal(signal.SIGTERM)
    assert dry.wait(20) == 5
    assert not (operator.cwd / DEFAULT_DIR / "state.json").exists()
    assert not list((operator.cwd / DEFAULT_DIR).rglob("metrics.prom"))  # a dry run writes none
    assert operator.nginx_percent() == 0

    real = operator.start("--state-dir", "real", "--steps", "50,100", "--hold", "600")
    wait_for("the real run at 50 %", lambda: operator.at("real", 50), 30)

    status = operator.run("status")
    assert status.returncode == 1, status.stdout
    assert f"no rollout in {DEFAULT_DIR}" in status.stderr
    assert f"{DEFAULT_DIR}/dry-run" in status.stderr

    aborted = operator.run("abort")
    assert aborted.returncode == 1, aborted.stdout
    assert "aborted" not in aborted.stdout
    assert operator.nginx_percent() == 50 and real.poll() is None

    dry_status = operator.run("status", "--state-dir", f"{DEFAULT_DIR}/dry-run")
    assert "DRY RUN" in dry_status.stderr and "nginx at 50 %" in dry_status.stderr
    assert json.loads(dry_status.stdout)["dry_run"] is True
    assert dry_status.returncode == 1  # live (paused) with no controller: said, non-zero

    real_status = operator.run("status", "--state-dir", "real")
    assert real_status.returncode == 0, real_status.stderr
    assert "a real rollout" in real_status.stderr
    assert str((operator.cwd / "real").resolve()) in real_status.stderr
    assert json.loads(real_status.stdout)["nginx_percent"] == 50

    really = operator.run("abort", "--state-dir", "real")
    assert really.returncode == 0, really.stderr
    assert real.wait(30) == 4
    assert operator.nginx_percent() == 0
    assert operator.state("real")["status"] == "aborted"


def test_a_state_that_nginx_does_not_follow_fails_status_and_pause(operator: Operator):
    """The real controller at 50 % and nginx moved to 25 % by hand: `status`, `pause` and
    `abort` exit 1 naming both percentages; the rollout is neither paused nor aborted, and
    abort says which command returns every user to the monolith."""
    real = operator.start("--state-dir", "real", "--steps", "50,100", "--hold", "600")
    wait_for("at 50 %", lambda: operator.at("real", 50), 30)
    moved = subprocess.run(
        [str(SET_PERCENT), "25", str(operator.nginx.conf)],
        env=operator.env,
        capture_output=True,
        text=True,
    )
    assert moved.returncode == 0, moved.stderr
    for command in ("status", "pause", "abort"):
        result = operator.run(command, "--state-dir", "real")
        assert result.returncode == 1, (command, result.stdout)
        assert "nginx is at 25 % but this state says 50 %" in result.stderr, result.stderr
    assert f"{SET_PERCENT} 0 {operator.nginx.conf}" in result.stderr  # abort says what to run
    assert operator.state("real")["status"] not in ("paused", "aborted")
    assert operator.nginx_percent() == 25
    assert real.poll() is None


def test_pause_and_abort_without_a_controller_fail_loudly(operator: Operator):
    """The controller killed at 50 %: `pause` exits 1 and changes nothing; `abort` still
    returns nginx to 0 % (the safe side) but exits 1, saying no controller was running."""
    real = operator.start("--state-dir", "real", "--steps", "50,100", "--hold", "600")
    wait_for("at 50 %", lambda: operator.at("real", 50), 30)
    real.kill()
    real.wait()
    paused = operator.run("pause", "--state-dir", "real")
    assert paused.returncode == 1
    assert "no controller is running" in paused.stderr
    assert operator.state("real")["status"] in ("running", "holding")
    aborted = operator.run("abort", "--state-dir", "real")
    assert aborted.returncode == 1
    assert "no controller was running" in aborted.stderr
    assert operator.nginx_percent() == 0
    assert operator.state("real")["status"] == "aborted"


def test_a_dry_run_refuses_a_metrics_port(operator: Operator):
    """--metrics-port with --dry-run is refused by name: a dry run's figures are not
    nginx's."""
    proc = operator.start("--dry-run", "--metrics-port", "9", "--steps", "1,50")
    assert proc.wait(30) == 2
    assert "--metrics-port" in (operator.cwd / "start-0.stderr").read_text()
