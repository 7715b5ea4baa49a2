"""A real nginx (Debian's package) running deploy/nginx/coach.conf.template, rendered by
deploy/nginx/render.sh, in front of two stand-in backends that record what they receive.

Each nginx is a process of the test's own: its prefix, configuration, pid file and logs live
in a temporary directory, it listens on a free loopback port, and its access log (the
template logs to /dev/stdout) is its stdout, sent to a file. The system service is never used.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any

import pytest

from tests.conftest import REPO

TEMPLATE = REPO / "deploy/nginx/coach.conf.template"
RENDER = REPO / "deploy/nginx/render.sh"
# nginx's timeouts towards coach, as the template sets them.
COACH_READ_TIMEOUT = 2.0


def _need(program: str, package: str) -> str:
    found = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if found:
        return found
    reason = f"{program} is not installed (apt-get install {package}; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    _need("envsubst", "gettext-base")
    return _need("nginx", "nginx")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the stand-in backends ------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Backend:
    """An upstream on a loopback port that records each request and answers as told."""

    name: str
    status: int = 200
    delay: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def count(self) -> int:
        with self._lock:
            return len(self.seen)


def _handler(backend: Backend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body wait 40 ms for a delayed ACK

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            backend.record(Seen(self.command, self.path, dict(self.headers.items()), body))
            if backend.delay:
                time.sleep(backend.delay)
            data = json.dumps({"served_by": backend.name}).encode()
            try:
                self.send_response(backend.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if backend.status == 401:
                    self.send_header("WWW-Authenticate", "Bearer")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            except OSError:  # nginx gave up waiting (the timeout case)
                self.close_connection = True

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    return Handler


@contextlib.contextmanager
def running(backend: Backend) -> Iterator[Backend]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(backend))
    server.daemon_threads = True
    backend.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield backend
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def coach() -> Iterator[Backend]:
    with running(Backend("coach")) as backend:
        yield backend


@pytest.fixture
def legacy() -> Iterator[Backend]:
    with running(Backend("legacy")) as backend:
        yield backend


@pytest.fixture
def refusing_address() -> Iterator[str]:
    """host:port of a bound socket that never listens: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{s.getsockname()[1]}"


# -- nginx ----------------------------------------------------------------------------------


def render_env(
    *, coach: str | list[str], legacy: str, percent: int | str, port: int
) -> dict[str, str]:
    """The render.sh environment; `coach` is one replica's host:port or a list of them."""
    env = {k: v for k, v in os.environ.items() if k not in ("COACH_UPSTREAM", "COACH_UPSTREAMS")}
    return {
        **env,
        "COACH_UPSTREAMS": coach if isinstance(coach, str) else ",".join(coach),
        "LEGACY_UPSTREAM": legacy,
        "COACH_PERCENT": str(percent),
        "LISTEN_PORT": str(port),
    }


MAIN_CONF = REPO / "deploy/nginx/standalone.conf.in"


class Nginx:
    """nginx running the rendered template, in a directory of its own."""

    def __init__(
        self, binary: str, root: Path, *, coach: str | list[str], legacy: str, percent: int
    ) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.env = render_env(coach=coach, legacy=legacy, percent=percent, port=self.port)
        (root / "tmp").mkdir()
        subprocess.run([str(RENDER), str(TEMPLATE), str(self.conf)], env=self.env, check=True)
        self.main_conf.write_text(
            Template(MAIN_CONF.read_text()).substitute(
                root=root, workers=1, connections=512, log_level="info"
            )
        )
        self._stdout = open(root / "access.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [*self.args, "-g", "daemon off;"],
            stdout=self._stdout,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_until_listening()
        except BaseException:  # it never listened (or the run was interrupted): not left behind
            self.stop()
            raise

    @property
    def conf(self) -> Path:
        return self.root / "coach.conf"

    @property
    def main_conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def args(self) -> list[str]:
        return [self.binary, "-p", str(self.root), "-c", str(self.main_conf)]

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited {self.proc.returncode}:\n{self.errors()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.02)
        raise AssertionError(f"nginx did not listen on {self.port}:\n{self.errors()}")

    def errors(self) -> str:
        path = self.root / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_lines(self, at_least: int = 0, timeout: float = 3.0) -> list[str]:
        """The access log's lines; waits until there are `at_least` (nginx writes a line
        just after it has answered, so the client can be first)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = (self.root / "access.log").read_text(errors="replace").splitlines()
            lines = [line for line in lines if " status=" in line]
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stdout.close()


@pytest.fixture
def start_nginx(nginx_bin: str) -> Iterator[Callable[..., Nginx]]:
    """Start nginx with the template rendered for these upstreams and percentage.

    Its directory is made with mkdtemp under /tmp and opened to all (not pytest's tmp_path,
    which sits under a 0700 directory): nginx's workers run as `nobody` when the tests run as
    root, and must reach their temporary files.
    """
    started: list[Nginx] = []
    roots: list[Path] = []

    def start(*, coach: str | list[str], legacy: str, percent: int) -> Nginx:
        root = Path(tempfile.mkdtemp(prefix="coach-nginx-"))
        root.chmod(0o755)
        roots.append(root)
        server = Nginx(nginx_bin, root, coach=coach, legacy=legacy, percent=percent)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


# -- the client -----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def served_by(self) -> str | None:
        try:
            return json.loads(self.body)["served_by"]
        except (ValueError, KeyError, TypeError):
            return None


def call(
    port: int,
    path: str = "/fitness/wod",
    *,
    method: str = "GET",
    token: str | None = None,
    authorization: str | None = None,
    body: bytes | None = None,
    timeout: float = 15,
) -> Answer:
    """One request; `token` sends "Bearer <token>", `authorization` the header as given."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if authorization is not None:
        headers["Authorization"] = authorization
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return Answer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            data,
            time.monotonic() - started,
        )
    finally:
        conn.close()
