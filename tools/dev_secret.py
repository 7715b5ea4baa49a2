"""Print the JWT secret of `make run` (tools/dev_run.sh), kept in the file given.

Made once, at random, in a file only its owner can read (0600, whatever the umask); an
existing file gets that mode too (older versions wrote it world-readable). The path is
never followed: a symbolic link planted there (pointing at a file of the victim's, to be
overwritten or made readable) is refused, as is anything but a regular file of this user
with one link; the file is created exclusively (O_CREAT | O_EXCL | O_NOFOLLOW).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import sys
from pathlib import Path

MODE = 0o600


class Refused(Exception):
    """The path holds something other than this user's own secret file."""


def dev_secret(path: Path) -> str:
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | flags, MODE)
    except FileExistsError:
        fd = _open_existing(path, flags)
    try:
        os.fchmod(fd, MODE)  # os.open's mode passes through the umask; an old file was 0644
        secret = _read(fd).strip()
        if secret:
            return secret
        secret = secrets.token_urlsafe(48)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (secret + "\n").encode(), 0)
        return secret
    finally:
        os.close(fd)


def _open_existing(path: Path, flags: int) -> int:
    try:
        fd = os.open(path, os.O_RDWR | flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused(
                f"{path} is a symbolic link: refusing to follow it (remove it; the secret is "
                "kept in a file of its own)"
            ) from None
        raise
    st = os.fstat(fd)
    why = (
        "is not a regular file"
        if not stat.S_ISREG(st.st_mode)
        else "belongs to another user"
        if st.st_uid != os.getuid()
        else "has other hard links"
        if st.st_nlink != 1
        else None
    )
    if why is not None:
        os.close(fd)
        raise Refused(f"{path} {why}: refusing to use it (remove it and run again)")
    return fd


def _read(fd: int) -> str:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 4096, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks).decode()


if __name__ == "__main__":
    try:
        print(dev_secret(Path(sys.argv[1])))
    except Refused as exc:
        sys.exit(f"dev_secret: {exc}")
