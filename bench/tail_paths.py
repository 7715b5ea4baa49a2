"""The ways bench/tail.py reaches an app: directly, or as users reach coach, through nginx
rendered from the project's own template (deploy/nginx/render.sh, COACH_PERCENT=100) in
front of one worker, of `--workers 2`, or of two replicas.

The app's processes run on core 0 (SERVER_CPU) whatever their number, so that every path
is measured on one core of server; nginx (one worker) runs on the load's core, beside the
load generator, so that it takes nothing from the app. The legacy upstream is a port where
nothing listens: a request nginx fails to get from the app (its fallback) is an error in
the figures, never an answer from elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from bench.tail_load import LOAD_CPU
from bench.wod import SECRET, free_port, running

REPO = Path(__file__).resolve().parent.parent
SERVER_CPU = "0"
PATHS = ("direct", "nginx", "workers2", "replicas2")
"""direct: the app's port. nginx: nginx, then one worker. workers2: nginx, then one server
with two worker processes. replicas2: nginx, then two servers of one worker each."""
PATH_TITLES = {
    "direct": "direct",
    "nginx": "nginx, one worker",
    "workers2": "nginx, --workers 2",
    "replicas2": "nginx, two replicas",
}


@dataclass
class Front:
    """Where the load goes (`url`) and the app's own servers behind it (`backends`)."""

    url: str
    backends: list[str] = field(default_factory=list)


def _coach(db_path: Path, workers: int) -> contextlib.AbstractContextManager[tuple[str, int]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update(COACH_DB_PATH=str(db_path), COACH_JWT_SECRET=SECRET)
    argv = [
        *("taskset", "-c", SERVER_CPU, str(REPO / ".venv/bin/coach"), "api"),
        *("--port", str(port), "--workers", str(workers)),
    ]
    return running(argv, env=env, port=port, name="coach api")


def _plain(body_file: Path, workers: int) -> contextlib.AbstractContextManager[tuple[str, int]]:
    port = free_port()
    env = {**os.environ, "BENCH_SECRET": SECRET, "BENCH_BODY_FILE": str(body_file)}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    argv = [
        *("taskset", "-c", SERVER_CPU, str(REPO / ".venv/bin/python")),
        *(str(REPO / "bench/plain_app.py"), "--port", str(port), "--workers", str(workers)),
    ]
    return running(argv, env=env, port=port, name="plain app", cwd=REPO)


def _closed_port() -> str:
    """host:port where nothing listens (the legacy side: a fallback fails loudly)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@contextlib.contextmanager
def nginx_in_front(upstreams: list[str]) -> Iterator[str]:
    """nginx (one worker on the load's core) running the project's template at 100 %, in
    front of `upstreams` (host:port each); yields its base url."""
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    root = Path(tempfile.mkdtemp(prefix="coach-tail-nginx-"))
    root.chmod(0o755)  # nginx's workers (nobody, when run as root) reach its temporary files
    (root / "tmp").mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("COACH_UPSTREAM", "NGINX")}
    env.update(
        COACH_UPSTREAMS=",".join(upstreams),
        LEGACY_UPSTREAM=_closed_port(),
        COACH_PERCENT="100",
        LISTEN_PORT=str(port),
        COACH_ACCESS_LOG=str(root / "access.log"),
    )
    template = REPO / "deploy/nginx/coach.conf.template"
    render = REPO / "deploy/nginx/render.sh"
    subprocess.run([str(render), str(template), str(root / "coach.conf")], env=env, check=True)
    main_conf = Template((REPO / "deploy/nginx/standalone.conf.in").read_text()).substitute(
        root=root, workers=1, connections=4096, log_level="warn"
    )
    (root / "nginx.conf").write_text(main_conf)
    argv = [
        *("taskset", "-c", LOAD_CPU, binary, "-p", str(root)),
        *("-c", str(root / "nginx.conf"), "-g", "daemon off;"),
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                errors = (root / "error.log").read_text() if (root / "error.log").exists() else ""
                raise RuntimeError(f"nginx did not listen on {port}: {errors}")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def front(app: str, path: str, data: Path, second_copy: Path | None = None) -> Iterator[Front]:
    """The app (`coach` over the projection `data`, or `plain` with the fixed body `data`)
    reached by `path` (one of PATHS). replicas2 of coach reads `second_copy`, a copy of
    `data` (each replica has a projection file of its own)."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {', '.join(PATHS)}, not {path!r}")

    def server(source: Path, workers: int) -> contextlib.AbstractContextManager[tuple[str, int]]:
        return _coach(source, workers) if app == "coach" else _plain(source, workers)

    with contextlib.ExitStack() as stack:
        if path == "replicas2":
            sources = [data, second_copy if app == "coach" and second_copy else data]
            backends = [stack.enter_context(server(s, 1))[0] for s in sources]
        else:
            backends = [stack.enter_context(server(data, 2 if path == "workers2" else 1))[0]]
        if path == "direct":
            yield Front(backends[0], backends)
            return
        upstreams = [b.removeprefix("http://") for b in backends]
        yield Front(stack.enter_context(nginx_in_front(upstreams)), backends)
