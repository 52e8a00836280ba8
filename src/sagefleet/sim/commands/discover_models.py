"""Model side of the ``discover`` snippet: Sage products and .MAE files of a host."""

from __future__ import annotations

import re
from typing import Any

from sagefleet.sim.commands.registry import simulates
from sagefleet.sim.commands.snippet_models import (
    SAGE_EXECUTABLES,
    _sage_products,
    _spc_marker,
    _uninstall,
)
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import WindowsHost

_MAE_LINE = re.compile(r"^\s*(ServeurSQL|Type)\s*=\s*(.*?)\s*$", re.I)
USUAL_FOLDERS = ("C:\\Sage", "C:\\Users\\Public\\Documents\\Sage")


def _mae(host: WindowsHost, path: str) -> dict[str, Any]:
    entry = host.fs.stat(path)
    name = path.rsplit("\\", 1)[-1]
    doc: dict[str, Any] = {"path": path, "size": entry.size, "serveur_sql": None, "type": None,
                           "database": name.rsplit(".", 1)[0]}
    if entry.size <= 1048576 and entry.data is not None:
        for line in entry.data.decode("cp1252", errors="replace").splitlines():
            match = _MAE_LINE.match(line)
            if match:
                key = "type" if match.group(1) == "Type" else "serveur_sql"
                if doc[key] is None and match.group(2):
                    doc[key] = match.group(2)
    return doc


@simulates("discover")
def discover(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    products = []
    folders: list[str] = []
    for product in _sage_products(host):
        item: dict[str, Any] = {**product, "executable": None, "version": None}
        for exe in SAGE_EXECUTABLES:
            path = str(product["path"]).rstrip("\\") + "\\" + exe
            if host.fs.is_file(path):
                item["executable"] = path
                item["version"] = host.fs.stat(path).product_version
                break
        products.append(item)
        folders.append(str(product["path"]))
    sage, om = _uninstall(host)
    uninstall = [{"display_name": e["display_name"], "display_version": e["display_version"],
                  "view": e["view"]} for e in sage + om]
    folders += [*USUAL_FOLDERS, *[str(r) for r in params.get("roots") or [] if r]]
    result: dict[str, Any] = {
        "hostname": host.hostname,
        "spc_marker": _spc_marker(host, list(params.get("spc_marker_paths") or [])),
        "products": products, "uninstall": uninstall, "searched": [], "mae_files": [],
        "truncated": False,
    }
    seen: set[str] = set()
    max_files, max_depth = int(params["max_files"]), int(params["max_depth"])
    for folder in folders:
        key = folder.rstrip("\\").lower()
        if key in seen:
            continue
        seen.add(key)
        if not host.fs.is_dir(folder):
            continue
        result["searched"].append(folder)
        queue = [(folder.rstrip("\\"), 0)]
        while queue:
            current, depth = queue.pop(0)
            names = host.fs.listdir(current)
            for name in names:
                path = current + "\\" + name
                if host.fs.is_file(path) and name.lower().endswith(".mae"):
                    if len(result["mae_files"]) >= max_files:
                        result["truncated"] = True
                        break
                    result["mae_files"].append(_mae(host, path))
            if depth < max_depth:
                queue += [(current + "\\" + n, depth + 1) for n in names
                          if host.fs.is_dir(current + "\\" + n)]
    return result
