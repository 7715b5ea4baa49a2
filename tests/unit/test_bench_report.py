"""bench/report.py writes docs/BENCHMARKS.md from bench/results/*.json and its hand-written
sections: the committed document is what it writes, so running it loses no section."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # matplotlib draws every plot
def test_report_writes_the_committed_document(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """render() over the committed results is docs/BENCHMARKS.md byte for byte (plots go to
    a temporary folder here)."""
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    for name in [m for m in sys.modules if m == "report" or m.startswith("report_")]:
        monkeypatch.delitem(sys.modules, name)
    common = importlib.import_module("report_common")
    monkeypatch.setattr(common, "PLOTS", tmp_path)
    report = importlib.import_module("report")
    assert report.render() == (REPO / "docs" / "BENCHMARKS.md").read_text()
