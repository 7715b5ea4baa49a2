"""Shared fixtures: settings, a fresh projection file, and a real Kafka broker."""

from __future__ import annotations

import importlib.util
import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings

# The session leaves no process or port of this checkout behind, and stops on SIGTERM.
pytest_plugins = ["tests.leftovers"]

REPO = Path(__file__).resolve().parent.parent
SECRET = "test-secret-" + "x" * 40
WRITER_TEST_TIMEOUT = 30
"""Seconds a test that waits on the writer may take (pytest-timeout): about 15 times the
slowest one's time on a loaded machine, and a hang (the writer raising on every try)
fails instead of stalling the suite or a mutation run."""


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a fresh projection file (created on first connect)."""
    return tmp_path / "coach.db"


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return Settings(db_path=db_path, jwt_secret=SECRET)


# -- the broker ---------------------------------------------------------------------------------


def _load_local_broker():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("kafka_broker", REPO / "tools/kafka/broker.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _docker_answers() -> bool:
    try:
        import docker  # comes with testcontainers

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka broker: COACH_KAFKA_BOOTSTRAP_SERVERS if set; else testcontainers' Kafka
    when a Docker engine answers; else the project's local broker (tools/kafka/broker.py).

    Never a silent skip: a test that needs a broker fails when none can be had.
    """
    configured = os.environ.get("COACH_KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    broker = _load_local_broker()
    # A broker that answers already (started by `make broker`, .ci/run or another checkout)
    # is left running; one this session starts is stopped at its end.
    started_here = not broker.is_running() and not broker.kafka_answers()
    try:
        bootstrap = broker.start(quiet=True)
    except broker.BrokerError as exc:
        pytest.fail(f"no Kafka broker could be started: {exc}")
    try:
        yield bootstrap
    finally:
        if started_here:
            broker.stop(quiet=True)


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, db_path: Path) -> Settings:
    """Settings on the real broker with topics of their own, so tests do not meet."""
    suffix = uuid.uuid4().hex[:10]
    return Settings(
        db_path=db_path,
        jwt_secret=SECRET,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_exercises=f"test.{suffix}.exercises",
        topic_workouts=f"test.{suffix}.workouts",
        topic_erasures=f"test.{suffix}.erasures",
        heartbeat_seconds=0.5,
        poll_timeout_ms=100,
    )


def env_of(settings: Settings) -> dict[str, str]:
    """The COACH_* environment that makes a subprocess see `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = ",".join(value)
        env[f"COACH_{name.upper()}"] = str(value)
    return env


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[tuple[Any, Path, int, str]]:
    """A local broker on ports and data of its own, so that the test can stop and restart it
    (the shared broker, COACH_KAFKA_BOOTSTRAP_SERVERS or not, is never touched). Yields the
    broker module, its home, its port and its bootstrap address."""
    broker = _load_local_broker()
    try:
        lib = broker.ensure_jars(REPO / ".kafka", quiet=True)  # fetched once, then reused
    except broker.BrokerError as exc:
        pytest.fail(f"no Kafka jars for a broker of the test's own: {exc}")
    home = tmp_path / "kafka"
    home.mkdir()
    (home / "lib").symlink_to(lib)
    port = 29092 + random.randint(0, 400) * 2
    try:
        bootstrap = broker.start(port=port, home=home, quiet=True)
    except broker.BrokerError as exc:
        pytest.fail(f"the test's own broker did not start: {exc}")
    try:
        yield broker, home, port, bootstrap
    finally:
        broker.stop(home=home, quiet=True)
