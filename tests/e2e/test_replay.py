"""`coach replay` on a real broker with real processes: the rebuilt projection equals the
live one, the swap happens under load without a failed request, the consumer carries on
with the new file, and a replay killed at any moment leaves one consistent projection."""

from __future__ import annotations

import http.client
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.structs import TopicPartition

from store import files
from store.checks import checksums, integrity
from store.db import connect
from tests.conftest import SECRET, env_of
from tests.e2e.helpers import COACH, Service, coach, free_port, stats, wait_for
from tests.e2e.test_consumer_faults import Truth, publish
from tests.factories import completed

pytestmark = pytest.mark.broker


def sums_of(path: Path) -> dict:  # type: ignore[type-arg]
    conn = connect(path, readonly=True)
    try:
        return checksums(conn)
    finally:
        conn.close()


def applied(settings) -> int:  # type: ignore[no-untyped-def]
    return sum(stats(settings)["offsets"].values())


def caught_up(settings, truth_records: int, service: Service) -> None:  # type: ignore[no-untyped-def]
    wait_for(
        "every record applied",
        lambda: applied(settings) == truth_records,
        timeout=120,
        service=service,
    )


def project_truth(settings, truth: Truth, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Publish the truth's records and let a consumer apply them all, then stop it."""
    coach(settings, "topics", "create")
    publish(settings, truth.records)
    consumer = Service(settings, tmp_path / "consume.log", "consume")
    try:
        caught_up(settings, len(truth.records), consumer)
    finally:
        assert consumer.stop() == 0


class Load:
    """Threads asking GET /fitness/wod over keep-alive connections with many users' tokens
    until stopped; every status is counted."""

    def __init__(self, port: int, *, threads: int = 4, users: int = 500) -> None:
        now = int(time.time())
        self.tokens = [
            jwt.encode({"sub": str(u), "exp": now + 3600}, SECRET, algorithm="HS256")
            for u in range(1, users + 1)
        ]
        self.port = port
        self.statuses: Counter[int | str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self._stop.is_set():
            token = rng.choice(self.tokens)
            try:
                conn.request("GET", "/fitness/wod", headers={"Authorization": f"Bearer {token}"})
                response = conn.getresponse()
                response.read()
                status: int | str = response.status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            with self._lock:
                self.statuses[status] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.statuses.values())


def test_replay_under_load_equals_live_and_the_service_carries_on(kafka_settings, tmp_path):
    """History with redeliveries, deletions, poison records and unknown types; consumer and
    api running, the api under load: `coach replay` checks the rebuilt projection against
    the live one (same checksums), swaps it in, and no request fails. Afterwards the
    consumer writes new events into the new file and the api answers from it."""
    settings = kafka_settings.model_copy(update={"topic_partitions": 3})
    truth = Truth(workouts=6_000, seed=11)
    coach(settings, "topics", "create")
    publish(settings, truth.records)
    consumer = Service(settings, tmp_path / "consume.log", "consume")
    port = free_port()
    api = Service(settings, tmp_path / "api.log", "api", "--port", str(port), "--workers", "2")
    try:
        caught_up(settings, len(truth.records), consumer)
        truth.check(stats(settings))
        live_before = files.live_file(settings.db_path)
        # The equivalence, table by table, on a file built beside the live one.
        rebuilt = tmp_path / "rebuilt.db"
        coach(settings, "replay", "--into", str(rebuilt))
        assert sums_of(rebuilt) == sums_of(settings.db_path)
        # The same without the writer process (COACH_WRITER_PROCESS=false).
        inline = tmp_path / "rebuilt-inline.db"
        coach(
            settings.model_copy(update={"writer_process": False}), "replay", "--into", str(inline)
        )
        assert sums_of(inline) == sums_of(settings.db_path)

        wait_for("the api", lambda: _status(port, "/health") == 200, service=api)
        with Load(port) as load:
            wait_for("requests under way", lambda: load.total > 50)
            result = coach(settings, "replay")
            out = result.stdout.decode()
            time.sleep(2.0)  # the api workers switch within a second; keep asking meanwhile
        assert load.total > 200
        assert dict(load.statuses) == {200: load.total}, load.statuses
        assert "check: same tables and same answers" in out, out
        live_after = files.live_file(settings.db_path)
        assert live_after != live_before and settings.db_path.is_symlink()
        assert "backup: " in out and Path(out.split("backup: ")[1].split()[0]).exists()
        wait_for("the consumer to switch", lambda: "swapped by a replay" in consumer.log())

        # New events land in the new file, through the consumer that was running all along,
        # and the api answers from it: yesterday's exercises leave user 9001's WOD.
        token = jwt.encode({"sub": "9001", "exp": int(time.time()) + 600}, SECRET)
        status, body = _get(port, "/fitness/wod?tz=UTC", token)
        first = [e["id"] for e in _json(body)["exercises"]]
        assert status == 200 and first
        yesterday = datetime.now(UTC) - timedelta(days=1)
        more = [
            completed(f"after-{i}", "9001", yesterday, [(first[i % len(first)], 10.0, 5)])
            for i in range(50)
        ]
        publish(settings, [("workouts", b"9001", _value(e)) for e in more])
        caught_up(settings, len(truth.records) + 50, consumer)
        got = stats(settings)
        assert got["workouts"] == truth.workouts + 50
        assert files.live_file(settings.db_path) == live_after
        time.sleep(1.5)  # the api's status and catalog caches live a second
        status, body = _get(port, "/fitness/wod?tz=UTC", token)
        assert status == 200
        now = [e["id"] for e in _json(body)["exercises"]]
        assert not set(now) & set(first), "the api still answers from the previous file"
    finally:
        assert api.stop() == 0, api.log()
        assert consumer.stop() == 0, consumer.log()


def test_dry_run_and_differences_leave_the_live_projection_alone(kafka_settings, tmp_path):
    """--dry-run checks and throws the build away; a live projection that differs from the
    topics is reported and not replaced (exit 4) unless --force."""
    truth = Truth(workouts=500, seed=5)
    project_truth(kafka_settings, truth, tmp_path)
    db = kafka_settings.db_path
    before = _files(db.parent)
    out = coach(kafka_settings, "replay", "--dry-run").stdout.decode()
    assert "check: same tables" in out and "dry run" in out, out
    assert _files(db.parent) == before

    # Damage the live projection behind the consumer's back: one workout goes missing.
    conn = connect(db)
    conn.execute("DELETE FROM workouts WHERE rowid = (SELECT min(rowid) FROM workouts)")
    conn.close()
    damaged = sums_of(db)
    result = coach(kafka_settings, "replay", check=False)
    out = result.stdout.decode()
    assert result.returncode == 4, result.stderr.decode()
    assert "differs: workouts" in out and "not swapped" in out, out
    assert not db.is_symlink() and sums_of(db) == damaged

    result = coach(kafka_settings, "replay", "--force", "--no-backup")
    assert db.is_symlink(), result.stdout.decode() + result.stderr.decode()
    truth.check(stats(kafka_settings))
    assert not list(db.parent.glob("*.backup")), "--no-backup kept a backup"


def test_replay_says_what_retention_removed(kafka_settings, tmp_path):
    """Old workouts removed from the topic: the replay names the partitions and offsets it
    could not rebuild, and does not swap a projection that lost them."""
    truth = Truth(workouts=400, seed=8)
    project_truth(kafka_settings, truth, tmp_path)
    import asyncio

    async def delete_first(n: int) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_records(
                {TopicPartition(kafka_settings.topic_workouts, 0): RecordsToDelete(n)}
            )
        finally:
            await admin.close()

    asyncio.run(delete_first(50))
    result = coach(kafka_settings, "replay", check=False)
    out = result.stdout.decode()
    assert result.returncode == 4, out + result.stderr.decode()
    assert f"could not rebuild: {kafka_settings.topic_workouts}/0: offsets 0..49 are gone" in out
    assert "not swapped" in out and not kafka_settings.db_path.is_symlink()


def test_replay_killed_at_random_moments_leaves_one_consistent_projection(kafka_settings, tmp_path):
    """SIGKILL at random moments of replays, the swap included: the live projection is
    always either the untouched previous file or a complete new one, equal to it; the next
    replay cleans up what the killed ones left and finishes."""
    truth = Truth(workouts=15_000, seed=9)
    settings = kafka_settings.model_copy(update={"batch_max_records": 500})
    project_truth(settings, truth, tmp_path)
    db = settings.db_path
    original = sums_of(db)
    started = time.monotonic()
    coach(settings, "replay", "--dry-run")
    duration = time.monotonic() - started
    rng = random.Random(3)
    outcomes: Counter[str] = Counter()
    for i in range(8):
        before = files.live_file(db)
        proc = subprocess.Popen(
            [COACH, "replay"],
            env=env_of(settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if i < 3:
            # Surely before the swap: soon after this replay starts building its file. (A
            # fraction of the dry run's time alone is not: the first replay reads a cold
            # broker and page cache, so later ones can finish within it under other load.)
            left = set(files.stale_builds(db))
            deadline = time.monotonic() + 60
            while not set(files.stale_builds(db)) - left and proc.poll() is None:
                assert time.monotonic() < deadline, "the replay never started building"
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, duration * 0.2))
        else:
            # Spread over the whole run; the last ones land near its end, the swap.
            time.sleep(rng.uniform(0.1, duration * (0.6 + 0.1 * i)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        live = files.live_file(db)
        assert live is not None
        outcomes["swapped" if live != before else "untouched"] += 1
        conn = connect(db, readonly=True)
        try:
            assert integrity(conn) == []
        finally:
            conn.close()
        assert sums_of(db) == original, f"kill {i} left a different projection"
    coach(settings, "replay")
    assert not files.stale_builds(db), "the last replay left build files behind"
    assert sums_of(db) == original
    truth.check(stats(settings))
    print(f"replay kills: {dict(outcomes)} (a full dry run took {duration:.1f} s)")
    assert outcomes["untouched"] >= 2


# -- helpers -------------------------------------------------------------------------------------


def _files(directory: Path) -> list[str]:
    """The files in `directory` but the replay's lock file (it stays, as lock files do)."""
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".replay.lock"))


def _status(port: int, path: str) -> int:
    return _get(port, path)[0]


def _get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _json(body: bytes) -> dict:  # type: ignore[type-arg]
    import json

    return json.loads(body)  # type: ignore[no-any-return]


def _value(event: dict) -> bytes:  # type: ignore[type-arg]
    from tests.factories import value_of

    return value_of(event)


def test_sigkill_of_the_service_at_the_swap_comes_back_consistent(kafka_settings, tmp_path):
    """The replay, the consumer and the api are killed -9 at the moment the replay swaps
    (when it marks the swap as begun): restarted, the service has one consistent
    projection, old or new, that catches up to the ground truth; the next replay removes
    what the killed one left."""
    settings = kafka_settings.model_copy(update={"batch_max_records": 500})
    truth = Truth(workouts=4_000, seed=21)
    coach(settings, "topics", "create")
    publish(settings, truth.records)
    db = settings.db_path
    marker = db.with_name(f".{db.name}.swapping")
    outcomes: Counter[str] = Counter()
    # Kill when the swap is marked as begun (before the rename), a little later, and right
    # after the rename (while the consumer and the api switch over).
    for round_, moment in enumerate(("marked", "marked+20ms", "renamed")):
        consumer = Service(settings, tmp_path / f"consume-{round_}.log", "consume")
        port = free_port()
        api = Service(settings, tmp_path / f"api-{round_}.log", "api", "--port", str(port))
        caught_up(settings, len(truth.records), consumer)
        wait_for("the api", lambda: _status(port, "/ready") == 200, service=api)  # noqa: B023
        before = files.live_file(db)
        replay = subprocess.Popen(
            [COACH, "replay"],
            env=env_of(settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not marker.exists() and replay.poll() is None:
            assert time.monotonic() < deadline, "the replay never reached its swap"
            time.sleep(0.001)
        if moment == "marked+20ms":
            time.sleep(0.02)
        while moment == "renamed" and files.live_file(db) == before and replay.poll() is None:
            assert time.monotonic() < deadline, "the replay never swapped"
            time.sleep(0.001)
        for proc in (replay, consumer.proc, api.proc):
            proc.send_signal(signal.SIGKILL)
        replay.wait()
        consumer.stop()
        api.stop()
        outcomes["new" if files.live_file(db) != before else "old"] += 1

        conn = connect(db, readonly=True)
        try:
            assert integrity(conn) == []
        finally:
            conn.close()
        consumer = Service(settings, tmp_path / f"again-{round_}.log", "consume")
        api = Service(settings, tmp_path / f"api-again-{round_}.log", "api", "--port", str(port))
        try:
            caught_up(settings, len(truth.records), consumer)
            truth.check(stats(settings))
            wait_for("the api again", lambda: _status(port, "/ready") == 200, service=api)  # noqa: B023
        finally:
            assert consumer.stop() == 0
            api.stop()  # uvicorn re-raises the SIGTERM it handled: -15 is its clean exit
    coach(settings, "replay")
    assert not files.stale_builds(db) and not marker.exists()
    truth.check(stats(settings))
    print(f"killed at the swap: {dict(outcomes)}")


def test_without_a_live_projection_a_replay_is_refused_unless_asked_for_a_new_one(
    kafka_settings, tmp_path
):
    """No projection at COACH_DB_PATH (or COACH_DB_PATH unset): refused with exit 1 and a
    message naming COACH_DB_PATH, creating nothing, as `coach stats` is; --create (with
    --dry-run: built and thrown away) builds a new one there from the topics."""
    truth = Truth(workouts=200, seed=4)
    coach(kafka_settings, "topics", "create")
    publish(kafka_settings, truth.records)
    db = kafka_settings.db_path
    for args in (("replay",), ("replay", "--dry-run")):
        result = coach(kafka_settings, *args, check=False)
        err = result.stderr.decode()
        assert result.returncode == 1, err
        assert f"no projection at {db} (COACH_DB_PATH): nothing to rebuild" in err, err
        assert not db.exists() and _files(db.parent) == []

    out = coach(kafka_settings, "replay", "--dry-run", "--create").stdout.decode()
    assert "dry run" in out and "no live projection" in out, out
    assert not db.exists() and _files(db.parent) == []
    coach(kafka_settings, "replay", "--create")
    assert db.is_symlink()
    truth.check(stats(kafka_settings))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    unset = {k: v for k, v in env_of(kafka_settings).items() if k != "COACH_DB_PATH"}
    result = subprocess.run([COACH, "replay"], env=unset, cwd=cwd, capture_output=True)
    assert result.returncode == 1 and b"COACH_DB_PATH is not set" in result.stderr
    assert list(cwd.iterdir()) == [], "a replay without COACH_DB_PATH made files here"


def test_into_never_follows_a_link(kafka_settings, tmp_path):
    """`--into PATH` where PATH is a link (to a file that does not exist yet, elsewhere):
    refused as an existing path; nothing is written where the link points."""
    coach(kafka_settings, "topics", "create")
    elsewhere = tmp_path / "elsewhere.db"
    link = tmp_path / "into.db"
    link.symlink_to(elsewhere)
    result = coach(kafka_settings, "replay", "--into", str(link), check=False)
    assert result.returncode == 1, result.stderr.decode()
    assert f"{link} exists; --into builds a new file only" in result.stderr.decode()
    assert not elsewhere.exists()
