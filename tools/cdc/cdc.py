#!/usr/bin/env python3
"""Change data capture for development and tests: a local PostgreSQL (the monolith's
database, with the outbox table) and a Kafka Connect worker running Debezium's PostgreSQL
connector with its outbox EventRouter, publishing each outbox row to coach's topics.

No Docker: PostgreSQL is Debian's `postgresql-15` (its cluster lives in ``<home>/pg``), and
the Connect worker's jars come from Maven Central through ``connect-pom.xml`` (the worker)
and ``debezium-pom.xml`` (the connector's plugin folder), like tools/kafka/broker.py.

CLI::

    python3 tools/cdc/cdc.py start|stop|status [--home DIR]

``start`` starts PostgreSQL on 127.0.0.1:5433 (user ``postgres``, database ``monolith``
with the outbox table and its publication), then Connect (REST on 127.0.0.1:8083) with one
connector routing aggregatetype ``exercise`` to COACH_TOPIC_EXERCISES and ``workout`` to
COACH_TOPIC_WORKOUTS (``fitness.exercises`` / ``fitness.workouts`` by default) on
COACH_KAFKA_BOOTSTRAP_SERVERS (127.0.0.1:9092), and returns once the connector's task runs.
The topics must exist (the worker does not create topics: ``coach topics create``).

Importable (stdlib only)::

    cdc = load_module("tools/cdc/cdc.py")
    cdc.start_postgres(home)                       # the cluster
    cdc.create_database("monolith_t1")             # + outbox and publication
    config = cdc.connector_config("t1", dbname="monolith_t1", topics=(ex, wo))
    cdc.start_connect(home / "w1", [config], rest_port=18083)   # a worker of its own
    cdc.register(config, rest_port=8083)           # or on a running worker (not kept)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_HOME = REPO_ROOT / ".cdc"
CONNECT_POM = HERE / "connect-pom.xml"
DEBEZIUM_POM = HERE / "debezium-pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
MIGRATIONS = REPO_ROOT / "monolith_kit" / "migrations"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
HOST = "127.0.0.1"
PG_PORT = 5433
REST_PORT = 8083
DATABASE = "monolith"
PUBLICATION = "coach_outbox"
FETCH_TIMEOUT = 900.0
START_TIMEOUT = 120.0
JVM_OPTS = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
PLUGIN_EXCLUDED_GROUPS = "org.apache.kafka,org.slf4j,com.fasterxml.jackson.core"
"""Debezium 3.6 pulls Kafka 4.3's connect-api and clients, SLF4J and Jackson: the worker's own
must be the only ones (two Jacksons in two class loaders break the converters)."""


class CdcError(RuntimeError):
    """PostgreSQL or Connect could not be fetched, started, configured or stopped."""


def _log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def _home(home: str | os.PathLike[str] | None) -> Path:
    return Path(home).expanduser().resolve() if home is not None else DEFAULT_HOME


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


# -- PostgreSQL ---------------------------------------------------------------------------------


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as the `postgres` user."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _pg_root(home: Path) -> Path:
    """``<home>/pg``, unless the `postgres` user cannot reach it (a clone under /root, whose
    0700 mode is never loosened): then a folder of that user's own, named after `home`, to
    which ``<home>/pg`` is a symbolic link, so that the checkout still names (and
    `make clean-all` still finds) every byte of the cluster."""
    root = home / "pg"
    if os.geteuid() != 0:
        return root
    if root.is_symlink():
        return root.resolve()
    home.mkdir(parents=True, exist_ok=True)
    reachable = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(home)],
        stdin=subprocess.DEVNULL, check=False,
    ).returncode == 0  # fmt: skip
    if reachable:
        return root
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
    return Path("/var/lib/postgresql") / f"coach-cdc-{digest}"


def _pg_dirs(home: Path) -> tuple[Path, Path, Path]:
    root = _pg_root(home)
    return root / "data", root / "run", root / "postgres.log"


def postgres_running(home: str | os.PathLike[str] | None = None, port: int = PG_PORT) -> bool:
    return (
        subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            check=False,
        ).returncode
        == 0
    )


def start_postgres(
    home: str | os.PathLike[str] | None = None, port: int = PG_PORT, quiet: bool = False
) -> None:
    """Create the cluster (once) and start it on 127.0.0.1:`port` with wal_level=logical."""
    h = _home(home)
    if not (PG_BIN / "initdb").exists():
        raise CdcError(f"no {PG_BIN}/initdb: apt-get install -y postgresql-15")
    data, run, log = _pg_dirs(h)
    with _locked(h / ".pg.lock"):
        if postgres_running(h, port):
            return
        run.mkdir(parents=True, exist_ok=True)
        if data.parent != h / "pg":
            _log(f"the postgres user cannot reach {h}: the cluster lives in {data.parent}", quiet)
            if not (h / "pg").is_symlink():
                (h / "pg").symlink_to(data.parent, target_is_directory=True)
        if os.geteuid() == 0:
            shutil.chown(data.parent, "postgres", "postgres")
            shutil.chown(run, "postgres", "postgres")
        if not (data / "PG_VERSION").exists():
            shutil.rmtree(data, ignore_errors=True)
            _log(f"creating a PostgreSQL cluster in {data} ...", quiet)
            subprocess.run(
                _as_postgres(
                    [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                     "-E", "UTF8", "--locale=C.UTF-8"]
                ),
                check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            with open(data / "postgresql.auto.conf", "a") as conf:
                conf.write(
                    "\n# tools/cdc/cdc.py: Debezium reads the write-ahead log\n"
                    "wal_level = logical\nmax_wal_senders = 40\nmax_replication_slots = 40\n"
                    f"listen_addresses = '{HOST}'\nunix_socket_directories = '{run}'\n"
                    "max_connections = 200\nshared_buffers = 64MB\n"
                )
        _log(f"starting PostgreSQL on {HOST}:{port} ...", quiet)
        result = subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                 "-o", f"-p {port}", "start"]
            ),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            check=False, start_new_session=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise CdcError(f"PostgreSQL did not start; last lines of {log}:\n{_tail(log)}")


def stop_postgres(home: str | os.PathLike[str] | None = None, quiet: bool = False) -> None:
    data, _, _ = _pg_dirs(_home(home))
    if not (data / "postmaster.pid").exists():
        return
    _log("stopping PostgreSQL ...", quiet)
    subprocess.run(
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def psql(sql: str, *, dbname: str = "postgres", port: int = PG_PORT) -> str:
    """Run `sql` with psql (stops at the first error); its output, unaligned."""
    result = subprocess.run(
        [str(PG_BIN / "psql"), "-h", HOST, "-p", str(port), "-U", "postgres", "-d", dbname,
         "-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t", "-c", sql],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise CdcError(f"psql failed on {dbname}: {result.stderr.strip()}")
    return result.stdout


def create_database(dbname: str = DATABASE, *, port: int = PG_PORT) -> None:
    """The database (if missing) with the outbox table and its publication (the kit's
    migrations, idempotent)."""
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'", port=port).strip()
    if not exists:
        psql(f'CREATE DATABASE "{dbname}"', port=port)
    for path in sorted(MIGRATIONS.glob("*.sql")):
        psql(path.read_text(), dbname=dbname, port=port)


def drop_database(dbname: str, *, slot: str | None = None, port: int = PG_PORT) -> None:
    """Drop a database and its connector's replication slot (an inactive slot keeps the
    write-ahead log forever)."""
    if slot:
        with contextlib.suppress(CdcError):
            psql(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                f"WHERE slot_name = '{slot}' AND active_pid IS NOT NULL",
                port=port,
            )
            time.sleep(0.2)
            psql(
                f"SELECT pg_drop_replication_slot('{slot}') FROM pg_replication_slots "
                f"WHERE slot_name = '{slot}'",
                port=port,
            )
    psql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)', port=port)


# -- Kafka Connect ------------------------------------------------------------------------------


def _fetch(pom: Path, out: Path, log: Path, extra: Sequence[str], quiet: bool) -> None:
    stamp = hashlib.sha256(pom.read_bytes()).hexdigest()
    stamp_file = out / ".stamp"
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return
    mvn = shutil.which("mvn")
    if not mvn:
        raise CdcError("mvn not found on PATH (needed once to fetch Kafka Connect and Debezium)")
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [mvn, "-B", "-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime",
           f"-DoutputDirectory={tmp}", *extra]  # fmt: skip
    _log(f"fetching {pom.name}'s jars with Maven into {out} ...", quiet)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as fh:
        try:
            rc = subprocess.run(
                cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                timeout=FETCH_TIMEOUT,
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            rc = -1
    if rc != 0 or not any(tmp.glob("*.jar")):
        raise CdcError(f"Maven failed (rc={rc}): {' '.join(cmd)}\n{_tail(log)}")
    (tmp / ".stamp").write_text(stamp)
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)


def ensure_jars(home: str | os.PathLike[str] | None = None, quiet: bool = False) -> Path:
    """The worker's classpath in ``<home>/lib`` and the connector in ``<home>/plugins``."""
    h = _home(home)
    # Maven's downloads stay in <home>/m2 (not ~/.m2): make clean-all removes them.
    m2 = f"-Dmaven.repo.local={h / 'm2'}"
    with _locked(h / ".lib.lock"):
        _fetch(CONNECT_POM, h / "lib", h / "logs" / "mvn-lib.log", [m2], quiet)
        _fetch(
            DEBEZIUM_POM,
            h / "plugins" / "debezium-postgres",
            h / "logs" / "mvn-plugin.log",
            [f"-DexcludeGroupIds={PLUGIN_EXCLUDED_GROUPS}", m2],
            quiet,
        )
    return h


