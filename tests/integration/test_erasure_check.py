"""`coach erasure check` (store/erasure_check.py): what a projection still holds of a user."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from coach.cli import main
from consumer.commit import commit_records
from consumer.handlers import Context
from consumer.records import Record
from store.db import connect, transaction
from store.erasure import erase_user
from store.erasure_check import remains
from store.instants import now_us
from tests.conftest import env_of
from tests.factories import completed, key_of, value_of

ROLES = {"wo": "workouts"}


def _user_with_rows(conn) -> None:  # type: ignore[no-untyped-def]
    done = completed("w1", "u-1", datetime.now(UTC) - timedelta(hours=2), [(3, 20.0, 5)])
    commit_records(
        conn,
        [
            Record("wo", 0, 0, key_of(done), value_of(done)),
            Record("wo", 0, 1, b"u-1", b'{"broken": "u-1"'),  # a dead letter keyed by the user
        ],
        roles=ROLES,
        ctx=Context(now_us=now_us()),
    )


def test_everything_of_a_user_not_erased_is_counted(db_path):
    conn = connect(db_path)
    _user_with_rows(conn)
    found = remains(conn, user_id="u-1")
    assert (found.erased_at_us, found.workouts, found.dead_letters) == (None, 1, 1)
    assert not found.erased
    assert remains(conn, user_id="u-2").workouts == 0


def test_an_applied_erasure_leaves_nothing(db_path):
    conn = connect(db_path)
    _user_with_rows(conn)
    with transaction(conn):
        erase_user(conn, user_id="u-1", erased_at_us=now_us(), now_us=now_us())
    found = remains(conn, user_id="u-1")
    assert found.erased and (found.workouts, found.performances, found.dead_letters) == (0, 0, 0)


def test_the_command_exits_1_until_the_user_is_erased_then_0(settings):
    conn = connect(settings.db_path)
    _user_with_rows(conn)
    out = CliRunner().invoke(main, ["erasure", "check", "u-1"], env=env_of(settings))
    assert out.exit_code == 1 and json.loads(out.stdout)["erased"] is False
    assert "not erased here yet" in out.stderr
    with transaction(conn):
        erase_user(conn, user_id="u-1", erased_at_us=now_us(), now_us=now_us())
    conn.close()
    out = CliRunner().invoke(main, ["erasure", "check", "u-1"], env=env_of(settings))
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["erased"] is True
