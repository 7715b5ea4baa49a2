"""The deployment files agree with each other and with the template, checked as files (the
legacy stand-in runs). tests/container/ builds the image and runs it, and the compose stack,
with Docker or podman."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.routing.conftest import TEMPLATE, free_port

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
WHEEL_PACKAGES = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
TEMPLATE_VARIABLES = {
    "COACH_SERVERS",
    "LEGACY_UPSTREAM",
    "COACH_PERCENT",
    "LISTEN_PORT",
    "COACH_SHADOW_PERCENT",
    "COACH_SHADOW_MIRROR",
    "COACH_ACCESS_LOG",
}
RENDER_VARIABLES = {
    "COACH_UPSTREAMS",
    "LEGACY_UPSTREAM",
    "COACH_PERCENT",
    "LISTEN_PORT",
    "COACH_SHADOW_PERCENT",
}
"""What render.sh reads: COACH_UPSTREAMS (the replicas) becomes COACH_SERVERS, and
COACH_SHADOW_PERCENT also gives COACH_SHADOW_MIRROR."""


def test_the_template_uses_exactly_its_seven_variables():
    """The template's ${...} references are the seven documented variables, no more."""
    assert set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text())) == TEMPLATE_VARIABLES


def test_compose_renders_the_template_with_render_sh():
    """The nginx service sets render.sh's variables and runs it from /docker-entrypoint.d/
    on the template mounted outside /etc/nginx/templates (the image's own envsubst step
    could not turn the replica list into server lines): it checks the values and writes
    /etc/nginx/conf.d/default.conf before nginx starts."""
    nginx = COMPOSE["services"]["nginx"]
    env = nginx["environment"]
    assert set(env) >= RENDER_VARIABLES
    template = env["NGINX_COACH_TEMPLATE"]
    assert f"./deploy/nginx/coach.conf.template:{template}:ro" in nginx["volumes"]
    assert not template.startswith("/etc/nginx/templates/")
    assert any(
        v.startswith("./deploy/nginx/render.sh:/docker-entrypoint.d/") and v.endswith(".sh:ro")
        for v in nginx["volumes"]
    )
    for replica in env["COACH_UPSTREAMS"].split(","):
        assert replica.split(":")[0] in COMPOSE["services"]
    assert env["LEGACY_UPSTREAM"].split(":")[0] in COMPOSE["services"]


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


def test_compose_refuses_to_start_without_a_jwt_secret():
    """No default secret (anyone could sign tokens with one written in the file): every coach
    service takes COACH_JWT_SECRET in the ${VAR:?message} form, so compose stops without it;
    and coach refuses the old default."""
    from config.settings import ConfigError, load_settings

    required = re.compile(r"\$\{COACH_JWT_SECRET:\?[^}]*COACH_JWT_SECRET[^}]*\}")
    services = COMPOSE["services"]
    coach = [name for name, service in services.items() if service.get("image") == "coach:dev"]
    assert {"topics", "demo-publisher", "coach-consumer", "coach-api"} <= set(coach)
    for name in coach:
        assert required.fullmatch(services[name]["environment"]["COACH_JWT_SECRET"]), name
    text = (REPO / "docker-compose.yml").read_text()
    assert re.findall(r"\$\{COACH_JWT_SECRET(\W+)", text) == [":?"]
    with pytest.raises(ConfigError, match="COACH_JWT_SECRET"):
        load_settings(jwt_secret="development-only-jwt-secret-of-the-compose-stack")


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


# -- what the image is built from --------------------------------------------------------------


def _dockerignore_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it (`**` any directories, `*` and `?` within
    one name; a trailing / dropped)."""
    regex = ""
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/")):
        regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
            token, re.escape(token)
        )
    return re.compile(regex)


def _build_context() -> list[str]:
    """The files of the checkout that `docker build .` sends: .dockerignore's patterns in
    order, the last that matches a file or one of its directories winning, `!` keeping."""
    patterns = [
        (line.startswith("!"), _dockerignore_pattern(line.removeprefix("!")))
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    context = []
    for path in filter(None, listed):
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        keep = True
        for negated, pattern in patterns:
            if any(pattern.fullmatch(prefix) for prefix in prefixes):
                keep = negated
        if keep and (REPO / path).is_file() and not (REPO / path).is_symlink():
            context.append(path)
    return context


def _image_inputs() -> dict[str, Path]:
    """What the build stage's COPY lines put in its WORKDIR: relative path -> file."""
    build_stage = DOCKERFILE.split("\nFROM ")[1].split("\nFROM ")[0]
    context = _build_context()
    inputs = {}
    for line in re.findall(r"^COPY (.+)$", build_stage, re.M):
        assert not line.startswith(("[", "--from")), f"a COPY this test cannot read: {line}"
        *sources, dest = [word for word in line.split() if not word.startswith("--")]
        for source in (s.strip("/") or "." for s in sources):
            for path in context:
                if source == ".":
                    inputs[os.path.normpath(f"{dest}/{path}")] = REPO / path
                elif path == source:
                    target = f"{dest}/{Path(path).name}" if dest.endswith("/") else dest
                    inputs[os.path.normpath(target)] = REPO / path
                elif path.startswith(source + "/"):
                    inputs[os.path.normpath(f"{dest}/{path[len(source) + 1 :]}")] = REPO / path
    return inputs


