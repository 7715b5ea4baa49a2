"""The projection's disk fills up, or its file system turns read-only, while the api is under
load and events keep arriving: the consumer stores nothing and advances no offset, the api
keeps answering, /ready and /lag say why; once the disk is usable again nothing is lost.

The projection lives on a real ext4 file system (a loop-mounted image), so the failures are
the kernel's own: ENOSPC from a full disk, EROFS from a file system that an error turned
read-only (errors=remount-ro, as production volumes are mounted)."""

from __future__ import annotations

import time

import pytest

from events import encode_event
from tests.e2e.helpers import Service, coach, stats, wait_for
from tests.e2e.test_consumer_faults import Truth, applied_records, publish
from tests.factories import upserted, value_of
from tests.faults.helpers import Api, Load, loop_fs, stop_all

pytestmark = [pytest.mark.broker, pytest.mark.faults]

HEARTBEAT_MAX_AGE = 5.0


def _settings(kafka_settings, fs):  # type: ignore[no-untyped-def]
    return kafka_settings.model_copy(
        update={
            "db_path": fs.path / "coach.db",
            "ready_max_heartbeat_age_seconds": HEARTBEAT_MAX_AGE,
            "ready_max_lag": 100,
        }
    )


def _hold_offsets(settings, applied: int, seconds: float, api: Api, consumer: Service):  # type: ignore[no-untyped-def]
    """For `seconds`: the stored offsets stay at `applied`; returns what /ready and /lag
    said last."""
    ready = lag = None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert consumer.proc.poll() is None, consumer.log()
        assert applied_records(settings) == applied, "an offset advanced past unapplied records"
        ready = api.get("/ready")
        lag = api.json("/lag")
        time.sleep(0.5)
    return ready, lag


def _detail(ready_body, name: str) -> str:  # type: ignore[no-untyped-def]
    return next(c["detail"] for c in ready_body["checks"] if c["name"] == name)


def test_disk_full_stores_nothing_then_resumes_with_nothing_lost(kafka_settings, tmp_path):
    with loop_fs(tmp_path, size_mb=24) as fs:
        settings = _settings(kafka_settings, fs)
        truth = Truth(workouts=6_000, seed=21)
        half = len(truth.records) // 2
        coach(settings, "topics", "create")
        publish(settings, truth.records[:half])
        consumer = Service(settings, tmp_path / "consume.log", "consume")
        api = None
        try:
            api = Api(settings, tmp_path / "api.log")
            wait_for("the first half", lambda: applied_records(settings) == half, service=consumer)
            wait_for("/ready", lambda: api.get("/ready").status_code == 200, timeout=30)
            with Load(api.url) as load:
                marks = [f"fill from {load.elapsed():.1f} s"]
                fs.fill()
                marks.append(f"full at {load.elapsed():.1f} s")
                publish(settings, truth.records[half:])
                marks.append(f"published at {load.elapsed():.1f} s")
                wait_for(
                    "the consumer to report the full disk",
                    lambda: "projection write failed" in consumer.log(),
                    timeout=30,
                    service=consumer,
                )
                # What fitted in the space the WAL already had (reused once checkpointed) may
                # be stored; from the first failed write on, nothing more is.
                stored = applied_records(settings)
                assert half <= stored < len(truth.records)
                ready, lag = _hold_offsets(settings, stored, HEARTBEAT_MAX_AGE + 3, api, consumer)
                # Readiness says why: the disk is full and the consumer has stopped beating.
                assert ready.status_code == 503
                body = ready.json()
                assert body["failing"] == ["heartbeat", "storage"], body
                assert "full" in _detail(body, "storage")
                assert lag["heartbeat_age_seconds"] > HEARTBEAT_MAX_AGE
                freed = time.monotonic()
                marks.append(f"freed at {load.elapsed():.1f} s")
                (fs.path / "filler").unlink()
                wait_for(
                    "every record after the space returned",
                    lambda: applied_records(settings) == len(truth.records),
                    timeout=90,
                    service=consumer,
                )
                caught_up = time.monotonic() - freed
                wait_for("/ready again", lambda: api.get("/ready").status_code == 200, timeout=30)
            result = load.result
        finally:
            api_code, consumer_code = stop_all(api, consumer)
        assert consumer_code == 0, consumer.log()
        assert api_code in (0, -15), api.service.log()
        print(f"disk full: caught up {caught_up:.1f} s after space returned; {result.summary()}")
        assert result.failures == 0, (marks, result.errors)
        assert result.requests > 100
        truth.check(stats(settings))


