"""The operator commands of `coach`: topics, publishing, demo data, replay, stats,
development tokens (dead letters: coach/dead_letter_commands.py). coach/cli.py adds them to
the `coach` group."""

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


def _open_projection(settings: Settings, *, readonly: bool = True) -> Any:
    from store.db import connect
    from store.errors import StoreError

    if not Path(settings.db_path).exists():
        raise click.ClickException(f"no projection at {settings.db_path} (COACH_DB_PATH)")
    try:
        return connect(settings.db_path, readonly=readonly)
    except StoreError as exc:  # unreadable, or of a schema this coach cannot use
        raise click.ClickException(str(exc)) from None


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
