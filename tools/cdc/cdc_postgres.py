"""The monolith's PostgreSQL for development and tests: the cluster (in ``<home>/pg``, or a
folder of the `postgres` user's that ``<home>/pg`` links to), started with wal_level=logical
on 127.0.0.1:5433; psql; a database with the outbox and its publication, and its removal
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
    PG_PORT,
    CdcError,
    _home,
    _locked,
    _log,
    _tail,
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


def postgres_running(home: str | os.PathLike[str] | None = None, port: int = PG_PORT) -> bool:
    return (
        subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            check=False,
        ).returncode
        == 0
    )


def start_postgres(
    home: str | os.PathLike[str] | None = None, port: int = PG_PORT, quiet: bool = False
) -> None:
    """Create the cluster (once) and start it on 127.0.0.1:`port` with wal_level=logical."""
    h = _home(home)
    if not (PG_BIN / "initdb").exists():
        raise CdcError(f"no {PG_BIN}/initdb: apt-get install -y postgresql-15")
    data, run, log = _pg_dirs(h)
    with _locked(h / ".pg.lock"):
        if postgres_running(h, port):
            return
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


def psql(sql: str, *, dbname: str = "postgres", port: int = PG_PORT) -> str:
    """Run `sql` with psql (stops at the first error); its output, unaligned."""
    result = subprocess.run(
        [str(PG_BIN / "psql"), "-h", HOST, "-p", str(port), "-U", "postgres", "-d", dbname,
         "-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t", "-c", sql],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise CdcError(f"psql failed on {dbname}: {result.stderr.strip()}")
    return result.stdout


def create_database(dbname: str = DATABASE, *, port: int = PG_PORT) -> None:
    """The database (if missing) with the outbox table and its publication (the kit's
    migrations, idempotent)."""
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'", port=port).strip()
    if not exists:
        psql(f'CREATE DATABASE "{dbname}"', port=port)
    for path in sorted(MIGRATIONS.glob("*.sql")):
        psql(path.read_text(), dbname=dbname, port=port)


def drop_database(dbname: str, *, slot: str | None = None, port: int = PG_PORT) -> None:
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
