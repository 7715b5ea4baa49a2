"""The base image of the Dockerfile (and docker-compose.yml's nginx): used as the engine has
it, else pulled, else a local stand-in made from Debian's packages under a name of its own
(tools/image/build.py's docstring says how). Standard library only."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from image_engine import HERE, REPO, BuildError, image_labels, log, run

STANDINS = HERE / "standins"
SUITE = "bookworm"  # Debian's python3 is 3.11 there, as in python:3.11-slim
DEBOOTSTRAP = ["debootstrap", "--variant=minbase", SUITE]
STANDIN_LABEL = "coach.standin.recipe"
STANDIN_PREFIX = "localhost/coach-standin/"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


# -- the base image -----------------------------------------------------------------------------


def compose_image(service: str, compose: Path = REPO / "docker-compose.yml") -> str:
    """The full name of a compose service's image (read without a YAML parser: the line
    `image:` in the service's block)."""
    block = re.search(
        rf"^  {re.escape(service)}:\n((?:    .*\n|\s*\n)+)", compose.read_text(), re.M
    )
    match = block and re.search(r"^    image:\s*(\S+)", block.group(1), re.M)
    if not match:
        raise BuildError(f"no image for the service {service} in {compose.name}")
    return full_name(variable_default(match.group(1)))


def variable_default(value: str) -> str:
    """A compose value `${NAME:-default}` read as its default; any other value as is."""
    match = re.fullmatch(r"\$\{\w+:?-([^}]*)\}", value)
    return match.group(1) if match else value


def standin_name(base: str) -> str:
    """The stand-in's own name for the official image BASE, in localhost/coach-standin/:
    docker.io/library/python:3.11-slim -> localhost/coach-standin/python:3.11-slim."""
    path = full_name(base).split("/", 1)[1]
    return STANDIN_PREFIX + path.removeprefix("library/")


def dockerfile_base(dockerfile: Path = REPO / "Dockerfile") -> str:
    """The full name of the Dockerfile's base image (its `ARG PYTHON_IMAGE` default)."""
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile.read_text(), re.M)
    if not match:
        raise BuildError("the Dockerfile has no `ARG PYTHON_IMAGE=...` default")
    return full_name(match.group(1))


def full_name(name: str) -> str:
    """What a short image name stands for on Docker Hub: python:3.11-slim ->
    docker.io/library/python:3.11-slim."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return name
    if not rest:
        name = f"library/{name}"
    return f"docker.io/{name}"


def apt_mirror() -> str:
    """The Debian mirror apt uses on this machine (for debootstrap), else deb.debian.org."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for uri in re.findall(r"^(?:deb\s+(?:\[[^]]*\]\s+)?|URIs:\s*)(\S+)", text, re.M):
            if "security" not in uri and re.search(r"/debian/?$", uri):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def extra_cas() -> list[Path]:
    return sorted(EXTRA_CA_DIR.glob("*.crt")) if EXTRA_CA_DIR.is_dir() else []


def rootfs_key() -> str:
    return hashlib.sha256(json.dumps(DEBOOTSTRAP).encode()).hexdigest()[:16]


def standin_key(recipe: Path) -> str:
    """The hash of everything a stand-in is made from: the debootstrap step, the files of
    its recipe directory (tools/image/standins/NAME/) and the host's extra CAs."""
    digest = hashlib.sha256(rootfs_key().encode())
    for path in sorted(p for p in recipe.rglob("*") if p.is_file()):
        mode = "x" if os.access(path, os.X_OK) else "-"
        digest.update(f"{path.relative_to(recipe)}\0{mode}\0".encode() + path.read_bytes())
    for ca in extra_cas():
        digest.update(ca.name.encode() + b"\0" + ca.read_bytes())
    return digest.hexdigest()[:16]


def registry_answers(engine: str, base: str) -> bool:
    log(f"pulling {base}")
    try:
        out = run(engine, "pull", base, check=False, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        log(f"pulling {base} timed out")
        return False
    if out.returncode != 0:
        log(f"cannot pull {base}: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return out.returncode == 0


def make_rootfs(engine: str) -> str:
    """localhost/coach-standin/debian:SUITE-KEY: a minbase debootstrap, imported."""
    name = f"localhost/coach-standin/debian:{SUITE}-{rootfs_key()}"
    if image_labels(engine, name) is not None:
        log(f"{name} is there already")
        return name
    if not shutil.which("debootstrap"):
        raise BuildError("debootstrap is missing (Debian: apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise BuildError("debootstrap needs root to make the stand-in base image")
    mirror = apt_mirror()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="coach-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"debootstrap {SUITE} from {mirror} (about 30 s)")
        result = subprocess.run([*DEBOOTSTRAP, str(rootfs), mirror], capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"debootstrap failed:\n{result.stdout[-2000:]}{result.stderr}")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / cache).glob("*"):
                if path.is_file():
                    path.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        run(engine, "import", "-", name, stdin=tar.stdout, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise BuildError("tar of the debootstrap root failed")
    log(f"{name} made in {time.monotonic() - started:.0f} s")
    return name


def make_standin(engine: str, name: str, recipe: Path, key: str) -> None:
    rootfs = make_rootfs(engine)
    with tempfile.TemporaryDirectory(prefix="coach-standin-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(recipe, context)
        (context / "extra-ca").mkdir()
        for ca in extra_cas():
            shutil.copy(ca, context / "extra-ca" / ca.name)
        log(f"building the stand-in {name} from {recipe.relative_to(REPO)}")
        containerfile = str(context / "Containerfile")
        args = ["build", "--build-arg", f"DEBIAN_BASE={rootfs}", "--label",
                f"{STANDIN_LABEL}={key}", "-t", name, "-f", containerfile]  # fmt: skip
        if engine == "podman":
            args += ["--format", "docker", "--pull=never"]
        run(engine, *args, str(context))


def ensure_base(
    engine: str, base: str, stand_in: str = "auto", recipe: str = "python"
) -> tuple[str, str]:
    """Make sure the engine has the image BASE, or else a stand-in for it made from
    tools/image/standins/RECIPE/ under standin_name(BASE). Returns the name to build on and
    how it came: "present", "pulled", "stand-in (cached)" or "stand-in (made)"."""
    directory = STANDINS / recipe
    key = standin_key(directory)
    labels = image_labels(engine, base)
    if labels is not None and STANDIN_LABEL in labels:
        # An older build's stand-in under the official name: that name is the registry's.
        # It keeps its layers under the stand-in's own name (if that name is free).
        log(f"renaming {base}: it is a stand-in made by an older build, not the real image")
        if image_labels(engine, standin_name(base)) is None:
            run(engine, "tag", base, standin_name(base))
        run(engine, "rmi", base, check=False, capture_output=True)
        labels = None
    if labels is not None and stand_in != "always":
        return base, "present"
    standin = standin_name(base)
    if stand_in != "always" and registry_answers(engine, base):
        return base, "pulled"
    if stand_in == "never":
        raise BuildError(f"cannot pull {base} and --stand-in never")
    made = image_labels(engine, standin)
    if made is not None and made.get(STANDIN_LABEL) == key:
        return standin, "stand-in (cached)"
    if made is not None:
        log(f"the stand-in {standin} was made from another recipe: making it again")
    log(f"no registry: a stand-in for {base} from Debian's packages, named {standin}")
    make_standin(engine, standin, directory, key)
    return standin, "stand-in (made)"
