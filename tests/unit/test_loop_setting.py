"""COACH_LOOP: the event loop `coach api` and `coach run` serve on reaches uvicorn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
import uvloop
from click.testing import CliRunner

from coach import cli
from config.settings import ConfigError, load_settings

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("COACH_"):
            monkeypatch.delenv(name)


def test_loop_defaults_to_asyncio():
    """asyncio unless COACH_LOOP says otherwise (uvloop starved connections under load)."""
    assert load_settings().loop == "asyncio"


def test_unknown_loop_is_refused(monkeypatch):
    """A loop uvicorn does not know stops start-up, naming the variable."""
    monkeypatch.setenv("COACH_LOOP", "libuv")
    with pytest.raises(ConfigError, match="COACH_LOOP"):
        load_settings()


def test_uvloop_when_not_installed_is_refused(monkeypatch):
    """COACH_LOOP=uvloop where uvloop is missing stops start-up, naming the variable."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    monkeypatch.setenv("COACH_LOOP", "uvloop")
    with pytest.raises(ConfigError, match=r"COACH_LOOP: .*uvloop is not installed"):
        load_settings()


@pytest.mark.parametrize(
    "value,factory",
    [
        (None, asyncio.SelectorEventLoop),
        ("asyncio", asyncio.SelectorEventLoop),
        ("uvloop", uvloop.new_event_loop),
        ("auto", uvloop.new_event_loop),
    ],
)
def test_api_hands_the_loop_to_uvicorn(monkeypatch, value, factory):
    """`coach api` passes COACH_LOOP to uvicorn, whose config then builds that loop."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    env = {"COACH_JWT_SECRET": SECRET} | ({"COACH_LOOP": value} if value else {})
    result = CliRunner().invoke(cli.main, ["api"], env=env)
    assert result.exit_code == 0, result.output
    assert seen["loop"] == (value or "asyncio")
    config = uvicorn.Config("api.app:app_from_env", loop=seen["loop"])
    assert config.get_loop_factory() is factory


async def _plain_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app with a lifespan and nothing else, in place of the api (no projection)."""
    if scope["type"] != "lifespan":
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


@pytest.mark.parametrize(
    "value,loop_type",
    [
        (None, asyncio.SelectorEventLoop),
        ("asyncio", asyncio.SelectorEventLoop),
        ("uvloop", uvloop.Loop),
        ("auto", uvloop.Loop),
    ],
)
def test_run_serves_on_the_configured_loop(monkeypatch, value, loop_type):
    """`coach run` (consumer and api in one process) runs both on COACH_LOOP's loop."""
    import api.app

    loops: list[asyncio.AbstractEventLoop] = []

    async def consume(settings: Any, stop: asyncio.Event) -> int:
        loops.append(asyncio.get_running_loop())
        return 0

    monkeypatch.setattr(api.app, "create_app", lambda settings: _plain_app)
    monkeypatch.setattr(cli, "_consume", consume)
    env = {"COACH_JWT_SECRET": SECRET} | ({"COACH_LOOP": value} if value else {})
    result = CliRunner().invoke(cli.main, ["run", "--port", "0"], env=env)
    assert result.exit_code == 0, result.output
    assert len(loops) == 1 and isinstance(loops[0], loop_type)
