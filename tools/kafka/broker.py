#!/usr/bin/env python3
"""Run a real single-node Apache Kafka broker (KRaft) on loopback for development and tests.

No Docker: the broker's jars come from Maven Central through ``tools/kafka/pom.xml``
(``mvn dependency:copy-dependencies``) and the broker runs as a detached ``java`` process.

CLI::

    python3 tools/kafka/broker.py start|stop|status|restart \
        [--port 9092] [--controller-port PORT+1] [--home DIR] [--kafka-version X.Y.Z]

``--home`` defaults to ``<repo root>/.kafka`` and holds ``lib/`` (jars), ``m2/`` (Maven's
downloads, instead of ~/.m2), ``data/`` (log dirs
and KRaft metadata), ``logs/`` (``server.log``, ``server.out``, ``mvn.log``, ``format.log``),
``server.properties``, ``cluster.id``, ``broker.pid`` and ``broker.json``.

This file starts, stops and reports; its siblings hold the rest: kafka_base.py (paths,
ports, BrokerError, the lock, the logs), kafka_setup.py (jars, server.properties, format),
kafka_process.py (which process is the broker) and kafka_wire.py (is Kafka answering).

Importable (stdlib only, Python 3.11)::

    broker = load_module("tools/kafka/broker.py")   # e.g. importlib.util.spec_from_file_location
    bootstrap = broker.start(port=19092, controller_port=19093, home=tmp_path / "kafka")
    broker.stop(home=tmp_path / "kafka")
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the kafka_* siblings, also by path
from kafka_base import (
    DEFAULT_HOME,
    DEFAULT_PORT,
    HOST,
    JVM_OPTS,
    LOG4J_CONFIG,
    START_TIMEOUT,
    STOP_TIMEOUT,
    BrokerError,
    _first_error,
    _home,
    _java,
    _locked,
    _log,
    _log_size,
    _tail,
    default_kafka_version,
)
from kafka_process import _CHILDREN, _pid_alive, _state, broker_pid, is_running
from kafka_setup import _format, cluster_id, ensure_jars, server_properties
from kafka_wire import kafka_answers, port_in_use

__all__ = [
    "DEFAULT_HOME", "DEFAULT_PORT", "HOST", "BrokerError", "broker_pid", "cluster_id",
    "ensure_jars", "is_running", "kafka_answers", "main", "port_in_use", "restart",
    "server_properties", "start", "status", "stop",
]  # fmt: skip


def _wait_ready(pid: int, port: int, home: Path, timeout: float, log_from: int = 0) -> None:
    """Wait until the broker answers on ``port``; on failure show the log written since
    byte offset ``log_from`` of server.log."""
    server_log = home / "logs" / "server.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            err = _first_error(server_log, log_from)
            raise BrokerError(
                f"broker process {pid} exited during start-up"
                + (f"; first error:\n{err}" if err else "")
                + f"\n--- last lines of {server_log} ---\n{_tail(server_log, 60, log_from)}\n"
                f"--- last lines of {home / 'logs' / 'server.out'} ---\n"
                f"{_tail(home / 'logs' / 'server.out', 20)}"
            )
        if kafka_answers(port, timeout=1.0):
            return
        time.sleep(0.2)
    raise BrokerError(
        f"broker (pid {pid}) not ready on {HOST}:{port} after {timeout:.0f}s; it is left running "
        f"(stop it with: broker.py stop --home {home})\n"
        f"--- last lines of {server_log} ---\n{_tail(server_log, 60, log_from)}"
    )


def start(
    port: int = DEFAULT_PORT,
    controller_port: int | None = None,
    home: str | os.PathLike[str] | None = None,
    kafka_version: str | None = None,
    timeout: float = START_TIMEOUT,
    quiet: bool = False,
) -> str:
    """Start the broker (or find it already running) and return its bootstrap ``host:port``.

    ``controller_port`` defaults to ``port + 1``. Raises BrokerError on failure.
    """
    h = _home(home)
    cport = controller_port if controller_port is not None else port + 1
    bootstrap = f"{HOST}:{port}"
    t0 = time.monotonic()
    h.mkdir(parents=True, exist_ok=True)
    gitignore = h / ".gitignore"
    if not gitignore.exists():  # runtime data never belongs in git, wherever home is
        gitignore.write_text("# written by tools/kafka/broker.py\n*\n")
    with _locked(h / ".lock"):
        pid = broker_pid(h)
        if pid is not None:
            state_port = _state(h).get("port", port)
            if state_port != port:
                raise BrokerError(
                    f"the broker of {h} (pid {pid}) runs on port {state_port}, not {port}; "
                    "stop it first"
                )
            _wait_ready(pid, port, h, timeout)
            _log(f"found a broker already running on {bootstrap} (pid {pid})", quiet)
            return bootstrap
        if kafka_answers(port):
            _log(f"found a broker already running on {bootstrap}", quiet)
            return bootstrap
        for p in (port, cport):
            if port_in_use(p):
                raise BrokerError(
                    f"{HOST}:{p} is in use by something that is not a ready Kafka broker"
                )

        version = kafka_version or default_kafka_version()
        lib = ensure_jars(h, version, quiet)
        logs = h / "logs"
        data = h / "data"
        logs.mkdir(parents=True, exist_ok=True)
        data.mkdir(parents=True, exist_ok=True)
        (h / "server.properties").write_text(server_properties(port, cport, data))
        _format(h, lib, quiet)

        cmd = [
            _java(), *JVM_OPTS, *os.environ.get("KAFKA_DEV_JVM_OPTS", "").split(),
            f"-Dkafka.logs.dir={logs}", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp", f"{lib}/*", "kafka.Kafka", str(h / "server.properties"),
        ]  # fmt: skip
        log_from = _log_size(logs / "server.log")
        with open(logs / "server.out", "wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=h, start_new_session=True,
            )  # fmt: skip
        _CHILDREN[proc.pid] = proc
        (h / "broker.pid").write_text(f"{proc.pid}\n")
        (h / "broker.json").write_text(
            json.dumps(
                {"pid": proc.pid, "port": port, "controller_port": cport,
                 "bootstrap": bootstrap, "kafka_version": version},
                indent=2,
            ) + "\n"
        )  # fmt: skip
        _wait_ready(proc.pid, port, h, timeout, log_from)
    _log(
        f"Kafka {version} ready on {bootstrap} (pid {proc.pid}, home {h}) "
        f"in {time.monotonic() - t0:.1f}s",
        quiet,
    )
    return bootstrap


def stop(
    home: str | os.PathLike[str] | None = None, timeout: float = STOP_TIMEOUT, quiet: bool = False
) -> bool:
    """SIGTERM the broker started from ``home``, wait ``timeout`` s, then SIGKILL.

    Returns True if a broker was stopped, False if none was running.
    """
    h = _home(home)
    with _locked(h / ".lock"):
        pid = broker_pid(h)
        if pid is None:
            (h / "broker.pid").unlink(missing_ok=True)
            _log(f"no broker running from {h}", quiet)
            return False
        t0 = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = t0 + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        how = "stopped"
        if _pid_alive(pid):
            how = f"killed (no exit {timeout:.0f}s after SIGTERM)"
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # start_new_session: pgid == pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            end = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < end:
                time.sleep(0.1)
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1)
        (h / "broker.pid").unlink(missing_ok=True)
        _log(f"broker (pid {pid}) {how} in {time.monotonic() - t0:.1f}s", quiet)
        return True


def restart(
    port: int = DEFAULT_PORT,
    controller_port: int | None = None,
    home: str | os.PathLike[str] | None = None,
    kafka_version: str | None = None,
    timeout: float = START_TIMEOUT,
    quiet: bool = False,
) -> str:
    stop(home=home, quiet=quiet)
    return start(port, controller_port, home, kafka_version, timeout, quiet)


def status(
    home: str | os.PathLike[str] | None = None, port: int | None = None, quiet: bool = False
) -> bool:
    """Print and return whether a broker is running (from ``home``, or answering on ``port``)."""
    h = _home(home)
    st = _state(h)
    port = port if port is not None else st.get("port", DEFAULT_PORT)
    pid = broker_pid(h)
    if pid is not None:
        ready = "ready" if kafka_answers(port) else "not answering yet"
        _log(f"running: pid {pid}, {HOST}:{port} ({ready}), Kafka {st.get('kafka_version', '?')}, "
             f"home {h}", quiet)  # fmt: skip
        return True
    if kafka_answers(port):
        _log(f"running: a Kafka broker answers on {HOST}:{port} (not started from {h})", quiet)
        return True
    _log(f"not running (home {h}, port {port})", quiet)
    return False


# --------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Single-node Kafka (KRaft) broker for development.")
    ap.add_argument("command", choices=["start", "stop", "status", "restart"])
    ap.add_argument("--port", type=int, default=None, help="client port (default 9092)")
    ap.add_argument("--controller-port", type=int, default=None, help="default: port + 1")
    ap.add_argument("--home", default=None, help=f"state dir (default {DEFAULT_HOME})")
    ap.add_argument("--kafka-version", default=None, help="default: pom.xml's kafka.version")
    ap.add_argument("--timeout", type=float, default=START_TIMEOUT, help="start timeout, s")
    args = ap.parse_args(argv)
    port = args.port if args.port is not None else DEFAULT_PORT
    try:
        if args.command == "start":
            start(port, args.controller_port, args.home, args.kafka_version, args.timeout)
        elif args.command == "stop":
            stop(args.home)
        elif args.command == "restart":
            restart(port, args.controller_port, args.home, args.kafka_version, args.timeout)
        else:
            return 0 if status(args.home, args.port) else 1
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
