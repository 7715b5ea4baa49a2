"""A standalone Kafka Connect worker: its jars and Debezium's plugin (Maven, into
``<home>/lib`` and ``<home>/plugins``, downloads in ``<home>/m2``), its properties, and its
process, started with the connectors and stopped (SIGTERM, or SIGKILL to test a crash).
Standard library only; tools/cdc/cdc.py imports it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from cdc_base import (
    CONNECT_POM,
    DEBEZIUM_POM,
    FETCH_TIMEOUT,
    HOST,
    JVM_OPTS,
    LOG4J_CONFIG,
    PLUGIN_EXCLUDED_GROUPS,
    REST_PORT,
    START_TIMEOUT,
    CdcError,
    _home,
    _locked,
    _log,
    _pid_alive,
    _tail,
)
from cdc_connectors import _properties, _rest, connector_running


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
