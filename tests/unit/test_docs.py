"""The README documents every command and every setting (so users never need the code)."""

from __future__ import annotations

import ast
from pathlib import Path

import click

from coach.cli import main
from config.settings import Settings, env_name

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "coach") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix} {name}")
        else:
            names.append(f"{prefix} {name}")
    return names


def test_every_command_is_documented():
    missing = [c for c in _commands(main) if f"`{c}" not in README]
    assert not missing, f"undocumented commands: {missing}"


def test_every_setting_is_documented():
    missing = [env_name(f) for f in Settings.model_fields if f"`{env_name(f)}`" not in README]
    assert not missing, f"undocumented settings: {missing}"


def test_api_does_not_import_kafka_or_the_consumer():
    """The api answers from the projection alone: it imports no Kafka client."""
    api_dir = Path(__file__).resolve().parents[2] / "api"
    for path in api_dir.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top not in {"aiokafka", "consumer", "kafka"}, f"{path.name} imports {module}"
