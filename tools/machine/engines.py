"""The container images, containers and volumes the project made, as podman or Docker
lists them (tools/machine/machine.py: `make status`, `make clean-all`). Standard library
only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
IMAGE_PREFIXES = ("localhost/coach:", "localhost/coach-standin/", "docker.io/library/coach:")
STANDIN_LABEL = "coach.standin.recipe"
STAGE_LABEL = "org.coach.image.stage"  # the Dockerfile's stages (tools/image/leftovers.py)
NAME_PREFIXES = ("coach-test-", "coach-bench-", "coach_")
VOLUMES = ("coach-data",)  # the README's `podman run` example


def engine() -> str | None:
    """podman, else docker, else None; COACH_MACHINE_ENGINE=none leaves the engines out."""
    wanted = os.environ.get("COACH_MACHINE_ENGINE")
    if wanted:
        return None if wanted == "none" else wanted
    for name in ("podman", "docker"):
        if shutil.which(name):
            return name
    return None


def _json(engine: str, *args: str) -> list[dict[str, Any]]:
    env = dict(os.environ)
    if engine == "podman":
        env.setdefault("CONTAINERS_CONF", str(REPO / "tools/image/containers.conf"))
    try:
        out = subprocess.run(
            [engine, *args, "--format", "json"], capture_output=True, text=True, env=env,
            timeout=60, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return []
    text = out.stdout.strip()
    if out.returncode != 0 or not text:
        return []
    if not text.startswith("["):  # docker: one object a line
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    return data if isinstance(data, list) else []


def images(engine: str) -> list[str]:
    """The project's images: coach's, the stand-ins, and stand-ins under official names."""
    found = []
    for image in _json(engine, "images"):
        names = image.get("Names") or image.get("RepoTags") or []
        if not names and image.get("Repository"):  # docker's line format
            names = [f"{image['Repository']}:{image.get('Tag', 'latest')}"]
        labels = image.get("Labels") or {}
        for name in names:
            if name.startswith(IMAGE_PREFIXES) or name == "coach:dev" or STANDIN_LABEL in labels:
                found.append(name)
        if not names and (STANDIN_LABEL in labels or STAGE_LABEL in labels):  # untagged stages
            found.append(str(image.get("Id") or image.get("ID", ""))[:12])
    return sorted({f for f in found if f})


def containers(engine: str) -> list[str]:
    found = []
    for c in _json(engine, "ps", "-a"):
        names = c.get("Names") or []
        names = [names] if isinstance(names, str) else names
        labels = c.get("Labels") or {}
        project = labels.get("io.podman.compose.project") or labels.get(
            "com.docker.compose.project", ""
        )
        if any(n.startswith(NAME_PREFIXES) for n in names) or project.startswith("coach"):
            found += names[:1]
    return sorted(found)


def volumes(engine: str) -> list[str]:
    found = []
    for v in _json(engine, "volume", "ls"):
        name = v.get("Name", "")
        if name.startswith(NAME_PREFIXES) or name in VOLUMES:
            found.append(name)
    return sorted(found)


def run(engine: str | None, *args: str) -> bool:
    """Run ENGINE ARGS quietly; True when it exited 0."""
    if engine is None:
        return True
    env = dict(os.environ)
    if engine == "podman":
        env.setdefault("CONTAINERS_CONF", str(REPO / "tools/image/containers.conf"))
    out = subprocess.run([engine, *args], env=env, capture_output=True, check=False, timeout=300)
    return out.returncode == 0
