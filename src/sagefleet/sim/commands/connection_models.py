"""Model side of the ``agent_connections`` snippet: what the host shows of its agent's links.

The agent's rows come from sim/host/agent_runtime.py; probes run as the WinRM account
sees the network: docs/simulator.md, "What is simulated", and ledger rows 24 to 26.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from typing import Any

from sagefleet.sim.commands import semantics
from sagefleet.sim.commands.lookup import find_service
from sagefleet.sim.commands.registry import SnippetAbort, simulates
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import ModelError, Service, WindowsHost, agent_runtime
from sagefleet.sim.host.products import INTERNET_SETTINGS, PROXY_POLICY_KEY, USER_SID
from sagefleet.sim.host.x509 import callback_view

PARAMS = {"service", "names", "probes", "timeout_ms", "log"}
NOT_RECOGNIZED = (
    "The term 'Get-NetTCPConnection' is not recognized as the name of a cmdlet, function, "
    "script file, or operable program."
)
_PROXY_HOST = re.compile(r"(?:^|[;=/])([A-Za-z0-9][A-Za-z0-9.\-]*):([0-9]{1,5})")


def dotnet_o(value: dt.datetime) -> str:
    """DateTime.ToString('o') of a UTC time: seven fractional digits and Z."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def process_start(service: Service) -> tuple[str | None, str | None]:
    """Get-SfProcessStart of a service's process: (its start, 'o' format, or None; the
    error when the process has no readable start time). (None, None) without a process."""
    if not service.process_id:
        return None, None
    started = service.process_started
    return (dotnet_o(started), None) if started else (None, "Access is denied")


def python_pattern(pattern: str) -> re.Pattern[str]:
    """A .NET regex as Python reads it: ``(?<name>...)`` groups become ``(?P<name>...)``;
    ``-match`` ignores case. Raises re.error for what Python cannot read."""
    return re.compile(re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern), re.I)


def _service(host: WindowsHost, lookup: dict[str, Any]) -> tuple[Any, list[str]]:
    found, _, candidates = find_service(host, lookup)
    return found, candidates


def _settings(host: WindowsHost, key: str) -> dict[str, Any] | None:
    found = agent_runtime.proxy_settings(host, key)
    if found is None:
        return None
    # The snippet reads missing strings as "" ([string] of the default).
    return {
        "enabled": found.enabled,
        "server": found.server or "",
        "bypass": found.bypass or "",
        "auto_config_url": found.auto_config_url or "",
    }


def _resolved(host: WindowsHost, name: str, timeout_ms: int) -> dict[str, Any]:
    answer = host.network.resolve(name, timeout_ms)
    if answer.status == "ok":
        return {"name": name, "addresses": list(answer.addresses), "error": None}
    return {"name": name, "addresses": [], "error": answer.error or answer.status}


def _probe(host: WindowsHost, name: str, port: int, timeout_ms: int) -> dict[str, Any]:
    tcp = host.network.connect(name, port, timeout_ms)
    probe: dict[str, Any] = {
        "name": name,
        "port": port,
        "tcp": {"ok": tcp.ok, "error": tcp.error},
        "tls": None,
    }
    if tcp.ok and port == 443:
        # AuthenticateAsClient(name): the OS's protocols (Schannel may forbid TLS 1.2).
        protocols = ("TLSv1.2",) if agent_runtime.tls12_allowed(host) else ()
        tls = host.network.handshake(name, port, protocols)
        view = (
            callback_view(name, tls.chain, host.cert_stores, host.utc_now()) if tls.chain else None
        )
        # The callback accepts any certificate: the handshake ends well whatever the
        # chain, and the snippet reports the policy errors the callback saw.
        probe["tls"] = {
            "ok": tls.ok,
            "policy_errors": view["policy_errors"] if view else None,
            "error": None if tls.ok else tls.error,
        }
    return probe


def _tcp(host: WindowsHost, service: Any) -> dict[str, Any]:
    if host.nettcpip_module:
        source = "Get-NetTCPConnection"
    else:
        # Server 2008 R2: the cmdlet does not exist; only a script that falls back answers.
        if not semantics.uses(r"\bnetstat(?:\.exe)?\b"):
            raise SnippetAbort(NOT_RECOGNIZED)
        source = "netstat"
    rows = agent_runtime.connections(host, service)
    return {
        "source": source,
        "error": None,
        "connections": [
            {
                "local_address": r.local_address,
                "local_port": r.local_port,
                "remote_address": r.remote_address,
                "remote_port": r.remote_port,
                "state": r.state,
            }
            for r in rows
        ],
    }


