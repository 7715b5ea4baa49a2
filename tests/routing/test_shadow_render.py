"""COACH_SHADOW_PERCENT through render.sh, set-percent.sh and set-shadow.sh: checked, and kept
when only the share of users on coach changes (what the canary does at each step)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.routing.conftest import RENDER, TEMPLATE, Backend, Nginx, call, render_env
from tests.routing.test_shadow import eventually, mirrored, start_shadow

SET_PERCENT = RENDER.parent / "set-percent.sh"
SET_SHADOW = RENDER.parent / "set-shadow.sh"
NAMES = ("COACH_", "LEGACY_", "LISTEN_")


def _render(conf: Path, shadow: str | None, percent: int = 10) -> subprocess.CompletedProcess[str]:
    env = render_env(coach="10.0.0.1:8000", legacy="legacy:8080", percent=percent, port=8088)
    env.pop("COACH_SHADOW_PERCENT", None)
    if shadow is not None:
        env["COACH_SHADOW_PERCENT"] = shadow
    return subprocess.run(
        [str(RENDER), str(TEMPLATE), str(conf)], env=env, capture_output=True, text=True
    )


def _run(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A helper with nginx standing in as `true` (only the rendering is checked)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(NAMES)}
    return subprocess.run(
        [str(script), *args],
        env={**clean, "COACH_NGINX_BIN": "true", **env},
        capture_output=True,
        text=True,
    )


def _shares(conf: Path) -> tuple[str, str, str]:
    """(users on coach, shadow share, mirror directive) as the rendered file holds them."""
    text = conf.read_text()
    percent = re.search(r'"~\^bx\{(\d+)\}"', text)
    shadow = re.search(r'"~\^legacy GET bx\{(\d+)\}"', text)
    mirror = re.search(r"^\s*mirror (\S+);", text, re.M)
    assert percent and shadow and mirror
    return percent[1], shadow[1], mirror[1]


def test_set_percent_keeps_the_access_log_file(tmp_path: Path):
    """COACH_ACCESS_LOG (a file on a host, for the canary's --access-log) renders into the
    access_log line, and set-percent.sh keeps it when only the percentage changes."""
    conf = tmp_path / "coach.conf"
    env = render_env(coach="10.0.0.1:8000", legacy="legacy:8080", percent=10, port=8088)
    env["COACH_ACCESS_LOG"] = "/var/log/nginx/coach_routing.log"
    rendered = subprocess.run(
        [str(RENDER), str(TEMPLATE), str(conf)], env=env, capture_output=True, text=True
    )
    assert rendered.returncode == 0, rendered.stderr
    line = "access_log /var/log/nginx/coach_routing.log coach_routing;"
    assert line in conf.read_text()
    result = _run(SET_PERCENT, "30", str(conf))
    assert result.returncode == 0, result.stderr
    assert line in conf.read_text()
    assert _shares(conf)[0] == "30"


@pytest.mark.parametrize("bad", ["-1", "101", "10.5", "010", "x", "1e1", " 5"])
def test_render_refuses_a_bad_shadow_share(tmp_path: Path, bad: str):
    """A shadow share that is not a whole number from 0 to 100 stops rendering, named."""
    result = _render(tmp_path / "coach.conf", bad)
    assert result.returncode == 1
    assert "COACH_SHADOW_PERCENT" in result.stderr
    assert not (tmp_path / "coach.conf").exists()


@pytest.mark.parametrize(
    ("shadow", "expected"),
    [(None, ("10", "0", "off")), ("0", ("10", "0", "off")), ("25", ("10", "25", "/_coach_shadow"))],
)
def test_render_turns_the_mirror_on_only_above_zero(
    tmp_path: Path, shadow: str | None, expected: tuple[str, str, str]
):
    """Unset or 0: `mirror off` (no subrequest at all); above 0: the mirror location."""
    assert _render(tmp_path / "coach.conf", shadow).returncode == 0
    assert _shares(tmp_path / "coach.conf") == expected


def test_set_percent_keeps_the_shadow_share(tmp_path: Path):
    """set-percent.sh PERCENT (the canary's step) keeps the shadow share of the file in place;
    COACH_SHADOW_PERCENT=... set-percent.sh changes it; set-shadow.sh changes it and keeps
    the percentage; each says what it set."""
    conf = tmp_path / "coach.conf"
    assert _render(conf, "15").returncode == 0

    result = _run(SET_PERCENT, "30", str(conf))
    assert result.returncode == 0, result.stderr
    assert _shares(conf) == ("30", "15", "/_coach_shadow")
    assert "15 % of the monolith's GETs mirrored to coach (was 15 %)" in result.stdout

    assert _run(SET_PERCENT, "40", str(conf), COACH_SHADOW_PERCENT="5").returncode == 0
    assert _shares(conf) == ("40", "5", "/_coach_shadow")

    result = _run(SET_SHADOW, "0", str(conf))
    assert result.returncode == 0, result.stderr
    assert _shares(conf) == ("40", "0", "off")
    assert _run(SET_PERCENT, "50", str(conf)).returncode == 0
    assert _shares(conf) == ("50", "0", "off")

    assert _run(SET_SHADOW, "100", str(conf)).returncode == 0
    assert _shares(conf) == ("50", "100", "/_coach_shadow")


def test_a_file_from_before_the_shadow_keeps_no_shadow(tmp_path: Path):
    """A configuration rendered before COACH_SHADOW_PERCENT existed (no shadow map): a percent
    change renders it with the shadow off."""
    conf = tmp_path / "coach.conf"
    assert _render(conf, "20").returncode == 0
    conf.write_text(
        re.sub(r'"~\^legacy GET bx\{\d+\}"', '"~^legacy GET nothing"', conf.read_text())
    )
    assert _run(SET_PERCENT, "30", str(conf)).returncode == 0
    assert _shares(conf) == ("30", "0", "off")


@pytest.mark.parametrize("bad", ["", "150", "ten"])
def test_set_shadow_refuses_a_bad_value_and_leaves_the_file(tmp_path: Path, bad: str):
    """set-shadow.sh with an empty or bad share fails, naming it, and changes nothing."""
    conf = tmp_path / "coach.conf"
    assert _render(conf, "15").returncode == 0
    before = conf.read_text()
    result = _run(SET_SHADOW, bad, str(conf))
    assert result.returncode != 0
    assert "SHADOW_PERCENT" in result.stderr
    assert conf.read_text() == before


def _live(nginx: Nginx, script: Path, value: str) -> None:
    """Run a helper against the test's running nginx; wait for its workers to take over."""
    result = _run(
        script,
        value,
        str(nginx.conf),
        COACH_NGINX_BIN=nginx.binary,
        COACH_NGINX_ARGS=" ".join(nginx.args[1:]),
    )
    assert result.returncode == 0, result.stderr
    time.sleep(0.5)


def test_set_shadow_on_a_running_nginx(start_nginx, monkeypatch, coach: Backend, legacy: Backend):
    """On a running nginx with no shadow, set-shadow.sh 100 starts mirroring after the reload;
    set-percent.sh 0 afterwards (a rollback step) keeps it; set-shadow.sh 0 stops it."""
    nginx = start_shadow(start_nginx, monkeypatch, coach=coach, legacy=legacy, percent=0, shadow=0)
    assert call(nginx.port, token="a").served_by == "legacy"
    assert coach.count() == 0

    _live(nginx, SET_SHADOW, "100")
    assert call(nginx.port, token="b").served_by == "legacy"
    assert eventually(lambda: len(mirrored(coach)) == 1)
    _live(nginx, SET_PERCENT, "0")
    assert call(nginx.port, token="c").served_by == "legacy"
    assert eventually(lambda: len(mirrored(coach)) == 2)

    _live(nginx, SET_SHADOW, "0")
    for i in range(10):
        assert call(nginx.port, token=f"d-{i}").served_by == "legacy"
    time.sleep(0.3)
    assert coach.count() == 2
