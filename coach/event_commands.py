"""The `coach` commands that act on the topics: `coach topics create`, `coach publish` (JSON
lines of CloudEvents to their topics, keyed) and `coach demo-data` (the events to publish).
coach/cli.py adds them to the `coach` group."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

import click
import orjson

from coach.command_support import load_or_exit


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