def _proxy(host: WindowsHost, account_sid: str | None, timeout_ms: int) -> dict[str, Any]:
    account: dict[str, Any] = {"sid": account_sid, "loaded": False, "settings": None}
    if account_sid and agent_runtime.hive_loaded(host, account_sid):
        account["loaded"] = True
        account["settings"] = _settings(host, f"HKU\\{account_sid}\\{INTERNET_SETTINGS}")
    per_user = host.registry.get(PROXY_POLICY_KEY, "ProxySettingsPerUser")
    current: dict[str, Any] = {
        "name": f"{host.hostname}\\{host.username}",
        "sid": USER_SID,
        "settings": _settings(host, f"HKU\\{USER_SID}\\{INTERNET_SETTINGS}"),
    }
    machine = _settings(host, f"HKLM\\{INTERNET_SETTINGS}")
    proxy: dict[str, Any] = {
        "winhttp": {"server": host.network.winhttp_proxy, "bypass": host.network.winhttp_bypass},
        "machine_policy": {
            "per_user": per_user if isinstance(per_user, int) else None,
            "settings": machine,
        },
        "account": account,
        "current_user": current,
        "addresses": [],
    }
    found: list[dict[str, Any] | None] = [machine, account["settings"], current["settings"]]
    servers = [host.network.winhttp_proxy] + [str(s["server"]) for s in found if s]
    seen: set[str] = set()
    for server in servers:
        for match in _PROXY_HOST.finditer(server or ""):
            key = f"{match.group(1)}:{match.group(2)}".lower()
            if key in seen:
                continue
            seen.add(key)
            answer = _resolved(host, match.group(1), timeout_ms)
            proxy["addresses"].append(
                {
                    "host": match.group(1),
                    "port": int(match.group(2)),
                    "addresses": answer["addresses"],
                    "error": answer["error"],
                }
            )
    return proxy


def _parse_time(text: str) -> dt.datetime | None:
    """DateTime.TryParse with the invariant culture, local time assumed: the simulated
    hosts keep UTC as their time zone."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _log(host: WindowsHost, spec: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {
        "files": [],
        "path": None,
        "line": None,
        "time_text": None,
        "time_utc": None,
        "error": None,
    }
    try:
        pattern = python_pattern(str(spec["pattern"]))
    except re.error as exc:
        raise SnippetAbort(
            f"sagefleet simulator: the log pattern {spec['pattern']!r} is not one it can "
            f"read ({exc})"
        ) from None
    agent_runtime.advance(host)
    entries = []
    for folder in spec.get("folders") or []:
        if not host.fs.is_dir(str(folder)):
            continue
        for name in host.fs.listdir(str(folder)):
            path = str(folder).rstrip("\\") + "\\" + name
            if host.fs.is_file(path) and fnmatch.fnmatch(name.lower(), str(spec["filter"]).lower()):
                entries.append(host.fs.stat(path))
    entries.sort(key=lambda e: e.modified, reverse=True)
    for entry in entries[: int(spec["max_files"])]:
        found["files"].append(entry.path)
        data = entry.data if entry.data is not None else b"\0" * entry.size
        tail = data[-int(spec["tail_bytes"]) :]
        lines = re.split(r"\r?\n", tail.decode("utf-8", errors="replace"))
        for line in reversed(lines):
            match = pattern.search(line)
            if match is None:
                continue
            found["path"] = entry.path
            found["line"] = line[:500]
            time_text = match.groupdict().get("time")
            if time_text is not None:
                found["time_text"] = time_text
                parsed = _parse_time(time_text)
                found["time_utc"] = dotnet_o(parsed) if parsed else None
            return found
    return found


@simulates("agent_connections")
def agent_connections(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    unknown = set(params) ^ PARAMS
    if unknown:
        # Strict mode: a missing member fails the script; an extra one is a drift.
        raise SnippetAbort(f"sagefleet simulator: agent_connections parameters {sorted(unknown)}")
    timeout = int(params["timeout_ms"])
    with host.lock:
        service, candidates = _service(host, dict(params["service"] or {}))
        result: dict[str, Any] = {
            "now_utc": None,
            "service": {
                "exists": False,
                "name": None,
                "state": None,
                "account": None,
                "account_sid": None,
                "account_error": None,
                "process_id": 0,
                "candidates": candidates,
            },
            "process": None,
            "tcp": None,
            "resolved": [],
            "proxy": None,
            "probes": [],
            "log": None,
        }
        sid = None
        if service is not None:
            doc = result["service"]
            doc.update(
                exists=True,
                name=service.name,
                state=service.wmi_state,
                account=service.account,
                process_id=service.process_id,
            )
            try:
                sid = host.resolve_principal(service.account).upper()
            except ModelError as exc:
                doc["account_error"] = str(exc)
            doc["account_sid"] = sid
            if service.process_id:
                started, error = process_start(service)
                result["process"] = {
                    "id": service.process_id,
                    "started_utc": started,
                    "error": error,
                }
                result["tcp"] = _tcp(host, service)
        result["resolved"] = [_resolved(host, str(n), timeout) for n in params["names"] or []]
        result["proxy"] = _proxy(host, sid, timeout)
        result["probes"] = [
            _probe(host, str(p["name"]), int(p["port"]), timeout) for p in params["probes"] or []
        ]
        spec = params["log"]
        if spec and spec.get("pattern"):
            result["log"] = _log(host, spec)
        result["now_utc"] = dotnet_o(host.utc_now())
    return result
