"""The Azure SQL (SPC) entity the inventory tests start from: each test changes what it needs."""

from __future__ import annotations

from typing import Any


def spc_entity(**changes: Any) -> dict[str, Any]:
    """One valid SPC entity as an inventory gives it (no Sage password, a local .MAE)."""
    entity: dict[str, Any] = {
        "name": "Bijou SAS",
        "company_code": "BIJOU",
        "analytic_plan": 1,
        "edition": "spc",
        "azure_sql_server": "xiyxu8z271",
        "database": "xim9mokrk4q_AS274AY1ZH",
        "sage_user": "<administrateur>",
        "sage_password": "",
        "sql_user": "spendesk",
        "sql_password": "Sql-Canary-1",
        "mae_path": "C:\\Sage\\BIJOU.MAE",
        "pdf_storage": "filestream",
    }
    entity.update(changes)
    return entity
