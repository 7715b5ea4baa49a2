"""JSON Schemas of the contract, generated from the models into events/schemas/.

`python -m events.schema` rewrites them; a test fails when the files drift from the models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from events.models import DATA_MODELS, CloudEvent

SCHEMA_DIR = Path(__file__).parent / "schemas"


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for the envelope and each event type's data."""
    out = {"cloudevent.json": msgspec.json.schema(CloudEvent)}
    for type_, shape in DATA_MODELS.items():
        schema = msgspec.json.schema(shape)
        schema["$comment"] = f"data of {type_}"
        out[f"{type_}.json"] = schema
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, schema in schemas().items():
        (SCHEMA_DIR / name).write_text(render(schema))
        print(f"wrote {SCHEMA_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
