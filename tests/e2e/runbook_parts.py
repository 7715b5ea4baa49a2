"""The real parts the RUNBOOK's routing and canary blocks run against (tests/e2e/test_runbook.py):
a real nginx rendered from the template in front of stand-in or real backends, a Prometheus
stand-in, and the canary's controller started as the RUNBOOK's block."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from rollout.probes import percent_from_conf
from tests.conftest import REPO, env_of
from tests.e2e.helpers import free_port, wait_for
from tests.routing.conftest import Backend, Nginx, call, running

BIN = str(Path(sys.executable).parent)


@dataclass
class Block:
    """A RUNBOOK block marked `<!-- runbook-test: NAME -->`, as it stands."""

    name: str
    text: str

    def run(self, settings: Settings, **variables: str) -> subprocess.CompletedProcess[str]:
        """Run the block as it stands, with the settings' environment and `variables`."""
        env = {**env_of(settings), **variables}
        env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
        return subprocess.run(
            ["bash", "-e", "-u", "-o", "pipefail", "-c", self.text],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,  # the RUNBOOK's paths (deploy/nginx/...) are of coach's checkout
        )

    def start(self, env: dict[str, str], log: Path, cwd: Path = REPO) -> subprocess.Popen[bytes]:
        """Start the block in a session of its own (it starts services), its output in `log`;
        `env` is its whole environment (coach's bin directory is put first in PATH)."""
        env = {**env, "PATH": BIN + os.pathsep + env.get("PATH", "")}
        with open(log, "wb") as out:
            return subprocess.Popen(
                ["bash", "-e", "-u", "-o", "pipefail", "-c", self.text],
                env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip


Scenario = Callable[[pytest.FixtureRequest, Block], None]
SCENARIOS: dict[str, Scenario] = {}
"""NAME -> the scenario of the RUNBOOK's block NAME (test_runbook.py and runbook_scenarios.py)."""


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(function: Scenario) -> Scenario:
        if name in SCENARIOS:
            raise ValueError(f"two scenarios for the RUNBOOK's block {name!r}")
        SCENARIOS[name] = function
        return function

    return register


def stop_session(shell: subprocess.Popen[bytes]) -> None:
    """SIGTERM to every process the block started, then wait for the shell."""
    if shell.poll() is None:
        os.killpg(shell.pid, signal.SIGTERM)
    try:
        shell.wait(30)
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)


USERS = 200
"""Tokens whose buckets nginx hashes: about PERCENT % of them go to coach."""


def sides_of(nginx: Nginx) -> Counter[str | None]:
    """Which side answered each of USERS users' WODs (nginx's routing, per token)."""
    return Counter(call(nginx.port, token=f"user-{n}").served_by for n in range(USERS))


@contextlib.contextmanager
def nginx_at(percent: int, coach: str | None = None) -> Iterator[Nginx]:
    """nginx (a process of its own, its files in a directory of its own) running the
    template rendered at `percent`, in front of stand-in coach (or `coach`, host:port) and
    legacy backends."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if binary is None:
        pytest.fail("nginx is not installed (apt-get install nginx)")
    root = Path(tempfile.mkdtemp(prefix="coach-runbook-nginx-"))
    root.chmod(0o755)  # nginx's workers (nobody, when run as root) reach its temporary files
    try:
        with running(Backend("coach")) as ours, running(Backend("legacy")) as legacy:
            upstream = coach or ours.address
            nginx = Nginx(binary, root, coach=upstream, legacy=legacy.address, percent=percent)
            try:
                yield nginx
            finally:
                nginx.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def nginx_variables(nginx: Nginx) -> dict[str, str]:
    """CONF and the nginx to reload, as an operator of that nginx sets them."""
    return {
        "CONF": str(nginx.conf),
        "COACH_NGINX_BIN": nginx.binary,
        "COACH_NGINX_ARGS": f"-p {nginx.root} -c {nginx.main_conf}",
    }


Sides = Counter[str | None]


def until_routed(nginx: Nginx, check: Callable[[Sides], bool]) -> Sides:
    """The sides once the graceful reload has taken effect (old workers finish first)."""

    def routed() -> Sides | None:
        sides = sides_of(nginx)
        return sides if check(sides) else None

    return wait_for("nginx's reload", routed, timeout=15)


@contextlib.contextmanager
def prometheus_stand_in() -> Iterator[str]:
    """A Prometheus stand-in whose /api/v1/alerts has nothing firing; yields its URL."""
    body = json.dumps({"status": "success", "data": {"alerts": []}}).encode()

    class Alerts(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Alerts)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Rollout:
    """The RUNBOOK's canary-start block running (in a session of its own) on `nginx`."""

    nginx: Nginx
    variables: dict[str, str]
    controller: subprocess.Popen[bytes]
    log: Path
    replica: Any
    """The coach behind nginx (tests/rollout/conftest.py's Coach: its api can be restarted)."""

    @property
    def state_dir(self) -> Path:
        return Path(self.variables["STATE_DIR"])

    def state(self) -> dict[str, object]:
        return json.loads((self.state_dir / "state.json").read_text())

    def nginx_percent(self) -> int | None:
        return percent_from_conf(self.nginx.conf.read_text())

    def decisions(self) -> list[str]:
        lines = (self.state_dir / "decisions.jsonl").read_text().splitlines()
        return [json.loads(line)["decision"] for line in lines]


@contextlib.contextmanager
def canary_started(
    request: pytest.FixtureRequest, settings: Settings, start_block: str
) -> Iterator[Rollout]:
    """A real coach (consumer and api, demo data) behind nginx at 0 %, and the RUNBOOK's
    canary-start block (`start_block`) run with the variables its section names."""
    from tests.rollout.conftest import SET_PERCENT, start_coach

    tmp_path: Path = request.getfixturevalue("tmp_path")
    replica = start_coach(settings.kafka_bootstrap_servers, tmp_path / "coach")
    try:
        with nginx_at(0, coach=replica.address) as nginx, prometheus_stand_in() as prometheus:
            variables = {
                **nginx_variables(nginx),
                "STATE_DIR": str(tmp_path / "rollout-1"),
                "ACCESS_LOG": str(nginx.root / "access.log"),
                "SET_PERCENT": str(SET_PERCENT),
                "PROMETHEUS_URL": prometheus,
                "METRICS_PORT": str(free_port()),
            }
            env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
            env.update(variables)
            env["PATH"] = BIN + os.pathsep + env["PATH"]
            log = tmp_path / "controller.log"
            with open(log, "wb") as out:
                controller = subprocess.Popen(
                    ["bash", "-e", "-u", "-o", "pipefail", "-c", start_block],
                    env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            rollout = Rollout(nginx, variables, controller, log, replica)
            try:
                wait_for(
                    "the canary's first step",
                    lambda: rollout.nginx_percent() == 1 and rollout.state()["percent"] == 1,
                    timeout=30,
                )
                yield rollout
            finally:
                stop_session(controller)
    finally:
        replica.stop()
