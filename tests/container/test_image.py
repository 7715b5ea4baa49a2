"""The image, run: as uid 10001 with a volume for the projection, every command's --help,
`coach consume` and `coach api` in containers of their own serving a WOD from demo data in
every time zone, the image's HEALTHCHECK, SIGTERM from `stop`, and the projection outliving
its containers.

The consumer runs on the host network (the test broker listens on the host's loopback).
The api needs no broker, only the projection's volume: it runs on the engine's default
network with its port 8000 published to a free port of the host, because the image's
health check probes 127.0.0.1:8000 inside the container, which on the host network would be
the host's port 8000 (a developer's `make run`, say).
"""

from __future__ import annotations

import json
import re
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from subprocess import CompletedProcess
from typing import Any
from urllib.parse import quote

import click
import pytest

from tests.conftest import REPO
from tests.container.conftest import (
    Engine,
    Names,
    coach_env,
    env_args,
    http_get,
    wait_for,
)

pytestmark = pytest.mark.container

DOCKERFILE_USER = "10001:10001"
# Every IANA zone: the list of the tzdata package (the host's available_timezones() also has
# whatever else lies in its /usr/share/zoneinfo, such as "localtime").
IANA_ZONES = resources.files("tzdata").joinpath("zones").read_text().split()


def test_the_image_keeps_the_dockerfiles_settings(engine: Engine, image: str):
    """Built in Docker's format: the HEALTHCHECK on /health is there (the OCI format drops
    it), with the user, the volume, the entry point and the default command."""
    info = engine.inspect("image", image)
    config = info["Config"]
    assert config["User"] == DOCKERFILE_USER
    assert "/data" in config["Volumes"]
    assert config["Entrypoint"] == ["coach"]
    assert config["Cmd"] == ["api", "--host", "0.0.0.0", "--port", "8000"]
    assert "COACH_DB_PATH=/data/coach.db" in config["Env"]
    # Docker keeps it in Config, podman beside it.
    health = config.get("Healthcheck") or info.get("Healthcheck") or {}
    assert health.get("Test", [None])[0] == "CMD", health
    assert "http://127.0.0.1:8000/health" in " ".join(health["Test"])


def test_a_build_leaves_no_earlier_image_behind(engine: Engine, image: str):
    """tools/image/leftovers.py: after a build, no untagged runtime image of coach remains
    (the one before it lost its tag to it), and one untagged build stage at most (the
    newest, whose layers the next build reuses). Each build left about 680 MB before."""
    assert engine.inspect("image", image)["Config"]["Labels"]["org.coach.image.stage"] == (
        "runtime"
    )
    listed = engine(
        "images", "-q", "--no-trunc", "--filter", "dangling=true",
        "--filter", "label=org.coach.image.stage",
    ).stdout.split()  # fmt: skip
    stages = [
        engine("image", "inspect", "--format", '{{index .Config.Labels "org.coach.image.stage"}}',
               i).stdout.strip()
        for i in dict.fromkeys(listed)
    ]  # fmt: skip
    assert "runtime" not in stages, listed
    assert stages.count("build") <= 1, listed


def test_it_runs_as_uid_10001_and_writes_its_volume(engine: Engine, image: str, names: Names):
    """Not root, and the projection's directory (a fresh named volume) is its own."""
    volume = names.volume("uid")
    engine("volume", "create", volume)
    script = "id -u; id -g; touch /data/probe && ls -n /data/probe"
    out = engine("run", "--rm", "-v", f"{volume}:/data", "--entrypoint", "sh", image, "-c", script)
    uid, gid, listing = out.stdout.splitlines()
    assert (uid, gid) == ("10001", "10001")
    assert listing.split()[2:4] == ["10001", "10001"]


def _commands(group: click.Group, path: list[str]) -> Iterator[list[str]]:
    for name, command in sorted(group.commands.items()):
        yield [*path, name]
        if isinstance(command, click.Group):
            yield from _commands(command, [*path, name])


def test_every_command_answers_help(engine: Engine, image: str):
    """`coach --help` through the entry point, then every command's and subcommand's --help
    in the image (`coach replay` included): each exits 0 and prints its usage."""
    from coach.cli import main

    out = engine("run", "--rm", image, "--help")
    assert "Usage: coach" in out.stdout
    commands = [" ".join(path) for path in _commands(main, [])]
    assert {"api", "consume", "replay", "topics create", "publish", "token"} <= set(commands)
    script = "".join(
        f'if coach {c} --help > /tmp/out; then grep -q "Usage: coach {c}" /tmp/out && '
        f'echo "ok {c}" || echo "no usage {c}"; else echo "failed {c}"; fi\n'
        for c in commands
    )
    out = engine("run", "--rm", "--entrypoint", "sh", image, "-c", script)
    assert out.stdout.splitlines() == [f"ok {c}" for c in commands], out.stdout + out.stderr


