"""Dead letters: kept with their reason, listed, and applied again after a fix."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from coach.cli import main
from consumer.commit import commit_records
from consumer.dead_letters import list_letters, retry
from consumer.handlers import Context
from consumer.records import Record
from store import dead_letters, reads
from store.db import connect, transaction
from store.instants import now_us
from tests.conftest import env_of
from tests.factories import completed, key_of, value_of

ROLES = {"ex": "exercises", "wo": "workouts"}


def test_retry_applies_what_now_decodes_and_keeps_the_rest(db_path):
    """A letter that applies now is removed and its rows appear; a broken one stays, with
    its reason brought up to date."""
    conn = connect(db_path)
    good = completed("w1", 7, datetime.now(UTC) - timedelta(hours=1), [(3, 20.0, 5)])
    with transaction(conn):
        # As an older coach would have left them: a record it could not understand...
        dead_letters.add_dead_letter(
            conn,
            topic="wo",
            partition=0,
            offset=4,
            key=key_of(good),
            value=value_of(good),
            error="old coach: unknown shape",
            failed_at_us=now_us(),
        )
    # ... and one that is broken for good, dead-lettered by this coach.
    commit_records(
        conn, [Record("wo", 1, 9, b"7", b"{broken")], roles=ROLES, ctx=Context(now_us=now_us())
    )

    result = retry(conn, roles=ROLES)

    assert (result.applied, result.still_failing) == (1, 1)
    [left] = list_letters(conn)
    assert (left["partition"], left["offset"], left["value"]) == (1, 9, "{broken")
    assert "not JSON" in left["error"]
    assert reads.stats(conn)["workouts"] == 1
    assert reads.positions(conn) == {("wo", 1): 10}  # retry does not move offsets
    conn.close()


def test_cli_lists_dead_letters_as_json_lines(settings):
    conn = connect(settings.db_path)
    commit_records(
        conn,
        [Record(settings.topic_workouts, 0, 0, b"7", b"\xff\x00")],
        roles={settings.topic_workouts: "workouts"},
        ctx=Context(now_us=now_us()),
    )
    conn.close()
    out = CliRunner().invoke(main, ["dead-letters", "list"], env=env_of(settings))
    assert out.exit_code == 0, out.output
    [line] = out.output.strip().splitlines()
    letter = json.loads(line)
    assert letter["value"] == "0xff00" and letter["offset"] == 0 and letter["error"]
    retried = CliRunner().invoke(main, ["dead-letters", "retry"], env=env_of(settings))
    assert "applied 0, still failing 1" in retried.output
