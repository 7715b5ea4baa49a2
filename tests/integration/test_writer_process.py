"""The writer process (consumer/writer.py) against real SQLite files and real processes:
the same projection as applying in-process, in order, and nothing after a failed batch."""

from __future__ import annotations

import asyncio
import errno
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import consumer.loop as consume_loop
from config.settings import Settings
from consumer.batch import positions_after, prepare
from consumer.commit import commit_records
from consumer.handlers import Context
from consumer.loop import Projector
from consumer.records import Record
from consumer.wire import WriterGone
from consumer.writer_process import WriterProcess
from events import encode_event
from store import files, reads
from store.checks import checksums
from store.db import connect
from tests.conftest import SECRET, WRITER_TEST_TIMEOUT
from tests.factories import (
    EX,
    ROLES,
    WO,
    completed,
    exercise_deleted,
    key_of,
    upserted,
    value_of,
    workout_deleted,
)
from wod.instants import to_us

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NOW_US = to_us(NOW)

# A test that waits on the writer (a child process, or a consumer loop that retries a batch
# until it is stored) would wait forever when the code under test raises on every try: it
# fails after WRITER_TEST_TIMEOUT instead (pytest-timeout; each takes under 2 s here).
pytestmark = pytest.mark.timeout(WRITER_TEST_TIMEOUT)


