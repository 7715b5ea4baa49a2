"""The monolith's PostgreSQL for development and tests: the cluster (in ``<home>/pg``, or a
folder of the `postgres` user's that ``<home>/pg`` links to), started with wal_level=logical
on 127.0.0.1:5433 (or COACH_CDC_PG_PORT), refused when that port is held by a cluster that is
not this home's; psql; a database with the outbox and its publication, and its removal
with the connector's replication slot. Standard library only; tools/cdc/cdc.py imports it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from cdc_base import (
    DATABASE,
    HOST,
    MIGRATIONS,
    PG_BIN,
    CdcError,
    _home,
    _locked,
    _log,
    _pid_alive,
    _tail,
    pg_port,
)


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as the `postgres` user."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


def _pg_root(home: Path) -> Path:
    """``<home>/pg``, unless the `postgres` user cannot reach it (a clone under /root, whose
    0700 mode is never loosened): then a folder of that user's own, named after `home`, to
    which ``<home>/pg`` is a symbolic link, so that the checkout still names (and
    `make clean-all` still finds) every byte of the cluster."""
    root = home / "pg"
    if os.geteuid() != 0:
        return root
    if root.is_symlink():
        return root.resolve()
    home.mkdir(parents=True, exist_ok=True)
    reachable = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(home)],
        stdin=subprocess.DEVNULL, check=False,
    ).returncode == 0  # fmt: skip
    if reachable:
        return root
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
    return Path("/var/lib/postgresql") / f"coach-cdc-{digest}"


def _pg_dirs(home: Path) -> tuple[Path, Path, Path]:
    root = _pg_root(home)
    return root / "data", root / "run", root / "postgres.log"


def port_answers(port: int) -> bool:
    """Whether any PostgreSQL answers on HOST:`port`."""
    return (
        subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            check=False,
        ).returncode
        == 0
    )


def running_port(home: str | os.PathLike[str] | None = None) -> int | None:
    """The port this home's cluster serves on, from its postmaster.pid (pid, data directory,
    start time, port, ...), when its server is alive; else None."""
    data, _, _ = _pg_dirs(_home(home))
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    return port if _pid_alive(pid) else None


def postgres_running(home: str | os.PathLike[str] | None = None, port: int | None = None) -> bool:
    """Whether this home's cluster serves on `port` (default pg_port()): another checkout's
    cluster on that port is not it."""
    port = pg_port() if port is None else port
    return running_port(home) == port and port_answers(port)


def _who_serves(port: int) -> str:
    """The data directory of the PostgreSQL on `port`, when it lets us ask."""
    try:
        found = psql("SHOW data_directory", port=port).strip()
    except (CdcError, OSError):
        return "a server this checkout did not start"
    return found or "a server this checkout did not start"


def start_postgres(
    home: str | os.PathLike[str] | None = None, port: int | None = None, quiet: bool = False
) -> None:
    """Create the cluster (once) and start it on 127.0.0.1:`port` (default pg_port()) with
    wal_level=logical. Refused, naming both, when this home's cluster already runs on another
    port or another cluster holds `port` (another checkout's: its tests or `make cdc-stop`
    would stop it under this one)."""
    h = _home(home)
    port = pg_port() if port is None else port
    if not (PG_BIN / "initdb").exists():
        raise CdcError(f"no {PG_BIN}/initdb: apt-get install -y postgresql-15")
    data, run, log = _pg_dirs(h)
    with _locked(h / ".pg.lock"):
        ours = running_port(h)
        if ours == port:
            return
        if ours is not None:
            raise CdcError(
                f"this checkout's PostgreSQL ({data}) already runs on {HOST}:{ours}, not {port}:"
                f" stop it first (make cdc-stop), or use it with COACH_CDC_PG_PORT={ours}"
            )
        if port_answers(port):
            raise CdcError(
                f"{HOST}:{port} is held by another PostgreSQL ({_who_serves(port)}), not this "
                f"checkout's ({data}): stop it from the checkout that started it (make "
                "cdc-stop), or give this one another port: COACH_CDC_PG_PORT=<port>"
            )
        run.mkdir(parents=True, exist_ok=True)
        if data.parent != h / "pg":
            _log(f"the postgres user cannot reach {h}: the cluster lives in {data.parent}", quiet)
            if not (h / "pg").is_symlink():
                (h / "pg").symlink_to(data.parent, target_is_directory=True)
        if os.geteuid() == 0:
            shutil.chown(data.parent, "postgres", "postgres")
            shutil.chown(run, "postgres", "postgres")
        if not (data / "PG_VERSION").exists():
            shutil.rmtree(data, ignore_errors=True)
            _log(f"creating a PostgreSQL cluster in {data} ...", quiet)
            subprocess.run(
                _as_postgres(
                    [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                     "-E", "UTF8", "--locale=C.UTF-8"]
                ),
                check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            with open(data / "postgresql.auto.conf", "a") as conf:
                conf.write(
                    "\n# tools/cdc/cdc.py: Debezium reads the write-ahead log\n"
                    "wal_level = logical\nmax_wal_senders = 40\nmax_replication_slots = 40\n"
                    f"listen_addresses = '{HOST}'\nunix_socket_directories = '{run}'\n"
                    "max_connections = 200\nshared_buffers = 64MB\n"
                )
        _log(f"starting PostgreSQL on {HOST}:{port} ...", quiet)
        result = subprocess.run(
            _as_postgres(
                [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                 "-o", f"-p {port}", "start"]
            ),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            check=False, start_new_session=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise CdcError(f"PostgreSQL did not start; last lines of {log}:\n{_tail(log)}")


def stop_postgres(
    home: str | os.PathLike[str] | None = None, quiet: bool = False, mode: str = "fast"
) -> None:
    """Stop the cluster: `fast` (a clean shutdown: a checkpoint, the walsenders drained) or
    `immediate` (as a crash: the next start recovers from the WAL)."""
    if mode not in ("fast", "immediate"):
        raise ValueError(f"mode must be fast or immediate, not {mode!r}")
    data, _, _ = _pg_dirs(_home(home))
    if not (data / "postmaster.pid").exists():
        return
    _log(f"stopping PostgreSQL ({mode}) ...", quiet)
    subprocess.run(
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop"]),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def psql(sql: str, *, dbname: str = "postgres", port: int | None = None) -> str:
    """Run `sql` with psql (stops at the first error); its output, unaligned."""
    port = pg_port() if port is None else port
    result = subprocess.run(
        [str(PG_BIN / "psql"), "-h", HOST, "-p", str(port), "-U", "postgres", "-d", dbname,
         "-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t", "-c", sql],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise CdcError(f"psql failed on {dbname}: {result.stderr.strip()}")
    return result.stdout


def create_database(dbname: str = DATABASE, *, port: int | None = None) -> None:
    """The database (if missing) with the outbox table and its publication (the kit's
    migrations, idempotent)."""
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'", port=port).strip()
    if not exists:
        psql(f'CREATE DATABASE "{dbname}"', port=port)
    for path in sorted(MIGRATIONS.glob("*.sql")):
        psql(path.read_text(), dbname=dbname, port=port)


def drop_database(dbname: str, *, slot: str | None = None, port: int | None = None) -> None:
    """Drop a database and its connector's replication slot (an inactive slot keeps the
    write-ahead log forever)."""
    if slot:
        with contextlib.suppress(CdcError):
            psql(
                "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                f"WHERE slot_name = '{slot}' AND active_pid IS NOT NULL",
                port=port,
            )
            time.sleep(0.2)
            psql(
                f"SELECT pg_drop_replication_slot('{slot}') FROM pg_replication_slots "
                f"WHERE slot_name = '{slot}'",
                port=port,
            )
    psql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)', port=port)
