"""What a broker's home needs before it starts: the jars (Maven, into ``<home>/lib``, its
downloads in ``<home>/m2``), server.properties, the cluster id and the formatted KRaft data
folder. Standard library only; tools/kafka/broker.py imports it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from kafka_base import (
    FETCH_TIMEOUT,
    HERE,
    HOST,
    LOG4J_CONFIG,
    POM,
    BrokerError,
    _home,
    _java,
    _locked,
    _log,
    _tail,
    default_kafka_version,
)


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
