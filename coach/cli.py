"""The `coach` command line: one entry point for the service and its tools."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from coach import event_commands, projection_commands
from coach.command_support import announce, load_or_exit
from coach.dead_letter_commands import dead_letters
from coach.erasure_commands import erasure
from coach.logs import setup_logging
from coach.token_command import token
from config.settings import ConfigError, Settings
from rollout.cli import rollout

log = logging.getLogger("coach")

KEEP_ALIVE_SECONDS = 75
"""How long the api keeps an idle HTTP connection open: longer than its clients keep one
idle (nginx's upstream keepalive_timeout: 4 s in deploy/nginx, 60 s by default), so the
client, not the server, closes it. With uvicorn's 5 s default, a worker stalled for seconds
closed a connection as a request arrived on it ("Server disconnected without sending a
response", seen once in the broker-outage test on an overloaded machine)."""


def key_mode(settings: Settings) -> str:
    """How the api verifies tokens, for its start-up log (never the key itself)."""
    algorithms = ",".join(settings.jwt_algorithms)
    if settings.uses_jwks:
        mode = f"{algorithms} with the key set of {settings.jwt_jwks_url or settings.jwt_issuer}"
    elif settings.jwt_public_key_file is not None:
        mode = f"{algorithms} with the public key in {settings.jwt_public_key_file}"
    else:
        mode = f"{algorithms} with the secret of COACH_JWT_SECRET"
    checks = [
        f"{name} {value}"
        for name, value in (("iss", settings.jwt_issuer), ("aud", settings.jwt_audience))
        if value
    ]
    return mode + (f", checking {' and '.join(checks)}" if checks else "")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="coach", prog_name="coach", message="%(prog)s %(version)s")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
)
def main(log_level: str) -> None:
    """coach: the workout of the day, served from a Kafka-fed SQLite projection.

    Settings come from COACH_* environment variables (see docs/configuration.md).
    """
    setup_logging(log_level)


# -- the service ------------------------------------------------------------------------------


async def _consume(settings: Settings, stop: asyncio.Event) -> int:
    from consumer.kafka import OutOfRetention
    from consumer.loop import Projector
    from store.errors import ProjectionRefused, StoreError

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
    except ProjectionRefused as exc:
        log.error("%s", exc)
        return 1
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
    """Keep the projection up to date with both topics (until SIGTERM/SIGINT).

    A broker outage never stops it: it retries with backoff, and says so in /lag and /ready.

    \b
    Exit codes:
      0  stopped by SIGTERM or SIGINT, after committing the batches in hand
      1  bad settings (the message names the COACH_* variable); the projection cannot be
         opened (a newer schema) or is refused (offsets of other topics, a snapshot that
         fails SQLite's quick check)
      2  a usage error (an unknown option)
      3  the projection cannot be continued: a stored offset has left its topic
         (retention), or a topic was deleted and created again, or the file comes from
         another cluster. Rebuild it: coach replay
    """
    settings = load_or_exit()
    announce(settings)

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

    from api.app import make_verifier

    settings = load_or_exit()
    try:
        # Once here, before any worker: a key file or key set that cannot be used stops
        # start-up with its message (in a worker, uvicorn would start it again and again).
        make_verifier(settings)
        log.info(
            "coach api serving http://%s:%d with %d worker(s); tokens: %s; projection %s",
            host,
            port,
            workers,
            key_mode(settings),
            Path(settings.db_path).absolute(),
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    announce(settings)
    uvicorn.run(
        "api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        **uvicorn_options(settings),
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `coach api` and `coach run` give uvicorn: the event loop of COACH_LOOP; believe
    `X-Forwarded-*` from COACH_FORWARDED_ALLOW_IPS only (explicit, so uvicorn's
    FORWARDED_ALLOW_IPS environment variable plays no part); and the HTTP protocol whose
    own 400s are JSON (api/refusals.py)."""
    allowed = settings.forwarded_allow_ips
    return {
        "loop": settings.loop,
        "proxy_headers": bool(allowed),
        "forwarded_allow_ips": allowed or None,
        "http": "api.refusals:JsonRefusalProtocol",
    }


class _QuietServer:
    """A uvicorn server that leaves signals to us (uvicorn re-raises them after serving,
    which would kill the consumer in the middle of its shutdown)."""

    @staticmethod
    def make(app: Any, host: str, port: int, settings: Settings) -> Any:
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
                **uvicorn_options(settings),
            )
        )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def run(host: str, port: int) -> None:
    """Consumer and api in one process, for development (until SIGTERM/SIGINT)."""
    from api.app import create_app

    settings = load_or_exit()
    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    announce(settings)
    server = _QuietServer.make(app, host, port, settings)

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

    with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
        sys.exit(runner.run(both()))


for _command in (
    # the topics
    event_commands.topics,
    event_commands.publish,
    event_commands.demo_data,
    # the projection
    projection_commands.stats,
    projection_commands.replay,
    projection_commands.snapshot,
    dead_letters,
    erasure,
    token,
    rollout,
):
    main.add_command(_command)
