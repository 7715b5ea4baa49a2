"""Rendering the template (render.sh) and moving traffic on a running nginx (set-percent.sh)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.routing.conftest import RENDER, TEMPLATE, Backend, Nginx, call, render_env
from tests.routing.split import side

SET_PERCENT = RENDER.parent / "set-percent.sh"
GOOD = {"coach": "127.0.0.1:8000", "legacy": "legacy.internal:8080", "percent": 10, "port": 80}


def render(**overrides: object) -> subprocess.CompletedProcess[str]:
    """render.sh with GOOD's values but `overrides` (an upper-case name: that variable)."""
    extra = {k: str(v) for k, v in overrides.items() if k.isupper()}
    args = {k: v for k, v in overrides.items() if not k.isupper()}
    env = {**render_env(**{**GOOD, **args}), **extra}  # type: ignore[arg-type]
    if "COACH_ACCESS_LOG" not in extra:
        env.pop("COACH_ACCESS_LOG", None)
    return subprocess.run([str(RENDER), str(TEMPLATE)], env=env, capture_output=True, text=True)


def test_render_fills_in_the_seven_variables_and_nothing_else(nginx_bin: str):
    """Only COACH_SERVERS (from COACH_UPSTREAMS), LEGACY_UPSTREAM, COACH_PERCENT, LISTEN_PORT,
    COACH_SHADOW_PERCENT and COACH_SHADOW_MIRROR (from it) and COACH_ACCESS_LOG are replaced;
    nginx's own variables are left for nginx."""
    result = render()
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "${" not in text
    assert "server 127.0.0.1:8000 max_fails=1 fail_timeout=5s;" in text
    assert "server legacy.internal:8080;" in text
    assert "listen 80;" in text
    assert '"~^bx{10}"' in text
    assert "access_log /dev/stdout coach_routing;" in text  # the default: the container's log
    for nginx_variable in ["$http_authorization", "$request_method", "$upstream_status"]:
        assert nginx_variable in text
    template_names = set(re.findall(r"\$\{?([A-Za-z_]\w*)", TEMPLATE.read_text()))
    rendered_names = set(re.findall(r"\$\{?([A-Za-z_]\w*)", text))
    assert template_names - rendered_names == {
        "COACH_SERVERS",
        "LEGACY_UPSTREAM",
        "COACH_PERCENT",
        "LISTEN_PORT",
        "COACH_SHADOW_PERCENT",
        "COACH_SHADOW_MIRROR",
        "COACH_ACCESS_LOG",
    }


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"percent": -1}, "COACH_PERCENT"),
        ({"percent": 101}, "COACH_PERCENT"),
        ({"percent": "10.5"}, "COACH_PERCENT"),
        ({"percent": "010"}, "COACH_PERCENT"),
        ({"percent": ""}, "COACH_PERCENT"),
        ({"coach": "coach"}, "COACH_UPSTREAMS"),
        ({"coach": "coach:80; include /etc/passwd"}, "COACH_UPSTREAMS"),
        ({"coach": "a:80,coach:80; include /etc/passwd"}, "COACH_UPSTREAMS"),
        ({"coach": "a:80,,b:80"}, "COACH_UPSTREAMS"),
        ({"coach": ""}, "COACH_UPSTREAMS"),
        ({"legacy": "legacy:0"}, "LEGACY_UPSTREAM"),
        ({"port": 70000}, "LISTEN_PORT"),
        ({"COACH_ACCESS_LOG": "coach.log"}, "COACH_ACCESS_LOG"),
        ({"COACH_ACCESS_LOG": "/var/log/nginx/coach.log main;"}, "COACH_ACCESS_LOG"),
        ({"COACH_ACCESS_LOG": "/var/log/a b.log"}, "COACH_ACCESS_LOG"),
        ({"COACH_ACCESS_LOG": "/var/log/../../etc/x"}, "COACH_ACCESS_LOG"),
        ({"COACH_ACCESS_LOG": "/"}, "COACH_ACCESS_LOG"),
    ],
)
def test_render_refuses_a_bad_value(nginx_bin: str, override: dict[str, object], named: str):
    """A bad value stops rendering with a message naming the variable (no silent routing)."""
    result = render(**override)
    assert result.returncode == 1
    assert named in result.stderr
    assert result.stdout == ""


