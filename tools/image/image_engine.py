"""The container engine tools/image/build.py builds with: Docker when `docker info` answers,
else podman (with tools/image/containers.conf), and what it says of an image. Standard
library only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
HERE = Path(__file__).resolve().parent
CONTAINERS_CONF = HERE / "containers.conf"


class BuildError(Exception):
    pass


def log(message: str) -> None:
    print(f"image: {message}", file=sys.stderr, flush=True)


# -- the engine ---------------------------------------------------------------------------------


def docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def find_engine(wanted: str = "auto") -> str:
    """The engine to use, "docker" or "podman" (BuildError when neither can be)."""
    if wanted in ("auto", "docker") and docker_answers():
        return "docker"
    if wanted == "docker":
        raise BuildError("no Docker engine answers (`docker info` failed)")
    if shutil.which("podman"):
        return "podman"
    raise BuildError(
        "neither a Docker engine nor podman: install one (Debian: apt-get install podman runc)"
    )


def engine_env(engine: str) -> dict[str, str]:
    """The environment to run ENGINE with: for podman, the repo's containers.conf unless
    CONTAINERS_CONF is set already."""
    env = dict(os.environ)
    if engine == "podman":
        env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def run(engine: str, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    result = subprocess.run([engine, *args], env=engine_env(engine), **kwargs)
    if check and result.returncode != 0:
        raise BuildError(f"`{engine} {' '.join(args[:3])} ...` exited {result.returncode}")
    return result


def image_labels(engine: str, name: str) -> dict[str, str] | None:
    """The image's labels, or None when the engine does not have it."""
    out = run(engine, "image", "inspect", name, check=False, capture_output=True, text=True)
    if out.returncode != 0:
        return None
    info = json.loads(out.stdout)[0]
    return info.get("Labels") or (info.get("Config") or {}).get("Labels") or {}


def image_size(engine: str, name: str) -> int:
    out = run(engine, "image", "inspect", "--format", "{{.Size}}", name, capture_output=True,
              text=True)  # fmt: skip
    return int(out.stdout.strip())
