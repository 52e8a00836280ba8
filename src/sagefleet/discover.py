"""Discovery: a draft inventory of a server's Sage entities, for the integrator to complete.

Each .MAE file the ``discover`` snippet finds becomes one draft entity, secrets vault
placeholders. See docs/operations.md, "Discovery".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sagefleet import __version__
from sagefleet.errors import InputError
from sagefleet.files import write_atomic

# A guessed SPC marker, reported by the snippet for the record: it decides nothing.
SPC_MARKERS = ("HKLM:\\SOFTWARE\\WOW6432Node\\Sage\\SPC",)
_AZURE = re.compile(r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.database\.windows\.net$", re.I)


def params(
    roots: Sequence[str] = (), *, max_depth: int = 4, max_files: int = 200
) -> dict[str, Any]:
    """The discover snippet's parameters; raises InputError, before the host is read, for a
    depth or a file count the search cannot take."""
    if max_depth < 0:
        raise InputError(
            "must be 0 (the folder itself) or more",
            field="sagefleet_discover_max_depth",
            value=repr(max_depth),
        )
    if max_files < 1:
        raise InputError("must be 1 or more", field="max_files", value=repr(max_files))
    return {
        "roots": [str(r) for r in roots],
        "spc_marker_paths": list(SPC_MARKERS),
        "max_depth": max_depth,
        "max_files": max_files,
    }


class _IndentedDumper(yaml.SafeDumper):
    """Lists indented under their key, as yamllint (ansible-lint) wants them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def var_suffix(name: str) -> str:
    """The entity's part of a secret's variable names: lower case, [a-z0-9_]."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "entity"


def _entity_name(database: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", database).strip("._-") or "ENTITY"
    name, n = base, 2
    while name.lower() in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name.lower())
    return name


SECRET_FIELDS = ("sage_password", "sql_password")
"""An entity's secrets: each a plain variable in vars.yml pointing into the vault."""


def secret_var(kind: str, suffix: str) -> str:
    """The plain name of an entity's secret (``sagefleet_sql_password_bijou``)."""
    return f"sagefleet_{kind}_{suffix}"


def vault_var(kind: str, suffix: str) -> str:
    """The vault's name of it (``sagefleet_vault_sql_password_bijou``), as inventory/example."""
    return f"sagefleet_vault_{kind}_{suffix}"


@dataclass(frozen=True)
class Draft:
    host: str
    entities: list[dict[str, Any]]
    host_vars: str
    vault: str


