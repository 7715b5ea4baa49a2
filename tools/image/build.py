#!/usr/bin/env python3
"""Build the project's Dockerfile, unchanged, as localhost/coach:dev (`make image`).

    python3 tools/image/build.py            # Docker if an engine answers, else podman
    python3 tools/image/build.py --json     # the same, then a summary line (JSON)
    python3 tools/image/build.py --nginx    # only docker-compose.yml's nginx image (below)

The engine: Docker when `docker info` answers (a docker CLI without a daemon does not
count), else podman, which builds with `--format docker` (the OCI format has no
HEALTHCHECK). For podman, CONTAINERS_CONF points at tools/image/containers.conf unless it
is set already (see that file for why).

The base image (the Dockerfile's `ARG PYTHON_IMAGE` default, python:3.11-slim): used as is
when the engine has it; else pulled; when no registry can be reached, a local stand-in is
made from Debian's packages instead (debootstrap of bookworm from the mirror apt uses here,
then python3 from Debian: tools/image/standins/python/) under a name of its own,
localhost/coach-standin/python:3.11-slim (never the official name: on a machine that later
reaches a registry, a build must not silently take the stand-in for the real base), and
the unchanged Dockerfile is built on it through its build argument PYTHON_IMAGE. A
stand-in carries its recipe's hash as a label: it is made once, and made again only when
its recipe (the files of its directory, the host's extra CA certificates, the debootstrap
step) changes. A stand-in that an older build tagged with the official name is untagged.
The engine's layer cache does the rest: a rebuild with no change takes seconds.

`--nginx` does the same for docker-compose.yml's nginx image (tools/image/standins/nginx/:
Debian's nginx with the official image's template step, localhost/coach-standin/nginx:1.28),
for the compose test; `--json` then prints the name to give the compose file (NGINX_IMAGE).

Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from image_base import (
    SUITE,
    compose_image,
    dockerfile_base,
    ensure_base,
    full_name,
    rootfs_key,
    standin_name,
    variable_default,
)
from image_engine import REPO, BuildError, engine_env, find_engine, image_size, log, run
from leftovers import remove_leftovers

# what tests/ and bench/image.py read of this module (they load it by its path)
__all__ = [
    "REPO",
    "SUITE",
    "TAG",
    "BuildError",
    "build",
    "compose_image",
    "dockerfile_base",
    "engine_env",
    "ensure_base",
    "find_engine",
    "full_name",
    "image_size",
    "log",
    "main",
    "rootfs_key",
    "run",
    "standin_name",
    "variable_default",
]

TAG = "localhost/coach:dev"


# -- the image ----------------------------------------------------------------------------------


def build(engine: str, tag: str = TAG, base: str | None = None) -> None:
    """Build the Dockerfile as TAG on BASE (its PYTHON_IMAGE; the Dockerfile's default when
    None)."""
    args = ["build", "-t", tag, "-f", str(REPO / "Dockerfile")]
    if base is not None:
        args += ["--build-arg", f"PYTHON_IMAGE={base}"]
    if engine == "podman":
        # docker format keeps HEALTHCHECK; the base is local (pulled or the stand-in).
        args += ["--format", "docker", "--pull=never"]
    elif tag.startswith("localhost/"):
        # Docker reads "localhost/coach:dev" and "coach:dev" as two names; compose wants the
        # second (podman finds localhost/ images by their short name).
        args += ["-t", tag.removeprefix("localhost/")]
    run(engine, *args, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", default=TAG)
    parser.add_argument("--engine", choices=["auto", "docker", "podman"], default="auto")
    parser.add_argument(
        "--stand-in",
        choices=["auto", "always", "never"],
        default="auto",
        help="the base's stand-in: when no registry answers (auto), even if one does, or never",
    )
    parser.add_argument("--json", action="store_true", help="print a summary as JSON")
    parser.add_argument(
        "--nginx", action="store_true", help="only make sure docker-compose.yml's nginx is there"
    )
    args = parser.parse_args(argv)
    try:
        engine = find_engine(args.engine)
        log(f"engine: {engine}")
        if args.nginx:
            nginx = compose_image("nginx")
            name, how = ensure_base(engine, nginx, args.stand_in, recipe="nginx")
            log(f"{nginx}: {how} ({name})")
            if args.json:
                print(json.dumps({"engine": engine, "image": name, "how": how}))
            return 0
        base = dockerfile_base()
        started = time.monotonic()
        name, how = ensure_base(engine, base, args.stand_in)
        base_seconds = time.monotonic() - started
        log(f"base {base}: {how} ({name}, {base_seconds:.1f} s)")
        started = time.monotonic()
        build(engine, args.tag, name)
        build_seconds = time.monotonic() - started
        size = image_size(engine, args.tag)
        removed = remove_leftovers(engine)
    except BuildError as exc:
        log(f"error: {exc}")
        return 1
    log(f"built {args.tag} in {build_seconds:.1f} s; {size / 1e6:.0f} MB")
    if removed:
        log(f"removed {removed} untagged image(s) earlier builds left")
    if args.json:
        summary = {
            "engine": engine,
            "tag": args.tag,
            "base": base,
            "base_image": name,
            "base_how": how,
            "base_seconds": round(base_seconds, 2),
            "build_seconds": round(build_seconds, 2),
            "size_bytes": size,
            "removed_images": removed,
        }
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
