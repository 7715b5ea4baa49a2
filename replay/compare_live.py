"""The checks of `coach replay` against the live projection: building up to the live one's
offsets and comparing (steps 1 to 3 of replay/run.py), then catching up with it (step 4)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from config.derived import dead_letter_cutoff_us, history_cutoff_us
from config.settings import Settings
from consumer.writers import Writer
from replay.plan import remaining
from replay.progress import Progress
from replay.reader import ReplayError, TopicReader, read_and_commit
from replay.verify import Comparison, compare
from store import dead_letters, files, fold, reads
from store.checks import integrity
from store.db import copy_of, open_as_is, transaction
from store.errors import NeedsReplay, SchemaTooNew
from store.instants import now_us
from store.migrations import migrate

CATCH_UP_ROUNDS = 50


async def build_and_compare(
    settings: Settings,
    compare_users: int,
    progress: Progress,
    reader: TopicReader,
    writer: Writer,
    conn: sqlite3.Connection,
    live_path: Path,
    target_file: Path,
) -> Comparison:
    """Build `conn`'s file up to the offsets of a copy of the live projection, fold both
    with one cutoff, and compare them (store/checks.py, replay/verify.py)."""
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
        await read_and_commit(reader, writer, targets, progress, "rebuild")
        now = now_us()
        cutoff = history_cutoff_us(settings, now)
        letters_cutoff = dead_letter_cutoff_us(settings, now)
        fold.fold_all(conn, before_us=cutoff)
        _remove_old_letters(conn, letters_cutoff)
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
        _remove_old_letters(snapshot, letters_cutoff)
        at = {p: reader.position[p] for p in targets}
        result = compare(snapshot, conn, users=compare_users)
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


async def catch_up(
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
            await read_and_commit(reader, writer, targets, progress, "catch up")
        raise ReplayError(f"could not catch up with the live consumer in {CATCH_UP_ROUNDS} rounds")
    finally:
        live.close()


def _remove_old_letters(conn: sqlite3.Connection, before_us: int) -> None:
    """Both sides keep dead letters up to one cutoff, as they fold with one (the live
    consumer removes them once a minute)."""
    with transaction(conn):
        dead_letters.remove_older(conn, before_us=before_us)