IMPORT_ALL = """
import importlib, json, pkgutil, sys
failed = {}
for package in sys.argv[1:]:
    try:
        module = importlib.import_module(package)
        names = [m.name for m in pkgutil.walk_packages(module.__path__, package + ".")]
    except Exception as exc:
        failed[package] = repr(exc)
        continue
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = repr(exc)
print(json.dumps(failed))
"""


EXTRA_ONLY = {"monolith_kit": ("sqlalchemy", "psycopg")}
"""Packages of the wheel whose modules need an optional extra the service image does not
install (the monolith kit's `monolith` extra: the monolith installs it, coach never imports
it): in the image they may fail for exactly those missing modules, and nothing else."""


def test_every_module_of_the_wheel_imports_in_the_image(engine: Engine, image: str):
    """Each package of pyproject's wheel, and every module in it, imports in the image (a
    package the build context leaves out fails here even where its command's --help, which
    imports lazily, still answers)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    out = engine("run", "--rm", "--entrypoint", "python", image, "-c", IMPORT_ALL, *packages)
    failed = json.loads(out.stdout)
    extra_only = {
        name
        for name, error in failed.items()
        if any(f"No module named '{dep}" in error for dep in EXTRA_ONLY.get(name.split(".")[0], ()))
    }
    assert {n: e for n, e in failed.items() if n not in extra_only} == {}


def test_every_zone_without_the_systems_zoneinfo(engine: Engine, image: str):
    """The zones come from the image's own tzdata package, not only from the base image's
    /usr/share/zoneinfo: with that hidden, every IANA zone still loads."""
    code = (
        "import json, sys, zoneinfo\n"
        "bad = [z for z in json.load(sys.stdin) if not zoneinfo.ZoneInfo(z)]\n"
        "print(len(zoneinfo.available_timezones()), bad)\n"
    )
    out = engine(
        "run", "--rm", "-i", "-e", "PYTHONTZPATH=/nonexistent", "--entrypoint", "python", image,
        "-c", code, input=json.dumps(IANA_ZONES),
    )  # fmt: skip
    count, bad = out.stdout.split(" ", 1)
    assert bad.strip() == "[]"
    assert int(count) == len(IANA_ZONES)


# -- consume and api in containers --------------------------------------------------------------


PUBLISHED = re.compile(r"^published \d+ events \((.*)\)$", re.M)


@dataclass
class Deployment:
    engine: Engine
    image: str
    names: Names
    env: dict[str, str]
    volume: str
    consumer: str = ""
    api: str = ""
    port: int = 0
    generation: int = 0
    published: dict[str, int] = field(default_factory=dict)

    def one_shot(self, *args: str, entrypoint: str | None = None) -> CompletedProcess[str]:
        """A container of the image on the host network with the volume, run to completion."""
        extra = ["--entrypoint", entrypoint] if entrypoint else []
        base = ["run", "--rm", "--network", "host", "-v", f"{self.volume}:/data"]
        return self.engine(*base, *env_args(self.env), *extra, self.image, *args)

    def publish(self, demo_args: str) -> dict[str, int]:
        """Demo data through `coach publish` in the image: events sent per topic."""
        text = self.one_shot(
            "-c", f"coach demo-data {demo_args} | coach publish", entrypoint="sh"
        ).stderr
        match = PUBLISHED.search(text)
        assert match, text
        return {topic: int(n) for n, topic in re.findall(r"(\d+) to ([^,]+)", match[1])}

    def start(self) -> None:
        """The consumer and the api, in new containers on the same projection volume."""
        self.generation += 1
        volume = ["-v", f"{self.volume}:/data"]
        self.consumer = self.names.container(f"consumer-{self.generation}")
        self.engine(
            "run", "-d", "--name", self.consumer, "--network", "host", *volume,
            *env_args(self.env), self.image, "consume",
        )  # fmt: skip
        self.api = self.names.container(f"api-{self.generation}")
        self.engine(
            "run", "-d", "--name", self.api, "-p", "127.0.0.1::8000", *volume,
            *env_args(self.env), self.image,
        )  # fmt: skip
        mapping = self.engine("port", self.api, "8000").stdout.strip().splitlines()[0]
        self.port = int(mapping.rsplit(":", 1)[1])
        wait_for("the api's /health", lambda: http_get(self.port, "/health")[0] == 200, 60)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = json.loads(self.one_shot("stats").stdout)
        return stats

    def offsets_by_topic(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for partition, offset in self.stats()["offsets"].items():
            topic = partition.rsplit("/", 1)[0]
            totals[topic] = totals.get(topic, 0) + offset
        return totals

    def token(self, sub: str) -> str:
        out = self.engine("run", "--rm", *env_args(self.env), self.image, "token", "--sub", sub)
        return out.stdout.strip()


@pytest.fixture(scope="module")
def deployment(
    engine: Engine, image: str, names: Names, kafka_bootstrap: str
) -> Iterator[Deployment]:
    """Topics and 20 users' demo data published from the image, then consume and api."""
    volume = names.volume("projection")
    engine("volume", "create", volume)
    env = coach_env(kafka_bootstrap, uuid.uuid4().hex[:10])
    d = Deployment(engine, image, names, env, volume)
    d.one_shot("topics", "create")
    d.published = d.publish("--users 20")
    d.start()
    try:
        wait_for(
            "the consumer to apply the demo data",
            lambda: d.offsets_by_topic() == d.published,
            90,
        )
    except AssertionError:
        raise AssertionError(engine.logs(d.consumer)) from None
    yield d


