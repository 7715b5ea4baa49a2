"""Scenarios of docs/RUNBOOK.md's blocks (tests/e2e/test_runbook.py runs them): starting a
replica, changing the replicas behind nginx and pausing the canary around a replica's
restart, the canary's dry run, shadow traffic and the comparison gate."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx2
import pytest

from config.settings import Settings
from tests.conftest import REPO, env_of
from tests.e2e.coach_stack import legacy_stand_in, running_stack
from tests.e2e.helpers import COACH, Service, coach, free_port, produce_raw, wait_for
from tests.e2e.runbook_parts import (
    BIN,
    USERS,
    Block,
    Rollout,
    Sides,
    canary_started,
    nginx_at,
    nginx_variables,
    prometheus_stand_in,
    scenario,
    sides_of,
    stop_session,
    until_routed,
)
from tests.factories import key_of, upserted, value_of
from tests.routing.conftest import Backend, Nginx, call, running


def _sides_per_user(nginx: Nginx) -> list[str | None]:
    """Which side answered each of USERS users (the replicas all answer "coach")."""
    return [call(nginx.port, token=f"user-{n}").served_by for n in range(USERS)]


def _status(url: str) -> int | None:
    try:
        return httpx2.get(url, timeout=5).status_code
    except httpx2.HTTPError:
        return None


@scenario("start")
def start_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """A catalog on the topics; the block, in a shell with the broker and topic settings only
    and another current directory, starts a consumer and an api on `$DB_PATH` (a new file)
    and waits for /ready: both log that file, /ready is 200, the block printed the ready
    answer, and nothing is created in the current directory."""
    settings: Settings = request.getfixturevalue("kafka_settings")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    coach(settings, "topics", "create")
    exercises = [upserted(i) for i in range(1, 9)]
    produce_raw(settings, [(settings.topic_exercises, key_of(e), value_of(e)) for e in exercises])
    db = tmp_path / "data" / "coach.db"
    db.parent.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    port = free_port()
    env = {k: v for k, v in env_of(settings).items() if k != "COACH_DB_PATH"}
    log = tmp_path / "start.log"
    shell = block.start({**env, "DB_PATH": str(db), "PORT": str(port)}, log, cwd)
    try:
        wait_for("the block's /ready 200", lambda: '"status":"ready"' in log.read_text())
        ready = _status(f"http://127.0.0.1:{port}/ready")
        running = shell.poll() is None
    finally:
        stop_session(shell)
    out = log.read_text()
    assert running, out
    assert out.count(f"projection file: {db} (") == 2, out
    assert "COACH_DB_PATH is not set" not in out, out
    assert ready == 200 and db.exists(), out
    assert list(cwd.iterdir()) == [], out


@scenario("replicas")
def replicas_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """At 30 %, a second replica listed with the first: no user changes sides (the same users
    on coach, each), the share printed stays 30, and the new replica gets requests."""
    settings: Settings = request.getfixturevalue("settings")
    with nginx_at(30) as nginx, running(Backend("coach")) as new:
        before = _sides_per_user(nginx)
        first = nginx.env["COACH_UPSTREAMS"]
        result = block.run(settings, UPSTREAMS=f"{first},{new.address}", **nginx_variables(nginx))
        assert result.returncode == 0, result.stderr
        until_routed(nginx, lambda _sides: new.count() > 0)
        after = _sides_per_user(nginx)
        listed = nginx.conf.read_text()
    assert result.stdout.splitlines()[0] == "30", result.stdout
    assert "for 30 % of users (was 30 %)" in result.stdout, result.stdout
    assert f"server {new.address}" in listed
    assert 0 < before.count("coach") < USERS and after == before
    assert new.count() > 0


def _canary_env(rollout: Rollout, **more: str) -> dict[str, str]:
    """The environment of the canary's commands: the variables its section names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    return {**env, **rollout.variables, **more}


