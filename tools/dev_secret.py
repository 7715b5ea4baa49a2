"""Print the JWT secret of `make run` (tools/dev_run.sh), kept in the file given.

Made once, at random, in a file only its owner can read (0600, whatever the umask); an
existing file gets that mode too (older versions wrote it world-readable).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path


def dev_secret(path: Path) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        secret = path.read_text().strip()
        if secret:
            return secret
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(secret + "\n")
    return secret


if __name__ == "__main__":
    print(dev_secret(Path(sys.argv[1])))
