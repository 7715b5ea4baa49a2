"""The FastAPI application: built from a Settings object in `create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry

from api import ceiling, health, metrics, wod
from api.auth import BadKey, TokenVerifier
from api.catalog import CatalogCache
from api.deps import AppState, Verifier
from api.docs import add_docs
from api.errors import ApiError, handle_api_error, handle_validation_error
from api.fastpath import WodFastPath
from api.freshness import StatusCache
from api.jwks import JwksError
from api.jwksfetch import JwksSource
from api.jwksrefresh import JwksKeys
from api.jwksverify import JwksVerifier
from api.loop_lag import LoopLag
from api.metrics import KeySetCollector, MetricsMiddleware, ProjectionCollector, RequestMetrics
from api.projection import ProjectionWatcher
from api.slashes import use_relative_slash_redirects
from api.tokencache import CachedVerifier
from api.wodcache import WodCache
from config.settings import ConfigError, Settings, env_name, load_settings
from store import files
from store.db import connect
from wod.day import YesterdayCache


def wall_clock_us() -> int:
    return time.time_ns() // 1000


def make_verifier(settings: Settings) -> Verifier:
    """The token verifier the settings describe; a ConfigError names a bad key setting.
    With a key set, its first fetch happens here (start-up); its refresher does not run
    yet (`key_refresher`)."""
    settings.require_jwt_key()
    verifier = jwks_verifier(settings) if settings.uses_jwks else static_verifier(settings)
    if settings.jwt_cache_size:
        return CachedVerifier(verifier, settings.jwt_cache_size)
    return verifier


def static_verifier(settings: Settings) -> TokenVerifier:
    """A verifier of one HMAC secret or one public key file."""
    try:
        verifier = TokenVerifier.from_secret_or_file(
            secret=settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
            public_key_file=settings.jwt_public_key_file,
            algorithms=tuple(settings.jwt_algorithms),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_seconds=settings.jwt_leeway_seconds,
            max_bytes=settings.jwt_max_bytes,
        )
    except (BadKey, OSError) as exc:
        setting = "jwt_secret" if settings.jwt_secret else "jwt_public_key_file"
        raise ConfigError(f"{env_name(setting)}: {exc}") from None
    return verifier


def jwks_verifier(settings: Settings) -> JwksVerifier:
    """A verifier of the issuer's key set, fetched once now (ConfigError if it cannot be,
    and no cached copy is at COACH_JWT_JWKS_CACHE_FILE)."""
    setting = "jwt_jwks_url" if settings.jwt_jwks_url else "jwt_issuer"
    keys = JwksKeys(
        fetch=JwksSource(settings).fetch,
        algorithms=tuple(settings.jwt_algorithms),
        min_refresh_seconds=settings.jwt_jwks_min_refresh_seconds,
        max_age_seconds=settings.jwt_jwks_max_age_seconds,
        cache_file=settings.jwt_jwks_cache_file,
    )
    try:
        keys.load()
    except JwksError as exc:
        raise ConfigError(
            f"{env_name(setting)}: cannot get the issuer's key set ({exc}), and no cached "
            f"copy (see {env_name('jwt_jwks_cache_file')})"
        ) from None
    return JwksVerifier(
        key=None,
        algorithms=tuple(settings.jwt_algorithms),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        max_bytes=settings.jwt_max_bytes,
        keys=keys,
    )


def key_refresher(verifier: Verifier) -> JwksKeys | None:
    """The key set behind `verifier`, if it verifies with one."""
    inner = getattr(verifier, "verifier", verifier)  # a CachedVerifier's own
    return inner.keys if isinstance(inner, JwksVerifier) else None


def _open_readonly(path: Path) -> sqlite3.Connection:
    return connect(path, readonly=True)


def create_app(settings: Settings, *, clock: Callable[[], int] = wall_clock_us) -> FastAPI:
    """The api over the projection at `settings.db_path`. Refuses to start without a key.

    `clock` gives now in microseconds since the epoch (tests pass a fixed one).
    """
    verifier = make_verifier(settings)
    refresher = key_refresher(verifier)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        conn, identity = files.open_live(settings.db_path, _open_readonly)
        state = app.state.coach = AppState(
            conn=conn,
            verifier=verifier,
            catalog=CatalogCache(),
            status=StatusCache(settings.status_cache_seconds),
            days=YesterdayCache(),
            settings=settings,
            clock=clock,
            wods=WodCache(settings.wod_cache_size),
        )
        watcher = app.state.projection_watcher = ProjectionWatcher(
            Path(settings.db_path), state, identity
        )
        watching = asyncio.create_task(watcher.run())
        measuring = asyncio.create_task(loop_lag.run())
        if refresher is not None:
            refresher.start()  # each api process (uvicorn worker) refreshes its own
        try:
            yield
        finally:
            for task in (watching, measuring):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            watcher.close()
            if refresher is not None:
                refresher.stop()
            app.state.coach = None
            state.conn.close()

    app = FastAPI(
        title="coach",
        summary="Workout of the day, served from a Kafka-fed SQLite projection",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # api/docs.py serves them with local assets
        redoc_url=None,
        # coach's telemetry is its Prometheus /metrics. FastAPI's native OpenTelemetry hooks
        # look up the global providers on every request even when none is configured (about
        # a tenth of a held WOD's cost in process, cProfile of bench/wod_inprocess.py): off.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.coach = None
    registry = CollectorRegistry()
    app.state.registry = registry
    loop_lag = app.state.loop_lag = LoopLag(registry)
    registry.register(ProjectionCollector(lambda: app.state.coach, clock))
    app.state.jwks = refresher
    if refresher is not None:
        registry.register(KeySetCollector(refresher))
    # The last added runs first: metrics time everything, the WOD's fast path included.
    # api/inline.py records the WODs it answers in the same metrics.
    request_metrics = app.state.request_metrics = RequestMetrics(registry)
    app.add_middleware(WodFastPath)
    app.add_middleware(MetricsMiddleware, metrics=request_metrics)
    app.add_exception_handler(ApiError, handle_api_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.include_router(wod.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    if settings.bench_ceiling:
        app.include_router(ceiling.router)
    add_docs(app)
    use_relative_slash_redirects(app.router)
    return app


def app_from_env() -> Any:
    """Factory for `uvicorn --factory` (each worker process builds its own app)."""
    return create_app(load_settings())
