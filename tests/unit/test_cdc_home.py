"""Where tools/cdc/cdc.py keeps the PostgreSQL cluster: under the checkout (``.cdc/pg``), or,
when the `postgres` user cannot traverse the checkout's path (a clone under /root, whose mode
stays 0700), in a folder of that user's to which ``.cdc/pg`` links."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("cdc_tools", REPO / "tools/cdc/cdc.py")
assert spec and spec.loader
cdc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cdc)


def test_a_linked_cluster_is_found_through_the_checkouts_link(tmp_path: Path):
    """``.cdc/pg`` a symbolic link: the cluster is where it points (status, stop and
    clean-all find it from the checkout)."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    home = tmp_path / "checkout" / ".cdc"
    home.mkdir(parents=True)
    (home / "pg").symlink_to(outside)
    assert cdc._pg_dirs(home)[0] == outside / "data"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as `postgres`")
def test_an_unreachable_checkout_gets_a_folder_named_after_it(tmp_path: Path):
    """A checkout under a 0700 folder: the cluster goes to /var/lib/postgresql/coach-cdc-*
    (and start_postgres links .cdc/pg to it); its mode is not changed."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    home = private / "checkout" / ".cdc"
    home.mkdir(parents=True)
    root = cdc._pg_root(home)
    assert root.parent == Path("/var/lib/postgresql") and root.name.startswith("coach-cdc-")
    assert private.stat().st_mode & 0o777 == 0o700
