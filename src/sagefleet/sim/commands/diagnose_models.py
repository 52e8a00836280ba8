"""Model side of the ``diagnose`` snippet: service state, log tails, events, settings, restart.

Events come from the host's event log records (``host.events``): the
Application log's records of the given providers, and the Service Control
Manager's records of the given ids that name the service, by its service name
or a display name (the one the bastion passes or the service's own), in the
message or an insertion string, as the snippet matches them.

Log folders and files are listed and read as the WinRM account (``host.winrm_token``
against their DACLs): a folder it may not list is Get-ChildItem's error, reported only
by a script that stops on it and catches it (docs/simulator.md, ledger row 38).
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import re
from typing import Any

from sagefleet.sim.commands import acl_rules, service_rules
from sagefleet.sim.commands.registry import simulates
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import ModelError, WindowsHost


def _iso(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z")


def _service(host: WindowsHost, name: str) -> dict[str, Any]:
    service = host.service(name)
    if service is None:
        return {
            "name": name,
            "display_name": None,
            "installed": False,
            "state": None,
            "start_mode": None,
            "account": None,
            "path": None,
        }
    return {
        "name": service.name,
        "display_name": service.display_name,
        "installed": True,
        "state": service.wmi_state,
        "start_mode": service.start_mode,
        "account": service.account,
        "path": service.binary_path,
    }


#: The script stops on Get-ChildItem's error (a folder it may not list) and catches it; with
#: -ErrorAction SilentlyContinue (or Continue) the error is not the script's, and the folder
#: reads as holding no file.
_LISTING_CAUGHT = r"Get-ChildItem\b[^\r\n]*-Filter\b[^\r\n]*-ErrorAction\s+Stop\b"


def _logs(
    host: WindowsHost, specs: list[dict[str, Any]], tail_bytes: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the log files read, each folder as the script saw it); folders and files are
    listed and read as the WinRM account, whose token the DACLs are checked against."""
    found: list[dict[str, Any]] = []
    folders: list[dict[str, Any]] = []
    token = host.winrm_token()
    for spec in specs:
        folder = str(spec["folder"])
        seen: dict[str, Any] = {
            "kind": spec["kind"],
            "folder": folder,
            "filter": spec["filter"],
            "exists": host.fs.is_dir(folder),
            "error": None,
            "left_out": [],
        }
        folders.append(seen)
        if not seen["exists"]:
            continue
        names, seen["error"] = acl_rules.listed_as_winrm(host, folder, _LISTING_CAUGHT)
        entries = []
        for name in names:
            path = folder.rstrip("\\") + "\\" + name
            if host.fs.is_file(path) and fnmatch.fnmatch(name.lower(), str(spec["filter"]).lower()):
                entries.append(host.fs.stat(path))
        entries.sort(key=lambda e: e.modified, reverse=True)
        kept = int(spec["max_files"])
        seen["left_out"] = [
            {"path": e.path, "modified": _iso(e.modified), "size": e.size} for e in entries[kept:]
        ]
        for entry in entries[:kept]:
            item: dict[str, Any] = {
                "kind": spec["kind"],
                "path": entry.path,
                "modified": _iso(entry.modified),
                "size": entry.size,
                "truncated": False,
                "content": None,
                "error": None,
            }
            try:
                data = host.fs.read(entry.path, token)
            except ModelError as exc:
                item["error"] = str(exc)
            else:
                item["size"] = len(data)
                item["truncated"] = len(data) > tail_bytes
                item["content"] = base64.b64encode(data[-tail_bytes:]).decode("ascii")
            found.append(item)
    return found, folders


def _events(host: WindowsHost, params: dict[str, Any], shown: str | None) -> list[dict[str, Any]]:
    spec = params["events"]
    since = host.utc_now() - dt.timedelta(days=int(spec["days"]))
    limit = int(spec["max"])
    names = [str(params["service_name"]), *map(str, spec["display_names"] or []), shown or ""]
    names = [n for n in names if n]
    pattern = re.compile("|".join(re.escape(n) for n in names), re.I)
    wanted = {n.lower() for n in names}
    providers = {str(p).lower() for p in spec.get("providers") or []}
    scm_ids = {int(i) for i in spec.get("scm_ids") or []}
    found = []
    for record in host.events:
        if record.time < since:
            continue
        agent_log = record.log == "Application" and record.provider.lower() in providers
        scm = (
            record.log == "System"
            and record.provider == "Service Control Manager"
            and record.event_id in scm_ids
        )
        names_it = pattern.search(record.message) or any(
            p.lower() in wanted for p in record.properties
        )
        if agent_log or (scm and names_it):
            found.append(record)
    found.sort(key=lambda r: r.time, reverse=True)
    return [
        {
            "time": _iso(r.time),
            "log": r.log,
            "provider": r.provider,
            "id": r.event_id,
            "level": r.level,
            "message": r.message,
        }
        for r in found[:limit]
    ]


@simulates("diagnose")
def diagnose(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    name = str(params["service_name"])
    logs, folders = _logs(host, list(params.get("logs") or []), int(params["tail_bytes"]))
    result: dict[str, Any] = {
        "service": _service(host, name),
        "logs": logs,
        "folders": folders,
        "events": [],
        "events_error": None,
        "settings": None,
        "restart": None,
    }
    result["events"] = _events(host, params, result["service"]["display_name"])
    path = params.get("settings_path")
    if path:
        settings: dict[str, Any] = {
            "path": path,
            "exists": host.fs.is_file(path),
            "content": None,
            "error": None,
        }
        if settings["exists"]:
            try:
                data = host.fs.read(path, host.winrm_token())
                settings["content"] = base64.b64encode(data).decode("ascii")
            except ModelError as exc:
                settings["error"] = str(exc)
        result["settings"] = settings
    if params.get("restart"):
        restart: dict[str, Any] = {
            "requested": True,
            "done": False,
            "state_before": result["service"]["state"],
            "state_after": None,
            "killed_pid": None,
            "error": None,
        }
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
