"""The canary's world, for real: a real coach (its consumer and api, on the real broker), the
monolith's stand-in (deploy/legacy/app.py), a real nginx running the template
(tests/routing/conftest.py), clients asking through nginx, and `coach rollout canary` as a
process of its own calling deploy/nginx/set-percent.sh on that nginx."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from config.settings import Settings
from tests.conftest import REPO, SECRET, env_of
from tests.e2e.helpers import COACH, Service, coach, free_port, wait_for
from tests.routing.conftest import Nginx, nginx_bin, start_nginx  # noqa: F401 (fixtures)

SET_PERCENT = REPO / "deploy/nginx/set-percent.sh"
LEGACY_APP = REPO / "deploy/legacy/app.py"


def get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- coach ----------------------------------------------------------------------------------


class Coach:
    """One coach replica: `coach consume` and `coach api` over a projection of its own."""

    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        self.root = root
        self.port = free_port()
        self.consumer = Service(settings, root / "consume.log", "consume")
        self.api = Service(settings, root / "api.log", "api", "--port", str(self.port))
        wait_for("coach ready", lambda: get(self.port, "/ready")[0] == 200, 120, self.api)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def stop(self) -> None:
        self.api.stop()
        self.consumer.stop()


def coach_settings(bootstrap: str, root: Path) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    return Settings(
        db_path=root / "coach.db",
        jwt_secret=SECRET,
        kafka_bootstrap_servers=bootstrap,
        topic_exercises=f"test.{suffix}.exercises",
        topic_workouts=f"test.{suffix}.workouts",
        topic_erasures=f"test.{suffix}.erasures",
        heartbeat_seconds=0.5,
        poll_timeout_ms=100,
        # a replica whose consumer stopped answers 503 (nginx falls back) within 2 s
        wod_only_when_ready=True,
        ready_max_heartbeat_age_seconds=2.0,
        status_cache_seconds=0.2,
    )


def start_coach(bootstrap: str, root: Path) -> Coach:
    root.mkdir(parents=True, exist_ok=True)
    settings = coach_settings(bootstrap, root)
    coach(settings, "topics", "create")
    demo = coach(settings, "demo-data", "--users", "50", "--days", "2").stdout
    coach(settings, "publish", input=demo)
    return Coach(settings, root)


@pytest.fixture(scope="module")
def shared_coach(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coach]:
    """A healthy coach for the tests that do not break it."""
    replica = start_coach(kafka_bootstrap, tmp_path_factory.mktemp("coach"))
    yield replica
    replica.stop()


# -- the monolith's stand-in ----------------------------------------------------------------


@pytest.fixture(scope="module")
def monolith(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """deploy/legacy/app.py on a free port, answering in 10-30 ms; yields host:port."""
    port = free_port()
    env = {
        **os.environ,
        "LEGACY_PORT": str(port),
        "LEGACY_DELAY_MIN": "0.01",
        "LEGACY_DELAY_MAX": "0.03",
    }
    log = open(tmp_path_factory.mktemp("legacy") / "legacy.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, str(LEGACY_APP)], env=env, stdout=log, stderr=log)
    wait_for("the legacy stand-in", lambda: get(port, "/health")[0] == 200, 20)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)
    log.close()


# -- clients --------------------------------------------------------------------------------


class Load:
    """Threads asking GET /fitness/wod through nginx with many users' tokens until stopped
    (`pause` seconds between requests per thread); every status is counted, and who answered
    (the stand-in sets X-Legacy-Stand-In)."""

    def __init__(self, port: int, *, threads: int = 4, users: int = 2000, pause: float = 0.0):
        now = int(time.time())
        self.tokens = [
            jwt.encode({"sub": str(u), "exp": now + 3600}, SECRET, algorithm="HS256")
            for u in range(1, users + 1)
        ]
        self.port = port
        self.pause = pause
        self.statuses: Counter[int | str] = Counter()
        self.served_by: Counter[str] = Counter()
        self.reconnects = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def _ask(self, conn: http.client.HTTPConnection, token: str) -> tuple[int, str]:
        conn.request("GET", "/fitness/wod", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status, "legacy" if response.getheader("X-Legacy-Stand-In") else "coach"

    def _run(self, seed: int) -> None:
        import random

        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        while not self._stop.is_set():
            token = rng.choice(self.tokens)
            who = "?"
            try:
                try:
                    status, who = self._ask(conn, token)
                except (http.client.RemoteDisconnected, ConnectionResetError):
                    # A reload closes nginx's idle keep-alive connections; a GET sent as
                    # one closed is sent again on a new connection, as browsers and HTTP
                    # libraries do (RFC 9112, 9.3.1). Counted, and asserted to be rare.
                    self.reconnects += 1
                    conn.close()
                    status, who = self._ask(conn, token)
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            with self._lock:
                self.statuses[status] += 1
                self.served_by[who] += 1
            if self.pause:
                self._stop.wait(self.pause)


# -- a slow network in front of coach -------------------------------------------------------


class DelayingProxy:
    """A TCP proxy on a loopback port: each chunk from the client (nginx) is held `delay`
    seconds before it reaches coach. With `delay` under nginx's read timeout (2 s), coach
    answers every request, slowly: no fallback, only latency."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.delay = 0.0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, delayed: bool) -> None:
        try:
            while data := src.recv(65536):
                if delayed and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._closed = True
        self._server.close()


