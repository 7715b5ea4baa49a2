"""The short rehearsal (`python -m rehearsal --short`) on real parts: every part starts,
the phases run under load with the faults, the accounting balances, the report is written
with its plot, and nothing it started is left running."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.cdc, pytest.mark.faults]


def test_the_short_rehearsal_keeps_its_promises(tmp_path):
    out = tmp_path / "out"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "rehearsal", "--short", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    took = time.monotonic() - started
    report = (out / "report.md").read_text() if (out / "report.md").exists() else ""
    assert (out / "timeline.png").exists(), done.stdout[-3000:] + done.stderr[-3000:]
    assert "## Accounting" in report
    leftovers = subprocess.run(
        ["pgrep", "-f", str(out)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert not leftovers, f"processes left running: {leftovers}"
    verdict = report.split("## Verdict", 1)[-1]
    broken = [line for line in verdict.splitlines() if line.startswith("- BROKEN")]
    assert not broken, f"{report}\n{done.stdout[-3000:]}"
    assert done.returncode == (1 if broken else 0)
    assert took < 240, f"the short rehearsal took {took:.0f} s"
