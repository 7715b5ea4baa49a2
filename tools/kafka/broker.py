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

Importable (stdlib only, Python 3.11)::

    broker = load_module("tools/kafka/broker.py")   # e.g. importlib.util.spec_from_file_location
    bootstrap = broker.start(port=19092, controller_port=19093, home=tmp_path / "kafka")
    broker.stop(home=tmp_path / "kafka")
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
DEFAULT_HOME = REPO_ROOT / ".kafka"
DEFAULT_PORT = 9092
HOST = "127.0.0.1"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
FETCH_TIMEOUT = 900.0
JVM_OPTS = [
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
]


class BrokerError(RuntimeError):
    """Raised when the broker cannot be fetched, formatted, started or stopped."""


def _log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# paths and small helpers


def _home(home: str | os.PathLike[str] | None) -> Path:
    return Path(home).expanduser().resolve() if home is not None else DEFAULT_HOME


def default_kafka_version() -> str:
    """The version pinned in pom.xml (``<kafka.version>``); env KAFKA_VERSION overrides it."""
    env = os.environ.get("KAFKA_VERSION")
    if env:
        return env
    m = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", POM.read_text())
    if not m:
        raise BrokerError(f"no <kafka.version> in {POM}")
    return m.group(1)


def _tail(path: Path, lines: int = 60, since: int = 0) -> str:
    """Last ``lines`` lines of ``path``, reading only from byte offset ``since``."""
    try:
        with open(path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
    except OSError:
        return f"(no {path})"
    return "\n".join(text.splitlines()[-lines:])


def _first_error(path: Path, since: int = 0) -> str:
    """The first ERROR/FATAL log line written since ``since`` and the line after it."""
    text = _tail(path, 10**6, since).splitlines()
    for i, line in enumerate(text):
        if "] ERROR " in line or "] FATAL " in line:
            return "\n".join(text[i : i + 2])
    return ""


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, so concurrent start/stop calls on one home don't race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------
# process bookkeeping

# Popen objects of brokers started by this Python process, keyed by pid: lets stop() reap its
# own children (otherwise a SIGTERMed child stays a zombie and looks alive to kill(pid, 0)).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _pid_alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)  # reap if it happens to be our child
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


def _is_our_broker(pid: int, home: Path) -> bool:
    """The pid is a live kafka.Kafka process started with this home's server.properties."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the pid file
    args = [a.decode(errors="replace") for a in cmdline]
    return "kafka.Kafka" in args and str(home / "server.properties") in args


def broker_pid(home: str | os.PathLike[str] | None = None) -> int | None:
    """Pid of the broker started from ``home`` if it is still running, else None."""
    h = _home(home)
    pidfile = h / "broker.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    if _is_our_broker(pid, h):
        return pid
    return None


def is_running(home: str | os.PathLike[str] | None = None) -> bool:
    """True when the broker process started from ``home`` is alive (it may still be starting)."""
    return broker_pid(home) is not None


def _state(home: Path) -> dict:
    try:
        return json.loads((home / "broker.json").read_text())
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------------------------
# Kafka wire probe (ApiVersions v0): proves a Kafka broker is answering requests, not merely
# that the port is bound (the acceptor binds before the broker is unfenced).


def kafka_answers(port: int = DEFAULT_PORT, host: str = HOST, timeout: float = 2.0) -> bool:
    """True when ``host:port`` answers an ApiVersions request without error."""
    client_id = b"broker.py"
    correlation_id = 0x6B61
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(sock, 4)
            (size,) = struct.unpack(">i", head)
            if size < 6 or size > 1 << 20:
                return False
            resp = _recv_exact(sock, size)
    except OSError:
        return False
    corr, error_code = struct.unpack(">ih", resp[:6])
    return corr == correlation_id and error_code == 0


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# jars


def ensure_jars(
    home: str | os.PathLike[str] | None = None,
    kafka_version: str | None = None,
    quiet: bool = False,
) -> Path:
    """Fill ``<home>/lib`` with the broker's runtime classpath, unless already there.

    Re-fetches when the stamp (kafka version + pom.xml hash) differs. Maven's output goes to
    ``<home>/logs/mvn.log`` and is shown (tail) only on failure.
    """
    h = _home(home)
    version = kafka_version or default_kafka_version()
    lib = h / "lib"
    stamp_file = lib / ".stamp"
    stamp = json.dumps(
        {"kafka_version": version, "pom_sha256": hashlib.sha256(POM.read_bytes()).hexdigest()},
        sort_keys=True,
    )
    with _locked(h / ".lib.lock"):
        if stamp_file.exists() and stamp_file.read_text() == stamp and any(lib.glob("kafka_*.jar")):
            return lib
        mvn = shutil.which("mvn")
        if not mvn:
            raise BrokerError("mvn not found on PATH (needed once to fetch the Kafka jars)")
        logs = h / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        tmp = h / "lib.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        mvn_log = logs / "mvn.log"
        cmd = [
            mvn, "-B", "-f", str(POM),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
            f"-Dkafka.version={version}",
            # Maven's downloads stay in the home too (not ~/.m2): make clean-all removes them.
            f"-Dmaven.repo.local={h / 'm2'}",
        ]  # fmt: skip
        _log(f"fetching Kafka {version} jars with Maven into {lib} ...", quiet)
        t0 = time.monotonic()
        with open(mvn_log, "wb") as out:
            try:
                rc = subprocess.run(
                    cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    timeout=FETCH_TIMEOUT, cwd=HERE,
                ).returncode  # fmt: skip
            except subprocess.TimeoutExpired:
                rc = -1
        if rc != 0 or not any(tmp.glob("kafka_*.jar")):
            raise BrokerError(
                f"Maven failed to fetch Kafka {version} (rc={rc}); command: {' '.join(cmd)}\n"
                f"--- last lines of {mvn_log} ---\n{_tail(mvn_log, 40)}"
            )
        (tmp / ".stamp").write_text(stamp)
        old = h / "lib.old"
        shutil.rmtree(old, ignore_errors=True)
        if lib.exists():
            lib.rename(old)
        tmp.rename(lib)
        shutil.rmtree(old, ignore_errors=True)
        _log(f"fetched {len(list(lib.glob('*.jar')))} jars in {time.monotonic() - t0:.1f}s", quiet)
    return lib


# --------------------------------------------------------------------------------------------
# config, cluster id, format


def server_properties(port: int, controller_port: int, data_dir: Path) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "3",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "share.coordinator.state.topic.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.enable": "true",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(4 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4",
    }
    lines = ["# Written by tools/kafka/broker.py on every start; edits are overwritten."]
    lines += [f"{k}={v}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


def _new_cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def cluster_id(home: Path) -> str:
    """Cluster id of an already formatted data dir, else the stored one, else a new one."""
    meta = home / "data" / "meta.properties"
    if meta.exists():
        m = re.search(r"^cluster\.id=(\S+)", meta.read_text(), re.M)
        if m:
            (home / "cluster.id").write_text(m.group(1) + "\n")
            return m.group(1)
    f = home / "cluster.id"
    if f.exists() and f.read_text().strip():
        return f.read_text().strip()
    cid = _new_cluster_id()
    f.write_text(cid + "\n")
    return cid


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise BrokerError("java not found (need Java 17+)")
    return java


def _format(home: Path, lib: Path, quiet: bool) -> None:
    if (home / "data" / "meta.properties").exists():
        return  # already formatted; saves a JVM start
    cid = cluster_id(home)
    fmt_log = home / "logs" / "format.log"
    cmd = [
        _java(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        f"-Dkafka.logs.dir={home / 'logs'}", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        "-cp", f"{lib}/*", "kafka.tools.StorageTool",
        "format", "-t", cid, "-c", str(home / "server.properties"), "--ignore-formatted",
    ]  # fmt: skip
    with open(fmt_log, "wb") as out:
        rc = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120
        ).returncode
    if rc != 0:
        raise BrokerError(f"formatting {home / 'data'} failed (rc={rc}):\n{_tail(fmt_log)}")
    _log(f"formatted {home / 'data'} (cluster id {cid})", quiet)


# --------------------------------------------------------------------------------------------
# start / stop


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
