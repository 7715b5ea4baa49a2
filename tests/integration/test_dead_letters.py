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


def _binary(event):  # type: ignore[no-untyped-def]
    """A binary-mode record's headers and value (attributes in ce_* headers)."""
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event["id"].encode()),
        ("ce_source", event["source"].encode()),
        ("ce_type", event["type"].encode()),
        ("content-type", b"application/json"),
    ]
    return headers, json.dumps(event["data"]).encode()


def test_a_binary_mode_dead_letter_keeps_its_headers_and_a_retry_uses_them(db_path):
    """The attributes of a binary-mode event are in its headers: the letter keeps them, the
    list shows them, a retry decodes with them; erasing the user drops them."""
    conn = connect(db_path)
    good = completed("w1", "u-7", datetime.now(UTC) - timedelta(hours=1), [(3, 20.0, 5)])
    headers, value = _binary(good)
    with transaction(conn):  # as if it had failed for a cause since fixed
        dead_letters.add_dead_letter(
            conn,
            topic="wo",
            partition=0,
            offset=4,
            key=b"u-7",
            value=value,
            error="old cause",
            failed_at_us=now_us(),
            headers=headers,
        )
    broken_headers, _ = _binary(good)
    commit_records(
        conn,
        [Record("wo", 1, 9, b"u-8", b'{"user_id": "u-8"}', None, broken_headers)],
        roles=ROLES,
        ctx=Context(now_us=now_us()),
    )
    listed = {letter["offset"]: letter for letter in list_letters(conn)}
    assert listed[4]["headers"]["ce_type"] == "fitness.workout.completed"
    assert "binary-mode" in listed[9]["error"] and listed[9]["headers"]["ce_specversion"] == "1.0"

    result = retry(conn, roles=ROLES)

    assert (result.applied, result.still_failing) == (1, 1)
    assert reads.stats(conn)["workouts"] == 1
    from store.erasure import redact_dead_letters

    with transaction(conn):
        assert redact_dead_letters(conn, users={"u-8"}, now_us=now_us()) == 1
    [left] = dead_letters.oldest(conn)
    assert left.headers == () and left.key is None and left.value is None
    conn.close()
