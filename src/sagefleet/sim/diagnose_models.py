"""Model side of the ``diagnose`` snippet: service state, log tails, settings, restart.

Windows event logs are not simulated (docs/simulator.md): the model answers
with no event, as Get-WinEvent does on a server where the agent never logged.
"""

from __future__ import annotations

import base64
import fnmatch
from typing import Any

from sagefleet.sim import service_rules
from sagefleet.sim.dispatch import simulates
from sagefleet.sim.model import ModelError, WindowsHost


def _iso(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z")


def _service(host: WindowsHost, name: str) -> dict[str, Any]:
    service = host.service(name)
    if service is None:
        return {"name": name, "installed": False, "state": None, "start_mode": None,
                "account": None, "path": None}
    return {
        "name": service.name,
        "installed": True,
        "state": service.wmi_state,
        "start_mode": service.start_mode,
        "account": service.account,
        "path": service.binary_path,
    }


def _logs(host: WindowsHost, specs: list[dict[str, Any]], tail_bytes: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for spec in specs:
        folder = str(spec["folder"])
        if not host.fs.is_dir(folder):
            continue
        entries = []
        for name in host.fs.listdir(folder):
            path = folder.rstrip("\\") + "\\" + name
            if host.fs.is_file(path) and fnmatch.fnmatch(name.lower(), str(spec["filter"]).lower()):
                entries.append(host.fs.stat(path))
        entries.sort(key=lambda e: e.modified, reverse=True)
        for entry in entries[: int(spec["max_files"])]:
            item: dict[str, Any] = {
                "kind": spec["kind"], "path": entry.path, "modified": _iso(entry.modified),
                "size": entry.size, "truncated": False, "content": None, "error": None,
            }
            try:
                data = host.fs.read(entry.path)
            except ModelError as exc:
                item["error"] = str(exc)
            else:
                item["size"] = len(data)
                item["truncated"] = len(data) > tail_bytes
                item["content"] = base64.b64encode(data[-tail_bytes:]).decode("ascii")
            found.append(item)
    return found


@simulates("diagnose")
def diagnose(host: WindowsHost, params: dict[str, Any], stdin: bytes) -> dict[str, Any]:
    name = str(params["service_name"])
    result: dict[str, Any] = {
        "service": _service(host, name),
        "logs": _logs(host, list(params.get("logs") or []), int(params["tail_bytes"])),
        "events": [],  # event logs are not simulated
        "events_error": None,
        "settings": None,
        "restart": None,
    }
    path = params.get("settings_path")
    if path:
        settings: dict[str, Any] = {"path": path, "exists": host.fs.is_file(path),
                                    "content": None, "error": None}
        if settings["exists"]:
            try:
                settings["content"] = base64.b64encode(host.fs.read(path)).decode("ascii")
            except ModelError as exc:
                settings["error"] = str(exc)
        result["settings"] = settings
    if params.get("restart"):
        restart: dict[str, Any] = {"requested": True, "done": False,
                                   "state_before": result["service"]["state"],
                                   "state_after": None, "killed_pid": None, "error": None}
        if not result["service"]["installed"]:
            restart["error"] = f"service '{name}' is not installed"
        else:
            timeout = float(params["restart_timeout_s"])
            try:
                with host.lock:
                    killed = service_rules.set_state(host, name, "Stopped", timeout)
                    restart["killed_pid"] = killed or None
                    service_rules.set_state(host, name, "Running", timeout)
                restart["done"] = True
            except ModelError as exc:
                restart["error"] = str(exc)
            restart["state_after"] = _service(host, name)["state"]
        result["restart"] = restart
    return result