def _set_percent(nginx: Nginx, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    names = {"COACH_UPSTREAM", "COACH_UPSTREAMS", "LEGACY_UPSTREAM", "COACH_PERCENT", "LISTEN_PORT"}
    clean = {k: v for k, v in os.environ.items() if k not in names}
    clean.update(COACH_NGINX_BIN=nginx.binary, COACH_NGINX_ARGS=" ".join(nginx.args[1:]), **env)
    return subprocess.run(
        [str(SET_PERCENT), *args, str(nginx.conf)], env=clean, capture_output=True, text=True
    )


def _sides(nginx: Nginx, tokens: list[str]) -> set[str | None]:
    return {call(nginx.port, token=t).served_by for t in tokens}


def _eventually(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_set_percent_moves_traffic_with_a_reload(start_nginx, coach: Backend, legacy: Backend):
    """set-percent.sh 0 on a running nginx at 100 % sends everyone back to the monolith, with
    the upstreams and port read from the configuration in place; 30 then splits as hashed."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=100)
    users = [f"reload-{i}" for i in range(40)]
    assert _sides(nginx, users) == {"coach"}

    result = _set_percent(nginx, "0")
    assert result.returncode == 0, result.stderr
    assert "for 0 % of users (was 100 %)" in result.stdout
    assert _eventually(lambda: _sides(nginx, users) == {"legacy"})

    assert _set_percent(nginx, "30").returncode == 0
    expected = {t: side(f"Bearer {t}", 30) for t in users}
    assert _eventually(lambda: {t: call(nginx.port, token=t).served_by for t in users} == expected)
    assert nginx.proc.poll() is None


def test_a_reload_logs_no_invalid_socket_number(start_nginx, coach: Backend, legacy: Backend):
    """set-percent.sh's `nginx -t` and reload print nothing about inherited sockets, even with
    a NGINX left in the environment (nginx reads that name as a list of sockets: an operator
    who set it as the old docs said, or nginx's own binary upgrade)."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=0)
    before = nginx.errors()
    result = _set_percent(nginx, "10", NGINX=nginx.binary)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "invalid socket number" not in output, output
    assert "invalid socket number" not in nginx.errors()[len(before) :]
    assert "ignoring NGINX=" in result.stderr  # said, not silently dropped


@pytest.mark.parametrize(
    ("args", "env"),
    [(["150"], {}), (["20"], {"COACH_UPSTREAMS": "no-such-host.invalid:80"})],
    ids=["bad-percent", "nginx-t-fails"],
)
def test_set_percent_leaves_nginx_alone_when_it_fails(
    start_nginx, coach: Backend, legacy: Backend, args: list[str], env: dict[str, str]
):
    """A refused value, or a configuration that nginx -t refuses, changes neither the file
    nor the routing."""
    nginx = start_nginx(coach=coach.address, legacy=legacy.address, percent=0)
    before = Path(nginx.conf).read_text()
    result = _set_percent(nginx, *args, **env)
    assert result.returncode != 0
    assert Path(nginx.conf).read_text() == before
    assert not list(Path(nginx.conf).parent.glob("coach.conf.*"))
    assert _sides(nginx, [f"stay-{i}" for i in range(20)]) == {"legacy"}


def test_render_makes_one_server_line_per_replica(nginx_bin: str, tmp_path: Path):
    """COACH_UPSTREAMS with three replicas: three server lines in the coach upstream, which
    set-percent.sh reads back (all three) when it moves traffic."""
    result = render(coach="10.0.0.1:8000,10.0.0.2:8000,coach-3.internal:8001")
    assert result.returncode == 0, result.stderr
    block = result.stdout.split("upstream coach {", 1)[1].split("}", 1)[0]
    assert re.findall(r"server (\S+) max_fails=1 fail_timeout=5s;", block) == [
        "10.0.0.1:8000",
        "10.0.0.2:8000",
        "coach-3.internal:8001",
    ]


def test_set_percent_keeps_every_replica(tmp_path: Path):
    """set-percent.sh on a configuration of three replicas reads all three back from it
    (nginx stands in as `true`: only the rendering is checked here)."""
    conf = tmp_path / "coach.conf"
    replicas = ["10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8001"]
    env = render_env(coach=replicas, legacy="legacy:8080", percent=10, port=8088)
    subprocess.run([str(RENDER), str(TEMPLATE), str(conf)], env=env, check=True)
    clean = {k: v for k, v in env.items() if not k.startswith(("COACH_", "LEGACY_", "LISTEN_"))}
    result = subprocess.run(
        [str(SET_PERCENT), "30", str(conf)],
        env={**clean, "COACH_NGINX_BIN": "true"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    text = conf.read_text()
    block = text.split("upstream coach {", 1)[1].split("}", 1)[0]
    assert re.findall(r"server (\S+) max_fails", block) == replicas
    assert '"~^bx{30}"' in text and "listen 8088;" in text
