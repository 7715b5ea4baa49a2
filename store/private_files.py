"""Files that hold personal data are readable by their owner only, whatever the umask.

The projection, its `-wal` and `-shm`, snapshots, a replay's new file and the backups it
keeps, and the copies made while building them are created here at mode 0600 before
SQLite opens them, and the directories coach creates for them at 0700. SQLite then gives
the `-wal`, `-shm` and `-journal` files it creates the main file's mode (os_unix.c: a
journal takes its database's permissions), so they are 0600 too. A file that already
exists with group or other bits (made by an older coach, or copied in) is tightened when
coach opens it, and the log says so. Every coach process (consumer, api, replay) runs as
the same user (the image's uid 10001), so owner-only is enough for all of them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
SIDE_FILES = ("-wal", "-shm", "-journal")

log = logging.getLogger(__name__)


def make_dirs(directory: str | Path) -> None:
    """Create `directory` and its missing parents at 0700; existing ones are left as they
    are (an operator's /data, a mounted volume)."""
    directory = Path(directory)
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)  # mkdir's mode passes through the umask


def create(path: str | Path) -> bool:
    """Create an empty file at `path` at 0600 unless something is there already (a file,
    or a link: never followed); whether it was created."""
    path = Path(path)
    make_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, FILE_MODE)  # os.open's mode passes through the umask
    finally:
        os.close(fd)
    return True


def tighten(path: str | Path) -> list[Path]:
    """Make the SQLite file `path` resolves to, and its side files, owner-only if they are
    not; the files changed (each named in the log)."""
    real = Path(path).resolve()
    changed = []
    for p in (real, *(real.with_name(real.name + s) for s in SIDE_FILES)):
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode) or not mode & 0o077:
            continue  # (a directory or a device is not ours to change)
        try:
            os.chmod(p, mode & 0o700)
        except PermissionError:
            log.error(
                "%s holds personal data and is readable by others (mode %o), and this user "
                "cannot change its mode: chmod 600 it",
                p,
                mode,
            )
            continue
        log.warning(
            "%s holds personal data and was readable by others (mode %o): made it %o",
            p,
            mode,
            mode & 0o700,
        )
        changed.append(p)
    return changed


def prepare(path: str | Path) -> None:
    """Before SQLite opens `path`: create the file it names (the target, for a link whose
    file is gone: SQLite would create that one) at 0600 if it does not exist, else tighten
    it and its side files."""
    if not create(Path(path).resolve()):
        with contextlib.suppress(FileNotFoundError):
            tighten(path)
