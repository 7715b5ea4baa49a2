"""Swapping projection files on a real file system with real SQLite files, and the api
following a swap."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from api.app import create_app
from replay.verify import compare
from store import files
from store.checks import checksums, integrity
from store.db import connect
from tests.factories import upserted
from tests.integration.conftest import bearer


def make_db(path: Path, value: int) -> None:
    conn = connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE name = 'catalog_version'", (value,))
    conn.close()


def version(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT value FROM meta WHERE name = 'catalog_version'").fetchone()[0]


def test_first_swap_backs_up_the_plain_file_then_links(tmp_path):
    live = tmp_path / "coach.db"
    make_db(live, 1)
    reader = connect(live, readonly=True)  # a process that has the old file open
    new = files.new_generation(live)
    make_db(new, 2)
    swapped = files.swap(live, new)
    assert live.is_symlink() and os.readlink(live) == new.name
    assert swapped.was_plain_file and swapped.backup is not None
    backup = connect(swapped.backup, readonly=True)
    assert version(backup) == 1
    # The old reader still reads its own file, consistently; new readers see the new one.
    assert version(reader) == 1
    fresh = connect(live, readonly=True)
    assert version(fresh) == 2
    for c in (reader, backup, fresh):
        c.close()


def test_later_swaps_keep_the_previous_generation_unless_told(tmp_path):
    live = tmp_path / "coach.db"
    first = files.new_generation(live)
    make_db(first, 1)
    files.swap(live, first)
    second = files.new_generation(live)
    make_db(second, 2)
    swapped = files.swap(live, second)
    assert swapped.backup == first and first.exists() and not swapped.was_plain_file
    third = files.new_generation(live)
    make_db(third, 3)
    swapped = files.swap(live, third, backup=False)
    assert swapped.backup is None and swapped.previous == second
    assert files.live_file(live) == third.resolve()


def test_swap_refuses_a_file_in_another_directory(tmp_path):
    (tmp_path / "a").mkdir()
    live = tmp_path / "coach.db"
    make_db(live, 1)
    other = tmp_path / "a" / "coach.db.x"
    make_db(other, 2)
    with pytest.raises(ValueError, match="same directory"):
        files.swap(live, other)


def test_open_live_pairs_the_connection_with_its_file(tmp_path):
    live = tmp_path / "coach.db"
    make_db(live, 1)
    conn, identity = files.open_live(live, connect)
    assert identity == files.identity(live)
    new = files.new_generation(live)
    make_db(new, 2)
    files.swap(live, new)
    assert files.identity(live) != identity
    conn.close()


def test_stale_builds_and_interrupted_swaps_are_found(tmp_path):
    live = tmp_path / "coach.db"
    make_db(live, 1)
    gen = files.new_generation(live)
    building = files.building_path(gen)
    make_db(building, 2)
    (tmp_path / "coach.db.other").write_text("not ours")
    assert building in files.stale_builds(live)
    assert tmp_path / "coach.db.other" not in files.stale_builds(live)
    # Killed after the final rename, before the swap: the generation is an orphan.
    files.mark_swapping(live, gen)
    conn = connect(building)
    files.finish(conn, building)
    assert files.interrupted_swap(live) == gen
    # Killed after the swap: the marked generation is live and must stay.
    files.swap(live, gen)
    assert files.interrupted_swap(live) is None
    assert gen.exists()


def test_replay_lock_lets_one_replay_run(tmp_path):
    live = tmp_path / "coach.db"
    with files.replay_lock(live), pytest.raises(files.ReplayRunning), files.replay_lock(live):
        pass
    with files.replay_lock(live):
        pass


def test_checksums_ignore_when_things_were_applied_but_not_what(tmp_path, project, settings):
    project([upserted(1), upserted(2)])
    copy = tmp_path / "copy.db"
    src = connect(settings.db_path)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    dst.close()
    other = connect(copy)
    other.execute("UPDATE consumer_status SET heartbeat_at_us = 123")
    assert checksums(src) == checksums(other)
    assert compare(src, other, users=10).equal
    other.execute("UPDATE exercises SET name = 'changed' WHERE id = 2")
    result = compare(src, other, users=10)
    assert not result.equal
    assert any(d.startswith("exercises:") for d in result.differences)
    assert "the catalog the api would serve differs" in result.differences
    assert integrity(other) == []
    src.close()
    other.close()


def test_the_api_follows_a_swap_and_forgets_the_old_files_caches(settings, project):
    from fastapi.testclient import TestClient

    project([upserted(i) for i in range(1, 9)])
    app = create_app(settings.model_copy(update={"status_cache_seconds": 60}))
    with TestClient(app) as client:
        first = client.get("/fitness/wod", headers=bearer("7"))
        assert first.status_code == 200
        assert {e["id"] for e in first.json()["exercises"]} <= set(range(1, 9))
        # A rebuilt projection with another catalog (and a lower catalog version).
        new = files.new_generation(settings.db_path)
        conn = connect(new)
        conn.close()
        other_settings = settings.model_copy(update={"db_path": new})
        _project_into(other_settings, [upserted(i) for i in range(100, 108)])
        files.swap(settings.db_path, new)
        assert _check(app), "the watcher did not notice the swap"
        after = client.get("/fitness/wod", headers=bearer("7"))
        assert after.status_code == 200
        assert {e["id"] for e in after.json()["exercises"]} <= set(range(100, 108))


def _project_into(settings, events):  # type: ignore[no-untyped-def]
    from consumer.commit import commit_records
    from consumer.handlers import Context
    from consumer.records import Record
    from store.instants import now_us
    from tests.factories import key_of, value_of

    conn = connect(settings.db_path)
    commit_records(
        conn,
        [Record("ex", 0, i, key_of(e), value_of(e)) for i, e in enumerate(events)],
        roles={"ex": "exercises", "wo": "workouts"},
        ctx=Context(now_us=now_us()),
    )
    conn.close()


def _check(app) -> bool:  # type: ignore[no-untyped-def]
    return app.state.projection_watcher.check()  # type: ignore[no-any-return]


def test_checksums_see_a_change_of_type_as_well_as_of_value(tmp_path):
    """A blob that became text (or an integer that became a real) is a difference."""
    conn = connect(tmp_path / "p.db")
    conn.execute(
        "INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises, n_exercises)"
        " VALUES ('7', 'w1', 1, ?, 1)",
        (b"[[1,3,8,40.0]]",),
    )
    before = checksums(conn)["workouts"]
    conn.execute("UPDATE workouts SET exercises = CAST(exercises AS TEXT)")
    as_text = checksums(conn)["workouts"]
    conn.execute("UPDATE workouts SET exercises = CAST(exercises AS BLOB), completed_at_us = 1.5")
    as_real = checksums(conn)["workouts"]
    conn.execute("UPDATE workouts SET completed_at_us = 1")
    assert checksums(conn)["workouts"] == before
    assert len({before.sha256, as_text.sha256, as_real.sha256}) == 3
    conn.close()


def test_only_the_names_coach_gives_are_taken_for_its_files(tmp_path):
    """Beside the live file, a snapshot, another replica's file or an operator's copy named
    `coach.db.*` is neither a backup (the erasure pass never opens or writes it) nor a stale
    build (a replay never removes it); coach's own generations, backups and builds are."""
    from consumer.backups import BackupEraser
    from store import snapshot
    from tests.factories import completed, user_erased
    from tests.integration.test_erasure import NOW, NOW_US, WO, Topic, apply

    live = tmp_path / "coach.db"
    wo = Topic(WO)
    conn = connect(live)
    apply(conn, [wo.record(completed("w1", "u-1", NOW, [(1, 5.0, 5)]), at=NOW)])
    gen = files.new_generation(live)
    backup = gen.with_name(gen.name + "-1.backup")
    building = files.building_path(files.new_generation(live))
    for path in (gen, backup, building):
        connect(path).close()
    theirs = [
        snapshot.take(live, tmp_path / "coach.db.snapshot", now_us=1).path,
        tmp_path / "coach.db.replica-b",
        tmp_path / "coach.db.mine.building",
        tmp_path / "coach.db.old.backup",
    ]
    for path in theirs[1:]:
        path.write_bytes(theirs[0].read_bytes())
    before = {p: p.read_bytes() for p in theirs}

    assert files.other_generations(live) == sorted([gen, backup])
    assert files.stale_builds(live) == [building]
    apply(conn, [wo.record(user_erased("u-1"), at=NOW)])
    assert BackupEraser(live).run(conn, NOW_US) == 2  # the erasure, recorded in each of the two
    conn.close()
    assert {p: p.read_bytes() for p in theirs} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(("-wal", "-shm"))) == []


