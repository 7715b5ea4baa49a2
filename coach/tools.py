"""The operator commands of `coach`: topics, publishing, demo data, replay, stats, dead
letters, development tokens. coach/cli.py adds them to the `coach` group."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from config.settings import ConfigError, Settings, load_settings


def load_or_exit() -> Settings:
    """The settings, or a ClickException naming the bad variable."""
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


# -- Kafka tools ------------------------------------------------------------------------------


@click.group()
def topics() -> None:
    """Manage the Kafka topics coach reads."""


@topics.command("create")
@click.option("--replication-factor", default=1, show_default=True, type=click.IntRange(1, 10))
def topics_create(replication_factor: int) -> None:
    """Create the three topics (catalog and erasures compacted); existing ones are left alone."""
    from coach.kafka_tools import create_topics

    settings = load_or_exit()
    created = asyncio.run(create_topics(settings, replication_factor=replication_factor))
    for name in (settings.topic_exercises, settings.topic_workouts, settings.topic_erasures):
        click.echo(f"{name}: {'created' if name in created else 'exists'}")


@click.command()
@click.argument("source", type=click.File("rb"), default="-")
def publish(source: Any) -> None:
    """Publish JSON lines of CloudEvents (from SOURCE or stdin) to their topics, keyed."""
    from coach.kafka_tools import PublishError, publish_lines

    settings = load_or_exit()
    try:
        result = asyncio.run(publish_lines(settings, source))
    except PublishError as exc:
        raise click.ClickException(str(exc)) from None
    parts = ", ".join(f"{n} to {t}" for t, n in sorted((result.by_topic or {}).items()))
    click.echo(f"published {result.events} events ({parts or 'none'})", err=True)


@click.command("demo-data")
@click.option("--users", default=50, show_default=True, type=click.IntRange(0, 10_000_000))
@click.option(
    "--days",
    default=3,
    show_default=True,
    type=click.IntRange(1, 60),
    help="Local days of workouts per user, today included.",
)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--catalog/--no-catalog", default=True, show_default=True)
def demo_data(users: int, days: int, seed: int, catalog: bool) -> None:
    """Print a realistic catalog and workout history as JSON lines of CloudEvents."""
    from coach.demo import catalog_events, workout_events

    out = sys.stdout.buffer
    if catalog:
        for event in catalog_events():
            out.write(orjson.dumps(event) + b"\n")
    for event in workout_events(users=users, days=days, now=datetime.now(UTC), seed=seed):
        out.write(orjson.dumps(event) + b"\n")
    out.flush()


# -- rebuilding the projection ------------------------------------------------------------------


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
    "--compare-users",
    default=1000,
    show_default=True,
    type=click.IntRange(0, 10_000_000),
    help="How many users' answers to compare, besides the table checksums.",
)
def replay(
    dry_run: bool, into: Path | None, no_backup: bool, force: bool, compare_users: int
) -> None:
    """Rebuild the projection from the topics beside the live one, check it, swap it in.

    Exit status: 0 done; 1 an error; 4 the rebuilt projection differs from the live one
    (not swapped; --force swaps anyway).
    """
    from replay.progress import for_terminal
    from replay.reader import ReplayError
    from replay.run import Options
    from replay.run import replay as run_replay
    from store.files import ReplayRunning

    settings = load_or_exit()
    options = Options(
        dry_run=dry_run, into=into, backup=not no_backup, force=force, compare_users=compare_users
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
    from store.db import open_as_is
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


# -- inspection and development -----------------------------------------------------------------


@click.command()
def stats() -> None:
    """Print what the projection holds, as JSON."""
    from store import reads

    conn = _open_projection(load_or_exit())
    try:
        _echo_json(reads.stats(conn))
    finally:
        conn.close()


@click.group("dead-letters")
def dead_letters() -> None:
    """Records that could not be applied, kept with their reason."""


@dead_letters.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
def dead_letters_list(limit: int) -> None:
    """Print the dead letters as JSON lines (oldest first per partition)."""
    from consumer.dead_letters import list_letters

    conn = _open_projection(load_or_exit())
    try:
        for letter in list_letters(conn, limit=limit):
            click.echo(orjson.dumps(letter).decode())
    finally:
        conn.close()


@dead_letters.command("retry")
def dead_letters_retry() -> None:
    """Apply every dead letter again (after a fix); remove those that now apply."""
    from config.derived import roles
    from consumer.dead_letters import retry

    settings = load_or_exit()
    conn = _open_projection(settings, readonly=False)
    try:
        result = retry(conn, roles=roles(settings))
    finally:
        conn.close()
    for error in result.errors:
        click.echo(f"still failing: {error}", err=True)
    click.echo(
        f"applied {result.applied}, still failing {result.still_failing}, "
        f"redacted (erased users, left as they are) {result.redacted}"
    )


def _open_projection(settings: Settings, *, readonly: bool = True) -> Any:
    from store.db import connect

    if not Path(settings.db_path).exists():
        raise click.ClickException(f"no projection at {settings.db_path} (COACH_DB_PATH)")
    return connect(settings.db_path, readonly=readonly)


@click.command()
@click.option("--sub", required=True, help="The user id (the token's subject).")
@click.option("--zoneinfo", default=None, help="IANA time zone claim, e.g. Europe/Berlin.")
@click.option(
    "--ttl",
    default=3600,
    show_default=True,
    type=click.IntRange(1, 30 * 86400),
    help="Seconds until the token expires.",
)
def token(sub: str, zoneinfo: str | None, ttl: int) -> None:
    """Print a development token signed with COACH_JWT_SECRET."""
    import jwt

    from api.zones import is_known_zone

    settings = load_or_exit()
    if settings.jwt_secret is None:
        raise click.ClickException("COACH_JWT_SECRET is not set: it signs development tokens")
    if zoneinfo is not None and not is_known_zone(zoneinfo):
        raise click.ClickException(f"--zoneinfo: {zoneinfo!r} is not an IANA time zone")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + ttl}
    if zoneinfo:
        claims["zoneinfo"] = zoneinfo
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    click.echo(
        jwt.encode(
            claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithms[0]
        )
    )
