"""The `coach` command line: one entry point for the service and its tools."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import orjson

from config.settings import ConfigError, Settings, load_settings

log = logging.getLogger("coach")

KEEP_ALIVE_SECONDS = 75
"""How long the api keeps an idle HTTP connection open: longer than its clients keep one
idle (nginx's upstream keepalive_timeout: 4 s in deploy/nginx, 60 s by default), so the
client, not the server, closes it. With uvicorn's 5 s default, a worker stalled for seconds
closed a connection as a request arrived on it ("Server disconnected without sending a
response", seen once in the broker-outage test on an overloaded machine)."""


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def main(log_level: str) -> None:
    """coach: the workout of the day, served from a Kafka-fed SQLite projection.

    Settings come from COACH_* environment variables (see the README).
    """
    _setup_logging(log_level)


# -- the service ------------------------------------------------------------------------------


async def _consume(settings: Settings, stop: asyncio.Event) -> int:
    from consumer.kafka import OutOfRetention
    from consumer.loop import Projector
    from store.errors import StoreError

    try:
        projector = Projector.open(settings)
    except StoreError as exc:  # a schema this coach cannot use
        log.error("cannot open the projection %s: %s", settings.db_path, exc)
        return 1
    try:
        await projector.run(stop)
    except OutOfRetention as exc:
        log.error("%s", exc)
        return 3
    except StoreError as exc:  # a swapped-in projection of a newer schema
        log.error("%s; stopping (run the coach version that wrote it)", exc)
        return 1
    finally:
        log.info(
            "consumer stopped after %d records in %d batches",
            projector.totals.records,
            projector.totals.batches,
        )
        projector.conn.close()
    return 0


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


@main.command()
def consume() -> None:
    """Keep the projection up to date with both topics (until SIGTERM/SIGINT)."""
    settings = _settings()

    async def run() -> int:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        return await _consume(settings, stop)

    sys.exit(asyncio.run(run()))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def api(host: str, port: int, workers: int) -> None:
    """Serve GET /fitness/wod and the operational endpoints."""
    import uvicorn

    settings = _settings()
    try:
        settings.require_jwt_key()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    uvicorn.run(
        "api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


class _QuietServer:
    """A uvicorn server that leaves signals to us (uvicorn re-raises them after serving,
    which would kill the consumer in the middle of its shutdown)."""

    @staticmethod
    def make(app: Any, host: str, port: int) -> Any:
        import contextlib

        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # type: ignore[no-untyped-def,override]
                yield

        return Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                timeout_keep_alive=KEEP_ALIVE_SECONDS,
            )
        )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """Consumer and api in one process, for development (until SIGTERM/SIGINT)."""
    from api.app import create_app

    settings = _settings()
    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    server = _QuietServer.make(app, host, port)

    async def both() -> int:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        consumer = asyncio.create_task(_consume(settings, stop))
        serving = asyncio.create_task(server.serve())
        log.info("coach is serving on http://%s:%d", host, port)
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({consumer, serving, waiter}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        server.should_exit = True
        code = await consumer
        await serving
        waiter.cancel()
        return code

    sys.exit(asyncio.run(both()))


# -- Kafka tools ------------------------------------------------------------------------------


@main.group()
def topics() -> None:
    """Manage the Kafka topics coach reads."""


@topics.command("create")
@click.option("--replication-factor", default=1, show_default=True, type=click.IntRange(1, 10))
def topics_create(replication_factor: int) -> None:
    """Create both topics (the catalog topic compacted); existing ones are left alone."""
    from coach.kafka_tools import create_topics

    settings = _settings()
    created = asyncio.run(create_topics(settings, replication_factor=replication_factor))
    for name in (settings.topic_exercises, settings.topic_workouts):
        click.echo(f"{name}: {'created' if name in created else 'exists'}")


@main.command()
@click.argument("source", type=click.File("rb"), default="-")
def publish(source: Any) -> None:
    """Publish JSON lines of CloudEvents (from SOURCE or stdin) to their topics, keyed."""
    from coach.kafka_tools import PublishError, publish_lines

    settings = _settings()
    try:
        result = asyncio.run(publish_lines(settings, source))
    except PublishError as exc:
        raise click.ClickException(str(exc)) from None
    parts = ", ".join(f"{n} to {t}" for t, n in sorted((result.by_topic or {}).items()))
    click.echo(f"published {result.events} events ({parts or 'none'})", err=True)


@main.command("demo-data")
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


@main.command()
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

    settings = _settings()
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


# -- inspection and development -----------------------------------------------------------------


@main.command()
def stats() -> None:
    """Print what the projection holds, as JSON."""
    from store import reads

    conn = _open_projection(_settings())
    try:
        _echo_json(reads.stats(conn))
    finally:
        conn.close()


@main.group("dead-letters")
def dead_letters() -> None:
    """Records that could not be applied, kept with their reason."""


@dead_letters.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
def dead_letters_list(limit: int) -> None:
    """Print the dead letters as JSON lines (oldest first per partition)."""
    from consumer.dead_letters import list_letters

    conn = _open_projection(_settings())
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

    settings = _settings()
    conn = _open_projection(settings, readonly=False)
    try:
        result = retry(conn, roles=roles(settings))
    finally:
        conn.close()
    for error in result.errors:
        click.echo(f"still failing: {error}", err=True)
    click.echo(f"applied {result.applied}, still failing {result.still_failing}")


def _open_projection(settings: Settings, *, readonly: bool = True) -> Any:
    from store.db import connect

    if not Path(settings.db_path).exists():
        raise click.ClickException(f"no projection at {settings.db_path} (COACH_DB_PATH)")
    return connect(settings.db_path, readonly=readonly)


@main.command()
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

    settings = _settings()
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