def test_consume_and_api_serve_a_wod_from_demo_data(deployment: Deployment):
    status, body = http_get(deployment.port, "/fitness/wod", deployment.token("7"))
    assert status == 200, body
    wod = json.loads(body)
    assert len(wod["exercises"]) == 6
    assert all(e["muscle_groups"] for e in wod["exercises"])
    ready = http_get(deployment.port, "/ready")
    assert ready[0] == 200, ready


def test_every_time_zone_gives_a_wod(deployment: Deployment):
    """tz=Asia/Tokyo, and every other IANA zone, is a 200 (not the 422 of an unknown zone)."""
    token = deployment.token("7")
    status, body = http_get(deployment.port, "/fitness/wod?tz=Asia/Tokyo", token)
    assert status == 200, body
    failed = {}
    assert len(IANA_ZONES) > 500
    for zone in IANA_ZONES:
        status, body = http_get(deployment.port, f"/fitness/wod?tz={quote(zone)}", token)
        if status != 200:
            failed[zone] = (status, body[:200])
    assert not failed


def test_the_health_check_follows_the_api(deployment: Deployment):
    """The image's own HEALTHCHECK passes while the api answers, fails while it does not
    (its process stopped with SIGSTOP: it accepts no request), and passes again after."""
    engine, api = deployment.engine, deployment.api
    assert engine.health_check(api)
    engine("kill", "--signal", "STOP", api)
    try:
        assert not engine.health_check(api)
    finally:
        engine("kill", "--signal", "CONT", api)
    assert wait_for("the health check to pass again", lambda: engine.health_check(api), 30)


def test_a_stopped_container_is_unhealthy(engine: Engine, image: str, names: Names):
    """A container of the image with nothing on port 8000 fails the health check."""
    idle = names.container("idle")
    engine("run", "-d", "--name", idle, "--entrypoint", "sleep", image, "300")
    assert not engine.health_check(idle)


def test_stop_ends_both_cleanly_and_the_projection_outlives_them(deployment: Deployment):
    """`stop` (SIGTERM) ends the consumer and the api with exit 0; the offsets stored are
    those of every event published (none lost). With both containers removed and new ones
    started on the same volume, the api answers from the projection as it was, and the new
    consumer goes on from the stored offsets (not from the beginning) with what was
    published in between."""
    d = deployment
    engine = d.engine
    for container in (d.consumer, d.api):
        engine("stop", "-t", "30", container, timeout=60)
        assert not engine.running(container)
        assert engine.exit_code(container) == 0, engine.logs(container)
    assert "consumer stopped after" in engine.logs(d.consumer)
    assert d.offsets_by_topic() == d.published
    before = d.stats()

    # Users 21 to 30 are new (the first publish had 1 to 20): their workouts are new rows
    # whatever the time of day. (Users 1 to 10 again, as this once did, give workout ids
    # "demo-USER-DATE" the first publish may already hold: on some days no new row at all.)
    more = d.publish("--users 30 --seed 8 --no-catalog")
    for container in (d.consumer, d.api):
        engine("rm", container)
    d.start()
    status, body = http_get(d.port, "/fitness/wod", d.token("7"))
    assert status == 200, body
    expected = {t: n + more.get(t, 0) for t, n in d.published.items()}
    wait_for("the new consumer's catching up", lambda: d.offsets_by_topic() == expected)
    after = d.stats()
    assert after["exercises"] == before["exercises"]
    assert after["workouts"] > before["workouts"]
    assert after["dead_letters"] == 0
    # Nine partitions: three topics of three. Every partition that holds records goes on
    # from its stored offset; only the erasures topic's, empty here (no one was erased),
    # have no offset to go on from.
    started = re.search(r"\(9 new, (\d+) read from the beginning\)", engine.logs(d.consumer))
    assert started is not None and int(started.group(1)) <= 3, engine.logs(d.consumer)
    for container in (d.consumer, d.api):
        engine("stop", "-t", "30", container, timeout=60)
        assert engine.exit_code(container) == 0, engine.logs(container)
