"""What the broker's tools share (tools/kafka/broker.py and its kafka_* siblings): where
things are (the repository, pom.xml, the default home ``.kafka/``), the ports and timeouts,
BrokerError, the home's lock, the log readers and where java is.

Standard library only. The siblings import it by name: broker.py puts this folder on
``sys.path`` first, so that it also loads by path (importlib's spec_from_file_location)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
DEFAULT_HOME = REPO_ROOT / ".kafka"
DEFAULT_PORT = 9092
HOST = "127.0.0.1"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
FETCH_TIMEOUT = 900.0
JVM_OPTS = [
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
]


class BrokerError(RuntimeError):
    """Raised when the broker cannot be fetched, formatted, started or stopped."""


def _log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def _home(home: str | os.PathLike[str] | None) -> Path:
    return Path(home).expanduser().resolve() if home is not None else DEFAULT_HOME


def default_kafka_version() -> str:
    """The version pinned in pom.xml (``<kafka.version>``); env KAFKA_VERSION overrides it."""
    env = os.environ.get("KAFKA_VERSION")
    if env:
        return env
    m = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", POM.read_text())
    if not m:
        raise BrokerError(f"no <kafka.version> in {POM}")
    return m.group(1)


def _tail(path: Path, lines: int = 60, since: int = 0) -> str:
    """Last ``lines`` lines of ``path``, reading only from byte offset ``since``."""
    try:
        with open(path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
    except OSError:
        return f"(no {path})"
    return "\n".join(text.splitlines()[-lines:])


def _first_error(path: Path, since: int = 0) -> str:
    """The first ERROR/FATAL log line written since ``since`` and the line after it."""
    text = _tail(path, 10**6, since).splitlines()
    for i, line in enumerate(text):
        if "] ERROR " in line or "] FATAL " in line:
            return "\n".join(text[i : i + 2])
    return ""


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, so concurrent start/stop calls on one home don't race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if not java:
        raise BrokerError("java not found (need Java 17+)")
    return java
