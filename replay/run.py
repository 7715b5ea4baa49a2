"""`coach replay`: rebuild the projection from the topics beside the live one, check it
against the live one at the same offsets, catch up with the live consumer, swap it in.

Steps (the live projection is only ever read, until the one atomic swap):
1. Copy the live projection (SQLite's online backup: a consistent snapshot at offsets P).
2. Build a new file from the earliest retained offsets up to exactly P: this process reads
   and decodes, a writer process (consumer/writer.py) commits behind it.
3. Fold workouts older than the history window in both, with the same cutoff; check the new
   file (integrity, counts) and compare it with the snapshot (table checksums, the api's
   answers for a sample of users). Differences stop the replay unless `--force`.
4. Read on until the new file has caught up with the live consumer's offsets.
5. Swap: `COACH_DB_PATH` becomes a link to the new file (store/files.py). The api and the
   consumer notice within a second and carry on with it, the consumer from its offsets.

`--into PATH` does step 2 to the topics' ends, the fold and SQLite's quick check, and stops.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from config.derived import history_cutoff_us
from config.settings import Settings
from consumer.writers import Writer, open_writer
from replay.plan import Gap, Partition, by_topic, describe_gaps, gaps, remaining
from replay.progress import Progress
from replay.reader import ReplayError, TopicReader
from replay.verify import Comparison, compare
from store import files, fold, reads
from store.checks import integrity
from store.db import checkpoint, connect, copy_of, open_as_is, set_pragmas
from store.errors import NeedsReplay, SchemaTooNew
from store.instants import now_us
from store.migrations import migrate

log = logging.getLogger("coach.replay")

NO_BACKUP_GRACE_SECONDS = 5.0
"""With --no-backup, the previous file is removed this long after the swap, once the api
workers and the consumer (which check every second) have let go of it."""
CATCH_UP_ROUNDS = 50


@dataclass
class Options:
    dry_run: bool = False
    into: Path | None = None
    backup: bool = True
    force: bool = False
    compare_users: int = 1000


@dataclass
class Outcome:
    built: Path | None = None
    swapped: files.Swapped | None = None
    records: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    comparison: Comparison | None = None
    gaps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kept: bool = False
    """Whether the built file was kept (swapped in, or --into)."""


BUILDING_PRAGMAS = ("synchronous = OFF",)
"""A projection file under construction: nobody reads it until it is finished, and a crash
leaves a `.building` file that the next replay removes, so durability is off."""


def _open_building(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    set_pragmas(conn, BUILDING_PRAGMAS)
    return conn


async def replay(settings: Settings, options: Options, progress: Progress) -> Outcome:
    live_path = Path(settings.db_path)
    with files.replay_lock(live_path):
        for stale in files.stale_builds(live_path):
            log.info("removing %s, left by a replay that did not finish", stale)
            stale.unlink(missing_ok=True)
        orphan = files.interrupted_swap(live_path)
        if orphan is not None:
            log.info("removing %s, finished by a replay killed before its swap", orphan)
            files.remove(orphan)
            files.swap_done(live_path)
        reader = TopicReader(settings)
        await reader.start()
        try:
            return await _replay(settings, options, progress, reader, live_path)
        finally:
            await reader.stop()
            progress.close()


async def _replay(
    settings: Settings, options: Options, progress: Progress, reader: TopicReader, live_path: Path
) -> Outcome:
    started = time.monotonic()
    outcome = Outcome()
    beginnings = await reader.beginnings()
    found_gaps = gaps(beginnings)
    if options.into is not None:
        if options.into.exists():
            raise ReplayError(f"{options.into} exists; --into builds a new file only")
        target_file = building = options.into
    else:
        target_file = files.new_generation(live_path)
        building = files.building_path(target_file)
    live_exists = live_path.exists()
    conn = _open_building(building)
    # Batches are committed by a child process while this one reads and decodes the next;
    # `conn` is used between reads (fold, checks) and after the writer has closed.
    try:
        writer = open_writer(
            conn,
            building if settings.writer_process else None,
            reader.roles,
            pragmas=BUILDING_PRAGMAS,
        )
    except BaseException:
        conn.close()
        files.remove(building)
        raise
    try:
        if options.into is not None or not live_exists:
            ends = await reader.ends()
            await _read(reader, writer, ends, progress, "replay")
            fold.fold_all(conn, before_us=history_cutoff_us(settings, now_us()))
            outcome.notes.append(
                "no live projection to compare with" if not live_exists else "built only (--into)"
            )
            if options.dry_run and options.into is None:
                outcome.notes.append("dry run: built, not swapped")
                raise _Stop
        else:
            outcome.comparison = await _build_and_compare(
                settings, options, progress, reader, writer, conn, live_path, target_file
            )
            if not outcome.comparison.equal and not options.force:
                outcome.notes.append(
                    "not swapped: the rebuilt projection differs (see above); "
                    "--force swaps it in anyway"
                )
                raise _Stop
            if not outcome.comparison.equal:
                outcome.notes.append("swapping although it differs (--force)")
            if options.dry_run:
                outcome.notes.append("dry run: checked, not swapped")
                raise _Stop
            await _catch_up(reader, writer, live_path, progress)
        await writer.close()
        # --into only builds: SQLite's quick check. A file that is swapped in gets the full
        # integrity check (and has been compared with the live one).
        problems = integrity(conn, quick=options.into is not None)
        if problems:
            raise ReplayError(f"the rebuilt projection fails SQLite's integrity check: {problems}")
    except _Stop:
        writer.kill()
        conn.close()
        files.remove(building)
        return _finish(outcome, reader, writer, found_gaps, started)
    except BaseException:
        writer.kill()
        conn.close()
        files.remove(building)
        raise
    if options.into is not None:
        checkpoint(conn)
        conn.close()
        outcome.built, outcome.kept = options.into, True
        return _finish(outcome, reader, writer, found_gaps, started)
    files.mark_swapping(live_path, target_file)
    final = files.finish(conn, building)
    outcome.built, outcome.kept = final, True
    outcome.swapped = files.swap(live_path, final, backup=options.backup)
    files.swap_done(live_path)
    log.info("swapped in %s (the api and the consumer switch within a second)", final)
    previous = outcome.swapped.previous
    if outcome.swapped.was_plain_file:
        # It was a plain file: the rename unlinked it. Its -wal and -shm stay under the old
        # name until the processes that have it open switch over; then they can go.
        await asyncio.sleep(NO_BACKUP_GRACE_SECONDS)
        files.remove_side_files(live_path)
    elif previous is not None and not options.backup:
        await asyncio.sleep(NO_BACKUP_GRACE_SECONDS)
        files.remove(previous)
        outcome.notes.append(f"removed the previous projection {previous} (--no-backup)")
    return _finish(outcome, reader, writer, found_gaps, started)


class _Stop(Exception):
    pass


def _finish(
    outcome: Outcome, reader: TopicReader, writer: Writer, found: list[Gap], started: float
) -> Outcome:
    seen = reader.counts.first_timestamp_ms
    outcome.gaps = describe_gaps(
        [Gap(g.partition, g.first_retained, seen.get(g.partition)) for g in found],
        compacted={reader.settings.topic_exercises},
    )
    outcome.records = reader.counts.records
    outcome.dead_letters = writer.totals.dead_letters
    outcome.seconds = time.monotonic() - started
    return outcome


async def _read(
    reader: TopicReader,
    writer: Writer,
    targets: dict[Partition, int],
    progress: Progress,
    phase: str,
) -> None:
    """Read to `targets`; return when all of it is committed."""
    todo = {p: max(0, t - reader.position.get(p, 0)) for p, t in targets.items()}
    progress.phase(phase, by_topic(todo))
    await reader.read_to(writer, targets, progress)
    await writer.drain()


async def _build_and_compare(
    settings: Settings,
    options: Options,
    progress: Progress,
    reader: TopicReader,
    writer: Writer,
    conn: sqlite3.Connection,
    live_path: Path,
    target_file: Path,
) -> Comparison:
    snapshot_path = files.building_path(target_file.with_name(target_file.name + ".live-snapshot"))
    # The live file is copied as it is (no migration: it may be at an older schema).
    snapshot = copy_of(live_path, snapshot_path)
    try:
        stored = reads.positions(snapshot)
        targets = {p: stored.get(p, 0) for p in reader.position}
        unknown = sorted(set(stored) - set(targets))
        if unknown:
            raise ReplayError(
                "the live projection has read partitions the topics do not have: "
                + ", ".join(f"{t}/{p}" for t, p in unknown)
            )
        await _read(reader, writer, targets, progress, "rebuild")
        cutoff = history_cutoff_us(settings, now_us())
        fold.fold_all(conn, before_us=cutoff)
        damage = integrity(snapshot)
        if damage:
            return Comparison(
                live={}, rebuilt={}, skipped=f"the live projection is damaged: {damage[:3]}"
            )
        try:
            migrate(snapshot)
        except NeedsReplay as exc:
            return Comparison(live={}, rebuilt={}, skipped=str(exc))
        except SchemaTooNew as exc:
            raise ReplayError(f"the live projection was written by a newer coach: {exc}") from exc
        fold.fold_all(snapshot, before_us=cutoff)
        at = {p: reader.position[p] for p in targets}
        result = compare(snapshot, conn, users=options.compare_users)
        if at != targets:
            result.differences.append(
                "the rebuilt projection could not stop at the live one's offsets: "
                + ", ".join(
                    f"{t}/{p} {at[(t, p)]} vs {o}"
                    for (t, p), o in targets.items()
                    if at[(t, p)] != o
                )
            )
        return result
    finally:
        snapshot.close()
        files.remove(snapshot_path)


async def _catch_up(
    reader: TopicReader, writer: Writer, live_path: Path, progress: Progress
) -> None:
    """Read on until the new file is at least where the live consumer is."""
    live = open_as_is(live_path)  # positions only: any schema version
    try:
        for _ in range(CATCH_UP_ROUNDS):
            stored = reads.positions(live)
            if remaining(reader.position, stored) == 0:
                return
            targets = {p: max(stored.get(p, 0), reader.position[p]) for p in reader.position}
            await _read(reader, writer, targets, progress, "catch up")
        raise ReplayError(f"could not catch up with the live consumer in {CATCH_UP_ROUNDS} rounds")
    finally:
        live.close()
