"""Machine-readable report: ``FleetReport.to_dict()`` as JSON, described by a JSON Schema.

The schema ships with the package (schemas/report.schema.json) so that any consumer
(a CI gate, a dashboard) can validate what it reads; ``schema_version`` changes only
when a field is removed or changes meaning.
"""

from __future__ import annotations

import json
from typing import Any

from sagefleet import schemas
from sagefleet.findings import FleetReport

SCHEMA_FILE = "report.schema.json"


def render_json(report: FleetReport) -> str:
    """Serialise the report as stable, diff-friendly JSON (indented, non-ASCII kept)."""
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema of the report document, as shipped in the package."""
    return schemas.load(SCHEMA_FILE)