def _block_command(block: Block, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`block` run in `env` (no coach settings) from coach's checkout."""
    return subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", block.text],
        env={**env, "PATH": BIN + os.pathsep + env["PATH"]},
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip


@scenario("canary-replica-pause")
def canary_replica_pause_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """With the real run at 1 %: the pause is taken by the controller, which holds nginx at
    1 % and runs on (the restart and the resume: `canary-replica-back`)."""
    settings: Settings = request.getfixturevalue("kafka_settings")
    from tests.e2e.test_runbook import BLOCKS

    with canary_started(request, settings, BLOCKS["canary-start"]) as rollout:
        result = _block_command(block, _canary_env(rollout))
        wait_for("the pause taken", lambda: rollout.state()["status"] == "paused")
        time.sleep(1)
        percent, running = rollout.nginx_percent(), rollout.controller.poll() is None
        decided = rollout.decisions()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "a real rollout" in result.stderr, result.stderr
    assert percent == 1 and running and decided[-1] == "pause", decided


@scenario("canary-replica-back")
def canary_replica_back_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """With the real run at 1 %, paused (the `canary-replica-pause` block) and the replica's
    api stopped for its restart: the block waits while the api is down and resumes once
    its /ready is 200 again; the controller takes it, rolls nothing back, holds 1 %."""
    settings: Settings = request.getfixturevalue("kafka_settings")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    from tests.e2e.test_runbook import BLOCKS

    with canary_started(request, settings, BLOCKS["canary-start"]) as rollout:
        replica = rollout.replica
        env = _canary_env(rollout, REPLICA_URL=replica.url)
        paused = _block_command(Block("pause", BLOCKS["canary-replica-pause"]), env)
        assert paused.returncode == 0, paused.stderr
        wait_for("the pause taken", lambda: rollout.state()["status"] == "paused")
        replica.api.stop()  # the restart, as a service manager does it: stopped, then started
        shell = block.start(env, tmp_path / "back.log")
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                shell.wait(3)
            waited = shell.poll() is None and "resume" not in rollout.decisions()
            replica.api = Service(
                replica.settings, tmp_path / "api-2.log", "api", "--port", str(replica.port)
            )
            code = shell.wait(60)
        finally:
            stop_session(shell)
        wait_for("the resume taken", lambda: "resume" in rollout.decisions())
        state, decided = rollout.state(), rollout.decisions()
        percent, running = rollout.nginx_percent(), rollout.controller.poll() is None
    out = (tmp_path / "back.log").read_text()
    assert waited, f"resumed while the replica was down:\n{out}"
    assert code == 0, out
    assert decided.index("pause") < decided.index("resume"), decided
    assert "rollback" not in decided and state["status"] in ("running", "holding"), state
    assert percent == 1 and running


@scenario("canary-dry-run")
def canary_dry_run_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """At 0 %: the dry run says it is one, keeps its state in `$STATE_DIR/dry-run` only
    (nothing in `$STATE_DIR` itself, no metrics file), never touches nginx's conf, and
    Ctrl-C stops it with exit 5; `status` on `$STATE_DIR` then finds no rollout there."""
    tmp_path: Path = request.getfixturevalue("tmp_path")
    from tests.rollout.conftest import SET_PERCENT

    with nginx_at(0) as nginx, prometheus_stand_in() as prometheus:
        state_dir = tmp_path / "rollout-1"
        variables = {
            **nginx_variables(nginx),
            "STATE_DIR": str(state_dir),
            "ACCESS_LOG": str(nginx.root / "access.log"),
            "SET_PERCENT": str(SET_PERCENT),
            "PROMETHEUS_URL": prometheus,
        }
        conf = nginx.conf.read_bytes()
        env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
        log = tmp_path / "dry-run.log"
        shell = block.start({**env, **variables}, log)
        try:
            wait_for("the dry run's state", (state_dir / "dry-run" / "state.json").exists)
            os.killpg(shell.pid, signal.SIGINT)  # Ctrl-C
            code = shell.wait(30)
        finally:
            stop_session(shell)
        status = subprocess.run(
            [COACH, "rollout", "canary", "status", "--state-dir", str(state_dir)],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        unchanged = nginx.conf.read_bytes() == conf
    out = log.read_text()
    assert code == 5, out
    assert f"state dir {state_dir / 'dry-run'}: a DRY RUN (nginx is never changed)" in out, out
    assert "dry run" in out.split("a DRY RUN", 1)[1], out
    assert sorted(p.name for p in state_dir.iterdir()) == ["dry-run"]
    assert not (state_dir / "dry-run" / "metrics.prom").exists()
    assert unchanged
    assert status.returncode == 1 and f"no rollout in {state_dir}" in status.stderr, status
    assert str(state_dir / "dry-run") in status.stderr, status.stderr


def _show(nginx: Nginx) -> str:
    return subprocess.run(
        ["deploy/nginx/set-percent.sh", "--show", str(nginx.conf)],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def _mirrored(nginx: Nginx, stand_in: Backend) -> tuple[Sides, int]:
    """Who answered each of USERS users' WODs, and how many of them coach got a copy of."""
    seen = stand_in.count()
    sides = sides_of(nginx)
    time.sleep(0.5)  # the mirrors end after their requests
    return sides, stand_in.count() - seen


@scenario("shadow-on")
def shadow_on_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """At 0 %: after the block every user is still answered by the monolith, about 10 % of
    their WODs are mirrored to coach (marked `X-Coach-Shadow: 1`), and the share stays 0."""
    settings: Settings = request.getfixturevalue("settings")
    with (
        running(Backend("coach")) as stand_in,
        nginx_at(0, coach=stand_in.address) as nginx,
    ):
        assert _mirrored(nginx, stand_in) == ({"legacy": USERS}, 0)
        result = block.run(settings, **nginx_variables(nginx))
        assert result.returncode == 0, result.stderr
        until_routed(nginx, lambda _sides: stand_in.count() > 0)  # the reload has taken
        sides, mirrored = _mirrored(nginx, stand_in)
        shown = _show(nginx)
    assert "10 % of the monolith's GETs mirrored to coach (was 0 %)" in result.stdout
    assert sides == {"legacy": USERS} and shown == "0"
    assert 5 <= mirrored <= 45, mirrored
    assert all(s.headers.get("X-Coach-Shadow") == "1" for s in stand_in.seen)


@scenario("shadow-off")
def shadow_off_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """With 10 % mirrored at 0 %: after the block nginx's conf says `mirror off` and coach
    gets no copy of the monolith's WODs any more."""
    settings: Settings = request.getfixturevalue("settings")
    with (
        running(Backend("coach")) as stand_in,
        nginx_at(0, coach=stand_in.address) as nginx,
    ):
        on = Block("on", 'deploy/nginx/set-shadow.sh 10 "$CONF"').run(
            settings, **nginx_variables(nginx)
        )
        assert on.returncode == 0, on.stderr
        until_routed(nginx, lambda _sides: stand_in.count() > 0)
        result = block.run(settings, **nginx_variables(nginx))
        assert result.returncode == 0, result.stderr
        wait_for("no mirror", lambda: _mirrored(nginx, stand_in) == ({"legacy": USERS}, 0))
        listed = nginx.conf.read_text()
    assert "0 % of the monolith's GETs mirrored to coach (was 10 %)" in result.stdout
    assert "mirror off;" in listed


@scenario("compare")
def compare_procedure(request: pytest.FixtureRequest, block: Block) -> None:
    """A real coach fed the demo data and the legacy stand-in drawing from the same events
    file: the gate passes (exit 0, "verdict: pass"). As the RUNBOOK says, a failure that
    names no broken invariant is run once more before it is believed (1 % of runs)."""
    bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    with (
        contextlib.contextmanager(running_stack)(bootstrap, factory) as stack,
        legacy_stand_in(stack.events) as monolith,
    ):
        variables = {"COACH_URL": stack.url, "MONOLITH_URL": monolith, "EVENTS": str(stack.events)}
        result = block.run(stack.settings, **variables)
        if result.returncode == 1 and result.stdout.count(": 0 answers break") == 2:
            result = block.run(stack.settings, **variables)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: pass" in result.stdout, result.stdout
    assert "coach: 0 answers break an invariant" in result.stdout, result.stdout
