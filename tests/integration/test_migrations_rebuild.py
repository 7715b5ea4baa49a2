"""Schema changes that cannot be made in place: an existing file is refused with a message
that says to replay; a new file gets the new schema directly."""

from __future__ import annotations

import sqlite3

import pytest

from store import migrations
from store.db import connect
from store.errors import NeedsReplay, SchemaTooNew


def register_rebuild_migration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register, for this test only, a migration that needs a rebuild."""
    monkeypatch.setattr(migrations, "MIGRATIONS", list(migrations.MIGRATIONS))
    monkeypatch.setattr(migrations, "REBUILDS", set(migrations.REBUILDS))

    @migrations.migration(rebuild=True)
    def m999_new_row_shape(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE new_shape (x INTEGER)")


@pytest.fixture
def rebuild_migration(monkeypatch):  # type: ignore[no-untyped-def]
    register_rebuild_migration(monkeypatch)


def test_an_existing_file_is_refused_with_the_replay_hint(tmp_path, monkeypatch):
    path = tmp_path / "coach.db"
    connect(path).close()  # at today's version
    register_rebuild_migration(monkeypatch)
    with pytest.raises(NeedsReplay, match="m999_new_row_shape cannot be applied in place"):
        connect(path)
    # Nothing was changed: the old version can still open it.
    monkeypatch.undo()
    connect(path).close()


def test_a_new_file_runs_every_migration(tmp_path, rebuild_migration):
    conn = connect(tmp_path / "fresh.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations.MIGRATIONS)
    conn.execute("SELECT x FROM new_shape")
    conn.close()


def test_a_file_of_a_newer_coach_is_refused(tmp_path, rebuild_migration):
    path = tmp_path / "newer.db"
    connect(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(migrations.MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(SchemaTooNew):
        connect(path)
