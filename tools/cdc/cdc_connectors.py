"""Debezium's outbox connector: its settings (`connector_config`; the compose stack's
deploy/cdc/connector-config.json holds the same, tests/unit/test_cdc_config.py checks it) and
Kafka Connect's REST API (add, remove, wait until a task runs). Standard library only;
tools/cdc/cdc.py imports it."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from cdc_base import (
    DATABASE,
    HOST,
    PUBLICATION,
    REST_PORT,
    START_TIMEOUT,
    CdcError,
)
from cdc_base import (
    pg_port as base_pg_port,
)


def connector_config(
    name: str,
    *,
    dbname: str = DATABASE,
    topics: tuple[str, ...] = ("fitness.exercises", "fitness.workouts", "fitness.erasures"),
    pg_port: int | None = None,
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
        "database.port": str(pg_port if pg_port is not None else base_pg_port()),
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
