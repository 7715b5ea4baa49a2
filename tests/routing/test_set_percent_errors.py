"""set-percent.sh, set-shadow.sh and render.sh when something is missing: each says what (the
configuration file, the nginx binary, a bad percentage), by name, on stderr, with a non-zero
exit, and changes nothing; and `set-percent.sh --show` prints the share in place, which is
how the RUNBOOK changes the replicas without moving users. nginx stands in as `true` where
only the scripts' own checks are under test."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.routing.conftest import RENDER, TEMPLATE, render_env

HERE = RENDER.parent
SET_PERCENT = HERE / "set-percent.sh"
SET_SHADOW = HERE / "set-shadow.sh"
DEFAULT_CONF = Path("/etc/nginx/conf.d/coach.conf")
NAMES = ("COACH_", "LEGACY_", "LISTEN_")


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A script (args[0]) with an environment without any of coach's rendering values."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(NAMES) and k != "NGINX"}
    return subprocess.run(
        list(args), env={**clean, "COACH_NGINX_BIN": "true", **env}, capture_output=True, text=True
    )


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """A configuration rendered at 30 %, two replicas, shadow 5 %."""
    path = tmp_path / "coach.conf"
    env = render_env(coach=["10.0.0.1:8000", "10.0.0.2:8000"], legacy="l:80", percent=30, port=81)
    env["COACH_SHADOW_PERCENT"] = "5"
    subprocess.run([str(RENDER), str(TEMPLATE), str(path)], env=env, check=True)
    return path


def test_the_documented_rollback_without_a_configuration_says_which_file_is_missing():
    """`set-percent.sh 0` as the RUNBOOK gives it, where the default configuration is not:
    it names that path and how to give another, and exits 1 (it printed nothing before)."""
    if DEFAULT_CONF.exists():
        pytest.skip(f"{DEFAULT_CONF} exists on this machine")
    result = run(str(SET_PERCENT), "0")
    assert result.returncode == 1
    assert f"no rendered configuration at {DEFAULT_CONF}" in result.stderr, result.stderr
    assert "second argument" in result.stderr
    assert not DEFAULT_CONF.exists()


@pytest.mark.parametrize("script", [SET_PERCENT, SET_SHADOW], ids=["set-percent", "set-shadow"])
def test_a_missing_configuration_is_named(tmp_path: Path, script: Path):
    """A CONF that does not exist: its path on stderr, exit 1, no file made."""
    missing = tmp_path / "nowhere" / "coach.conf"
    result = run(str(script), "10", str(missing))
    assert result.returncode == 1
    assert f"no rendered configuration at {missing}" in result.stderr, result.stderr
    assert not missing.exists()


def test_a_missing_nginx_binary_is_named(conf: Path):
    """COACH_NGINX_BIN naming no program: the binary and the setting are named, and the
    configuration is left as it was."""
    before = conf.read_text()
    result = run(str(SET_PERCENT), "50", str(conf), COACH_NGINX_BIN="/no/such/nginx")
    assert result.returncode == 1
    assert "no nginx binary '/no/such/nginx'" in result.stderr, result.stderr
    assert "COACH_NGINX_BIN" in result.stderr
    assert conf.read_text() == before


@pytest.mark.parametrize("value", ["", "abc", "101", "-1", "10.5", "010", "--help"])
@pytest.mark.parametrize(
    ("script", "name"),
    [(SET_PERCENT, "PERCENT"), (SET_SHADOW, "SHADOW_PERCENT")],
    ids=["set-percent", "set-shadow"],
)
def test_a_bad_percentage_is_named(conf: Path, script: Path, name: str, value: str):
    """A percentage that is not a whole number from 0 to 100: named with its value, exit 1,
    nothing changed."""
    before = conf.read_text()
    result = run(str(script), value, str(conf))
    assert result.returncode == 1
    assert f"{name} must be a whole number from 0 to 100, not '{value}'" in result.stderr
    assert conf.read_text() == before


def test_render_names_a_missing_output_directory(tmp_path: Path):
    """render.sh into a directory that does not exist: the directory is named."""
    env = render_env(coach="10.0.0.1:8000", legacy="l:80", percent=0, port=81)
    out = tmp_path / "nowhere" / "coach.conf"
    result = subprocess.run(
        [str(RENDER), str(TEMPLATE), str(out)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert f"no directory {out.parent}" in result.stderr, result.stderr


def test_show_prints_the_percentage_in_place(conf: Path, tmp_path: Path):
    """`--show CONF` prints the share alone (for a script), and names a missing file."""
    shown = run(str(SET_PERCENT), "--show", str(conf))
    assert (shown.returncode, shown.stdout) == (0, "30\n"), shown.stderr
    missing = run(str(SET_PERCENT), "--show", str(tmp_path / "none.conf"))
    assert missing.returncode == 1
    assert f"no rendered configuration at {tmp_path / 'none.conf'}" in missing.stderr


def test_the_runbooks_replica_change_keeps_the_percentage(conf: Path):
    """The RUNBOOK's replica change, run as written there (with this CONF): the replicas
    change, the share of users (30 %) and the shadow share (5 %) stay."""
    command = (
        "COACH_UPSTREAMS=10.0.0.11:8000,10.0.0.12:8000,10.0.0.13:8000 "
        f'{SET_PERCENT} "$({SET_PERCENT} --show {conf})" {conf}'
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(NAMES)}
    result = subprocess.run(
        ["sh", "-c", command],
        env={**clean, "COACH_NGINX_BIN": "true"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    text = conf.read_text()
    assert '"~^bx{30}"' in text and '"~^legacy GET bx{5}"' in text
    assert "server 10.0.0.13:8000 max_fails=1" in text
    assert "for 30 % of users (was 30 %)" in result.stdout
    runbook = (HERE.parent.parent / "docs/RUNBOOK.md").read_text()
    assert (  # its marked block, run on a real nginx by tests/e2e/test_runbook.py (`replicas`)
        'COACH_UPSTREAMS="$UPSTREAMS" deploy/nginx/set-percent.sh '
        '"$(deploy/nginx/set-percent.sh --show "$CONF")" "$CONF"'
    ) in runbook