def test_read_only_file_system_stores_nothing_then_resumes_after_repair(kafka_settings, tmp_path):
    """An ext4 error turns the projection's file system read-only under both processes. It
    stays so until it is unmounted, checked and mounted again, which needs both processes
    stopped: the test restarts them after the repair and checks that nothing was lost."""
    with loop_fs(tmp_path, size_mb=64) as fs:
        settings = _settings(kafka_settings, fs)
        truth = Truth(workouts=6_000, seed=22)
        half = len(truth.records) // 2
        coach(settings, "topics", "create")
        publish(settings, truth.records[:half])
        consumer = Service(settings, tmp_path / "consume.log", "consume")
        api = None
        try:
            api = Api(settings, tmp_path / "api.log")
            wait_for("the first half", lambda: applied_records(settings) == half, service=consumer)
            wait_for("/ready", lambda: api.get("/ready").status_code == 200, timeout=30)
            with Load(api.url) as load:
                fs.make_read_only()
                publish(settings, truth.records[half:])
                wait_for(
                    "the consumer to report the failed write",
                    lambda: "projection write failed" in consumer.log(),
                    timeout=30,
                    service=consumer,
                )
                ready, lag = _hold_offsets(settings, half, HEARTBEAT_MAX_AGE + 3, api, consumer)
                assert ready.status_code == 503
                assert ready.json()["failing"] == ["heartbeat"], ready.json()
                assert lag["heartbeat_age_seconds"] > HEARTBEAT_MAX_AGE
            during = load.result
        finally:
            api_code = api.stop()
            consumer_code = consumer.stop()
        assert consumer_code == 0, consumer.log()  # it gave up the batch it could not write
        assert api_code in (0, -15), api.service.log()
        print(f"read-only: {during.summary()}")
        assert during.failures == 0, during.errors
        assert during.requests > 100

        # The repair: unmount, check, mount; then start both again.
        fs.unmount()
        print(fs.fsck().strip().splitlines()[-1])
        fs.mount()
        restarted = time.monotonic()
        consumer = Service(settings, tmp_path / "consume-2.log", "consume")
        api = None
        try:
            api = Api(settings, tmp_path / "api-2.log")
            with Load(api.url) as load:
                wait_for(
                    "every record after the repair",
                    lambda: applied_records(settings) == len(truth.records),
                    timeout=90,
                    service=consumer,
                )
                caught_up = time.monotonic() - restarted
                wait_for("/ready again", lambda: api.get("/ready").status_code == 200, timeout=30)
                time.sleep(3)
            after = load.result
        finally:
            api_code, consumer_code = stop_all(api, consumer)
        assert consumer_code == 0, consumer.log()
        assert api_code in (0, -15), api.service.log()
        print(f"read-only: caught up {caught_up:.1f} s after the restart; {after.summary()}")
        assert after.failures == 0, after.errors
        truth.check(stats(settings))


def _trickle(truth: Truth, chunks: int) -> list[list[tuple[str, bytes | None, bytes | None]]]:
    """Small chunks, each a new exercise, its tombstone, its re-creation (a newer revision)
    and an event of an unknown type; added to `truth`. A chunk applied twice shows: its
    unknown event counts twice, and the second tombstone deletes the exercise for good
    (the re-creation is then not newer than what is stored)."""
    unknown = value_of(encode_event("fitness.workout.rated", {"user_id": "7", "stars": 5}))
    out = []
    for k in range(chunks):
        key = str(1000 + k).encode()
        chunk = [
            ("exercises", key, value_of(upserted(1000 + k, revision=1))),
            ("exercises", key, None),
            ("exercises", key, value_of(upserted(1000 + k, revision=2))),
            ("workouts", b"7", unknown),
        ]
        out.append(chunk)
        truth.records.extend(chunk)
        truth.exercises += 1
        truth.unknown += 1
    return out


def test_disk_full_while_small_batches_trickle_in_commits_each_once(kafka_settings, tmp_path):
    """The disk fills while small batches keep arriving, so that a batch's failure shows
    while the next is handed over, and the consumer retries again and again; once space
    returns, every batch is committed exactly once: counts (unknown events, exercises
    deleted and re-created in one batch) equal the ground truth."""
    with loop_fs(tmp_path, size_mb=24) as fs:
        settings = _settings(kafka_settings, fs).model_copy(update={"batch_max_records": 4})
        truth = Truth(workouts=500, seed=23)
        base = len(truth.records)
        chunks = _trickle(truth, 20)
        coach(settings, "topics", "create")
        publish(settings, truth.records[:base])
        consumer = Service(settings, tmp_path / "consume.log", "consume")
        try:
            wait_for("the base", lambda: applied_records(settings) == base, service=consumer)
            fs.fill()
            for chunk in chunks:  # a producer each: a few per second
                publish(settings, chunk)
            wait_for(
                "the consumer to report the full disk",
                lambda: "projection write failed" in consumer.log(),
                timeout=30,
                service=consumer,
            )
            time.sleep(3)  # retried again and again meanwhile
            assert consumer.proc.poll() is None, consumer.log()
            failures = consumer.log().count("projection write failed")
            (fs.path / "filler").unlink()
            wait_for(
                "every record after the space returned",
                lambda: applied_records(settings) == len(truth.records),
                timeout=90,
                service=consumer,
            )
        finally:
            [consumer_code] = stop_all(consumer)
        assert consumer_code == 0, consumer.log()
        print(f"disk full with a trickle: {failures} failed writes retried")
        assert failures >= 2
        truth.check(stats(settings))
