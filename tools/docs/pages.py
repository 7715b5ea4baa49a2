"""The generated reference pages of the site, by their path under docs/ (reads the code).

`generated_pages(root)` is what tools/docs/hooks.py adds to each MkDocs build and what
tests/unit/test_docs.py checks; `python -m tools.docs.pages DIR` writes them into DIR to look at.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from tools.docs import reference

# A secret only so that create_app builds: the document never depends on it, nothing is served.
_DOC_SECRET = "documentation-build-only-secret-never-used-to-sign"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document coach's api serves at /openapi.json (defaults but for a key).

    Built from the defaults alone: the builder's COACH_* variables (a key file, a bad value,
    the benchmark's route) change nothing in the pages.
    """
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

    from api.app import create_app
    from config.settings import Settings

    class DefaultSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    with tempfile.TemporaryDirectory() as tmp:
        settings = DefaultSettings(jwt_secret=_DOC_SECRET, db_path=Path(tmp) / "coach.db")
        return create_app(settings).openapi()


def event_schemas(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((root / "events" / "schemas").glob("*.json"))}


def generated_pages(root: Path) -> dict[str, str]:
    from coach.cli import main

    document = openapi_document()
    return {
        "reference/settings.md": reference.settings_page(),
        "reference/cli.md": reference.cli_page(main),
        "reference/openapi.md": reference.openapi_page(document),
        "reference/openapi.json": json.dumps(document, indent=2) + "\n",
        "reference/event-schemas.md": reference.event_schemas_page(event_schemas(root)),
    }


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for uri, text in generated_pages(Path(__file__).resolve().parents[2]).items():
        (out / uri).parent.mkdir(parents=True, exist_ok=True)
        (out / uri).write_text(text)
