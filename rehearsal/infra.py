"""The monolith's side of the rehearsal, each part started by the project's own tool:
PostgreSQL 15 and Kafka Connect with Debezium's outbox router (tools/cdc/cdc.py), a Kafka
broker of the rehearsal's own (tools/kafka/broker.py; the run stops it, so never the shared
one), coach's topics (`coach topics create`) and the stand-in monolith
(`python -m deploy.monolith.app`, its token issuer included)."""

from __future__ import annotations

import importlib.util
import os
import random
import socket
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

from rehearsal.procs import Processes, wait_until

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DATABASE = "monolith"
CONNECTOR = "rehearsal-outbox"


def load_tool(relative: str) -> ModuleType:
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(path.stem + "_tool", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_pair() -> int:
    """A port whose next one is free too (the broker's controller takes port + 1)."""
    for _ in range(200):
        port = 30000 + random.randint(0, 4000) * 2  # nosec B311 (a port, not a secret)
        free = True
        for p in (port, port + 1):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    free = False
        if free:
            return port
    raise RuntimeError("no two free consecutive ports")


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "MONOLITH_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


class Infra:
    """PostgreSQL, the broker, Connect and the monolith of one rehearsal, under `home`."""

    def __init__(self, procs: Processes, home: Path) -> None:
        self.procs = procs
        self.home = home
        self.cdc = load_tool("tools/cdc/cdc.py")
        self.kafka = load_tool("tools/kafka/broker.py")
        self.pg_port = free_port()
        self.broker_port = free_pair()
        self.rest_port = free_port()
        self.monolith_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.broker_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.pg_port}/{DATABASE}"

    @property
    def monolith(self) -> str:
        return f"127.0.0.1:{self.monolith_port}"

    # -- PostgreSQL --------------------------------------------------------------------------
    def start_postgres(self) -> None:
        self.cdc.start_postgres(self.home / "cdc", port=self.pg_port, quiet=True)
        self.procs.on_exit("postgres", self.remove_postgres)
        self.cdc.create_database(DATABASE, port=self.pg_port)

    def stop_postgres(self) -> None:
        self.cdc.stop_postgres(self.home / "cdc", quiet=True)

    def remove_postgres(self) -> None:
        """Stop the cluster and remove its files (they may live outside the state folder,
        where the `postgres` user can reach them: tools/cdc/cdc.py `_pg_root`)."""
        import shutil

        self.stop_postgres()
        pg = self.home / "cdc" / "pg"
        shutil.rmtree(pg.resolve(), ignore_errors=True)
        if pg.is_symlink():
            pg.unlink()

    def restart_postgres(self) -> None:
        # As a crash (immediate: no shutdown checkpoint, no wait for Debezium's walsender to
        # drain; the start recovers from the WAL). A fast shutdown under the full load took
        # 10 s, longer than the monolith's 9 s retry bound (docs/REHEARSAL.md).
        self.cdc.stop_postgres(self.home / "cdc", quiet=True, mode="immediate")
        self.cdc.start_postgres(self.home / "cdc", port=self.pg_port, quiet=True)

    def psql(self, sql: str) -> str:
        return str(self.cdc.psql(sql, dbname=DATABASE, port=self.pg_port))

    # -- the broker and the topics -----------------------------------------------------------
    def start_broker(self) -> None:
        lib = self.kafka.ensure_jars(REPO / ".kafka", quiet=True)
        home = self.home / "kafka"
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "lib").exists():
            (home / "lib").symlink_to(lib)
        self.kafka.start(port=self.broker_port, home=home, quiet=True)
        self.procs.on_exit("broker", self.stop_broker)

    def stop_broker(self) -> None:
        self.kafka.stop(home=self.home / "kafka", quiet=True)

    def restart_broker(self) -> None:
        self.kafka.start(port=self.broker_port, home=self.home / "kafka", quiet=True)

    def create_topics(self, coach_env: dict[str, str]) -> None:
        import subprocess

        subprocess.run(
            [str(BIN / "coach"), "topics", "create"], env=coach_env, check=True,
            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip

    # -- Kafka Connect -----------------------------------------------------------------------
    def connector(self) -> dict[str, str]:
        return dict(self.cdc.connector_config(CONNECTOR, dbname=DATABASE, pg_port=self.pg_port))

    def start_connect(self) -> None:
        for attempt in range(3):
            try:
                self.cdc.start_connect(
                    self.home / "connect", [self.connector()], rest_port=self.rest_port,
                    bootstrap=self.bootstrap, jars=REPO / ".cdc", quiet=True,
                )  # fmt: skip
                break
            except self.cdc.CdcError as exc:
                # The REST port, free when picked, may be taken since (another process's
                # ephemeral port): another free port, up to three times.
                if "Unable to initialize REST server" not in str(exc) or attempt == 2:
                    raise
                self.rest_port = free_port()
        if not any(what == "connect" for what, _ in self.procs.cleanups):
            self.procs.on_exit("connect", self.stop_connect)

    def stop_connect(self, kill: bool = False) -> None:
        self.cdc.stop_connect(self.home / "connect", kill=kill, quiet=True)

    def connect_running(self) -> bool:
        return bool(self.cdc.connector_running(CONNECTOR, self.rest_port))

    # -- the monolith ------------------------------------------------------------------------
    def start_monolith(self, delay: tuple[float, float]) -> None:
        env = base_env() | {
            "MONOLITH_DATABASE_URL": self.database_url,
            "MONOLITH_HOST": "127.0.0.1",
            "MONOLITH_PORT": str(self.monolith_port),
            "MONOLITH_TOKEN_TTL": "7200",
            "LEGACY_DELAY_MIN": str(delay[0]),
            "LEGACY_DELAY_MAX": str(delay[1]),
        }
        self.procs.start("monolith", [sys.executable, "-m", "deploy.monolith.app"], env, REPO)
        wait_until("the monolith", lambda: http_status(f"http://{self.monolith}/health") == 200, 60)

    def token(self, sub: str, zone: str = "UTC") -> str:
        body = post_json(f"http://{self.monolith}/oauth/token", {"sub": sub, "zoneinfo": zone})
        return str(body["access_token"] if "access_token" in body else body["token"])


def http_status(url: str, headers: dict[str, str] | None = None, timeout: float = 3) -> int:
    import urllib.error

    try:
        with urllib.request.urlopen(  # nosec B310 (loopback URLs the rehearsal built)
            urllib.request.Request(url, headers=headers or {}), timeout=timeout
        ) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def post_json(url: str, body: Any, timeout: float = 10) -> Any:
    import json

    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=timeout) as r:  # nosec B310 (loopback)
        text = r.read()
    return json.loads(text) if text else None


def get_json(url: str, timeout: float = 3) -> Any:
    import json

    with urllib.request.urlopen(url, timeout=timeout) as r:  # nosec B310 (loopback)
        return json.loads(r.read())


def wait_seconds(seconds: float) -> None:
    time.sleep(max(0.0, seconds))
