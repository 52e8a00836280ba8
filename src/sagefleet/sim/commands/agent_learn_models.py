"""Model side of the ``agent_learn`` snippet: a reference install read from the host state.

The answer has the shape snippets/agent_learn.ps1 prints on a real host: the
service the agent profile's lookup finds, its folder's file names, the key
structure of its settings.json (never a value) and its Add/Remove Programs
entries in both registry views.
"""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any
from xml.etree import ElementTree

from sagefleet.sim.commands import acl_rules, semantics
from sagefleet.sim.commands.lookup import find_service
from sagefleet.sim.commands.registry import SnippetAbort, simulates
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import ModelError, WindowsHost

#: The values of an Uninstall entry the snippet reports (the others by name only).
KEPT_VALUES = (
    "DisplayName",
    "DisplayVersion",
    "Publisher",
    "InstallLocation",
    "DisplayIcon",
    "UninstallString",
    "QuietUninstallString",
    "WindowsInstaller",
    "Inno Setup: App Path",
    "Inno Setup: Setup Version",
    "BundleCachePath",
    "BundleProviderKey",
    "BundleUpgradeCode",
    "BundleVersion",
)
#: The values whose path may point into the install folder.
PATH_VALUES = (
    "InstallLocation",
    "DisplayIcon",
    "UninstallString",
    "QuietUninstallString",
    "Inno Setup: App Path",
)
INT64 = 2**63


#: The script stops on Get-ChildItem's error (a folder the WinRM account may not list) and
#: catches it; with -ErrorAction SilentlyContinue the folder reads as empty (ledger row 38).
_LISTING_CAUGHT = r"Get-ChildItem -LiteralPath \$folder\[0\] -Force -ErrorAction Stop\b"


def _files(
    host: WindowsHost, folder: str, max_files: int, max_depth: int
) -> tuple[list[str], bool, list[dict[str, str]]]:
    """Relative file names, breadth first, as the snippet's queue walks them, listed as the
    WinRM account (``host.winrm_token``), and the folders it could not list."""
    files: list[str] = []
    truncated = False
    unlisted: list[dict[str, str]] = []
    queue: deque[tuple[str, str, int]] = deque([(folder, "", 0)])
    while queue:
        path, relative, depth = queue.popleft()
        names, error = acl_rules.listed_as_winrm(host, path, _LISTING_CAUGHT)
        if error is not None:
            unlisted.append({"folder": path, "error": error})
        for name in names:
            child = f"{path}\\{name}"
            rel = f"{relative}\\{name}" if relative else name
            if host.fs.is_dir(child):
                if depth < max_depth:
                    queue.append((child, rel, depth + 1))
            elif len(files) < max_files:
                files.append(rel)
            else:
                truncated = True
    return files, truncated, unlisted


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """ConvertFrom-Json (5.1) refuses keys that differ only by case."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key.lower() in seen:
            raise ValueError(f"duplicated key {key!r}")
        seen.add(key.lower())
    return dict(pairs)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if -INT64 <= value < INT64 else "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shapes(value: Any, path: list[str | int], out: list[dict[str, Any]]) -> None:
    shape: dict[str, Any] = {"path": list(path), "type": _json_type(value)}
    out.append(shape)
    if isinstance(value, list):
        shape["count"] = len(value)
        unique: list[str] = []
        if value and all(isinstance(i, dict) for i in value):
            for member in value[0]:
                seen: set[str] = set()
                for item in value:
                    found = item.get(member)
                    if not isinstance(found, str) or found == "" or found in seen:
                        break
                    seen.add(found)
                else:
                    unique.append(member)
        shape["unique_string_members"] = unique
        if value and len(path) < 64:
            _shapes(value[0], [*path, 0], out)
    elif isinstance(value, dict) and len(path) < 64:
        for key, child in value.items():
            _shapes(child, [*path, key], out)


def _settings(host: WindowsHost, folder: str, files: list[str], names: list[str]) -> Any:
    relative = None
    for name in names:
        match = [f for f in files if f.rsplit("\\", 1)[-1].lower() == str(name).lower()]
        if match:
            relative = match[0]
            break
    if relative is None:
        return None
    settings: dict[str, Any] = {"path": relative, "structure": [], "error": None}
    try:
        text = host.fs.read_all_text(f"{folder}\\{relative}")
    except ModelError as exc:
        settings["error"] = "cannot be read: " + type(exc).__name__
        return settings
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError:
        settings["error"] = "not valid JSON (its text is not shown: it holds secrets)"
        return settings
    shapes: list[dict[str, Any]] = []
    _shapes(document, [], shapes)
    settings["structure"] = shapes
    return settings


def _data(data: Any) -> Any:
    return list(data) if isinstance(data, tuple) else data


def _inside(text: str, folder: str) -> bool:
    value = text.strip().strip('"')
    return bool(value) and (
        value.rstrip("\\").lower() == folder.lower() or (folder + "\\").lower() in value.lower()
    )


def _uninstall(host: WindowsHost, folder: str | None, pattern: str) -> list[dict[str, Any]]:
    try:
        display_re = re.compile(pattern, re.I) if pattern else None
    except re.error as exc:
        raise SnippetAbort(f'parsing "{pattern}" - {exc}') from exc
    entries = []
    for view, key, values in host.uninstall_entries():
        display = str(values["DisplayName"].data) if "DisplayName" in values else ""
        inside = folder is not None and any(
            isinstance(values[name].data, str) and _inside(str(values[name].data), folder)
            for name in PATH_VALUES
            if name in values
        )
        if not inside and not (display_re is not None and display and display_re.search(display)):
            continue
        kept = {
            name: _data(values[name].data) for name in KEPT_VALUES if name in values
        }
        entries.append(
            {
                "key": key,
                "view": view,
                "values": kept,
                "value_names": sorted(values, key=str.lower),
            }
        )
    return entries


def _runtime_sku(host: WindowsHost, config: str) -> str | None:
    """startup/supportedRuntime/@sku of the program's .config (XmlDocument.Load)."""
    if not host.fs.is_file(config):
        return None
    try:
        root = ElementTree.fromstring(host.fs.read(config))
    except (ModelError, ElementTree.ParseError):
        return None
    node = root.find("./startup/supportedRuntime") if root.tag == "configuration" else None
    return node.get("sku") if node is not None else None


