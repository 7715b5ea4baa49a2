"""The projection's files: which file is live, and swapping a rebuilt one in.

`COACH_DB_PATH` names the live projection. Until the first replay it is a plain SQLite file;
a replay builds a new file beside it (`<name>.<UTC time>`) and swaps it in by pointing
`COACH_DB_PATH` at it as a symbolic link, replaced with one atomic rename(2). SQLite
resolves the link when it opens the file, so each generation keeps its own `-wal` and
`-shm` files: processes that still have the previous generation open keep reading and
writing it consistently until they notice the swap (`identity()` changed) and reopen.

Never rename or overwrite a SQLite file that others have open: a new file under the old
name would share the old file's WAL. Generation names are never reused, which is what
makes the link swap safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from store.private_files import SIDE_FILES, make_dirs
from store.private_files import create as create_private

BUILDING_SUFFIX = ".building"


def identity(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of the file `path` resolves to; None when there is none.

    It changes when a replay swaps a new projection in: readers compare it to the one they
    opened.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def open_live(
    path: str | Path, connect: Callable[[Path], sqlite3.Connection]
) -> tuple[sqlite3.Connection, tuple[int, int] | None]:
    """Open the live projection with `connect`, and the identity of the file it opened.

    The identity is read before and after opening: if a swap happened in between, open
    again, so the identity always belongs to the file the connection has.
    """
    path = Path(path)
    while True:
        before = identity(path)
        conn = connect(path)
        if identity(path) == before:
            return conn, before
        conn.close()


def live_file(path: str | Path) -> Path | None:
    """The real file behind `path` (itself, or the target of the link), if any."""
    path = Path(path)
    if not path.exists():
        return None
    return path.resolve()


STAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
_STAMP = r"\d{8}T\d{12}Z(?:-\d+)?"
"""What `new_generation` puts after `<name>.`: the UTC time, and `-N` when it was taken."""


def _names(path: Path, pattern: str) -> list[Path]:
    """The files beside `path` named `<name>.` followed by `pattern` (a regular expression),
    and nothing else: a file coach did not name (a snapshot, another replica's file, an
    operator's copy) is never taken for one of its own."""
    rx = re.compile(re.escape(path.name) + r"\." + pattern)
    return sorted(
        p for p in path.parent.glob(f"{glob.escape(path.name)}.*") if rx.fullmatch(p.name)
    )


def new_generation(path: str | Path, *, now: datetime | None = None) -> Path:
    """A name for a new projection file beside `path`, unused so far."""
    path = Path(path)
    stamp = (now or datetime.now(UTC)).strftime(STAMP_FORMAT)
    candidate = path.with_name(f"{path.name}.{stamp}")
    n = 1
    while candidate.exists() or _building(candidate).exists():
        candidate = path.with_name(f"{path.name}.{stamp}-{n}")
        n += 1
    return candidate


def _building(generation: Path) -> Path:
    return generation.with_name(generation.name + BUILDING_SUFFIX)


def building_path(generation: Path) -> Path:
    """Where a generation is built; it gets its final name only when it is complete."""
    return _building(generation)


def stale_builds(path: str | Path) -> list[Path]:
    """Files of replays that did not finish (killed, failed) beside `path`: the names
    `building_path` gives (a generation's, or the copy of the live file a replay compares
    with), and their side files."""
    sides = "|".join(re.escape(s) for s in SIDE_FILES)
    return _names(
        Path(path), rf"{_STAMP}(?:\.live-snapshot)?{re.escape(BUILDING_SUFFIX)}(?:{sides})?"
    )


def other_generations(path: str | Path) -> list[Path]:
    """The projection files beside `path` other than the live one: earlier generations
    (`<name>.<time>`) and the backups replays kept (`<name>.<time>.backup`), which hold
    personal data too. Only the names coach gives them: never a snapshot or another file
    that happens to start with `<name>.`."""
    path = Path(path)
    live = live_file(path)
    return [
        p
        for p in _names(path, rf"{_STAMP}(?:\.backup)?")
        if not p.is_symlink() and p.resolve() != live
    ]


def remove(file: Path) -> None:
    """Remove a projection file and its side files (only files no process writes to)."""
    with contextlib.suppress(FileNotFoundError):
        file.unlink()
    remove_side_files(file)


def remove_side_files(file: Path) -> None:
    """Remove `-wal`, `-shm` and `-journal` files named after `file`."""
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            file.with_name(file.name + suffix).unlink()


def finish(conn: sqlite3.Connection, building: Path) -> Path:
    """Checkpoint and close a built projection, then give it its final name."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    final = building.with_name(building.name.removesuffix(BUILDING_SUFFIX))
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            building.with_name(building.name + suffix).unlink()
    os.replace(building, final)
    _fsync_dir(final.parent)
    return final


@dataclass(frozen=True)
class Swapped:
    live: Path
    """The new live file."""
    previous: Path | None
    """The file that was live before, if any."""
    backup: Path | None
    """Where the previous projection is kept (None when there was none or --no-backup)."""
    was_plain_file: bool = False
    """`path` was a plain file (the first replay): the rename unlinked it."""


def swap(path: str | Path, new_file: Path, *, backup: bool = True) -> Swapped:
    """Make `new_file` the live projection at `path` in one atomic rename.

    When `path` is still a plain file (no replay so far), it is first copied, consistently,
    with SQLite's online backup to `<path>.<time>.backup` (the plain file disappears with
    the rename once the processes that have it open let go). When it is already a link, the
    previous generation simply stays where it is and is the backup.
    """
    path = Path(path)
    if new_file.parent.resolve() != path.parent.resolve():
        raise ValueError(f"{new_file} must be in the same directory as {path}")
    previous = live_file(path)
    plain = previous is not None and not path.is_symlink()
    kept: Path | None = None
    if plain:
        if backup:
            kept = path.with_name(f"{new_generation(path).name}.backup")
            _online_copy(path, kept)
    elif previous is not None:
        kept = previous if backup else None
    link = path.with_name(f".{path.name}.swap")
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    os.symlink(new_file.name, link)
    os.replace(link, path)
    _fsync_dir(path.parent)
    return Swapped(
        live=new_file,
        previous=previous,
        backup=kept,
        was_plain_file=plain,
    )


def _online_copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    create_private(target)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_marker(path: Path) -> Path:
    return path.with_name(f".{path.name}.swapping")


def mark_swapping(path: str | Path, generation: Path) -> None:
    """Note, durably, which finished generation is about to be swapped in: if the replay is
    killed between giving it its final name and the swap, the next replay removes it."""
    marker = _swap_marker(Path(path))
    marker.write_text(generation.name)
    with open(marker, "rb+") as f:
        os.fsync(f.fileno())


def swap_done(path: str | Path) -> None:
    _swap_marker(Path(path)).unlink(missing_ok=True)


def interrupted_swap(path: str | Path) -> Path | None:
    """A finished generation that a killed replay never swapped in (to remove), if any."""
    path = Path(path)
    marker = _swap_marker(path)
    try:
        name = marker.read_text().strip()
    except FileNotFoundError:
        return None
    candidate = (
        path.with_name(name) if re.fullmatch(rf"{re.escape(path.name)}\.{_STAMP}", name) else None
    )
    if candidate is None or not candidate.exists() or candidate == live_file(path):
        marker.unlink()
        return None
    return candidate


@contextlib.contextmanager
def replay_lock(path: str | Path) -> Iterator[None]:
    """Held while a replay runs beside `path`: two replays at once would race each other."""
    path = Path(path)
    lock_file = path.with_name(f".{path.name}.replay.lock")
    make_dirs(lock_file.parent)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReplayRunning(f"another replay of {path} is running") from None
        yield
    finally:
        os.close(fd)


class ReplayRunning(Exception):
    pass


def writer_lock(path: str | Path) -> int | None:
    """Take the lock of the one consumer writing the projection at `path`: its file
    descriptor, or None while another process holds it.

    The consumer's writer process inherits the descriptor, so the lock is held until both
    have exited: a consumer started after a SIGKILL waits for the old writer to be gone.
    Closing the descriptor releases it."""
    path = Path(path)
    lock_file = path.with_name(f".{path.name}.writer.lock")
    make_dirs(lock_file.parent)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
