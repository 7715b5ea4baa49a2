"""The processes of bench/loop_starvation.py: each started in a session of its own and stopped
by its id (on exit, error, Ctrl-C and SIGTERM), and a throw-away nginx with a keep-alive
upstream, rendered into a temporary directory (never the system service)."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

NGINX_CONF = """
worker_processes 1;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    upstream app {{
        server 127.0.0.1:{backend};
        keepalive {keepalive};
        keepalive_timeout 4s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within 30 s")


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when this script dies, even by SIGKILL (Linux)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Children:
    """The processes this run started, each in a session of its own; stopped by their ids,
    and sent SIGTERM by the kernel if this script is killed outright."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dirs: list[Path] = []

    def start(self, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=REPO,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self, keep_dirs: bool = False) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()
        if keep_dirs:
            return
        for path in self.dirs:
            shutil.rmtree(path, ignore_errors=True)
        self.dirs.clear()


def start_nginx(children: Children, *, backend: int, keepalive: int, cpu: str) -> int:
    """nginx (one worker, pinned to `cpu`) in front of 127.0.0.1:`backend`; its port."""
    root = Path(tempfile.mkdtemp(prefix="loop-starvation-nginx-"))
    children.dirs.append(root)
    root.chmod(0o755)  # its workers run as nobody when this runs as root
    (root / "tmp").mkdir()
    port = free_port()
    conf = NGINX_CONF.format(root=root, backend=backend, keepalive=keepalive, port=port)
    (root / "nginx.conf").write_text(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = children.start(
        [
            *("taskset", "-c", cpu, nginx, "-p", str(root)),
            *("-c", str(root / "nginx.conf"), "-g", "daemon off;"),
        ]
    )
    wait_listening(port, proc, "nginx")
    return port
