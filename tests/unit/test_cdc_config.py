"""The relay's settings are written once (tools/cdc/cdc.py `connector_config`): the compose
stack's connector (deploy/cdc/connector-config.json) is the same but for where PostgreSQL
is, and the settings that make the record's value the payload's text as written hold."""

from __future__ import annotations

import importlib.util
import json

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("cdc_tools", REPO / "tools/cdc/cdc.py")
assert spec and spec.loader
cdc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cdc)


def test_the_compose_connector_is_the_local_one():
    config = cdc.connector_config("monolith-outbox")
    config.pop("name")
    config.update({"database.hostname": "postgres", "database.port": "5432"})
    assert json.loads((REPO / "deploy/cdc/connector-config.json").read_text()) == config


def test_the_connector_publishes_the_payload_text_to_the_two_topics():
    config = cdc.connector_config("c", topics=("ex.topic", "wo.topic"))
    assert config["transforms.outbox.table.expand.json.payload"] == "false"
    assert config["value.converter"].endswith("StringConverter")
    assert config["extended.headers.enabled"] == "false"
    assert config["snapshot.mode"] == "no_data" and config["plugin.name"] == "pgoutput"
    assert config["transforms.exercises.replacement"] == "ex.topic"
    assert config["transforms.workouts.replacement"] == "wo.topic"