def test_the_image_copies_every_package_of_the_wheel():
    """The build stage gets pyproject.toml, uv.lock, README.md and every package of the wheel
    (pyproject's [tool.hatch.build.targets.wheel]): .dockerignore lets it through and a COPY
    copies it. The wheel builds without one: replay/ was missing and `coach replay` failed."""
    inputs = _image_inputs()
    assert {"pyproject.toml", "uv.lock", "README.md"} <= set(inputs)
    missing = [name for name in WHEEL_PACKAGES if f"{name}/__init__.py" not in inputs]
    assert not missing, f"packages of pyproject.toml that the image does not get: {missing}"


# Runs in the interpreter, without site (no .pth: no editable coach of the checkout), with the
# unpacked wheel and the site-packages of the dependencies on PYTHONPATH.
RUN_THE_WHEEL = """
import ast, importlib, json, pkgutil, sys
from pathlib import Path
import click
from click.testing import CliRunner

root, packages, first_party = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3].split(",")
failed = {}
names = set()
for node in ast.walk(ast.parse((root / "coach/cli.py").read_text())):
    if isinstance(node, ast.ImportFrom) and node.module:
        names.add(node.module)
    elif isinstance(node, ast.Import):
        names.update(alias.name for alias in node.names)
names = {n for n in names if n.split(".")[0] in first_party}
for package in packages:
    names.add(package)
    try:
        path = importlib.import_module(package).__path__
        names.update(m.name for m in pkgutil.walk_packages(path, package + "."))
    except Exception as exc:
        failed[package] = repr(exc)
for name in sorted(names):
    try:
        module = importlib.import_module(name)
        if not Path(module.__file__).is_relative_to(root):
            failed[name] = f"imported from {module.__file__}, not from the wheel"
    except Exception as exc:
        failed[name] = repr(exc)

from coach.cli import main

def commands(group, path):
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, [*path, name])
        else:
            yield [*path, name]

helps = []
for path in commands(main, []):
    result = CliRunner().invoke(main, [*path, "--help"])
    helps.append(" ".join(["coach", *path]))
    if result.exit_code != 0:
        failed["coach " + " ".join(path) + " --help"] = result.output + repr(result.exception)
print(json.dumps({"failed": failed, "modules": sorted(names), "helps": helps}))
"""


def test_the_wheel_of_the_image_inputs_runs_every_command(tmp_path: Path):
    """The wheel built from exactly the files the Dockerfile copies (as `uv sync` builds it in
    the image) imports every module of its packages and every one `coach`'s commands import,
    and answers `coach --help` and each command's --help (`coach replay` included)."""
    uv = shutil.which("uv", path=Path(sys.executable).parent) or shutil.which("uv")
    if uv is None:
        pytest.skip("no uv to build the wheel with")
    source, dist, unpacked = tmp_path / "src", tmp_path / "dist", tmp_path / "unpacked"
    for target, path in _image_inputs().items():
        (source / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, source / target)
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    subprocess.run(
        [uv, "build", "--wheel", "--python", sys.executable, "--out-dir", str(dist), str(source)],
        env=env, check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = dist.glob("coach-*.whl")
    zipfile.ZipFile(wheel).extractall(unpacked)
    first_party = [p.parent.name for p in REPO.glob("*/__init__.py")]
    env["PYTHONPATH"] = os.pathsep.join([str(unpacked), sysconfig.get_paths()["purelib"]])
    out = subprocess.run(
        [sys.executable, "-S", "-P", "-c", RUN_THE_WHEEL, str(unpacked), ",".join(WHEEL_PACKAGES),
         ",".join(first_party)],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["failed"] == {}, report["failed"]
    assert {"replay.run", "api.app", "consumer.loop"} <= set(report["modules"])
    assert "coach replay" in report["helps"]


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
