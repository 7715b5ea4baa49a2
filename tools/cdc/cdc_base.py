"""What the CDC tools share (tools/cdc/cdc.py and its cdc_* siblings): where things are
(the repository, the poms, the default home ``.cdc/``, PostgreSQL's binaries), the ports,
CdcError, the home's locks and the log and process helpers.

Standard library only. The siblings import it by name: cdc.py puts this folder on
``sys.path`` first, so that it also loads by path (importlib's spec_from_file_location)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_HOME = REPO_ROOT / ".cdc"
CONNECT_POM = HERE / "connect-pom.xml"
DEBEZIUM_POM = HERE / "debezium-pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
MIGRATIONS = REPO_ROOT / "monolith_kit" / "migrations"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
HOST = "127.0.0.1"
PG_PORT = 5433
"""The default port of the cluster; COACH_CDC_PG_PORT chooses another (see pg_port)."""
REST_PORT = 8083
DATABASE = "monolith"
PUBLICATION = "coach_outbox"
FETCH_TIMEOUT = 900.0
START_TIMEOUT = 120.0
JVM_OPTS = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
PLUGIN_EXCLUDED_GROUPS = "org.apache.kafka,org.slf4j,com.fasterxml.jackson.core"
"""Debezium 3.6 pulls Kafka 4.3's connect-api and clients, SLF4J and Jackson: the worker's own
must be the only ones (two Jacksons in two class loaders break the converters)."""


class CdcError(RuntimeError):
    """PostgreSQL or Connect could not be fetched, started, configured or stopped."""


def pg_port() -> int:
    """The port of this checkout's cluster: COACH_CDC_PG_PORT when set, else 5433. Read at
    each call, so that a test session that finds 5433 held by another checkout can move."""
    raw = os.environ.get("COACH_CDC_PG_PORT", "").strip()
    if not raw:
        return PG_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise CdcError(f"COACH_CDC_PG_PORT must be a port number (1-65535), not {raw!r}")
    return int(raw)


def _log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def _home(home: str | os.PathLike[str] | None) -> Path:
    return Path(home).expanduser().resolve() if home is not None else DEFAULT_HOME


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path})"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