def connector_config(
    name: str,
    *,
    dbname: str = DATABASE,
    topics: tuple[str, ...] = ("fitness.exercises", "fitness.workouts", "fitness.erasures"),
    pg_port: int = PG_PORT,
    slot: str | None = None,
    poll_interval_ms: int = 20,
) -> dict[str, str]:
    """Debezium's PostgreSQL connector reading the outbox of `dbname` through its outbox
    EventRouter: aggregatetype `exercise` to topics[0], `workout` to topics[1], `erasure`
    to topics[2] (`fitness.erasures` when not given), the record key from aggregateid, the
    value the payload's text as written."""
    exercises, workouts, erasures = (*topics, "fitness.erasures")[:3]
    return {
        "name": name,
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": HOST,
        "database.port": str(pg_port),
        "database.user": "postgres",
        "database.password": "postgres",
        "database.dbname": dbname,
        "topic.prefix": name,
        "slot.name": slot or name.replace("-", "_").replace(".", "_"),
        "publication.name": PUBLICATION,
        "publication.autocreate.mode": "disabled",
        "table.include.list": "public.outbox",
        "snapshot.mode": "no_data",
        "tombstones.on.delete": "false",
        "extended.headers.enabled": "false",
        "poll.interval.ms": str(poll_interval_ms),
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "transforms": "outbox,exercises,workouts,erasures",
        "transforms.outbox.type": "io.debezium.transforms.outbox.EventRouter",
        "transforms.outbox.route.by.field": "aggregatetype",
        "transforms.outbox.route.topic.replacement": "outbox.${routedByValue}",
        "transforms.outbox.table.field.event.key": "aggregateid",
        "transforms.outbox.table.field.event.payload": "payload",
        "transforms.outbox.table.expand.json.payload": "false",
        "transforms.exercises.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.exercises.regex": "outbox[.]exercise",
        "transforms.exercises.replacement": exercises,
        "transforms.workouts.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.workouts.regex": "outbox[.]workout",
        "transforms.workouts.replacement": workouts,
        "transforms.erasures.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.erasures.regex": "outbox[.]erasure",
        "transforms.erasures.replacement": erasures,
    }


