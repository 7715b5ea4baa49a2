"""`coach snapshot` of a live replica on a real broker, and a new replica started from it:
the copy is taken while the consumer writes and the api answers under load (neither
pauses), the new replica reads on from the snapshot's offsets only and ends with the same
tables; a snapshot of other topics, of a newer schema, damaged or older than the topics'
retention is refused before anything is read."""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.structs import TopicPartition

from store import reads
from store.db import connect
from tests.conftest import REPO, env_of
from tests.e2e.helpers import COACH, Service, coach, free_port, wait_for
from tests.e2e.test_consumer_faults import Truth, applied_records, publish
from tests.e2e.test_replay import Load, sums_of

pytestmark = pytest.mark.broker


def _refused(settings, tmp_path: Path, name: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Run `coach consume` on `settings` until it exits by itself: (exit code, log)."""
    consumer = Service(settings, tmp_path / f"{name}.log", "consume")
    try:
        code = consumer.proc.wait(60)
    finally:
        consumer.stop()
    return code, consumer.log()


def test_a_new_replica_starts_from_a_snapshot_of_a_live_one(kafka_settings, tmp_path):
    settings = kafka_settings.model_copy(
        update={"topic_partitions": 3, "db_path": tmp_path / "a" / "coach.db"}
    )
    truth = Truth(workouts=2_000, seed=5)
    first, rest = truth.records[:1_200], truth.records[1_200:]
    coach(settings, "topics", "create")
    publish(settings, first)
    consumer = Service(settings, tmp_path / "a-consume.log", "consume")
    port = free_port()
    api = Service(settings, tmp_path / "a-api.log", "api", "--port", str(port))
    dest = tmp_path / "b" / "from-a.db"
    try:
        wait_for(
            "replica A caught up",
            lambda: applied_records(settings) == len(first),
            timeout=120,
            service=consumer,
        )
        wait_for("A's api", lambda: _status(port, "/health") == 200, service=api)
        # The snapshot while A's api is under load and its consumer applies new records,
        # which keep coming until it is taken (the last chunk only after it).
        taken_event = threading.Event()

        def stream() -> None:
            chunks = [rest[i : i + 50] for i in range(0, len(rest), 50)]
            for chunk in chunks[:-1]:
                publish(settings, chunk)
            taken_event.wait(300)
            publish(settings, chunks[-1])

        publisher = threading.Thread(target=stream)
        with Load(port, threads=2) as load:
            publisher.start()
            wait_for("A applying new records", lambda: applied_records(settings) > len(first))
            try:
                taken = coach(settings, "snapshot", str(dest))
            finally:
                taken_event.set()
                publisher.join()
            wait_for(
                "A applied the rest",
                lambda: applied_records(settings) == len(truth.records),
                timeout=120,
                service=consumer,
            )
        assert set(load.statuses) == {200}, load.statuses
        out = taken.stdout.decode()
        assert f"snapshot {dest}" in out and "offsets: " in out
        offsets = {
            (t, int(p)): int(o)
            for t, p, o in re.findall(r"(\S+)/(\d+)@(\d+)", out.split("offsets: ")[1])
        }
        in_snapshot = sum(offsets.values())
        assert len(first) <= in_snapshot < len(truth.records)
        assert sorted(p.name for p in dest.parent.iterdir()) == ["from-a.db"]  # no -wal
        old = _copy(dest, "old")  # for the retention case, at the end

        # The refusals, each on a copy of the snapshot, before anything is read.
        bad_topics = settings.model_copy(
            update={
                "db_path": _copy(dest, "topics"),
                "topic_workouts": settings.topic_workouts + ".x",
            }
        )
        code, log = _refused(bad_topics, tmp_path, "topics")
        assert code == 1 and "other topics" in log and settings.topic_workouts in log, log
        newer = _copy(dest, "newer")
        _raw(newer, "PRAGMA user_version = 99")
        code, log = _refused(settings.model_copy(update={"db_path": newer}), tmp_path, "newer")
        assert code == 1 and "newer than this coach" in log, log
        damaged = _copy(dest, "damaged")
        _damage(damaged)
        code, log = _refused(settings.model_copy(update={"db_path": damaged}), tmp_path, "damaged")
        assert code == 1 and "quick check" in log, log

        # Replica B from the snapshot: reads only what came after it, ends equal to A.
        b_settings = settings.model_copy(update={"db_path": dest})
        b = Service(b_settings, tmp_path / "b-consume.log", "consume")
        try:
            wait_for(
                "replica B caught up",
                lambda: applied_records(b_settings) == len(truth.records),
                timeout=120,
                service=b,
            )
            wait_for(
                "replica A caught up",
                lambda: applied_records(settings) == len(truth.records),
                timeout=120,
                service=consumer,
            )
        finally:
            assert b.stop() == 0, b.log()
        assert "starting from a snapshot" in b.log()
        read = int(re.search(r"consumer stopped after (\d+) records", b.log()).group(1))  # type: ignore[union-attr]
        assert read == len(truth.records) - in_snapshot
        assert sums_of(dest) == sums_of(settings.db_path)
    finally:
        api.stop()
        assert consumer.stop() == 0, consumer.log()

    # A snapshot older than the topics' retention: refused with the replay hint.
    ends = reads.positions_at(settings.db_path)
    (topic, partition), at = next(
        (tp, o)
        for tp, o in sorted(offsets.items())
        if ends[tp] > o and tp[0] == settings.topic_workouts
    )
    asyncio.run(
        _delete_records(settings, TopicPartition(topic, partition), ends[(topic, partition)])
    )
    code, log = _refused(settings.model_copy(update={"db_path": old}), tmp_path, "old")
    assert code == 3, log
    assert "coach replay" in log and f"{topic}/{partition}@{at}" in log


def _status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def _copy(path: Path, name: str) -> Path:
    target = path.with_name(f"{name}.db")
    shutil.copyfile(path, target)
    return target


def _raw(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(sql)
    conn.close()


def _damage(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    for i in range(4096 * 3, len(raw) - 4096, 4096 * 5):
        raw[i + 100 : i + 400] = b"\xff" * 300
    path.write_bytes(bytes(raw))


async def _delete_records(settings, tp: TopicPartition, before: int) -> None:  # type: ignore[no-untyped-def]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_records({tp: RecordsToDelete(before)})
    finally:
        await admin.close()


def test_a_partition_without_a_stored_offset_is_said_and_refused_when_records_are_gone(
    kafka_settings, tmp_path
):
    """A partition without a stored offset beside read ones is read from its beginning with
    a warning naming it. In a snapshot, when retention has removed records the snapshot
    never saw (past where its consumer started the partition, or past 0), it is refused
    (exit 3, the replay hint) instead of starting silently at the log start; a file that is
    not a snapshot (a new replica's, a replay's) reads on from there, as it always did."""
    settings = kafka_settings.model_copy(update={"topic_partitions": 2})
    truth = Truth(workouts=300, seed=9)
    coach(settings, "topics", "create")
    publish(settings, truth.records)
    consumer = Service(settings, tmp_path / "first.log", "consume")
    try:
        wait_for(
            "caught up",
            lambda: applied_records(settings) == len(truth.records),
            timeout=120,
            service=consumer,
        )
    finally:
        assert consumer.stop() == 0, consumer.log()
    ends = reads.positions_at(settings.db_path)
    wo = settings.topic_workouts
    assert ends[(wo, 0)] > 10 and ends[(wo, 1)] > 10, ends
    snap = tmp_path / "snap.db"
    coach(settings, "snapshot", str(snap))

    def run_until_read(settings, partition: int, name: str) -> str:  # type: ignore[no-untyped-def]
        service = Service(settings, tmp_path / f"{name}.log", "consume")
        try:
            wait_for(
                f"read partition {partition} again",
                lambda: (
                    reads.positions_at(settings.db_path).get((wo, partition))
                    == ends[(wo, partition)]
                ),
                timeout=120,
                service=service,
            )
        finally:
            assert service.stop() == 0, service.log()
        return service.log()

    _raw(settings.db_path, f"DELETE FROM partitions WHERE topic = '{wo}' AND partition = 0")
    log = run_until_read(settings, 0, "again")
    assert f"no stored offset for partition(s) {wo}/0 (from offset 0)" in log, log

    # Retention removes records 0..4 of partition 1, which the snapshot lacks an offset of.
    _raw(snap, f"DELETE FROM partitions WHERE topic = '{wo}' AND partition = 1")
    asyncio.run(_delete_records(settings, TopicPartition(wo, 1), 5))
    snap_settings = settings.model_copy(update={"db_path": snap})
    code, log = _refused(snap_settings, tmp_path, "gone")
    assert code == 3, log
    assert f"no stored offset for partition(s) {wo}/1 (records before offset 5 are gone)" in log
    assert "coach replay" in log
    assert (wo, 1) not in reads.positions_at(snap)  # nothing was read
    # Its consumer had started partition 1 at offset 5 (it was already gone then): on.
    _raw(snap, f"UPDATE assigned_partitions SET start_offset = 5 WHERE topic = '{wo}'")
    run_until_read(snap_settings, 1, "started-at-5")
    # Not a snapshot: read from the first offset the broker has, with the warning.
    _raw(settings.db_path, f"DELETE FROM partitions WHERE topic = '{wo}' AND partition = 1")
    log = run_until_read(settings, 1, "not-a-snapshot")
    assert f"no stored offset for partition(s) {wo}/1 (from offset 5)" in log, log


@pytest.mark.parametrize("kept", [0.9, 0.5, 0.02])
def test_a_truncated_snapshot_is_refused_with_a_message_naming_it(kafka_settings, tmp_path, kept):
    """A snapshot cut short (a copy that did not finish): `coach consume` exits 1 with the
    refusal naming the file, not a raw sqlite3.DatabaseError traceback; `coach stats` too."""
    from store.db import transaction

    live = tmp_path / "live.db"
    conn = connect(live)
    with transaction(conn):
        conn.executemany(
            "INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises) "
            "VALUES (?, ?, 0, x'00')",
            [(f"u{i}", f"w{i}") for i in range(20_000)],
        )
    conn.close()
    dest = tmp_path / "snap.db"
    coach(kafka_settings.model_copy(update={"db_path": live}), "snapshot", str(dest))
    with open(dest, "r+b") as f:
        f.truncate(int(dest.stat().st_size * kept))
    settings = kafka_settings.model_copy(update={"db_path": dest})
    code, log = _refused(settings, tmp_path, "truncated")
    assert code == 1, log
    assert f"SQLite cannot read {dest}" in log and "truncated or damaged" in log, log
    assert "Traceback" not in log, log
    stats = coach(settings, "stats", check=False)
    assert stats.returncode == 1 and b"Traceback" not in stats.stderr, stats.stderr
    assert f"SQLite cannot read {dest}".encode() in stats.stderr


def test_the_scaling_pages_snippet_starts_the_new_replica_on_the_snapshot(kafka_settings, tmp_path):
    """docs/SCALING.md's commands as they stand: the snapshot is taken on a replica, shipped,
    and the new replica's consumer and api (started in a shell that has only the broker and
    topic settings) both use the shipped file, not a new coach.db in the current directory."""
    doc = (REPO / "docs/SCALING.md").read_text()
    block = re.search(r"```sh\n(# on a running replica.*?)```", doc, re.S)
    assert block, "SCALING.md no longer has the snapshot snippet"
    take, start = block.group(1).split("# ship the file")
    start = "# ship the file" + start
    port = free_port()
    script = {
        part: text.replace("coach ", f"{COACH} ")
        .replace("/backups/", f"{tmp_path}/backups/")
        .replace("/data/", f"{tmp_path}/data/")
        .replace("--port 8000", f"--port {port}")
        for part, text in (("take", take), ("start", start))
    }
    coach(kafka_settings, "topics", "create")
    live = tmp_path / "a" / "coach.db"
    connect(live).close()
    a_env = env_of(kafka_settings.model_copy(update={"db_path": live}))
    subprocess.run(["bash", "-euc", script["take"]], env=a_env, check=True, timeout=60)
    (tmp_path / "data").mkdir()
    shipped = tmp_path / "data" / "coach.db"
    shutil.copyfile(next((tmp_path / "backups").iterdir()), shipped)
    shipped.chmod(0o644)  # as a copy under umask 022 comes out
    assert oct(next((tmp_path / "backups").iterdir()).stat().st_mode & 0o777) == "0o600"
    b_env = {k: v for k, v in a_env.items() if k != "COACH_DB_PATH"}
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    log_path = tmp_path / "b.log"
    with open(log_path, "wb") as log:
        shell = subprocess.Popen(
            ["bash", "-euc", "umask 022\n" + script["start"]], env=b_env, cwd=cwd, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for("B's api", lambda: _status(port, "/health") == 200, timeout=60)
        wait_for("B's consumer", lambda: "starting from a snapshot" in log_path.read_text())
        # Owner-only, the copy made so at start and the -wal/-shm SQLite made beside it.
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in shipped.parent.iterdir()}
        names = ["coach.db", "coach.db-wal", "coach.db-shm", ".coach.db.writer.lock"]
        assert modes == dict.fromkeys(names, "0o600")
    finally:
        os.killpg(shell.pid, signal.SIGTERM)
        shell.wait(30)
    out = log_path.read_text()
    assert out.count(f"projection file: {tmp_path}/data/coach.db (exists)") == 2, out
    assert "COACH_DB_PATH is not set" not in out and list(cwd.iterdir()) == [], out
    assert f"{shipped} holds personal data and was readable by others (mode 644)" in out
