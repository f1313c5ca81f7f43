"""The committed JSON Schema of each event version, and a way to regenerate it on purpose."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from contracts.events import NewOrderEvent

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
SCHEMAS: dict[str, type[NewOrderEvent]] = {"new_order.v1.json": NewOrderEvent}


def current_schema(name: str) -> dict[str, Any]:
    return SCHEMAS[name].model_json_schema(mode="serialization")


def committed_schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text())
    return loaded


def write_schemas() -> None:
    """`python -m contracts.schema`: rewrite the committed schemas after an intended change."""
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name in SCHEMAS:
        (SCHEMA_DIR / name).write_text(json.dumps(current_schema(name), indent=2) + "\n")
        sys.stderr.write(f"wrote {SCHEMA_DIR / name}\n")


if __name__ == "__main__":
    write_schemas()