# -- the controller -------------------------------------------------------------------------


class Canary:
    """`coach rollout canary ...` on one nginx and one state directory."""

    def __init__(self, nginx: Nginx, state_dir: Path) -> None:
        self.nginx = nginx
        self.state_dir = state_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
        self.env["COACH_NGINX_BIN"] = nginx.binary
        self.env["COACH_NGINX_ARGS"] = f"-p {nginx.root} -c {nginx.main_conf}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr = state_dir.parent / f"{state_dir.name}.stderr"

    def args(self, command: str, *options: str) -> list[str]:
        return [COACH, "rollout", "canary", command, "--state-dir", str(self.state_dir), *options]

    def start(self, *options: str, command: str = "start") -> subprocess.Popen[bytes]:
        extra: list[str] = []
        if command == "start":
            extra = [
                "--access-log", str(self.nginx.root / "access.log"),
                "--conf", str(self.nginx.conf),
                "--set-percent", str(SET_PERCENT),
            ]  # fmt: skip
        with open(self.stderr, "ab") as err:
            self.proc = subprocess.Popen(
                self.args(command, *extra, *options), env=self.env, stderr=err
            )
        return self.proc

    def run(self, command: str, *options: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.args(command, *options), env=self.env, capture_output=True, text=True, timeout=90
        )

    def wait(self, timeout: float = 90) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            raise AssertionError(f"the controller did not finish:\n{self.log()}") from None

    def state(self) -> dict[str, Any]:
        return json.loads((self.state_dir / "state.json").read_text())

    def decisions(self) -> list[dict[str, Any]]:
        path = self.state_dir / "decisions.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def log(self) -> str:
        return self.stderr.read_text(errors="replace") if self.stderr.exists() else ""

    def wait_until(self, what: str, predicate: Any, timeout: float = 60) -> Any:
        def check() -> Any:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{what}: the controller exited {self.proc.returncode}")
            return predicate(self.state()) if (self.state_dir / "state.json").exists() else None

        try:
            return wait_for(what, check, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log()[-4000:]}") from None

    def nginx_percent(self) -> int:
        from rollout.probes import percent_from_conf

        value = percent_from_conf(self.nginx.conf.read_text())
        assert value is not None
        return value

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def canaries(tmp_path: Path) -> Iterator[list[Canary]]:
    made: list[Canary] = []
    yield made
    for c in made:
        c.kill()


__all__ = ["COACH", "env_of"]
