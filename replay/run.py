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

Steps 1 to 4 are replay/compare_live.py, step 5 replay/swap_in.py; reading is
replay/reader.py, the plan of offsets replay/plan.py.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from config.derived import history_cutoff_us
from config.settings import Settings
from consumer.writers import Writer, open_writer
from replay.compare_live import build_and_compare, catch_up
from replay.plan import Gap, describe_gaps, gaps
from replay.progress import Progress
from replay.reader import ReplayError, TopicReader, read_and_commit
from replay.swap_in import swap_in
from replay.verify import Comparison
from store import files, fold
from store.checks import integrity
from store.db import checkpoint, connect, set_pragmas
from store.instants import now_us

log = logging.getLogger("coach.replay")


@dataclass
class Options:
    dry_run: bool = False
    into: Path | None = None
    backup: bool = True
    force: bool = False
    compare_users: int = 1000
    create: bool = False
    """Build the live projection at COACH_DB_PATH from the topics when there is none there
    (without it, and without --into, a replay with no live projection is refused)."""


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
    refuse_without_live(settings, options)
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


def refuse_without_live(settings: Settings, options: Options) -> None:
    """Raise ReplayError when there is no live projection to rebuild and the user did not
    ask for a new one (`--into PATH`, `--create`): like `coach stats`, a replay does not
    quietly make a projection where COACH_DB_PATH (unset: coach.db here) points."""
    live_path = Path(settings.db_path)
    if options.into is not None or options.create or live_path.exists():
        return
    if "db_path" in settings.model_fields_set:
        which = "(COACH_DB_PATH)"
    else:
        which = "(COACH_DB_PATH is not set: the default in the current directory)"
    raise ReplayError(
        f"no projection at {live_path.absolute()} {which}: nothing to rebuild. Set and "
        "export COACH_DB_PATH to the live projection's path; to build a new projection "
        "from the topics, give --into PATH (a file of its own) or --create (it becomes the "
        "projection at COACH_DB_PATH)."
    )


async def _replay(
    settings: Settings, options: Options, progress: Progress, reader: TopicReader, live_path: Path
) -> Outcome:
    started = time.monotonic()
    outcome = Outcome()
    found_gaps = gaps(await reader.beginnings())
    if options.into is not None:
        if options.into.exists() or options.into.is_symlink():
            raise ReplayError(f"{options.into} exists; --into builds a new file only")
        target_file = building = options.into
    else:
        target_file = files.new_generation(live_path)
        building = files.building_path(target_file)
    live = live_path if live_path.exists() else None
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
        _discard(None, conn, building)
        raise
    try:
        keep = await _build(options, progress, reader, writer, conn, outcome, target_file, live)
        if keep:
            await writer.close()
            # --into only builds: SQLite's quick check. A file that is swapped in gets the
            # full integrity check (and has been compared with the live one).
            problems = integrity(conn, quick=options.into is not None)
            if problems:
                raise ReplayError(
                    f"the rebuilt projection fails SQLite's integrity check: {problems}"
                )
    except BaseException:
        _discard(writer, conn, building)
        raise
    if not keep:
        _discard(writer, conn, building)
    elif options.into is not None:
        checkpoint(conn)
        conn.close()
        outcome.built, outcome.kept = options.into, True
    else:
        final, outcome.swapped, note = await swap_in(
            conn, building, target_file, live_path, backup=options.backup
        )
        outcome.built, outcome.kept = final, True
        if note is not None:
            outcome.notes.append(note)
    return _finish(outcome, reader, writer, found_gaps, started)


async def _build(
    options: Options,
    progress: Progress,
    reader: TopicReader,
    writer: Writer,
    conn: sqlite3.Connection,
    outcome: Outcome,
    target_file: Path,
    live: Path | None,
) -> bool:
    """Build the new file (steps 2 to 4) beside the `live` projection (None: there is
    none); whether to keep it (False: a dry run, or it differs from the live one without
    --force). The reasons go to `outcome.notes`."""
    settings = reader.settings
    if options.into is not None or live is None:
        await read_and_commit(reader, writer, await reader.ends(), progress, "replay")
        fold.fold_all(conn, before_us=history_cutoff_us(settings, now_us()))
        outcome.notes.append(
            "no live projection to compare with" if live is None else "built only (--into)"
        )
        if options.dry_run and options.into is None:
            outcome.notes.append("dry run: built, not swapped")
            return False
        return True
    outcome.comparison = await build_and_compare(
        settings, options.compare_users, progress, reader, writer, conn, live, target_file
    )
    if not outcome.comparison.equal and not options.force:
        outcome.notes.append(
            "not swapped: the rebuilt projection differs (see above); --force swaps it in anyway"
        )
        return False
    if not outcome.comparison.equal:
        outcome.notes.append("swapping although it differs (--force)")
    if options.dry_run:
        outcome.notes.append("dry run: checked, not swapped")
        return False
    await catch_up(reader, writer, live, progress)
    return True


def _discard(writer: Writer | None, conn: sqlite3.Connection, building: Path) -> None:
    """Give up the file being built: stop its writer, close it, remove it."""
    if writer is not None:
        writer.kill()
    conn.close()
    files.remove(building)


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