def _properties(values: Mapping[str, str]) -> str:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace(":", "\\:")

    return "".join(f"{k}={escape(v)}\n" for k, v in values.items())


def _rest(method: str, path: str, port: int, body: Any = None, timeout: float = 5.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://{HOST}:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        text = resp.read()
        return json.loads(text) if text else None


def connector_running(name: str, rest_port: int = REST_PORT) -> bool:
    """The connector and its task are RUNNING (a FAILED task raises CdcError with its trace)."""
    try:
        status = _rest("GET", f"/connectors/{name}/status", rest_port)
    except (OSError, urllib.error.URLError, ValueError):
        return False
    tasks = status.get("tasks") or []
    for task in tasks:
        if task.get("state") == "FAILED":
            raise CdcError(f"connector {name}'s task failed:\n{task.get('trace', '')[:3000]}")
    return status["connector"]["state"] == "RUNNING" and any(
        t.get("state") == "RUNNING" for t in tasks
    )


def wait_running(name: str, rest_port: int = REST_PORT, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not connector_running(name, rest_port):
        if time.monotonic() > deadline:
            raise CdcError(f"connector {name} not running after {timeout:.0f} s")
        time.sleep(0.2)


def register(config: Mapping[str, str], rest_port: int = REST_PORT) -> None:
    """Add (or change) a connector on a running worker and wait until its task runs. A
    standalone worker does not keep it across a restart: start_connect's files do."""
    name = config["name"]
    body = {k: v for k, v in config.items() if k != "name"}
    _rest("PUT", f"/connectors/{name}/config", rest_port, body, timeout=30)
    wait_running(name, rest_port)


def unregister(name: str, rest_port: int = REST_PORT) -> None:
    with contextlib.suppress(OSError, urllib.error.URLError):
        _rest("DELETE", f"/connectors/{name}", rest_port, timeout=30)


def _worker_properties(home: Path, bootstrap: str, rest_port: int) -> dict[str, str]:
    return {
        "bootstrap.servers": bootstrap,
        "listeners": f"http://{HOST}:{rest_port}",
        "plugin.discovery": "service_load",
        "offset.storage.file.filename": str(home / "offsets"),
        # Offsets reach the file (and Debezium confirms the LSN to PostgreSQL) this often; a
        # kill -9 re-sends what was published since the last flush.
        "offset.flush.interval.ms": "5000",
        "topic.creation.enable": "false",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "producer.linger.ms": "0",
    }


def connect_pid(home: Path) -> int | None:
    try:
        pid = int((home / "connect.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def start_connect(
    home: str | os.PathLike[str] | None = None,
    connectors: Sequence[Mapping[str, str]] = (),
    *,
    rest_port: int = REST_PORT,
    bootstrap: str | None = None,
    jars: str | os.PathLike[str] | None = None,
    quiet: bool = False,
) -> int:
    """Start a standalone Connect worker whose state lives in `home` (its offsets file, its
    properties, its logs) with `connectors`, and wait until each one's task runs. `jars` is
    where lib/ and plugins/ are (the default home). Returns the worker's pid."""
    h = _home(home)
    lib_home = ensure_jars(jars, quiet=quiet)
    bootstrap = bootstrap or os.environ.get("COACH_KAFKA_BOOTSTRAP_SERVERS", f"{HOST}:9092")
    h.mkdir(parents=True, exist_ok=True)
    pid = connect_pid(h)
    if pid is not None:
        raise CdcError(f"a Connect worker (pid {pid}) already runs from {h}")
    worker = {
        **_worker_properties(h, bootstrap, rest_port),
        "plugin.path": str(lib_home / "plugins"),
    }
    (h / "worker.properties").write_text(_properties(worker))
    files = [str(h / "worker.properties")]
    for config in connectors:
        path = h / f"connector-{config['name']}.properties"
        path.write_text(_properties(config))
        files.append(str(path))
    logs = h / "logs"
    logs.mkdir(exist_ok=True)
    java = shutil.which("java") or "java"
    cmd = [
        java, *JVM_OPTS, f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={logs}", "-cp", f"{lib_home / 'lib'}/*",
        "org.apache.kafka.connect.cli.ConnectStandalone", *files,
    ]  # fmt: skip
    _log(f"starting Kafka Connect (REST {HOST}:{rest_port}) from {h} ...", quiet)
    with open(logs / "connect.out", "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=h,
        )  # fmt: skip
    (h / "connect.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + START_TIMEOUT
    try:
        for config in connectors:
            while not connector_running(config["name"], rest_port):
                if proc.poll() is not None:
                    raise CdcError(
                        f"Kafka Connect exited ({proc.returncode}):\n"
                        f"{_tail(logs / 'connect.out')}\n{_tail(logs / 'connect.log')}"
                    )
                if time.monotonic() > deadline:
                    raise CdcError(f"connector {config['name']} not running after start")
                time.sleep(0.2)
        if not connectors:
            while True:
                try:
                    _rest("GET", "/connectors", rest_port)
                    break
                except (OSError, urllib.error.URLError):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise CdcError(
                            f"Kafka Connect did not start:\n{_tail(logs / 'connect.log')}"
                        ) from None
                    time.sleep(0.2)
    except BaseException:
        stop_connect(h, quiet=True)
        raise
    return proc.pid


def stop_connect(
    home: str | os.PathLike[str] | None = None, *, kill: bool = False, quiet: bool = False
) -> None:
    """Stop the worker started from `home`: SIGTERM (a clean stop flushes its offsets), or
    SIGKILL with `kill=True` (what it published since its last offset flush is sent again)."""
    h = _home(home)
    pid = connect_pid(h)
    if pid is None:
        return
    _log(f"stopping Kafka Connect (pid {pid}) ...", quiet)
    os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    with contextlib.suppress(OSError):
        (h / "connect.pid").unlink()


# -- the CLI ------------------------------------------------------------------------------------


def start(home: str | os.PathLike[str] | None = None, quiet: bool = False) -> None:
    """`make cdc`: PostgreSQL with the monolith's database, and Connect with its connector."""
    h = _home(home)
    start_postgres(h, quiet=quiet)
    create_database(DATABASE)
    topics = (
        os.environ.get("COACH_TOPIC_EXERCISES", "fitness.exercises"),
        os.environ.get("COACH_TOPIC_WORKOUTS", "fitness.workouts"),
    )
    worker = h / "connect"
    if connect_pid(worker) is not None:
        _log(f"Kafka Connect already runs (REST {HOST}:{REST_PORT})", quiet)
        return
    start_connect(worker, [connector_config("monolith-outbox", topics=topics)], quiet=quiet)
    _log(
        f"CDC ready: PostgreSQL {HOST}:{PG_PORT} (database {DATABASE}, user postgres), "
        f"Kafka Connect {HOST}:{REST_PORT} -> topics {topics[0]}, {topics[1]}",
        quiet,
    )


def stop(home: str | os.PathLike[str] | None = None, quiet: bool = False) -> None:
    h = _home(home)
    stop_connect(h / "connect", quiet=quiet)
    stop_postgres(h, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--home", default=None, help=f"state folder (default {DEFAULT_HOME})")
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            start(args.home)
        elif args.command == "stop":
            stop(args.home)
        else:
            h = _home(args.home)
            pg = "running" if postgres_running(h) else "stopped"
            pid = connect_pid(h / "connect")
            print(f"PostgreSQL {pg}; Kafka Connect {'pid ' + str(pid) if pid else 'stopped'}")
    except (CdcError, subprocess.CalledProcessError) as exc:
        print(f"cdc: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
