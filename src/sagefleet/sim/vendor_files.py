"""Vendor-style settings.json for simulated connections: what the demo and the tests merge.

The vendor's real layout is not published. This stand-in is deliberately NOT
sagefleet's template layout (no ``schemaVersion``, no ``connections[].name``):
capitalised members, the connection named by ``CompanyName`` inside a
``Connections`` list, nested objects, members sagefleet has no field for, and
secrets under more than one kind of name. ``CompanyName`` is its only member
among the key candidates, so the merge detects the key. A merge that only
worked on the template layout fails on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

API_URL = "https://api.chift.eu"


def vendor_document(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The settings.json a vendor form could produce for one entity's connection."""
    code = str(entity["company_code"])
    server = entity.get("azure_sql_server") or entity.get("sql_instance")
    token = hashlib.sha256(f"simulated-connection:{code}".encode()).hexdigest()[:32]
    connection: dict[str, Any] = {
        "CompanyName": code,
        "AnalyticPlan": entity["analytic_plan"],
        "Edition": "SPC" if entity.get("edition") == "spc" else "OnPremise",
        "Database": {"Server": server, "Name": entity.get("database")},
        "Sql": {"Login": entity["sql_user"], "Password": entity["sql_password"]},
        "SagePassword": entity["sage_password"],
        "Receipts": (
            {"Filestream": True}
            if entity.get("pdf_storage") == "filestream"
            else {"Filestream": False, "Folder": entity.get("pdf_storage")}
        ),
        "ApiToken": token,
    }
    return {"FormatVersion": "1.0", "Api": {"Url": API_URL}, "Connections": [connection]}


def write_vendor_file(entity: Mapping[str, Any], path: Path) -> Path:
    """Write the entity's vendor-style settings.json (UTF-8, 4-space indent, as a form would)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(vendor_document(entity), indent=4) + "\n", encoding="utf-8")
    return path
