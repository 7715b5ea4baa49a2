"""Fixtures of the fault tests: a Kafka broker of the test's own, which it may stop."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, _load_local_broker


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
