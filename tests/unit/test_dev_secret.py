"""`make run`'s development JWT secret (tools/dev_run.sh) is readable by its owner only."""

from __future__ import annotations

import importlib.util
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO


def _make_dev_secret(workdir: Path) -> str:
    """Run dev_run.sh's own lines that make the secret (its `if` without COACH_JWT_SECRET),
    in `workdir` as the repository (tools/ linked), with the usual umask 022."""
    out = _run_dev_secret(workdir)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _run_dev_secret(workdir: Path) -> subprocess.CompletedProcess[str]:
    script = (REPO / "tools/dev_run.sh").read_text()
    block = re.search(r'^if \[ -z "\$\{COACH_JWT_SECRET:-\}" \].*?^fi$', script, re.M | re.S)
    assert block, "dev_run.sh no longer makes the secret in an `if` of its own"
    if not (workdir / "tools").exists():
        (workdir / "tools").symlink_to(REPO / "tools")
    (workdir / ".coach-dev").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail; umask 022\n{block.group()}\necho "$COACH_JWT_SECRET"'],
        cwd=workdir, env=env, capture_output=True, text=True,
    )  # fmt: skip


def test_dev_secret_is_private(tmp_path: Path):
    """Made 0600 with a 022 umask; an existing world-readable file is made 0600 and kept."""
    path = tmp_path / ".coach-dev/jwt-secret"
    secret = _make_dev_secret(tmp_path)
    assert len(secret) >= 32 and path.read_text().strip() == secret
    assert oct(stat.S_IMODE(path.stat().st_mode)) == "0o600"
    path.chmod(0o644)
    assert _make_dev_secret(tmp_path) == secret
    assert oct(stat.S_IMODE(path.stat().st_mode)) == "0o600"


@pytest.mark.parametrize("victim_text", ["the victim's own file\n", ""])
def test_a_symlink_planted_at_the_secret_path_is_refused(tmp_path: Path, victim_text: str):
    """A link at .coach-dev/jwt-secret is never followed: make run stops with a message
    naming it, and the file it points at keeps its content and mode."""
    victim = tmp_path / "victim"
    victim.write_text(victim_text)
    victim.chmod(0o644)
    (tmp_path / ".coach-dev").mkdir()
    (tmp_path / ".coach-dev/jwt-secret").symlink_to(victim)
    out = _run_dev_secret(tmp_path)
    assert out.returncode != 0 and out.stdout.strip() == "", out.stdout
    assert "jwt-secret is a symbolic link: refusing to follow it" in out.stderr, out.stderr
    assert victim.read_text() == victim_text
    assert oct(stat.S_IMODE(victim.stat().st_mode)) == "0o644"


def test_a_hard_link_or_a_directory_at_the_secret_path_is_refused(tmp_path: Path):
    """Anything but a regular file of this user with one link is refused, left as it is."""
    tool = _load_tool()
    victim = tmp_path / "victim"
    victim.write_text("secret of someone else\n")
    victim.chmod(0o644)
    os.link(victim, tmp_path / "jwt-secret")
    with pytest.raises(tool.Refused, match="other hard links"):
        tool.dev_secret(tmp_path / "jwt-secret")
    assert oct(stat.S_IMODE(victim.stat().st_mode)) == "0o644"
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError):
        tool.dev_secret(tmp_path / "dir")


def _load_tool():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("dev_secret", REPO / "tools/dev_secret.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
