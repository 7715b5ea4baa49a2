"""Dead letters: kept with their reason, listed, and applied again after a fix."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
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
    assert retried.exit_code == 1


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


# -- the commands of the procedure (issue 33.6) ---------------------------------------------------


def _letters(settings, count: int) -> None:  # type: ignore[no-untyped-def]
    """`count` broken records of the workouts topic, dead-lettered one second apart (offset
    n stored at n seconds): the last one is the newest."""
    conn = connect(settings.db_path)
    start = now_us() - 3600 * 1_000_000
    for n in range(count):
        commit_records(
            conn,
            [Record(settings.topic_workouts, 0, n, b"7", b"{broken " + str(n).encode())],
            roles={settings.topic_workouts: "workouts"},
            ctx=Context(now_us=start + n * 1_000_000),
        )
    conn.close()


def _run(settings, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["dead-letters", *args], env=env_of(settings))


def test_retry_exits_1_while_a_letter_still_fails(settings):
    """Issue 33.6: `retry` exited 0 with letters still failing; now 1, saying how many."""
    _letters(settings, 3)
    out = _run(settings, "retry")
    assert out.exit_code == 1, out.output
    assert "3 dead letter(s) still fail" in out.stderr
    assert out.stdout.strip() == (
        "applied 0, still failing 3, redacted (erased users, left as they are) 0"
    )


def test_retry_exits_0_when_every_letter_applies(settings):
    conn = connect(settings.db_path)
    good = completed("w1", 7, datetime.now(UTC) - timedelta(hours=1), [(3, 20.0, 5)])
    with transaction(conn):
        dead_letters.add_dead_letter(
            conn,
            topic=settings.topic_workouts,
            partition=0,
            offset=0,
            key=key_of(good),
            value=value_of(good),
            error="old coach",
            failed_at_us=now_us(),
        )
    conn.close()
    out = _run(settings, "retry")
    assert out.exit_code == 0, out.output
    assert "applied 1, still failing 0" in out.stdout


def test_list_shows_the_newest_first_and_says_when_it_stops(settings):
    """Issue 33.6: `list` showed the oldest 100 and stopped silently; now the newest come
    first, and stderr says how many were left out and how to see them."""
    _letters(settings, 5)
    out = _run(settings, "list", "--limit", "2")
    assert out.exit_code == 0, out.output
    assert [json.loads(line)["offset"] for line in out.stdout.splitlines()] == [4, 3]
    assert "showing 2 of 5 dead letters" in out.stderr and "--all" in out.stderr
    every = _run(settings, "list", "--all")
    assert [json.loads(line)["offset"] for line in every.stdout.splitlines()] == [4, 3, 2, 1, 0]
    assert every.stderr == ""


def test_the_listed_fields_are_the_ones_the_docs_name(settings):
    """Issue 33.6: the docs named fields (`reason`, `time`) the list does not print.
    Its row of `coach dead-letters list` names each field in backquotes, in order."""
    from consumer.dead_letters import FIELDS
    from tests.unit.test_docs import COMMANDS_PAGE

    _letters(settings, 1)
    [line] = _run(settings, "list").stdout.splitlines()
    row = next(r for r in COMMANDS_PAGE.splitlines() if r.startswith("| `coach dead-letters list"))
    described = row.split("|")[2]
    named = re.findall(r"`([a-z_]+)`", described)  # every name in backquotes is a field
    assert list(json.loads(line)) == list(FIELDS) == named, (named, row)


def test_inspect_prints_one_letter_or_says_there_is_none(settings):
    _letters(settings, 2)
    conn = connect(settings.db_path)
    [newest, _] = dead_letters.newest(conn)
    conn.close()
    out = _run(settings, "inspect", str(newest.id))
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["value"] == "{broken 1"
    missing = _run(settings, "inspect", "999")
    assert missing.exit_code == 1 and "no dead letter with id 999" in missing.output


@pytest.mark.slow  # `make check` skips it
def test_resolve_removes_the_letters_and_logs_who_when_and_why(settings):
    """Issue 33.6: a letter could not be resolved, so the phase-1 gate "the list is empty"
    could never pass. `resolve` removes the ids given, logs who, when and why (a real coach
    process: its log), prints each letter; the list is then empty."""
    from tests.e2e.helpers import coach

    _letters(settings, 2)
    conn = connect(settings.db_path)
    ids = [str(letter.id) for letter in dead_letters.newest(conn)]
    conn.close()
    out = coach(
        settings, "dead-letters", "resolve", *ids, "--reason", "re-published as w9", "--by", "ana"
    )
    log = out.stderr.decode()
    assert len(re.findall(r"resolved by ana at \d{4}-\d\d-\d\dT\S+Z: re-published as w9", log)) == 2
    assert "resolved 2 dead letter(s)" in log
    printed = [json.loads(line) for line in out.stdout.splitlines()]
    assert sorted(p["offset"] for p in printed) == [0, 1]
    assert all(p["resolved_by"] and p["resolved_at"] for p in printed)
    assert coach(settings, "dead-letters", "list").stdout == b""


def test_resolve_of_an_unknown_id_resolves_nothing(settings):
    """Bad input loses nothing: one id that names no letter, and none of them is removed."""
    _letters(settings, 2)
    conn = connect(settings.db_path)
    known = dead_letters.newest(conn)[0].id
    conn.close()
    out = _run(settings, "resolve", str(known), "424242", "--reason", "x")
    assert out.exit_code == 1
    assert "no dead letter with id 424242: nothing was resolved" in out.output
    assert len(json.loads("[" + ",".join(_run(settings, "list").stdout.splitlines()) + "]")) == 2
    blank = _run(settings, "resolve", str(known), "--reason", " ")
    assert blank.exit_code == 2 and "--reason" in blank.output
    without = _run(settings, "resolve", str(known))
    assert without.exit_code == 2
