"""The JSON Schemas shipped with sagefleet (package data), and their one reader."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def load(name: str) -> dict[str, Any]:
    """The schema in file ``name`` of this folder ("report.schema.json",
    "snippets/facts.schema.json"), as a new mapping."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
