"""The documentation covers every command and every setting (so users never need the code).

The site's reference pages are generated from the code (tools/docs/reference.py): these tests
check that the generator covers every setting, command, path and event schema, and that each
setting and command has the help text the pages show. The hand-written pages keep their
tables (docs/commands.md, docs/configuration.md), checked too.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import click

from coach.cli import main
from config.settings import Settings, env_name
from tools.docs import reference

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
COMMANDS_PAGE = (ROOT / "docs" / "commands.md").read_text()
CONFIGURATION_PAGE = (ROOT / "docs" / "configuration.md").read_text()


def _commands(group: click.Group, prefix: str = "coach") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix} {name}")
        else:
            names.append(f"{prefix} {name}")
    return names


def test_every_command_is_documented():
    missing = [c for c in _commands(main) if f"`{c}" not in COMMANDS_PAGE]
    assert not missing, f"commands missing from docs/commands.md: {missing}"


def test_every_setting_is_documented():
    missing = [
        env_name(f) for f in Settings.model_fields if f"`{env_name(f)}`" not in CONFIGURATION_PAGE
    ]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_every_setting_has_help_text():
    """The settings reference shows each field's docstring: none may be without one."""
    docs = reference.setting_docstrings()
    missing = [env_name(f) for f in Settings.model_fields if not docs.get(f, "").strip()]
    assert not missing, f"settings without a docstring in config/settings.py: {missing}"


def test_every_command_has_help_text():
    root = click.Context(main, info_name="coach")
    missing = [
        path
        for path, cmd, _ in reference.walk_commands(main, root)
        if not reference.command_help_text(cmd)
    ]
    assert reference.command_help_text(main)
    assert not missing, f"commands without help text: {missing}"


def test_the_settings_reference_lists_every_setting_with_its_docstring():
    page = reference.settings_page()
    docs = reference.setting_docstrings()
    for field in Settings.model_fields:
        row = next((r for r in page.splitlines() if r.startswith(f"| `{env_name(field)}` |")), None)
        assert row is not None, f"{env_name(field)} has no row"
        assert " ".join(docs[field].split()).replace("|", "\\|") in row


def test_the_cli_reference_has_every_command_with_its_help():
    page = reference.cli_page(main)
    headings = {line[3:] for line in page.splitlines() if line.startswith("## ")}
    assert set(_commands(main)) <= headings
    assert "coach rollout canary" in headings  # the groups too
    assert "Usage: coach replay [OPTIONS]" in page


def test_the_openapi_reference_has_every_path_and_method():
    document = {
        "info": {"title": "coach", "version": "1"},
        "paths": {
            "/fitness/wod": {
                "get": {
                    "summary": "Get Wod",
                    "parameters": [{"name": "tz", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "ok | fine"}},
                }
            },
            "/health": {"get": {"responses": {"503": {"description": "down"}}}},
        },
        "components": {"schemas": {"Health": {"type": "object"}}},
    }
    page = reference.openapi_page(document)
    assert "## GET `/fitness/wod`" in page and "## GET `/health`" in page
    assert "| `tz` | query | `string` | no |" in page
    assert "| 200 | ok \\| fine |" in page  # a pipe in a description does not split the table
    assert "### Health" in page


def test_the_event_schemas_page_shows_every_schema_file():
    from tools.docs.pages import event_schemas

    schemas = event_schemas(ROOT)
    assert "fitness.user.erased.json" in schemas and len(schemas) >= 5
    page = reference.event_schemas_page(schemas)
    for name, text in schemas.items():
        assert f"## {name.removesuffix('.json')}" in page
        assert json.loads(text) and text.strip() in page


def test_the_readme_is_short_and_gives_the_two_commands():
    assert len(README.splitlines()) < 200
    assert "make run " in README and "make test " in README
    assert "make docs-serve" in README


def test_api_does_not_import_kafka_or_the_consumer():
    """The api answers from the projection alone: it imports no Kafka client."""
    api_dir = ROOT / "api"
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


def test_a_help_text_holding_a_code_fence_stays_inside_its_block():
    @click.group()
    def tool() -> None:
        """A tool."""

    @tool.command()
    def show() -> None:
        """Prints a fence:

        \b
        ```
        not the end of the block
        """

    page = reference.cli_page(tool)
    block = page.split("## coach show\n\n", 1)[1]
    fence = block.split("text", 1)[0]
    assert len(fence) > 3 and set(fence) == {"`"}
    assert block.index("not the end of the block") < block.index(f"\n{fence}\n")
