"""A STAND-IN for the vendor's settings.json layout, and the entities of a profile.

Nothing in sagefleet may rely on it (``document``: the vendor form's file;
``installed_document``: what the installer leaves): docs/simulator.md, "Assumptions".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

#: The stand-in's own format version (top-level ``Version``).
LAYOUT_VERSION = "1.0"
#: The simulated fleet's SQL login and Sage user. The password is a simulator value
#: (the host model has no SQL Server); a real fleet keeps its passwords in a vault.
SQL_USER = "spendesk_sql"
SQL_PASSWORD = "sim-only-not-a-secret"
SAGE_USER = "<Administrateur>"
AZURE_SQL_SUFFIX = ".database.windows.net"
#: What the stand-in installer adds to each connection of the form's file: member -> the
#: entity field holding the wizard's answer. At the top it adds :data:`SERVICE_ACCOUNT_MEMBER`.
INSTALLER_CONNECTION_ANSWERS = {"MaeFile": "mae_path", "SageUser": "sage_user"}
SERVICE_ACCOUNT_MEMBER = "ServiceAccount"
#: The connection of the stand-in vendor file a test package carries (package.build_test_package).
SAMPLE_ENTITY: dict[str, Any] = {
    "name": "BIJOU",
    "company_code": "BIJOU",
    "analytic_plan": 1,
    "edition": "spc",
    "azure_sql_server": "xiyxu8z271",
    "database": "xim9mokrk4q_AS274AY1ZH",
    "sage_user": SAGE_USER,
    "sage_password": "",
    "sql_user": SQL_USER,
    "sql_password": SQL_PASSWORD,
    "mae_path": "C:\\Sage\\Societes\\BIJOU.MAE",
    "pdf_storage": "filestream",
}


def company_code(mae_path: str) -> str:
    """The Sage file code of a ``.MAE`` path: its base name (``BIJOU`` for ``BIJOU.MAE``)."""
    return mae_path.replace("/", "\\").rsplit("\\", 1)[-1].rsplit(".", 1)[0]


def entities_for(
    profile: Mapping[str, Any],
    *,
    sql_user: str = SQL_USER,
    sql_password: str = SQL_PASSWORD,
    sage_user: str = SAGE_USER,
    sage_password: str = "",
) -> list[dict[str, Any]]:
    """The inventory entities of a server built from ``profile``: one per ``.MAE`` file.

    The company code and database are the file's base name (the facts snippet
    reads the database the same way); the SQL server is the file's
    ``ServeurSQL=``. An Azure SQL server there makes the entity an SPC one (the
    main SPC signal, with the server's short name); any other is the SQL
    instance of an on-premise entity.
    """
    entities = []
    for mae in profile.get("mae") or []:
        path = str(mae["path"])
        code = company_code(path)
        server = str(mae["server"])
        edition = "spc" if server.lower().endswith(AZURE_SQL_SUFFIX) else "onpremise"
        entity: dict[str, Any] = {
            "name": code,
            "company_code": code,
            "analytic_plan": 1,
            "edition": edition,
            "database": code,
            "sage_user": sage_user,
            "sage_password": sage_password,
            "sql_user": sql_user,
            "sql_password": sql_password,
            "mae_path": path,
            "pdf_storage": "filestream",
        }
        if edition == "spc":
            entity["azure_sql_server"] = server.lower().removesuffix(AZURE_SQL_SUFFIX)
        else:
            entity["sql_instance"] = server
        entities.append(entity)
    return entities


def connection(entity: Mapping[str, Any]) -> dict[str, Any]:
    """One connection in the stand-in layout, as the vendor's form writes it, from an
    inventory entity (no ``.MAE`` file, no Sage user: the installer's wizard asks those)."""
    if entity.get("edition") == "spc":
        server = str(entity["azure_sql_server"])
        if not server.endswith(AZURE_SQL_SUFFIX):
            server += AZURE_SQL_SUFFIX
    else:
        server = str(entity.get("sql_instance") or "")
    storage = str(entity.get("pdf_storage") or "filestream")
    return {
        "CompanyName": entity["company_code"],
        "AnalyticPlan": entity.get("analytic_plan", 1),
        "Edition": "SPC" if entity.get("edition") == "spc" else "OnPremise",
        "Database": {"Server": server, "Name": entity.get("database") or entity["company_code"]},
        "SagePassword": entity.get("sage_password", ""),
        "SqlUser": entity.get("sql_user", SQL_USER),
        "SqlPassword": entity.get("sql_password", SQL_PASSWORD),
        "Receipts": {"Filestream": storage == "filestream"}
        | ({} if storage == "filestream" else {"Folder": storage}),
    }


def document(entities: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A settings.json in the stand-in layout holding these entities' connections."""
    return {"Connections": [connection(e) for e in entities], "Version": LAYOUT_VERSION}


def installed_document(
    entities: Sequence[Mapping[str, Any]], service_account: str = "LocalSystem"
) -> dict[str, Any]:
    """The settings.json the stand-in installer leaves in the agent folder: the form's
    document with the wizard's answers (:data:`INSTALLER_CONNECTION_ANSWERS`, then
    :data:`SERVICE_ACCOUNT_MEMBER`) added after the form's members."""
    doc = document(entities)
    for item, entity in zip(doc["Connections"], entities, strict=True):
        for member, name in INSTALLER_CONNECTION_ANSWERS.items():
            item[member] = str(entity.get(name) or (SAGE_USER if name == "sage_user" else ""))
    doc[SERVICE_ACCOUNT_MEMBER] = service_account
    return doc


def dumps(doc: Mapping[str, Any]) -> bytes:
    """The bytes as the stand-in vendor writes them: UTF-8 with a BOM, CRLF, two-space indent."""
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8") + b"\r\n"
