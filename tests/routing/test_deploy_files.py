"""The deployment files agree with each other and with the template. No Docker engine runs
here, so the image and the compose stack are checked as files; the legacy stand-in runs."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.routing.conftest import TEMPLATE, free_port

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
TEMPLATE_VARIABLES = {"COACH_UPSTREAM", "LEGACY_UPSTREAM", "COACH_PERCENT", "LISTEN_PORT"}


def test_the_template_uses_exactly_its_four_variables():
    """The template's ${...} references are the four documented variables, no more."""
    assert set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text())) == TEMPLATE_VARIABLES


def test_compose_renders_the_template_with_only_its_variables():
    """The nginx service sets the four variables, mounts the template where the official image
    renders it, and its NGINX_ENVSUBST_FILTER picks those four and none of the image's own."""
    nginx = COMPOSE["services"]["nginx"]
    env = nginx["environment"]
    assert set(env) >= TEMPLATE_VARIABLES
    assert (
        "./deploy/nginx/coach.conf.template:/etc/nginx/templates/default.conf.template:ro"
        in nginx["volumes"]
    )
    # Compose turns $$ into $; the image hands the filter to awk as a regex.
    pattern = re.compile(env["NGINX_ENVSUBST_FILTER"].replace("$$", "$"))
    candidates = [*env, "NGINX_VERSION", "PATH", "HOSTNAME", "HOME", "PKG_RELEASE"]
    assert {name for name in candidates if pattern.search(name)} == TEMPLATE_VARIABLES
    coach_host, legacy_host = env["COACH_UPSTREAM"], env["LEGACY_UPSTREAM"]
    assert coach_host.split(":")[0] in COMPOSE["services"]
    assert legacy_host.split(":")[0] in COMPOSE["services"]


def test_compose_shares_the_projection_between_consumer_and_api():
    """coach-consumer and coach-api mount the same volume at the image's COACH_DB_PATH
    directory, and both use the one image with its coach entry point."""
    services = COMPOSE["services"]
    for name in ("coach-consumer", "coach-api"):
        assert "projection:/data" in services[name]["volumes"], name
        assert services[name]["environment"]["COACH_DB_PATH"] == "/data/coach.db"
    assert services["coach-consumer"]["command"] == ["consume"]
    assert services["coach-api"]["command"][0] == "api"
    assert "COACH_DB_PATH=/data/coach.db" in DOCKERFILE


def test_compose_jwt_secret_is_one_the_api_accepts():
    """The development secret in the compose file passes coach's own settings check."""
    from coach.settings import Settings

    default = re.fullmatch(
        r"\$\{COACH_JWT_SECRET:-(.+)\}",
        COMPOSE["services"]["coach-api"]["environment"]["COACH_JWT_SECRET"],
    )
    assert default
    Settings(jwt_secret=default.group(1)).require_jwt_key()


def test_compose_starts_things_in_order():
    """Topics are created once Kafka is healthy; the publisher and the consumer wait for the
    topics; nginx waits for a healthy api and stand-in."""
    services = COMPOSE["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("demo-publisher", "coach-consumer"):
        condition = services[name]["depends_on"]["topics"]["condition"]
        assert condition == "service_completed_successfully", name
    assert "coach demo-data --users 200 | coach publish" in services["demo-publisher"]["command"]
    nginx_needs = services["nginx"]["depends_on"]
    assert {k: v["condition"] for k, v in nginx_needs.items()} == {
        "coach-api": "service_healthy",
        "legacy": "service_healthy",
    }


def test_the_image_is_built_from_the_lock_file_and_runs_unprivileged():
    """Multi-stage; uv sync --frozen without dev dependencies; a non-root user; a health check
    on /health; coach as the entry point with the api as the default command."""
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.M)) == 2
    assert "uv sync --frozen --no-dev --no-editable" in DOCKERFILE
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", DOCKERFILE, re.M)
    assert 'ENTRYPOINT ["coach"]' in DOCKERFILE
    assert 'CMD ["api", "--host", "0.0.0.0", "--port", "8000"]' in DOCKERFILE


def test_tzdata_is_a_direct_dependency(tmp_path: Path):
    """python:3.11-slim has no /usr/share/zoneinfo: every zone but UTC comes from the tzdata
    package (else a 422 for every tz=), so coach depends on it itself, not through a
    dependency of a dependency. With no system zones, zoneinfo finds Asia/Tokyo in it."""
    names = {
        re.split(r"[^\w.-]", d, maxsplit=1)[0].lower() for d in PYPROJECT["project"]["dependencies"]
    }
    assert "tzdata" in names
    empty = tmp_path / "no-zoneinfo"
    empty.mkdir()
    code = (
        "import zoneinfo; from datetime import datetime; "
        "print(datetime(2026, 1, 1, tzinfo=zoneinfo.ZoneInfo('Asia/Tokyo')).utcoffset())"
    )
    env = {**os.environ, "PYTHONTZPATH": str(empty)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert (out.returncode, out.stdout.strip()) == (0, "9:00:00"), out.stderr


# -- the legacy stand-in ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def stand_in() -> Iterator[int]:
    port = free_port()
    env = {**os.environ, "LEGACY_PORT": str(port), "LEGACY_DELAY_MIN": "0.05"}
    env["LEGACY_DELAY_MAX"] = "0.1"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "deploy/legacy/app.py")], env=env, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert b"legacy stand-in" in proc.stdout.readline()
    yield port
    proc.terminate()
    proc.wait(10)


def _get(port: int, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_the_stand_in_answers_a_wod_of_coachs_shape(stand_in: int):
    """The stand-in answers GET /fitness/wod with coach's JSON shape (6 exercises with their
    muscle groups and suggestions) and says that it is the stand-in."""
    status, headers, body = _get(stand_in, "/fitness/wod", token="any.token.at-all")
    assert status == 200
    assert headers["X-Legacy-Stand-In"] == "1"
    wod = json.loads(body)
    assert set(wod) == {"exercises", "generated_at"}
    assert len(wod["exercises"]) == 6
    for exercise in wod["exercises"]:
        assert set(exercise) == {
            "id", "name", "description", "difficulty", "muscle_groups", "suggested_weight",
            "suggested_reps",
        }  # fmt: skip
        assert exercise["muscle_groups"]
        assert set(exercise["muscle_groups"][0]) == {
            "id", "name", "body_part", "is_primary", "intensity",
        }  # fmt: skip


def test_the_stand_in_wants_a_bearer_token_and_has_health(stand_in: int):
    """Without a bearer token it answers 401 with WWW-Authenticate, as coach does; /health
    is 200; other paths 404."""
    status, headers, _ = _get(stand_in, "/fitness/wod")
    assert (status, headers["WWW-Authenticate"]) == (401, "Bearer")
    assert _get(stand_in, "/health")[0] == 200
    assert _get(stand_in, "/fitness/history", token="t")[0] == 404
