"""What an operator gets from the command line itself (issue 33.7): `coach --version`, the
exit codes in `coach consume --help`, and what `coach api` says it serves when it starts."""

from __future__ import annotations

import importlib.metadata
import re

import pytest
from click.testing import CliRunner

from coach.cli import main
from tests.conftest import SECRET
from tests.e2e.helpers import Service, free_port, wait_for


def test_version_prints_the_installed_version():
    out = CliRunner().invoke(main, ["--version"])
    assert out.exit_code == 0, out.output
    assert out.output == f"coach {importlib.metadata.version('coach')}\n"


def test_consume_help_lists_its_exit_codes():
    """Each code `coach consume` can exit with is explained in its help."""
    out = CliRunner().invoke(main, ["consume", "--help"])
    assert out.exit_code == 0, out.output
    assert "Exit codes:" in out.output
    codes = re.findall(r"^\s+(\d)\s+\S", out.output.split("Exit codes:")[1], re.MULTILINE)
    assert codes == ["0", "1", "2", "3"], out.output
    assert "coach replay" in out.output  # what to do about 3


def test_consume_with_a_bad_setting_exits_1_naming_it(settings):
    from tests.conftest import env_of

    env = {**env_of(settings), "COACH_HEARTBEAT_SECONDS": "soon"}
    out = CliRunner().invoke(main, ["consume"], env=env)
    assert out.exit_code == 1 and "COACH_HEARTBEAT_SECONDS" in out.output


@pytest.mark.slow  # `make check` skips it
def test_api_logs_what_it_serves_when_it_starts(settings, tmp_path):
    """`coach api` (a real process) logs host, port, workers, how tokens are verified (not
    the secret) and the projection's path before it serves."""
    port = free_port()
    api = Service(settings, tmp_path / "api.log", "api", "--port", str(port), "--workers", "2")
    try:
        line = wait_for(
            "the start-up line",
            lambda: next((x for x in api.log().splitlines() if "coach api serving" in x), None),
            service=api,
        )
    finally:
        api.stop()
    assert f"http://127.0.0.1:{port} with 2 worker(s)" in line
    assert "tokens: HS256 with the secret of COACH_JWT_SECRET" in line
    assert f"projection {settings.db_path}" in line
    assert SECRET not in api.log()


def test_the_key_mode_names_the_public_key_file_and_the_claims_checked(settings, tmp_path):
    from coach.cli import key_mode

    rs = settings.model_copy(
        update={
            "jwt_secret": None,
            "jwt_public_key_file": tmp_path / "key.pem",
            "jwt_algorithms": ["RS256"],
            "jwt_issuer": "https://id.example",
            "jwt_audience": "coach",
        }
    )
    assert key_mode(rs) == (
        f"RS256 with the public key in {tmp_path / 'key.pem'}, "
        "checking iss https://id.example and aud coach"
    )
