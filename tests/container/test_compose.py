"""docker-compose.yml brought up for real with podman-compose, as far as this machine allows.

No container registry answers here: coach's image is `make image`'s, the legacy stand-in
runs on the python:3.11-slim stand-in that build makes, and nginx on a stand-in made from
Debian's nginx (tools/image/standins/nginx/: the official image's template step), both
under names of their own (localhost/coach-standin/...) given to the file as PYTHON_IMAGE
and NGINX_IMAGE. There is
no apache/kafka image: compose.override.yml beside this file leaves the kafka service out and
points the services that talk to Kafka at the test's broker (host network, topics of their
own); every other setting, volume and ${...} variable is docker-compose.yml's. So a broken
variable, volume path, command or upstream in the compose file fails a test here; the kafka
service's own settings (KAFKA_*, its health check) are not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml

from tests.conftest import REPO, SECRET
from tests.container.conftest import Engine, http_get, wait_for
from tests.leftovers import container_prefix
from tests.routing.conftest import free_port
from tests.routing.split import side

pytestmark = pytest.mark.container

OVERRIDE = Path(__file__).with_name("compose.override.yml")
PERCENT = 30  # not the file's default (50): the test sees that COACH_PERCENT gets through
EXPIRES = int(time.time()) + 3 * 3600  # one for every token: a user's token, so side, is fixed


def _podman_compose(engine: Engine) -> list[str]:
    if engine.name != "podman":
        pytest.skip("the compose test runs podman-compose; with Docker, run `docker compose`")
    found = shutil.which("podman-compose", path=str(Path(sys.executable).parent))
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and no podman-compose in the virtualenv (make install)")
        pytest.skip("no podman-compose in the virtualenv (make install puts it there)")
    return [found]


@dataclass
class Stack:
    engine: Engine
    command: list[str]
    env: dict[str, str]
    project: str
    port: int

    def compose(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.command, *args], env=self.env, cwd=REPO, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(
                f"podman-compose {' '.join(args)}: {result.returncode}\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def exited(self, service: str) -> int | None:
        name = self.container(service)
        if self.engine.running(name):
            return None
        return self.engine.exit_code(name)


def _token(sub: str) -> str:
    return jwt.encode({"sub": sub, "exp": EXPIRES}, SECRET, algorithm="HS256")


def _sub_on(wanted: str, percent: int, *, unless_at: int | None = None) -> str:
    """A user whose token lands on WANTED at PERCENT (and not at UNLESS_AT)."""
    for n in range(1, 10_000):
        header = f"Bearer {_token(str(n))}"
        if side(header, percent) == wanted and (
            unless_at is None or side(header, unless_at) != wanted
        ):
            return str(n)
    raise AssertionError("no such user")


@pytest.fixture(scope="module")
def stack(
    engine: Engine,
    build_summary: dict[str, Any],
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """docker-compose.yml up, with compose.override.yml's swaps and the base images' names
    (PYTHON_IMAGE, NGINX_IMAGE: the stand-ins' own names when no registry answers)."""
    command = _podman_compose(engine)
    build = subprocess.run(
        [sys.executable, str(REPO / "tools/image/build.py"), "--engine", engine.name, "--nginx",
         "--json"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    nginx_image = json.loads(build.stdout.strip().splitlines()[-1])["image"]
    port = free_port()
    # podman-compose does not substitute variables in an !override value: the port is
    # written into a copy of the override.
    override = tmp_path_factory.mktemp("compose") / "compose.override.yml"
    override.write_text(OVERRIDE.read_text().replace("${TEST_NGINX_PORT:?}", str(port)))
    suffix = uuid.uuid4().hex[:10]
    env = {k: v for k, v in engine.env.items() if not k.startswith(("COACH_", "LEGACY_"))}
    env |= {
        "COACH_JWT_SECRET": SECRET,
        "COACH_PERCENT": str(PERCENT),
        "LEGACY_DELAY_MIN": "0.01",
        "LEGACY_DELAY_MAX": "0.02",
        "TEST_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "TEST_TOPIC_EXERCISES": f"test.{suffix}.exercises",
        "TEST_TOPIC_WORKOUTS": f"test.{suffix}.workouts",
        "PYTHON_IMAGE": build_summary["base_image"],
        "NGINX_IMAGE": nginx_image,
    }
    project = f"{container_prefix()}{suffix}"  # the leftover check looks for it
    # podman-compose (like docker-compose v1) makes a directory of a bind mount's missing
    # source, in the checkout, and starts anyway: check them first.
    compose_file = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for name, service in compose_file["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: nothing at {source} to mount"
    files = ["-f", str(REPO / "docker-compose.yml"), "-f", str(override)]
    s = Stack(engine, [*command, "-p", project, *files], env, project, port)
    try:
        up = s.compose("up", "-d")
        # podman-compose goes on past a container that cannot be created (a bind mount of a
        # path that is not there, say): every long-running service must be up.
        for service in ("legacy", "coach-consumer", "coach-api", "nginx"):
            name = s.container(service)
            assert engine("container", "exists", name, check=False).returncode == 0, (
                f"{service} was not created:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
            )
            assert engine.running(name), f"{service} is not running:\n{engine.logs(name)}"
        yield s
    finally:
        # `down -v` removes the project's volumes, not the anonymous ones of the image's
        # VOLUME in the one-shot containers: those are looked up first and removed after.
        listed = engine("ps", "-a", "-q", "--filter", f"label=io.podman.compose.project={project}")
        anonymous = [
            m["Name"]
            for container in listed.stdout.split()
            for m in engine.inspect("container", container)["Mounts"]
            if m["Type"] == "volume" and re.fullmatch(r"[0-9a-f]{64}", m.get("Name", ""))
        ]
        s.compose("down", "-v", "-t", "5", check=False)
        for volume in anonymous:
            engine("volume", "rm", "-f", volume, check=False)


def test_compose_refuses_to_start_without_a_jwt_secret(engine: Engine):
    """podman-compose stops on ${COACH_JWT_SECRET:?...} with the file's message."""
    command = _podman_compose(engine)
    env = {k: v for k, v in engine.env.items() if k != "COACH_JWT_SECRET"}
    out = subprocess.run(
        [*command, "-f", str(REPO / "docker-compose.yml"), "config"], env=env, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode != 0
    assert "set COACH_JWT_SECRET" in out.stdout + out.stderr


def test_the_one_shots_create_the_topics_and_publish_200_users(stack: Stack):
    """topics and demo-publisher run their commands and exit 0; the consumer applies what was
    published to the projection volume that the api reads."""
    for service in ("topics", "demo-publisher"):
        code = wait_for(f"{service} to exit", lambda s=service: stack.exited(s) is not None, 120)
        assert stack.exited(service) == 0, stack.engine.logs(stack.container(service)) or code
    log = stack.engine.logs(stack.container("demo-publisher"))
    match = re.search(r"published (\d+) events", log)
    assert match, log
    published = int(match[1])

    def applied() -> int:
        out = stack.engine("exec", stack.container("coach-api"), "coach", "stats")
        return sum(json.loads(out.stdout)["offsets"].values())

    wait_for("the consumer to apply the demo data", lambda: applied() == published, 120)
    stats = json.loads(stack.engine("exec", stack.container("coach-api"), "coach", "stats").stdout)
    assert stats["exercises"] == 48


def test_consumer_and_api_share_the_projection_volume(stack: Stack):
    for service in ("coach-consumer", "coach-api"):
        mounts = stack.engine.inspect("container", stack.container(service))["Mounts"]
        data = [m for m in mounts if m["Destination"] == "/data"]
        assert [m.get("Name") for m in data] == [f"{stack.project}_projection"], mounts


def test_nginx_splits_wods_between_coach_and_the_stand_in(stack: Stack):
    """Through nginx on its published port: a user of coach's COACH_PERCENT share gets
    coach's WOD (one who would be the monolith's at the file's default 50 % is coach's at
    30 % only if the variable got through), a user of the rest gets the stand-in's."""
    wait_for("the api's WOD", lambda: _wod_via_nginx(stack, _sub_on("coach", PERCENT))[0] == 200)
    coach_user = _sub_on("coach", PERCENT)
    status, headers = _wod_via_nginx(stack, coach_user)
    assert status == 200 and "x-projection-lag" in headers, headers
    assert "x-legacy-stand-in" not in headers
    legacy_user = _sub_on("legacy", PERCENT, unless_at=50)
    status, headers = _wod_via_nginx(stack, legacy_user)
    assert (status, headers.get("x-legacy-stand-in")) == (200, "1"), headers
    log = stack.engine.logs(stack.container("nginx"))
    assert "served_by=coach" in log and "served_by=legacy " in log, log[-2000:]
    assert "served_by=legacy_fallback" not in log, log[-2000:]


def _wod_via_nginx(stack: Stack, sub: str) -> tuple[int, dict[str, str]]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10)
    try:
        conn.request("GET", "/fitness/wod", headers={"Authorization": f"Bearer {_token(sub)}"})
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def test_the_readmes_token_command(stack: Stack):
    """`compose run --rm --no-deps coach-api token --sub 7` prints a token nginx lets
    through to coach or the stand-in."""
    out = stack.compose("run", "--rm", "--no-deps", "coach-api", "token", "--sub", "7")
    token = out.stdout.strip().splitlines()[-1]
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["sub"] == "7"
    assert http_get(stack.port, "/fitness/wod", token)[0] == 200


def test_health_checks_as_the_file_sets_them(stack: Stack):
    """coach-api keeps the image's health check and passes it; legacy passes its own; the
    services that serve no HTTP have theirs turned off."""
    engine = stack.engine
    wait_for("coach-api healthy", lambda: engine.health_check(stack.container("coach-api")), 60)
    wait_for("legacy healthy", lambda: engine.health_check(stack.container("legacy")), 60)
    config = engine.inspect("container", stack.container("coach-consumer"))["Config"]
    assert (config.get("Healthcheck") or {}).get("Test") == ["NONE"]


def test_stop_ends_every_service_with_exit_0(stack: Stack):
    """`compose stop` (SIGTERM; nginx SIGQUIT) ends the consumer, the api, nginx and the
    stand-in cleanly."""
    stack.compose("stop", "-t", "30")
    services = ("coach-consumer", "coach-api", "nginx", "legacy")
    codes = {service: stack.exited(service) for service in services}
    assert codes == dict.fromkeys(services, 0), {
        s: stack.engine.logs(stack.container(s))[-1000:] for s in services
    }
