"""What `coach api` and `coach run` alike give uvicorn: COACH_FORWARDED_ALLOW_IPS (which
proxies it believes; a bad value names the setting) and the protocol whose 400s are JSON."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from api.refusals import JsonRefusalProtocol
from coach.cli import _QuietServer, main, uvicorn_options
from config.settings import ConfigError, Settings, load_settings

SECRET = "s" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("COACH_") or name == "FORWARDED_ALLOW_IPS":
            monkeypatch.delenv(name)


@pytest.mark.parametrize("value", ["nginx.internal", "10.0.0.300", "10.0.0.0/33", "1.2.3.4,x"])
def test_a_bad_value_names_the_setting(monkeypatch, value):
    monkeypatch.setenv("COACH_FORWARDED_ALLOW_IPS", value)
    with pytest.raises(ConfigError, match="COACH_FORWARDED_ALLOW_IPS"):
        load_settings()


@pytest.mark.parametrize(
    "value,options",
    [
        ("127.0.0.1", {"proxy_headers": True, "forwarded_allow_ips": "127.0.0.1"}),
        (" 10.0.0.0/8 , ::1 ", {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.0/8,::1"}),
        ("*", {"proxy_headers": True, "forwarded_allow_ips": "*"}),
        ("", {"proxy_headers": False, "forwarded_allow_ips": None}),
    ],
)
def test_uvicorns_options(value, options):
    passed = uvicorn_options(Settings(jwt_secret=SECRET, forwarded_allow_ips=value))
    assert {k: passed[k] for k in options} == options


def test_coach_run_passes_it_to_uvicorn():
    settings = Settings(jwt_secret=SECRET, forwarded_allow_ips="10.1.2.3")
    server = _QuietServer.make(object(), "127.0.0.1", 0, settings)
    assert server.config.proxy_headers is True
    assert server.config.forwarded_allow_ips == "10.1.2.3"
    server.config.load()  # uvicorn imports the protocol it is given, as when it serves
    assert server.config.http_protocol_class is JsonRefusalProtocol


def test_coach_api_passes_it_to_uvicorn(monkeypatch):
    import uvicorn

    passed: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: passed.update(kwargs))
    monkeypatch.setenv("COACH_JWT_SECRET", SECRET)
    monkeypatch.setenv("COACH_FORWARDED_ALLOW_IPS", "192.168.0.0/16")
    result = CliRunner().invoke(main, ["api"])
    assert result.exit_code == 0, result.output
    assert passed["proxy_headers"] is True
    assert passed["forwarded_allow_ips"] == "192.168.0.0/16"
    assert passed["http"] == "api.refusals:JsonRefusalProtocol"
