"""Two checkouts on one machine never share a PostgreSQL by accident: a port held by
another checkout's cluster is refused with a message naming it (before, the tools took any
server answering on 5433 for their own, and one checkout's tests stopped it under the
other's), and the CDC tests' session moves to a port of its own."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cdc.conftest import cdc, session_pg_port
from tests.e2e.helpers import free_port

pytestmark = [pytest.mark.cdc]


@pytest.fixture
def other_checkout(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A cluster of another checkout's (its own home) on a port of its own."""
    home, port = tmp_path / "other" / ".cdc", free_port()
    cdc.start_postgres(home, port=port, quiet=True)
    try:
        yield home, port
    finally:
        cdc.stop_postgres(home, quiet=True)
        shutil.rmtree((home / "pg").resolve(), ignore_errors=True)


def test_a_port_held_by_another_checkouts_cluster_is_refused_not_taken(
    other_checkout, tmp_path, monkeypatch
):
    other_home, port = other_checkout
    mine = tmp_path / "mine" / ".cdc"
    assert cdc.postgres_running(other_home, port)
    assert not cdc.postgres_running(mine, port)  # something answers, but it is not mine
    with pytest.raises(cdc.CdcError) as refused:
        cdc.start_postgres(mine, port=port, quiet=True)
    message = str(refused.value)
    assert f"127.0.0.1:{port} is held by another PostgreSQL" in message, message
    assert str(cdc._pg_dirs(other_home)[0]) in message, message  # it names the other one
    assert "COACH_CDC_PG_PORT" in message, message
    assert cdc.running_port(mine) is None  # nothing of mine was started
    assert cdc.running_port(other_home) == port  # and the other one still runs

    # The CDC tests' session, configured for that port, takes another one instead.
    monkeypatch.setenv("COACH_CDC_PG_PORT", str(port))
    monkeypatch.setattr("tests.cdc.conftest.CDC_HOME", mine)
    chosen = session_pg_port()
    assert chosen != port and not cdc.port_answers(chosen)


def test_a_second_start_on_another_port_names_the_one_that_runs(other_checkout):
    home, port = other_checkout
    cdc.start_postgres(home, port=port, quiet=True)  # already running there: nothing to do
    with pytest.raises(cdc.CdcError, match=f"already runs on 127.0.0.1:{port}"):
        cdc.start_postgres(home, port=free_port(), quiet=True)


def test_the_port_setting_is_checked():
    with pytest.MonkeyPatch.context() as m:
        m.setenv("COACH_CDC_PG_PORT", "54x")
        with pytest.raises(cdc.CdcError, match="COACH_CDC_PG_PORT must be a port number"):
            cdc.pg_port()
        m.setenv("COACH_CDC_PG_PORT", "6543")
        assert cdc.pg_port() == 6543
        m.delenv("COACH_CDC_PG_PORT")
        assert cdc.pg_port() == 5433