def test_a_difference_names_its_tables_and_a_few_keys_of_the_rows(tmp_path):
    """What `coach replay` prints as `differs:` says which rows: for each table that differs,
    up to three keys, each only in live, only in rebuilt, or different in both."""
    live = connect(tmp_path / "live.db")
    rows = [(u, f"w{i}", 1_000 + i) for u in ("7", "8") for i in range(4)]
    live.executemany(
        "INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises, n_exercises)"
        " VALUES (?, ?, ?, '[[1,3,8,40.0]]', 1)",
        rows,
    )
    live.execute(
        "INSERT INTO exercises (id, name, description, difficulty, revision, default_weight,"
        " default_reps) VALUES (1, 'Squat', '', 3, 1, 20.0, 8), (2, 'Row', '', 2, 1, 20.0, 8)"
    )
    rebuilt = connect(tmp_path / "rebuilt.db")
    live.backup(rebuilt)
    rebuilt.execute("DELETE FROM workouts WHERE user_id = '7' AND workout_id = 'w1'")
    rebuilt.execute("UPDATE workouts SET completed_at_us = 5 WHERE user_id = '8'")
    rebuilt.execute(
        "INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises, n_exercises)"
        " VALUES ('70', 'w0', 1, '[[1,3,8,40.0]]', 1)"
    )
    rebuilt.execute("UPDATE exercises SET name = 'Front Squat' WHERE id = 1")
    result = compare(live, rebuilt, users=10)
    assert (
        "workouts: live 8 rows, rebuilt 8 rows, checksums differ; e.g. "
        "user_id='7', workout_id='w1' only in live; user_id='70', workout_id='w0' only in "
        "rebuilt; user_id='8', workout_id='w0' differs"
    ) in result.differences, result.differences
    assert (
        "exercises: live 2 rows, rebuilt 2 rows, checksums differ; e.g. id=1 differs"
        in result.differences
    ), result.differences
    assert "3 of 3 sampled users get different answers (e.g. '7', '70', '8')" in (
        result.differences
    )
    assert not any(d.startswith("performances") for d in result.differences)
    live.close()
    rebuilt.close()


def test_compare_users_zero_compares_the_tables_only(tmp_path):
    """`coach replay --compare-users 0` (allowed by the option) compares checksums and no
    user's answers, instead of dividing by zero."""
    live = connect(tmp_path / "live.db")
    live.execute(
        "INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises, n_exercises)"
        " VALUES ('7', 'w1', 1, '[[1,3,8,40.0]]', 1)"
    )
    result = compare(live, live, users=0)
    assert result.equal and result.users_compared == 0
    live.close()
