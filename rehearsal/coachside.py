"""coach's side of the rehearsal: two replicas (`coach consume` + `coach api` each, a
projection file of their own, the second started from a `coach snapshot` of the first),
nginx rendered from the project's template in front of both (deploy/nginx/render.sh, the
access log to a file), Prometheus (Debian's binary as a child process) scraping both with
deploy/prometheus/coach-rules.yml, and Locust with the load test's seed profile
(deploy/loadtest/seed.py) for the load."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from string import Template

from rehearsal.infra import BIN, REPO, Infra, base_env, free_port, http_status
from rehearsal.procs import Processes, wait_until

NGINX_DIR = REPO / "deploy" / "nginx"


def program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        raise RuntimeError(f"{name} is missing (Debian: apt-get install {name})")
    return found


class Replica:
    def __init__(self, name: str, home: Path, infra: Infra) -> None:
        self.name = name
        self.db = home / "replicas" / name / "coach.db"
        self.db.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = base_env() | {
            "COACH_DB_PATH": str(self.db),
            "COACH_KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap,
            "COACH_JWT_JWKS_URL": f"http://{infra.monolith}/.well-known/jwks.json",
            "COACH_JWT_ALGORITHMS": "ES256",
        }

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self, procs: Processes) -> None:
        self.start_consumer(procs)
        self.start_api(procs)

    def start_consumer(self, procs: Processes) -> None:
        procs.start(f"{self.name}-consume", [str(BIN / "coach"), "consume"], self.env)

    def start_api(self, procs: Processes) -> None:
        args = [str(BIN / "coach"), "api", "--port", str(self.port)]
        procs.start(f"{self.name}-api", args, self.env)
        wait_until(f"{self.name}'s api", lambda: http_status(f"{self.url}/health") == 200, 60)

    def snapshot_to(self, other: Replica) -> None:
        subprocess.run(
            [str(BIN / "coach"), "snapshot", str(other.db)], env=self.env, check=True,
            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip


class Nginx:
    def __init__(self, home: Path, replicas: list[Replica], legacy: str) -> None:
        self.root = home / "nginx"
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # nginx's workers (nobody, when run as root) use its tmp/
        self.port = free_port()
        self.conf = self.root / "coach.conf"
        self.main_conf = self.root / "nginx.conf"
        self.access_log = self.root / "access.log"
        self.binary = program("nginx")
        self.env = base_env() | {
            "COACH_UPSTREAMS": ",".join(r.address for r in replicas),
            "LEGACY_UPSTREAM": legacy,
            "LISTEN_PORT": str(self.port),
            "COACH_ACCESS_LOG": str(self.access_log),
            "COACH_NGINX_BIN": self.binary,
            "COACH_NGINX_ARGS": f"-p {self.root} -c {self.main_conf}",
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, procs: Processes) -> None:
        env = self.env | {"COACH_PERCENT": "0"}
        render = [str(NGINX_DIR / "render.sh"), str(NGINX_DIR / "coach.conf.template")]
        subprocess.run([*render, str(self.conf)], env=env, check=True, stdin=subprocess.DEVNULL)
        self.main_conf.write_text(
            Template((NGINX_DIR / "standalone.conf.in").read_text()).substitute(
                root=self.root, workers=2, connections=4096, log_level="warn"
            )
        )
        args = [self.binary, "-p", str(self.root), "-c", str(self.main_conf), "-g", "daemon off;"]
        procs.start("nginx", args, env)
        wait_until("nginx", lambda: http_status(f"{self.url}/health") > 0, 30)

    def set_percent(self, percent: int) -> None:
        self._run([str(NGINX_DIR / "set-percent.sh"), str(percent), str(self.conf)])

    def set_shadow(self, percent: int) -> None:
        self._run([str(NGINX_DIR / "set-shadow.sh"), str(percent), str(self.conf)])

    def _run(self, args: list[str]) -> None:
        env = {k: v for k, v in self.env.items() if k not in ("COACH_UPSTREAMS", "LISTEN_PORT")}
        subprocess.run(args, env=env, check=True, stdin=subprocess.DEVNULL, capture_output=True)


class Prometheus:
    def __init__(self, home: Path, replicas: list[Replica], interval: float) -> None:
        self.root = home / "prometheus"
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        targets = ", ".join(f'"{r.address}"' for r in replicas)
        every = f"{max(1, int(interval))}s"
        (self.root / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: {every}\n  evaluation_interval: {every}\n"
            f"rule_files:\n  - {REPO / 'deploy/prometheus/coach-rules.yml'}\n"
            "scrape_configs:\n  - job_name: coach\n"
            f"    static_configs:\n      - targets: [{targets}]\n"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, procs: Processes) -> None:
        args = [
            program("prometheus"), f"--config.file={self.root / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.root / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]  # fmt: skip
        procs.start("prometheus", args, base_env())
        wait_until("prometheus", lambda: http_status(f"{self.url}/-/ready") == 200, 60)


def start_locust(
    procs: Processes, root: Path, nginx: Nginx, monolith: str, seed_users: int, users: int
) -> None:
    """The load test's seed profile (deploy/loadtest/seed.py): people who log in at the
    monolith's issuer, get the WOD through nginx and log workouts through the monolith, and
    5 % hostile clients sending the security corpus through nginx."""
    args = [
        str(BIN / "locust"), "-f", str(REPO / "deploy" / "loadtest" / "locustfile.py"),
        "--headless", "--users", str(users), "--spawn-rate", str(max(1, users // 5)),
        "--run-time", "3h", "--host", nginx.url, "--csv", str(root / "locust"),
        "--only-summary", "--stop-timeout", "5", "--exit-code-on-error", "0",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {
        "LOADTEST_PROFILE": "seed", "LOADTEST_MONOLITH_URL": f"http://{monolith}",
        "LOADTEST_SEED_USERS": str(seed_users), "LOADTEST_HOSTILE_PERCENT": "5",
    }  # fmt: skip
    procs.start("locust", args, base_env() | env, REPO)


def python() -> str:
    return sys.executable
