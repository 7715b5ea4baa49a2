"""The `coach` commands that act on the projection: `coach stats` (what it holds),
`coach replay` (rebuild it from the topics) and `coach snapshot` (copy it for a new
replica). coach/cli.py adds them to the `coach` group."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import click

from coach.command_support import announce, echo_json, load_or_exit, open_projection


@click.command()
def stats() -> None:
    """Print what the projection holds, as JSON."""
    from store import reads

    conn = open_projection(load_or_exit())
    try:
        echo_json(reads.stats(conn))
    finally:
        conn.close()


@click.command()
@click.option("--dry-run", is_flag=True, help="Build and check, then throw the new file away.")
@click.option(
    "--into",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Only build a projection at this (new) path: no comparison, no swap.",
)
@click.option("--no-backup", is_flag=True, help="Remove the previous projection after the swap.")
@click.option(
    "--force", is_flag=True, help="Swap even when the rebuilt projection differs from the live one."
)
@click.option(
    "--create",
    is_flag=True,
    help="With no projection at COACH_DB_PATH: build one there from the topics (else refused).",
)
@click.option(
    "--compare-users",
    default=1000,
    show_default=True,
    type=click.IntRange(0, 10_000_000),
    help="How many users' answers to compare, besides the table checksums.",
)
def replay(
    dry_run: bool,
    into: Path | None,
    no_backup: bool,
    force: bool,
    create: bool,
    compare_users: int,
) -> None:
    """Rebuild the projection from the topics beside the live one, check it, swap it in.

    With no projection at COACH_DB_PATH it is refused (exit 1) unless --into PATH or
    --create asks for a new one.

    Exit status: 0 done; 1 an error; 4 the rebuilt projection differs from the live one
    (not swapped; --force swaps anyway).
    """
    from replay.progress import for_terminal
    from replay.reader import ReplayError
    from replay.run import Options
    from replay.run import replay as run_replay
    from store.files import ReplayRunning

    settings = load_or_exit()
    announce(settings)
    options = Options(
        dry_run=dry_run,
        into=into,
        backup=not no_backup,
        force=force,
        compare_users=compare_users,
        create=create,
    )
    try:
        outcome = asyncio.run(run_replay(settings, options, for_terminal()))
    except (ReplayError, ReplayRunning) as exc:
        raise click.ClickException(str(exc)) from None
    rate = outcome.records / outcome.seconds if outcome.seconds else 0.0
    click.echo(
        f"read {outcome.records:,} records in {outcome.seconds:.1f} s ({rate:,.0f} ev/s), "
        f"{outcome.dead_letters:,} dead letters"
    )
    for line in outcome.gaps:
        click.echo(f"could not rebuild: {line}")
    comparison = outcome.comparison
    if comparison is not None:
        for table, mine in comparison.rebuilt.items():
            click.echo(f"  {table}: {mine.rows:,} rows, sha256 {mine.sha256[:16]}")
        if comparison.skipped:
            click.echo(f"check against the live projection skipped: {comparison.skipped}")
        elif comparison.equal:
            click.echo(
                f"check: same tables and same answers for {comparison.users_compared:,} "
                "users as the live projection at the same offsets"
            )
        for difference in comparison.differences:
            click.echo(f"differs: {difference}")
    for note in outcome.notes:
        click.echo(note)
    if outcome.swapped is not None:
        click.echo(f"live: {settings.db_path} -> {outcome.swapped.live.name}")
        if outcome.swapped.backup is not None:
            click.echo(f"backup: {outcome.swapped.backup}")
    elif outcome.built is not None and outcome.kept:
        click.echo(f"built: {outcome.built}")
    if comparison is not None and not comparison.equal and not force:
        sys.exit(4)


# -- snapshots ----------------------------------------------------------------------------------


@click.command()
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
def snapshot(dest: Path) -> None:
    """Copy the live projection, with its offsets, to DEST: one self-contained file that a
    new replica starts from (COACH_DB_PATH=DEST, then `coach consume`).

    The copy is consistent (SQLite's online backup, one read transaction) and pauses
    neither the api nor the consumer. DEST must not exist; it appears only when complete.
    It holds personal data, like the projection (docs/PRIVACY.md).
    """
    from store import snapshot as snapshots
    from store.db import open_as_is, unreadable_message
    from store.instants import now_us

    settings = load_or_exit()
    live = Path(settings.db_path)
    if not live.exists():
        raise click.ClickException(f"no projection at {live} (COACH_DB_PATH)")
    conn = open_as_is(live)
    try:
        foreign = snapshots.foreign_topics(
            conn, (settings.topic_exercises, settings.topic_workouts, settings.topic_erasures)
        )
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(unreadable_message(live, exc)) from None
    finally:
        conn.close()
    if foreign:
        raise click.ClickException(
            f"{live} holds offsets of topic(s) {', '.join(foreign)}, not of COACH_TOPIC_* "
            f"({settings.topic_exercises}, {settings.topic_workouts}): a replica with these "
            "settings would refuse the snapshot. Run this with the settings of the replica "
            "that writes the projection."
        )
    try:
        taken = snapshots.take(live, dest, now_us=now_us())
    except snapshots.SnapshotError as exc:
        raise click.ClickException(str(exc)) from None
    offsets = ", ".join(f"{t}/{p}@{o}" for (t, p), o in sorted(taken.offsets.items()))
    click.echo(
        f"snapshot {taken.path}: {taken.bytes / 1e6:.1f} MB, schema version "
        f"{taken.schema_version}, in {taken.seconds:.2f} s"
    )
    click.echo(f"offsets: {offsets or 'none (nothing read yet)'}")
