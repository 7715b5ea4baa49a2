"""Maven's downloads for the broker's and Connect's jars stay in their state folder
(``.kafka/m2``, ``.cdc/m2``), which `make clean-all` removes, never in ~/.m2. Maven itself is
a stub here that notes its arguments and writes one jar where it is told."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

STUB = """#!/bin/sh
printf '%s\\n' "$@" >> "$MVN_ARGS"
for a in "$@"; do
  case "$a" in -DoutputDirectory=*) d="${a#-DoutputDirectory=}"; mkdir -p "$d";
    touch "$d/kafka_2.13-0.jar" "$d/x.jar";; esac
done
"""


def _load(path: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def mvn_args(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mvn").write_text(STUB)
    (bin_dir / "mvn").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MVN_ARGS", str(tmp_path / "args"))
    return tmp_path / "args"


def test_the_brokers_jars_are_fetched_into_its_home(tmp_path: Path, mvn_args: Path):
    broker = _load("tools/kafka/broker.py", "kafka_broker_m2")
    home = tmp_path / "kafka"
    broker.ensure_jars(home, quiet=True)
    assert f"-Dmaven.repo.local={home / 'm2'}" in mvn_args.read_text().splitlines()


def test_connects_jars_are_fetched_into_its_home(tmp_path: Path, mvn_args: Path):
    cdc = _load("tools/cdc/cdc.py", "cdc_tools_m2")
    home = tmp_path / "cdc"
    cdc.ensure_jars(home, quiet=True)
    calls = mvn_args.read_text().splitlines()
    assert calls.count(f"-Dmaven.repo.local={home / 'm2'}") == 2, calls
