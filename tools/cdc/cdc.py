#!/usr/bin/env python3
"""Change data capture for development and tests: a local PostgreSQL (the monolith's
database, with the outbox table) and a Kafka Connect worker running Debezium's PostgreSQL
connector with its outbox EventRouter, publishing each outbox row to coach's topics.

No Docker: PostgreSQL is Debian's `postgresql-15` (its cluster lives in ``<home>/pg``), and
the Connect worker's jars come from Maven Central through ``connect-pom.xml`` (the worker)
and ``debezium-pom.xml`` (the connector's plugin folder), like tools/kafka/broker.py.

CLI::

    python3 tools/cdc/cdc.py start|stop|status [--home DIR]

``start`` starts PostgreSQL on 127.0.0.1:5433 (COACH_CDC_PG_PORT chooses another; a port held
by another checkout's cluster is refused) (user ``postgres``, database ``monolith`` with the
outbox table and its publication), then Connect (REST on 127.0.0.1:8083) with one
connector routing aggregatetype ``exercise`` to COACH_TOPIC_EXERCISES and ``workout`` to
COACH_TOPIC_WORKOUTS (``fitness.exercises`` / ``fitness.workouts`` by default) on
COACH_KAFKA_BOOTSTRAP_SERVERS (127.0.0.1:9092), and returns once the connector's task runs.
The topics must exist (the worker does not create topics: ``coach topics create``).

This file is the CLI; its siblings hold the rest: cdc_base.py (paths, ports, CdcError),
cdc_postgres.py (the cluster, psql, databases), cdc_connectors.py (the connector's settings,
Connect's REST API) and cdc_connect.py (the worker's jars and process).

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
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the cdc_* siblings, also by path
from cdc_base import (
    DATABASE,
    DEFAULT_HOME,
    HOST,
    PG_BIN,
    PG_PORT,
    REST_PORT,
    CdcError,
    _home,
    _log,
    pg_port,
)
from cdc_connect import connect_pid, ensure_jars, start_connect, stop_connect
from cdc_connectors import connector_config, connector_running, register, unregister, wait_running
from cdc_postgres import (
    _pg_dirs,
    _pg_root,
    create_database,
    drop_database,
    port_answers,
    postgres_running,
    psql,
    running_port,
    start_postgres,
    stop_postgres,
)

# What tests and bench use when they load this file by path: the siblings' names, re-exported.
__all__ = [
    "DATABASE", "HOST", "PG_BIN", "PG_PORT", "REST_PORT", "CdcError", "_pg_dirs", "_pg_root",
    "connect_pid", "connector_config", "connector_running", "create_database", "drop_database",
    "ensure_jars", "main", "pg_port", "port_answers", "postgres_running", "psql", "register",
    "running_port", "start", "start_connect", "start_postgres", "stop", "stop_connect",
    "stop_postgres", "unregister", "wait_running",
]  # fmt: skip


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
        f"CDC ready: PostgreSQL {HOST}:{pg_port()} (database {DATABASE}, user postgres), "
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
