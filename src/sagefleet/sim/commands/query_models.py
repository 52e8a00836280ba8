"""Model side of the ``query`` snippet: read-only answers from the host state.

Each answer has the shape snippets/query.ps1 prints on a real host.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sagefleet.sim.commands import acl_rules  # used at call time: acl_rules imports dispatch
from sagefleet.sim.commands.connection_models import process_start
from sagefleet.sim.commands.lookup import find_service
from sagefleet.sim.commands.registry import SnippetAbort, simulates
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import FileEntry, ModelError, WindowsHost

REG_KIND_NAMES = {
    "REG_SZ": "String",
    "REG_EXPAND_SZ": "ExpandString",
    "REG_DWORD": "DWord",
    "REG_QWORD": "QWord",
    "REG_MULTI_SZ": "MultiString",
    "REG_BINARY": "Binary",
}


def _iso(entry: FileEntry) -> str:
    return entry.modified.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _service(host: WindowsHost, q: dict[str, Any]) -> dict[str, Any]:
    service, by, candidates = find_service(host, q)
    if service is None:
        return {"exists": False, "candidates": candidates}
    version = None
    try:
        version = host.fs.stat(service.executable).product_version
    except ModelError:
        version = None
    return {
        "exists": True,
        "name": service.name,
        "state": service.wmi_state,
        "start_mode": service.start_mode,
        "account": service.account,
        "path": service.executable,
        "version": version,
        "matched_by": by,
        # Process.StartTime: null without a process, or when it cannot be read.
        "started_utc": process_start(service)[0],
    }


def _registry(host: WindowsHost, q: dict[str, Any]) -> dict[str, Any]:
    path = str(q.get("path", ""))
    hive = path.split("\\", 1)[0].upper()
    if hive not in ("HKLM", "HKEY_LOCAL_MACHINE"):
        raise SnippetAbort(f"sagefleet query: only HKLM is supported, not {hive}")
    view = "32" if str(q.get("view")) == "32" else "64"
    value = host.registry.get_value(path, str(q.get("name", "")), view)
    if value is None:
        return {"exists": False, "value": None, "type": None}
    data: Any = list(value.data) if isinstance(value.data, tuple) else value.data
    return {"exists": True, "value": data, "type": REG_KIND_NAMES.get(value.kind, value.kind)}


def _file(host: WindowsHost, q: dict[str, Any]) -> dict[str, Any]:
    path = str(q.get("path", ""))
    if not host.fs.is_file(path):
        return {"exists": False}
    entry = host.fs.stat(path)
    result: dict[str, Any] = {
        "exists": True,
        "size": entry.size,
        "modified": _iso(entry),
        "sha256": None,
        "acl": None,
    }
    if q.get("hash"):
        data = entry.data if entry.data is not None else b"\0" * entry.size
        result["sha256"] = hashlib.sha256(data).hexdigest()
    if q.get("acl"):
        # Get-Acl: names in the host's UI language, and the SIDs (what checks compare).
        acl = host.fs.acl_of(entry.path)
        result["acl"] = {
            "owner": host.account_name(acl.owner),
            "owner_sid": acl.owner,
            "protected": acl.protected,
            "rules": [
                {
                    "identity": host.account_name(ace.sid),
                    "sid": ace.sid,
                    "rights": acl_rules.rights_text(ace.rights),
                    "type": "Allow",
                    "inherited": ace.inherited,
                }
                for ace in acl.aces
            ],
        }
    return result


def _json_file(host: WindowsHost, q: dict[str, Any]) -> dict[str, Any]:
    path = str(q.get("path", ""))
    if not host.fs.is_file(path):
        return {"exists": False}
    return {"exists": True, "text": host.fs.read(path).decode("utf-8-sig", errors="replace")}


def _tcp(host: WindowsHost, q: dict[str, Any]) -> dict[str, Any]:
    answer = host.network.connect(
        str(q.get("host", "")), int(q.get("port", 0)), int(q.get("timeout_ms") or 2000)
    )
    return {"ok": answer.ok, "error": answer.error, "elapsed_ms": answer.elapsed_ms or 0}


def _product(host: WindowsHost, q: dict[str, Any]) -> dict[str, Any]:
    try:
        pattern = re.compile(str(q.get("pattern", "")), re.I)
    except re.error as exc:
        raise SnippetAbort(f"sagefleet query: invalid pattern: {exc}") from exc
    entries = []
    for view, _key, values in host.uninstall_entries():
        name = values.get("DisplayName")
        if name is not None and pattern.search(str(name.data)):
            version = values.get("DisplayVersion")
            entries.append(
                {
                    "display_name": str(name.data),
                    "display_version": str(version.data) if version else "",
                    "view": view,
                }
            )
    return {"entries": entries}


def _dir(host: WindowsHost, q: dict[str, Any]) -> dict[str, Any]:
    path = str(q.get("path", ""))
    if not host.fs.is_dir(path):
        return {"exists": False, "entries": []}
    entries = []
    for name in host.fs.listdir(path):
        entry = host.fs.stat(path.rstrip("\\") + "\\" + name)
        entries.append(
            {
                "name": name,
                "is_dir": entry.is_dir,
                "size": 0 if entry.is_dir else entry.size,
                "modified": _iso(entry),
            }
        )
    return {"exists": True, "entries": entries}


ANSWERS = {
    "service": _service,
    "registry": _registry,
    "file": _file,
    "json_file": _json_file,
    "tcp": _tcp,
    "product": _product,
    "dir": _dir,
}


@simulates("query")
def query(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    answers = []
    with host.lock:
        for question in params.get("questions") or []:
            kind = str(question.get("kind"))
            handler = ANSWERS.get(kind)
            if handler is None:
                raise SnippetAbort(f"sagefleet query: unknown question kind '{kind}'")
            answers.append(handler(host, question))
    return {"answers": answers}
