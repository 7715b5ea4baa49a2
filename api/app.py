"""The FastAPI application: built from a Settings object in `create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api import health, wod
from api.auth import TokenVerifier
from api.catalog import CatalogCache
from api.deps import AppState
from api.errors import ApiError, handle_api_error
from coach.settings import Settings, load_settings
from store.db import connect


def create_app(settings: Settings) -> FastAPI:
    """The api over the projection at `settings.db_path`. Refuses to start without a key."""
    settings.require_jwt_key()
    verifier = TokenVerifier.from_secret_or_file(
        secret=settings.jwt_secret.get_secret_value() if settings.jwt_secret else None,
        public_key_file=settings.jwt_public_key_file,
        algorithms=tuple(settings.jwt_algorithms),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        max_bytes=settings.jwt_max_bytes,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        conn = connect(settings.db_path, readonly=True)
        app.state.coach = AppState(
            conn=conn,
            verifier=verifier,
            catalog=CatalogCache(),
            default_tz=settings.default_tz,
            wod_size=settings.wod_size,
        )
        try:
            yield
        finally:
            conn.close()

    app = FastAPI(
        title="coach",
        summary="Workout of the day, served from a Kafka-fed SQLite projection",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_exception_handler(ApiError, handle_api_error)
    app.include_router(wod.router)
    app.include_router(health.router)
    return app


def app_from_env() -> Any:
    """Factory for `uvicorn --factory` (each worker process builds its own app)."""
    return create_app(load_settings())
