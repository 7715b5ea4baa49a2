"""The image built by `make image` (tools/image/build.py), run for real with Docker or podman.

Without either engine these tests skip, saying so; with CI=true they fail instead, so that
CI (which installs podman) cannot pass without running them. The image is built once per
session; the build reuses the stand-in base and the engine's layer cache.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO, SECRET
from tests.leftovers import container_prefix


def _load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_build", REPO / "tools/image/build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _load_build()


@dataclass
class Engine:
    """docker or podman, run with the environment tools/image/build.py uses."""

    name: str
    env: dict[str, str] = field(repr=False)

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 180, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.name, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
            input=input,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(
                f"{self.name} {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def inspect(self, kind: str, name: str) -> dict[str, Any]:
        return json.loads(self(kind, "inspect", name).stdout)[0]

    def exit_code(self, container: str) -> int:
        return int(self("inspect", "--format", "{{.State.ExitCode}}", container).stdout)

    def running(self, container: str) -> bool:
        out = self("inspect", "--format", "{{.State.Running}}", container, check=False)
        return out.stdout.strip() == "true"

    def logs(self, container: str) -> str:
        out = self("logs", container, check=False)
        lines = (out.stdout + out.stderr).splitlines()
        # podman's own complaint (no systemd here to time health checks) is not the app's.
        return "\n".join(line for line in lines if "systemd" not in line)

    def health_check(self, container: str) -> bool:
        """Run the image's HEALTHCHECK once in CONTAINER: True when it passes. podman runs it
        itself; Docker has no such command, so its configured test is executed the same way."""
        if self.name == "podman":
            out = self("healthcheck", "run", container, check=False, timeout=30)
            if out.returncode not in (0, 1):
                raise AssertionError(f"podman healthcheck run: {out.stderr}")
            return out.returncode == 0
        test = self.inspect("container", container)["Config"]["Healthcheck"]["Test"]
        assert test[0] == "CMD", test
        return self("exec", container, *test[1:], check=False, timeout=30).returncode == 0


def _engine() -> Engine:
    try:
        name = BUILD.find_engine()
    except BUILD.BuildError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no container engine, so the image cannot be tested: {exc}")
        pytest.skip(f"no Docker engine answers and no podman ({exc}); CI installs podman")
    return Engine(name, BUILD.engine_env(name))


@pytest.fixture(scope="session")
def engine() -> Engine:
    return _engine()


@pytest.fixture(scope="session")
def build_summary(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """tools/image/build.py --json's summary of building localhost/coach:dev now (as `make
    image` does): the tag, and the base image it was built on (a stand-in's own name when
    no registry answers)."""
    log = tmp_path_factory.mktemp("image") / "build.log"
    started = time.monotonic()
    with open(log, "w") as out:
        result = subprocess.run(
            [sys.executable, str(REPO / "tools/image/build.py"), "--engine", engine.name, "--json"],
            stdout=subprocess.PIPE, stderr=out, text=True, timeout=1200,
        )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"the image did not build:\n{log.read_text()[-5000:]}")
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"\nimage built in {time.monotonic() - started:.1f} s: {summary}")
    return summary


@pytest.fixture(scope="session")
def image(build_summary: dict[str, Any]) -> str:
    """localhost/coach:dev, built by tools/image/build.py."""
    return str(build_summary["tag"])


class Names:
    """Unique names for containers and volumes, removed at the end; they begin with the
    session's container_prefix(), which the session's leftover check looks for."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.prefix = f"{container_prefix()}{uuid.uuid4().hex[:8]}"
        self.containers: list[str] = []
        self.volumes: list[str] = []

    def container(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        self.containers.append(full)
        return full

    def volume(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        self.volumes.append(full)
        return full

    def remove(self) -> None:
        for name in self.containers:
            self.engine("rm", "-f", "-v", "-t", "0", name, check=False)
        for name in self.volumes:
            self.engine("volume", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def names(engine: Engine) -> Iterator[Names]:
    made = Names(engine)
    try:
        yield made
    finally:
        made.remove()


def coach_env(bootstrap: str, suffix: str) -> dict[str, str]:
    """COACH_* for the containers: the test broker and topics of their own."""
    return {
        "COACH_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "COACH_TOPIC_EXERCISES": f"test.{suffix}.exercises",
        "COACH_TOPIC_WORKOUTS": f"test.{suffix}.workouts",
        "COACH_JWT_SECRET": SECRET,
    }


def env_args(env: dict[str, str]) -> list[str]:
    return [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]


def http_get(
    port: int, path: str, token: str | None = None, timeout: float = 10
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # not yet
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