def draft(host: str, document: Mapping[str, Any]) -> Draft:
    """The draft host_vars text and its vault skeleton from a discover document."""
    # An Azure SQL server in the .MAE's ServeurSQL= is the main sign of Sage Partner Cloud
    # (no public marker identifies an SPC VM): each entity's edition follows its own file.
    taken: set[str] = set()
    entities: list[dict[str, Any]] = []
    notes: list[str] = []
    for mae in sorted(document.get("mae_files") or [], key=lambda m: str(m.get("path")).lower()):
        database = str(mae.get("database") or "")
        name = _entity_name(database, taken)
        suffix = var_suffix(name)
        server = str(mae.get("serveur_sql") or "")
        match = _AZURE.match(server.split(",")[0].removeprefix("tcp:").strip())
        edition = "spc" if match else "onpremise"
        entity: dict[str, Any] = {
            "name": name,
            "company_code": name,
            "analytic_plan": 1,
            "edition": edition,
            # On SPC the database is not named after the .MAE file: left to fill in.
            "database": "" if match else database,
            "sage_user": "<administrateur>",
            # The secrets by their plain names, as in inventory/example: vars.yml maps
            # each to its sagefleet_vault_* value in the encrypted vault.yml.
            "sage_password": f"{{{{ {secret_var('sage_password', suffix)} }}}}",
            "sql_user": "",  # the SQL login, not a secret: to fill in here
            "sql_password": f"{{{{ {secret_var('sql_password', suffix)} }}}}",
            "mae_path": str(mae.get("path")),
            "pdf_storage": "filestream",
        }
        if match:
            entity["azure_sql_server"] = match.group(1).lower()
            notes.append(
                f"{name}: on SPC the database is not named after the .MAE file ({database}): "
                "fill in the Azure SQL database name"
            )
        else:
            entity["sql_instance"] = server
        if not server:
            notes.append(f"{name}: no ServeurSQL= line in {mae.get('path')}: fill the server in")
        if str(mae.get("type") or "").upper() not in ("SQL", ""):
            notes.append(f"{name}: Type={mae.get('type')} in {mae.get('path')} (not SQL)")
        entities.append(entity)
    products = [
        f"#   {p.get('product')}: {p.get('version') or 'version unknown'} ({p.get('path')})"
        for p in document.get("products") or []
    ] or ["#   (no Sage 100 product found in the registry)"]
    header = [
        "---",
        f"# Draft written by `playbooks/discover.yml` (sagefleet {__version__}) for {host}",
        f"# (Windows name {document.get('hostname')}). Review every value, then fill the",
        "# secrets (see the vault skeleton beside this file) and run preflight.",
        "# To fill in: sql_user (the SQL login with read/write on the database), and the",
        "# database of an SPC entity (its Azure SQL database, not named after the .MAE).",
        "# To check: analytic_plan (Structure > Plan analytique, 1-based), sage_user,",
        "# pdf_storage (filestream, or the server folder of the PDF receipts).",
        "# Then give each entity the settings.json the vendor's form produced for its",
        '# connection: vendor_settings: "{{ inventory_dir }}/files/<name>.settings.json"',
        "# (or vendor_package: its Setup.zip), see docs/settings.md.",
        "# Edition: spc for an entity whose .MAE names an Azure SQL server",
        "# (*.database.windows.net), else onpremise. Sage products found:",
        *products,
        f"# Folders searched: {', '.join(document.get('searched') or []) or 'none'}.",
    ]
    if document.get("truncated"):
        header.append("# The search stopped at the file limit: some .MAE files may be missing.")
    header += [f"# NOTE: {n}" for n in notes]
    if not entities:
        header.append("# No .MAE file found: add the entities by hand, or set")
        header.append("# sagefleet_discover_roots to the folders holding the company files.")
    body = yaml.dump(
        {"sagefleet_entities": entities},
        Dumper=_IndentedDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
    )
    vault = [
        "---",
        f"# Vault skeleton for {host}, in the layout of inventory/example. Every line is a",
        "# comment until you move it into the inventory and fill it in.",
        "#",
        "# 1. In <inventory>/group_vars/<client>/vars.yml, the plain names the draft uses:",
    ]
    for entity in entities:
        suffix = var_suffix(entity["name"])
        for kind in SECRET_FIELDS:
            plain = secret_var(kind, suffix)
            vault.append(f'# {plain}: "{{{{ {vault_var(kind, suffix)} }}}}"')
    vault += [
        "#",
        "# 2. In <inventory>/group_vars/<client>/vault.yml, the values; then encrypt it:",
        "#      ansible-vault encrypt <inventory>/group_vars/<client>/vault.yml",
    ]
    for entity in entities:
        suffix = var_suffix(entity["name"])
        vault += [
            f"# {entity['name']} ({entity['mae_path']})",
            f"# {vault_var('sage_password', suffix)}: ''   # Sage user's password (may be empty)",
            f"# {vault_var('sql_password', suffix)}: ''    # the SQL login's password",
        ]
    return Draft(host, entities, "\n".join(header) + "\n" + body, "\n".join(vault) + "\n")


def write_draft(
    result: Draft, dest: Path, *, force: bool = False, check: bool = False
) -> dict[str, str]:
    """Write ``<dest>/<host>.yml`` and ``<dest>/<host>.vault.yml``; existing ones are kept.

    Returns each file with what happened to it: written, overwritten, unchanged (the
    same draft, with ``force``), kept. ``check``: what would happen, nothing written.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", result.host) or result.host.startswith("."):
        raise InputError(
            "cannot be used as a file name", host=result.host, field="inventory_hostname"
        )
    if not check:
        dest.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, str] = {}
    for path, text in (
        (dest / f"{result.host}.yml", result.host_vars),
        (dest / f"{result.host}.vault.yml", result.vault),
    ):
        if path.exists() and not force:
            outcome[str(path)] = "kept"
            continue
        existed = path.exists()
        if check:
            same = existed and path.read_text(encoding="utf-8") == text
            outcome[str(path)] = "unchanged" if same else "overwritten" if existed else "written"
            continue
        if not write_atomic(path, text, mode=0o640):
            outcome[str(path)] = "unchanged"  # force, and the same draft: nothing rewritten
            continue
        outcome[str(path)] = "overwritten" if existed else "written"
    return outcome