def _int(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    return default if value is None else int(value)


@simulates("agent_learn")
def agent_learn(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    result: dict[str, Any] = {
        "service": None,
        "matched_by": None,
        "candidates": [],
        "install_dir": None,
        "files": [],
        "files_truncated": False,
        "settings": None,
        "uninstall": [],
    }
    if semantics.uses(r"\bunlisted\s+=\s+@\(\)"):
        result["unlisted"] = []
    with host.lock:
        service, by, candidates = find_service(host, params, "service")
        result["matched_by"], result["candidates"] = by, candidates
        folder: str | None = None
        if service is not None:
            exe = service.executable
            entry = host.fs.stat(exe) if exe and host.fs.is_file(exe) else None
            result["service"] = {
                "name": service.name,
                "display_name": service.display_name,
                "image_path": service.binary_path,
                "exe": exe,
                "account": service.account,
                "start_mode": service.start_mode,
                "state": service.wmi_state,
                "version": entry.product_version if entry else None,
                "file_version": entry.file_version if entry else None,
            }
            if exe and "\\" in exe:
                folder = exe.rsplit("\\", 1)[0]
                result["install_dir"] = folder
            result["service"]["runtime_sku"] = _runtime_sku(host, exe + ".config") if exe else None
        if folder is not None and host.fs.is_dir(folder):
            files, truncated, unlisted = _files(
                host, folder, _int(params, "max_files", 500), _int(params, "max_depth", 4)
            )
            result["files"], result["files_truncated"] = files, truncated
            if "unlisted" in result:
                result["unlisted"] = unlisted
            names = params.get("settings_names") or ["settings.json"]
            result["settings"] = _settings(host, folder, files, list(names))
        result["uninstall"] = _uninstall(host, folder, str(params.get("uninstall_pattern") or ""))
    return result