def history(seed: int, n: int) -> list[Record]:
    """Records of a messy history on two partitions of each topic: stale revisions,
    redeliveries, deletes, tombstones, poison records and unknown types."""
    rng = random.Random(seed)
    offsets = {(EX, 0): 0, (EX, 1): 0, (WO, 0): 0, (WO, 1): 0}
    records: list[Record] = []
    done: list[dict] = []

    def add(topic: str, key: bytes | None, value: bytes | None) -> None:
        where = (topic, rng.randrange(2))
        records.append(Record(topic, where[1], offsets[where], key, value, NOW_US // 1000))
        offsets[where] += 1

    for i in range(n):
        roll = rng.random()
        if roll < 0.05:
            event = upserted(rng.randint(1, 20), revision=rng.randint(0, 5))
            add(EX, key_of(event), value_of(event))
        elif roll < 0.07:
            event = exercise_deleted(rng.randint(1, 20), revision=rng.randint(0, 5))
            add(EX, key_of(event), value_of(event))
        elif roll < 0.08:
            add(EX, str(rng.randint(1, 20)).encode(), None)  # a tombstone
        elif roll < 0.10 and done:
            event = rng.choice(done)  # a redelivery
            add(WO, key_of(event), value_of(event))
        elif roll < 0.12 and done:
            old = rng.choice(done)["data"]
            event = workout_deleted(old["workout_id"], old["user_id"])
            add(WO, key_of(event), value_of(event))
        elif roll < 0.13:
            add(WO, b"7", bytes(rng.randrange(256) for _ in range(20)))  # poison
        elif roll < 0.14:
            event = encode_event("fitness.workout.rated", {"workout_id": "w", "user_id": 7})
            add(WO, b"7", value_of(event))
        else:
            user = rng.choice([rng.randint(1, 50), str(rng.randint(1, 50))])
            at = NOW - timedelta(hours=rng.uniform(0, 40))
            event = completed(f"w{i}", user, at, [(rng.randint(1, 20), 40.0, 8)])
            done.append(event)
            add(WO, key_of(event), value_of(event))
    return records


def batches(records: list[Record], seed: int) -> list[list[Record]]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(records):
        size = rng.choice([1, 3, 50, 400])
        out.append(records[i : i + size])
        i += size
    return out


async def feed(writer: WriterProcess, parts: list[list[Record]]) -> None:
    """Hand each batch to `writer`, with the offsets it reaches."""
    for part in parts:
        await writer.submit(prepare(part, ROLES, positions_after(part), NOW_US))


def offsets_after(parts: list[list[Record]]) -> dict[tuple[str, int], int]:
    """The stored offsets once every batch of `parts` is in."""
    records = [r for part in parts for r in part]
    return {(p.topic, p.partition): p.next_offset for p in positions_after(records)}


def through_writer(path: Path, parts: list[list[Record]], **kwargs) -> WriterProcess:  # type: ignore[no-untyped-def]
    connect(path).close()  # created and migrated, as the callers do

    async def run() -> WriterProcess:
        writer = WriterProcess(path, ROLES, **kwargs)
        try:
            await feed(writer, parts)
            await writer.close()
        finally:
            writer.kill()
        return writer

    return asyncio.run(run())


def test_same_projection_as_applying_in_process(tmp_path):
    """Table checksums, offsets and counts equal those of commit_records, batch for batch."""
    records = history(seed=3, n=3000)
    parts = batches(records, seed=4)
    inline = connect(tmp_path / "inline.db")
    expected = {"records": 0, "dead_letters": 0, "unknown": 0, "changed": 0}
    for part in parts:
        result = commit_records(inline, part, roles=ROLES, ctx=Context(now_us=NOW_US))
        for name in expected:
            expected[name] += getattr(result, name)
    writer = through_writer(tmp_path / "writer.db", parts)
    built = connect(tmp_path / "writer.db")
    assert expected["dead_letters"] > 0 and expected["unknown"] > 0
    assert {name: getattr(writer.totals, name) for name in expected} == expected
    assert checksums(built) == checksums(inline)
    assert reads.positions(built) == reads.positions(inline)


def test_a_failed_batch_stops_the_writer_and_restart_sends_it_and_the_rest_again(tmp_path):
    """A batch that cannot be stored (here: the file is locked for longer than the writer
    waits) stops the writer: the batches behind it in the pipe are not stored either, even
    once the file can be written again. restart() stores them all, in order."""
    path = tmp_path / "coach.db"
    connect(path).close()
    parts = batches(history(seed=5, n=600), seed=6)
    blocker = sqlite3.connect(path, isolation_level=None)

    async def run() -> WriterProcess:
        writer = WriterProcess(path, ROLES, ["busy_timeout = 100"], depth=3)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            await feed(writer, parts[:3])
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await writer.drain()
            blocker.execute("ROLLBACK")
            await asyncio.sleep(0.5)  # a writer that went on would store parts 1 and 2 now
            assert reads.positions(connect(path)) == {}
            assert writer.in_hand == 3
            writer.pragmas = []
            writer.restart()
            await feed(writer, parts[3:])
            await writer.close()
            return writer
        finally:
            writer.kill()

    writer = asyncio.run(run())
    inline = connect(tmp_path / "inline.db")
    for part in parts:
        commit_records(inline, part, roles=ROLES, ctx=Context(now_us=NOW_US))
    built = connect(path)
    assert writer.totals.records == sum(map(len, parts))
    assert reads.positions(built) == reads.positions(inline)
    assert checksums(built) == checksums(inline)


def test_a_killed_writer_is_reported_and_restart_recovers(tmp_path):
    path = tmp_path / "coach.db"
    connect(path).close()
    parts = batches(history(seed=7, n=300), seed=8)

    async def run() -> WriterProcess:
        writer = WriterProcess(path, ROLES)
        try:
            await writer.submit(prepare(parts[0], ROLES, positions_after(parts[0]), NOW_US))
            await writer.drain()
            os.kill(writer.pid, signal.SIGKILL)
            with pytest.raises(WriterGone, match="exit code -9"):
                await feed(writer, parts[1:4])
                await writer.drain()
            writer.restart()
            await writer.drain()
            await writer.close()
            return writer
        finally:
            writer.kill()

    writer = asyncio.run(run())
    assert reads.positions(connect(path)) == offsets_after(parts[:4])
    assert writer.totals.records == sum(map(len, parts[:4]))


def test_restart_does_not_apply_twice_a_batch_the_dead_child_had_committed(tmp_path):
    """A child can die after its commit and before its reply: restart() finds the batch in
    the stored offsets and does not send it again (its unknown events would count twice)."""
    path = tmp_path / "coach.db"
    connect(path).close()
    unknown = encode_event("fitness.workout.rated", {"workout_id": "w", "user_id": 7})
    first = [Record(WO, 0, i, b"7", value_of(unknown), NOW_US // 1000) for i in range(5)]
    second = [Record(WO, 0, 5 + i, b"7", value_of(unknown), NOW_US // 1000) for i in range(3)]
    conn = connect(path)

    async def run() -> WriterProcess:
        writer = WriterProcess(path, ROLES)
        try:
            await writer.submit(prepare(first, ROLES, positions_after(first), NOW_US))
            deadline = time.monotonic() + 10
            while reads.positions(conn) != {(WO, 0): 5}:  # committed; reply not taken
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            writer.restart()  # as after a failure: kills the child, sends what is not stored
            assert writer.in_hand == 0 and writer.totals.records == 5
            await writer.submit(prepare(second, ROLES, positions_after(second), NOW_US))
            await writer.close()
            return writer
        finally:
            writer.kill()

    asyncio.run(run())
    counted = conn.execute("SELECT value FROM meta WHERE name = 'unknown_events'").fetchone()[0]
    assert counted == 8
    assert reads.positions(conn) == {(WO, 0): 8}


def test_the_writer_keeps_the_consumers_lock_until_it_exits(tmp_path):
    """The lock a consumer takes is held by its writer process too: a new consumer cannot
    start writing while an old writer is still there."""
    path = tmp_path / "coach.db"
    connect(path).close()
    lock = files.writer_lock(path)
    assert lock is not None
    assert files.writer_lock(path) is None  # one holder at a time
    writer = WriterProcess(path, ROLES, keep_fds=[lock])
    try:
        os.close(lock)  # the consumer is gone; its writer is not
        assert files.writer_lock(path) is None
    finally:
        writer.kill()
    again = files.writer_lock(path)
    assert again is not None
    os.close(again)


def test_a_sigterm_to_the_process_group_leaves_the_writer_to_its_parent(tmp_path):
    """`docker stop` or a terminal may signal every process of the group: the writer goes
    on until its parent has committed what is in hand and closes the pipe."""
    path = tmp_path / "coach.db"
    connect(path).close()
    parts = batches(history(seed=11, n=200), seed=12)

    async def run() -> WriterProcess:
        writer = WriterProcess(path, ROLES)
        try:
            await writer.submit(prepare(parts[0], ROLES, positions_after(parts[0]), NOW_US))
            await writer.drain()  # started (a signal during its imports still ends it)
            os.kill(writer.pid, signal.SIGTERM)
            os.kill(writer.pid, signal.SIGINT)
            await feed(writer, parts[1:])
            await writer.close()
            return writer
        finally:
            writer.kill()

    writer = asyncio.run(run())
    assert writer._process.returncode == 0
    assert reads.positions(connect(path)) == offsets_after(parts)


PARENT = """
import sys, time
sys.path[:0] = {path!r}
from consumer.writer_process import WriterProcess
writer = WriterProcess({db!r}, {{"t.exercises": "exercises", "t.workouts": "workouts"}})
print(writer.pid, flush=True)
time.sleep(60)
"""


def test_the_writer_dies_with_its_parent(tmp_path):
    """A SIGKILLed consumer leaves no writer behind that could commit after it."""
    db = tmp_path / "coach.db"
    connect(db).close()
    code = PARENT.format(path=sys.path, db=str(db))
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # alive
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"writer {child} outlived its parent")


def test_prepare_runs_here_and_the_records_of_workouts_stay_here():
    """Only the records of operations other than completed workouts cross the pipe."""
    from consumer.wire import WriterError, decode_batch, encode_batch

    records = history(seed=9, n=400)
    prepared = prepare(records, ROLES, positions_after(records), NOW_US)
    payload = encode_batch(prepared)
    decoded = decode_batch(payload, ROLES)
    assert decoded.now_us == NOW_US and decoded.positions == positions_after(records)
    assert len(decoded.records) == len(records)
    assert len(payload) < sum(len(r.value or b"") for r in records) / 2
    run_index = next(op[1][0] for op in prepared.ops if isinstance(op[0], list))
    with pytest.raises(WriterError, match="does not hold its raw bytes"):
        decoded.records[run_index]
    for (first, second), (a, b) in zip(prepared.ops, decoded.ops, strict=True):
        if isinstance(first, list):
            assert [list(row) for row in first] == a and second == b
        else:
            assert first == a and second == b
            assert decoded.records[a] == records[a]


# -- a batch is in hand at most once, whatever fails and wherever ----------------------------------
#
# These run the consumer's own retry loop (`Projector._submit`, `_drain`, `_until_written`) over
# a real writer process, and compare the projection with the same batches applied in-process.


def projector_on(path: Path, monkeypatch: pytest.MonkeyPatch) -> Projector:
    """A Projector of the file at `path` whose clock says NOW and that retries at once."""
    monkeypatch.setattr(consume_loop, "now_us", lambda: NOW_US)
    monkeypatch.setattr(consume_loop, "WRITE_RETRY_SECONDS", 0.01)
    settings = Settings(db_path=path, jwt_secret=SECRET, topic_exercises=EX, topic_workouts=WO)
    return Projector(settings, connect(path))


async def consume(
    projector: Projector, stop: asyncio.Event, parts: list[list[Record]], decode=prepare
) -> None:  # type: ignore[no-untyped-def]
    """What the consume loop does with each fetched batch: decode it, hand it over."""
    for part in parts:
        await projector._submit(decode(part, ROLES, positions_after(part), NOW_US), stop)


def ground_truth(path: Path, parts: list[list[Record]]) -> sqlite3.Connection:
    """The same batches applied in-process, each once."""
    inline = connect(path)
    for part in parts:
        commit_records(inline, part, roles=ROLES, ctx=Context(now_us=NOW_US))
    return inline


def assert_same_projection(built: sqlite3.Connection, truth: sqlite3.Connection) -> None:
    assert reads.stats(built) == reads.stats(truth)  # counts, unknown events and offsets
    assert checksums(built) == checksums(truth)


class Stream:
    """Records of one partition per topic, with consecutive offsets."""

    def __init__(self) -> None:
        self.offsets = {EX: 0, WO: 0}

    def record(self, topic: str, key: bytes | None, value: bytes | None) -> Record:
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        return Record(topic, 0, offset, key, value, NOW_US // 1000)

    def events(self, *events: dict) -> list[Record]:  # type: ignore[type-arg]
        return [
            self.record(
                EX if e["type"].startswith("fitness.exercise") else WO, key_of(e), value_of(e)
            )
            for e in events
        ]


UNKNOWN = encode_event("fitness.workout.rated", {"workout_id": "w", "user_id": 7})


def test_a_batch_whose_submit_meets_an_earlier_failure_is_committed_once(tmp_path, monkeypatch):
    """Batch 1 fails in the child (the file is locked for longer than it waits); the failure
    shows in the submit of batch 2, which the consumer then retries. Batch 2 (a tombstone, a
    re-create of the same exercise, an unknown event) must be committed once: twice, its
    unknown event counts twice and the second tombstone deletes the exercise for good."""
    path = tmp_path / "coach.db"
    projector = projector_on(path, monkeypatch)
    stream = Stream()
    parts = [
        stream.events(upserted(5, revision=1), upserted(6)),
        stream.events(UNKNOWN, completed("w1", 7, NOW, [(5, 40.0, 8)])),
        [
            stream.record(EX, b"5", None),  # a tombstone
            *stream.events(upserted(5, revision=2), UNKNOWN),
        ],
    ]
    blocker = sqlite3.connect(path, isolation_level=None)

    async def run() -> WriterProcess:
        stop = asyncio.Event()
        writer = WriterProcess(path, projector.roles, ["busy_timeout = 100"])
        writer.on_result = projector.totals.add
        projector.writer = writer
        try:
            await consume(projector, stop, parts[:1])
            await projector._drain(stop)
            blocker.execute("BEGIN IMMEDIATE")
            await consume(projector, stop, parts[1:2])
            deadline = time.monotonic() + 10
            while not writer._in_hand[0].reply.done():  # type: ignore[union-attr]  # failed
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            blocker.execute("ROLLBACK")
            writer.pragmas = []
            await consume(projector, stop, parts[2:])  # the failure of parts[1] shows here
            await projector._drain(stop)
            await writer.close()
            return writer
        finally:
            writer.kill()

    writer = asyncio.run(run())
    built = connect(path)
    truth = ground_truth(tmp_path / "inline.db", parts)
    assert reads.stats(built)["exercises"] == 2
    assert reads.stats(built)["unknown_events"] == 2
    assert_same_projection(built, truth)
    assert writer.totals.records == projector.totals.records == sum(map(len, parts))


def telling_parts(n: int) -> list[list[Record]]:
    """`n` batches, each of which shows if it is applied twice: a new exercise, its
    tombstone and its re-creation, an unknown event; with workouts, a delete and a poison
    record among them."""
    stream = Stream()
    parts = []
    for k in range(n):
        at = NOW - timedelta(hours=k)
        parts.append(
            [
                *stream.events(
                    upserted(100 + k), completed(f"w{k}", k % 3, at, [(100 + k, 9.0, 5)])
                ),
                stream.record(EX, str(100 + k).encode(), None),
                *stream.events(upserted(100 + k, revision=2), UNKNOWN),
                stream.record(WO, b"7", b"\x00poison"),
                *stream.events(workout_deleted(f"w{k - 1}", (k - 1) % 3)),
            ]
        )
    return parts


SEAMS = ["before-send", "before-commit", "after-commit", "restart-offsets", "restart-spawn"]


@pytest.mark.parametrize("seam", SEAMS)
def test_a_fault_at_each_seam_of_the_write_path_loses_and_doubles_nothing(
    seam, tmp_path, monkeypatch
):
    """The writer fails at one seam of batch 4 of a messy history (tombstones, re-creates,
    unknown events, poison records), with batches behind it in hand; the consumer's retry
    loop carries on. Seams: the child killed after the batch was decoded here and before it
    was sent (before-send); killed after it was received and before its commit
    (before-commit, `COACH_WRITER_FAULT`); killed after its COMMIT and before its reply
    (after-commit); and each of those followed by a restart() that fails once, reading the
    stored offsets (restart-offsets) or starting the new child (restart-spawn)."""
    path = tmp_path / "coach.db"
    projector = projector_on(path, monkeypatch)
    parts = telling_parts(10)
    if seam in ("before-commit", "after-commit"):
        monkeypatch.setenv("COACH_WRITER_FAULT", f"{seam}:4")
    else:
        monkeypatch.setenv("COACH_WRITER_FAULT", "after-commit:4")
    decoded = 0

    def prepare_then_kill(records, roles, positions, now):  # type: ignore[no-untyped-def]
        nonlocal decoded
        prepared = prepare(records, roles, positions, now)
        decoded += 1
        if decoded == 4:
            os.kill(projector.writer.pid, signal.SIGKILL)  # type: ignore[union-attr]
        return prepared

    decode = prepare
    if seam == "before-send":
        monkeypatch.delenv("COACH_WRITER_FAULT")
        decode = prepare_then_kill

    async def run() -> WriterProcess:
        stop = asyncio.Event()
        writer = WriterProcess(path, projector.roles, on_result=projector.totals.add)
        monkeypatch.delenv("COACH_WRITER_FAULT", raising=False)  # the first child only
        projector.writer = writer
        restart = writer.restart

        def counted_restart() -> None:
            restarts.append(seam)
            restart()

        monkeypatch.setattr(writer, "restart", counted_restart)
        if seam == "restart-offsets":
            monkeypatch.setattr(
                reads,
                "positions_at",
                fail_once(reads.positions_at, sqlite3.OperationalError("disk I/O error")),
            )
        if seam == "restart-spawn":
            monkeypatch.setattr(
                writer,
                "_spawn",
                fail_once(writer._spawn, OSError(errno.EMFILE, "Too many open files")),
            )
        try:
            await consume(projector, stop, parts, decode)
            await projector._drain(stop)
            await writer.close()
            return writer
        finally:
            writer.kill()

    restarts: list[str] = []
    writer = asyncio.run(run())
    assert restarts, "the fault did not happen"
    assert projector.health.write_error is None
    truth = ground_truth(tmp_path / "inline.db", parts)
    assert_same_projection(connect(path), truth)
    assert writer.totals.records == projector.totals.records == sum(map(len, parts))


def fail_once(function, error: BaseException):  # type: ignore[no-untyped-def]
    """`function`, except that its first call raises `error`."""
    calls = 0

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise error
        return function(*args, **kwargs)

    return wrapper


def test_workout_record_fault_in_writer_process_becomes_dead_letter(tmp_path):
    """A completed workout whose row the file refuses (a trigger raises, an IntegrityError:
    the record's own fault) becomes a dead letter with its raw bytes, as in-process; the
    child, which was not sent those bytes, asks for them and gets the batch again in full."""
    refuse = (
        "CREATE TRIGGER refuse BEFORE INSERT ON workouts WHEN NEW.workout_id = 'w-bad' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    stream = Stream()
    bad = completed("w-bad", 7, NOW, [(1, 40.0, 8)])
    parts = [
        stream.events(upserted(1), completed("w1", 7, NOW, [(1, 40.0, 8)]), UNKNOWN),
        stream.events(completed("w2", 7, NOW, [(1, 40.0, 8)]), bad, UNKNOWN),
        stream.events(completed("w3", 8, NOW, [(1, 40.0, 8)]), upserted(2)),
    ]
    path = tmp_path / "coach.db"
    connect(path).execute(refuse)
    writer = through_writer(path, parts)
    inline = connect(tmp_path / "inline.db")
    inline.execute(refuse)
    for part in parts:
        commit_records(inline, part, roles=ROLES, ctx=Context(now_us=NOW_US))
    built = connect(path)
    assert_same_projection(built, inline)
    [(value, error)] = built.execute("SELECT value, error FROM dead_letters")
    assert value == value_of(bad) and "refused" in error
    assert writer.totals.dead_letters == 1 and writer.totals.records == 8


def test_the_child_module_is_the_writer():
    """`python -m CHILD_MODULE` runs the child's `main`, and the child stays light: it
    imports neither aiokafka nor the consume loop (every spawn and restart pays for them)."""
    from consumer.writer_process import CHILD_MODULE

    code = (
        f"import sys, {CHILD_MODULE} as child; assert callable(child.main); "
        "print(sorted(m for m in sys.modules if m.startswith(('aiokafka', 'consumer.'))))"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    loaded = out.stdout.decode()
    assert "aiokafka" not in loaded and "consumer.loop" not in loaded, loaded


def _positions_in_the_file_itself(path: Path) -> dict[tuple[str, int], int] | None:
    """The offsets stored in the database file, its WAL not read (None while a checkpoint
    is writing the file)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return reads.positions(conn)
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def test_the_writers_commits_reach_the_file_while_it_runs(tmp_path):
    """The writer's commits never checkpoint (one that copies 40 MB of WAL holds every
    record behind it): its checkpoint thread (store/checkpoints.py) copies the WAL into the
    database file beside them, here a few hundred records, far below the 10,000 pages
    after which a commit would."""
    path = tmp_path / "coach.db"
    connect(path).close()
    parts = batches(history(seed=5, n=600), seed=6)

    async def run() -> dict[tuple[str, int], int] | None:
        writer = WriterProcess(path, ROLES)
        try:
            await feed(writer, parts)
            await writer.drain()
            found = None
            deadline = time.monotonic() + 20
            while found != offsets_after(parts) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                found = _positions_in_the_file_itself(path)
            return found
        finally:
            writer.kill()

    assert asyncio.run(run()) == offsets_after(parts)
