"""`make run`'s development JWT secret (tools/dev_run.sh) is readable by its owner only."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

from tests.conftest import REPO


def _make_dev_secret(workdir: Path) -> str:
    """Run dev_run.sh's own lines that make the secret (its `if` without COACH_JWT_SECRET),
    in `workdir` as the repository (tools/ linked), with the usual umask 022."""
    script = (REPO / "tools/dev_run.sh").read_text()
    block = re.search(r'^if \[ -z "\$\{COACH_JWT_SECRET:-\}" \].*?^fi$', script, re.M | re.S)
    assert block, "dev_run.sh no longer makes the secret in an `if` of its own"
    if not (workdir / "tools").exists():
        (workdir / "tools").symlink_to(REPO / "tools")
    (workdir / ".coach-dev").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    out = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; umask 022\n{block.group()}\necho "$COACH_JWT_SECRET"'],
        cwd=workdir, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def test_dev_secret_is_private(tmp_path: Path):
    """Made 0600 with a 022 umask; an existing world-readable file is made 0600 and kept."""
    path = tmp_path / ".coach-dev/jwt-secret"
    secret = _make_dev_secret(tmp_path)
    assert len(secret) >= 32 and path.read_text().strip() == secret
    assert oct(stat.S_IMODE(path.stat().st_mode)) == "0o600"
    path.chmod(0o644)
    assert _make_dev_secret(tmp_path) == secret
    assert oct(stat.S_IMODE(path.stat().st_mode)) == "0o600"
