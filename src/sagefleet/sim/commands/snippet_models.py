"""Model-side behaviour of each sagefleet snippet, read from the host state.

Each function returns exactly the document the PowerShell snippet of the
same name would print on a real Windows host in the same state.
"""

from __future__ import annotations

import re
from typing import Any

from sagefleet.sim.commands.connection_models import python_pattern
from sagefleet.sim.commands.record_models import read_for_facts
from sagefleet.sim.commands.registry import SnippetAbort, powershell_errors, simulates
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import (
    LOCAL_SERVICE,
    NETWORK_SERVICE,
    SYSTEM,
    IdentityNotMapped,
    RegistryValue,
    WindowsHost,
)
from sagefleet.sim.host.products import (
    AZURE_KEY,
    CLSID_ROOT,
    NDP_V4,
    NETFX,
    OM_CLASSES,
    SCHANNEL_TLS12,
    SPC_MARKER_KEY,
)
from sagefleet.sim.host.x509 import callback_view


@simulates("host_info")
def host_info(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    now = host.utc_now()
    return {
        "hostname": host.hostname,
        "os_caption": host.os_caption,
        "os_version": host.os_version,
        "os_build": host.os_build,
        "powershell_version": host.powershell_version,
        "language_mode": host.language_mode,
        # Same shape as [DateTime]::UtcNow.ToString('o'): 7 fractional digits, Z.
        "utc_now": now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z",
    }


# -- facts ------------------------------------------------------------------------

#: Programs of Sage 100 whose ProductVersion the facts snippet reports.
SAGE_EXECUTABLES = ("Maestria.exe", "GecoMaes.exe", "MopaMaes.exe")
_SAGE_NAME = re.compile(r"^Sage 100", re.I)
_OM_NAME = re.compile(r"Objets m[ée]tiers", re.I)
_MAE_LINE = re.compile(r"^\s*(ServeurSQL|Type)\s*=\s*(.*?)\s*$", re.I)
DEFAULT_SPC_MARKERS = ("HKLM:\\" + SPC_MARKER_KEY.split("\\", 1)[1],)


def _param(params: dict[str, Any], name: str, default: Any) -> Any:
    value = params.get(name)
    return default if value is None else value


def _text(value: RegistryValue | None) -> str | None:
    if value is None:
        return None
    text = value.data if isinstance(value.data, str) else str(value.data)
    return text or None


def _uninstall(host: WindowsHost) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sage: list[dict[str, Any]] = []
    om: list[dict[str, Any]] = []
    for view, _, values in host.uninstall_entries():
        name = _text(values.get("DisplayName"))
        if name is None:
            continue
        publisher = _text(values.get("Publisher"))
        version = _text(values.get("DisplayVersion"))
        if _OM_NAME.search(name):
            om.append({"display_name": name, "display_version": version, "view": view})
        elif _SAGE_NAME.search(name) and (
            "comptabilit" in name.lower() or re.search(r"sage", publisher or "", re.I)
        ):
            sage.append(
                {
                    "display_name": name,
                    "display_version": version,
                    "install_location": _text(values.get("InstallLocation")),
                    "publisher": publisher,
                    "view": view,
                }
            )
    return sage, om


def _sage_products(host: WindowsHost) -> list[dict[str, Any]]:
    products = []
    for sub in host.registry.subkeys("HKLM\\SOFTWARE\\Sage", view="32"):
        path = host.registry.get(f"HKLM\\SOFTWARE\\Sage\\{sub}", "Path", view="32")
        if isinstance(path, str) and path:
            products.append({"product": sub, "path": path})
    return products


def _executables(host: WindowsHost, products: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for product in products:
        folder = str(product["path"]).rstrip("\\")
        for exe in SAGE_EXECUTABLES:
            path = f"{folder}\\{exe}"
            if not host.fs.is_file(path):
                continue
            entry = host.fs.stat(path)
            found.append({"name": exe, "path": path, "product_version": entry.product_version})
    return found


def _vendor_installs(host: WindowsHost, pattern: str) -> list[dict[str, Any]]:
    """The uninstall entries whose DisplayName or Publisher matches ``pattern`` (-match:
    a .NET regular expression, case-insensitive), in every view."""
    found = python_pattern(pattern)
    installs = []
    for view, _, values in host.uninstall_entries():
        name = _text(values.get("DisplayName"))
        publisher = _text(values.get("Publisher"))
        if name and (found.search(name) or found.search(publisher or "")):
            installs.append(
                {
                    "display_name": name,
                    "display_version": _text(values.get("DisplayVersion")),
                    "install_location": _text(values.get("InstallLocation")),
                    "publisher": publisher,
                    "view": view,
                }
            )
    return installs


def _agent(host: WindowsHost, params: dict[str, Any]) -> dict[str, Any]:
    found = _agent_service(host, params)
    if params.get("agent_vendor_pattern"):
        found["installs"] = _vendor_installs(host, str(params["agent_vendor_pattern"]))
    return found


def _agent_service(host: WindowsHost, params: dict[str, Any]) -> dict[str, Any]:
    name = params.get("service_name") or None
    service, by, candidates = host.find_service(
        name,
        params.get("agent_image_path_pattern") or None,
        params.get("agent_display_name_pattern") or None,
    )
    if service is None:
        return {
            "service_name": name,
            "installed": False,
            "state": None,
            "start_mode": None,
            "account": None,
            "version": None,
            "path": None,
            "matched_by": None,
            "candidates": candidates,
        }
    exe = service.executable or None
    version = host.fs.stat(exe).product_version if exe and host.fs.is_file(exe) else None
    return {
        "service_name": service.name,
        "installed": True,
        "state": service.wmi_state,
        "start_mode": service.start_mode,
        "account": service.account,
        "version": version,
        "path": exe,
        "matched_by": by,
        "candidates": [],
    }


def _mapped_unc(host: WindowsHost, letter: str) -> str | None:
    """Persistent mapping of a drive letter in any user's profile (HKU\\<sid>\\Network)."""
    for sid in host.registry.subkeys("HKU"):
        remote = host.registry.get(f"HKU\\{sid}\\Network\\{letter}", "RemotePath")
        if isinstance(remote, str) and remote:
            return remote
    return None


def _mae_file(host: WindowsHost, path: str) -> dict[str, Any]:
    unc = path.startswith("\\\\")
    letter = path[0].upper() if re.match(r"^[A-Za-z]:", path) else None
    seen = {d.letter: d for d in host.fs.session_drives()}
    drive = seen.get(f"{letter}:") if letter else None
    mapping = _mapped_unc(host, letter) if letter and drive is None else None
    if unc:
        drive_type: str | None = "network"
    elif drive is not None:
        drive_type = drive.drive_type
    else:
        drive_type = "network" if mapping else None
    mapped = bool(letter) and drive_type == "network"
    candidate = path
    if not host.fs.is_file(candidate) and mapping:
        candidate = mapping.rstrip("\\") + path[2:]
    doc: dict[str, Any] = {
        "path": path,
        "exists": False,
        "size": None,
        "drive_type": drive_type,
        "unc": unc,
        "mapped_drive": mapped,
        "serveur_sql": None,
        "type": None,
        "database": None,
        "verifiable": True,
    }
    if not host.fs.is_file(candidate):
        # Every command reaches the model through WinRM: a network logon (group NETWORK),
        # which the snippet takes for "cannot tell" on a network path it cannot read.
        doc["verifiable"] = drive_type != "network"
        return doc
    entry = host.fs.stat(candidate)
    doc.update(exists=True, size=entry.size)
    doc["database"] = re.split(r"[\\/]", path)[-1].rsplit(".", 1)[0]
    if entry.data is not None and entry.size <= 1024 * 1024:
        for line in entry.data.decode("cp1252", errors="replace").splitlines():
            match = _MAE_LINE.match(line)
            if match:
                key = "serveur_sql" if match.group(1).lower() == "serveursql" else "type"
                if doc[key] is None:
                    doc[key] = match.group(2) or None
    return doc


def _client_tls_protocols(host: WindowsHost) -> tuple[str, ...]:
    """The snippet asks for TLS 1.2 only; Schannel can forbid it (Enabled=0)."""
    enabled = host.registry.get(SCHANNEL_TLS12, "Enabled")
    return () if enabled == 0 else ("TLSv1.2",)


def _om_classes(host: WindowsHost) -> list[dict[str, Any]]:
    """The Objets Métiers COM classes each registry view registers (64-bit view first)."""
    found = []
    for view in ("64", "32"):
        for name, (clsid, _) in OM_CLASSES.items():
            key = f"{CLSID_ROOT}\\{clsid}"
            if not host.registry.key_exists(key, view=view):
                continue
            server = host.registry.get(f"{key}\\InprocServer32", "", view=view)
            progid = host.registry.get(f"{key}\\ProgID", "", view=view)
            path = str(server or "").strip().strip('"')
            exists = bool(path) and host.fs.is_file(path)
            found.append(
                {
                    "name": name,
                    "clsid": clsid,
                    "view": view,
                    "server": str(server) if server else None,
                    "progid": str(progid) if progid else None,
                    "exists": exists,
                    "file_version": host.fs.stat(path).file_version if exists else None,
                }
            )
    return found


def _om_files(classes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    files: dict[str, dict[str, Any]] = {}
    for item in classes:
        path = str(item["server"] or "").strip().strip('"')
        if item["exists"] and path.lower() not in files:
            files[path.lower()] = {"path": path, "file_version": item["file_version"]}
    return list(files.values())


_HOLD_BY_DESIGN = {SYSTEM, LOCAL_SERVICE, NETWORK_SERVICE}


def _logon_right(host: WindowsHost, account: str | None) -> dict[str, Any] | None:
    """What the snippet reads of "Log on as a service" (secedit's export of the policy)."""
    if not account:
        return None
    doc: dict[str, Any] = {"account": account, "sid": None, "granted": None, "error": None}
    try:
        sid = host.resolve_principal(account)
    except IdentityNotMapped:
        # GetBaseException(): the IdentityNotMappedException inside PowerShell's wrapper.
        doc["error"] = "Some or all identity references could not be translated."
        return doc
    doc["sid"] = sid
    if sid in _HOLD_BY_DESIGN or sid.startswith("S-1-5-80-"):
        doc["granted"] = True
    else:
        doc["granted"] = host.has_service_logon_right(account)
    return doc


def _probe(host: WindowsHost, endpoint: dict[str, Any], timeout_ms: int) -> dict[str, Any]:
    name = str(endpoint.get("name") or "")
    port = int(endpoint.get("port") or 0)
    want_tls = bool(endpoint.get("tls"))
    dns = host.network.resolve(name, timeout_ms)
    tcp = host.network.connect(name, port, timeout_ms)
    tls_result = None
    if want_tls and tcp.ok:
        tls = host.network.handshake(name, port, _client_tls_protocols(host))
        tls_result = {
            "ok": tls.ok,
            "protocol": tls.protocol,
            "issuer": tls.issuer,
            "subject": tls.subject,
            "not_after": tls.not_after,
            "error": tls.error,
            # SslStream calls the validation callback once it has the server's certificate.
            **(
                callback_view(name, tls.chain, host.cert_stores, host.utc_now())
                if tls.chain
                else {
                    "policy_errors": None,
                    "chain_status": [],
                    "chain": [],
                    "root_in_authroot": None,
                    "root_in_root": None,
                }
            ),
        }
    return {
        "name": name,
        "port": port,
        "tls": want_tls,
        "dns": {"status": dns.status, "addresses": list(dns.addresses), "error": dns.error},
        "tcp": {"ok": tcp.ok, "elapsed_ms": tcp.elapsed_ms, "error": tcp.error},
        "tls_result": tls_result,
    }


def _spc_marker(host: WindowsHost, paths: list[str]) -> bool:
    for path in paths:
        text = str(path)
        if re.match(r"^(HKLM|HKEY_LOCAL_MACHINE):?\\", text, re.I):
            if host.registry.key_exists(text.replace(":", "", 1)):
                return True
        elif host.fs.exists(text):
            return True
    return False


#: The parameters the facts snippet reads; the model refuses any other (a bastion and a
#: snippet that drifted apart fail here, not silently on a real server).
FACTS_PARAMS = frozenset(
    {
        "service_name",
        "agent_image_path_pattern",
        "agent_display_name_pattern",
        "agent_vendor_pattern",
        "endpoints",
        "mae_files",
        "timeout_ms",
        "spc_marker_paths",
        "service_account",
        "record_path",
    }
)


@simulates("facts")
def facts(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    """Every fact the checks need, in one document (the contract of sagefleet.facts)."""
    unknown = sorted(set(params) - FACTS_PARAMS)
    if unknown:
        raise SnippetAbort(f"sagefleet simulator: facts parameters not understood: {unknown}")
    timeout_ms = int(_param(params, "timeout_ms", 3000))
    markers = [str(p) for p in _param(params, "spc_marker_paths", list(DEFAULT_SPC_MARKERS))]
    with host.lock, powershell_errors():
        identity = host_info(host, params, stdin)
        sage_uninstall, om_uninstall = _uninstall(host)
        products = _sage_products(host)
        om_classes = _om_classes(host)
        agent = _agent(host, params)
        record = params.get("record_path")
        reg = host.registry
        return {
            "schema": 1,
            "host": {
                **identity,
                "domain": host.domain or "WORKGROUP",
                "part_of_domain": host.domain is not None,
            },
            "drives": [
                {
                    "name": drive.letter,
                    "drive_type": drive.drive_type,
                    "free_bytes": drive.volume.free_bytes,
                    "size_bytes": drive.volume.size_bytes,
                    "provider": drive.provider,
                }
                for drive in sorted(host.fs.session_drives(), key=lambda d: d.letter)
            ],
            "dotnet": {"release": reg.get(NDP_V4, "Release")},
            "tls": {
                "netfx_x64": {
                    "SchUseStrongCrypto": reg.get(NETFX, "SchUseStrongCrypto", view="64"),
                    "SystemDefaultTlsVersions": reg.get(NETFX, "SystemDefaultTlsVersions", "64"),
                },
                "netfx_x86": {
                    "SchUseStrongCrypto": reg.get(NETFX, "SchUseStrongCrypto", view="32"),
                    "SystemDefaultTlsVersions": reg.get(NETFX, "SystemDefaultTlsVersions", "32"),
                },
                "schannel_tls12_client": {
                    "Enabled": reg.get(SCHANNEL_TLS12, "Enabled"),
                    "DisabledByDefault": reg.get(SCHANNEL_TLS12, "DisabledByDefault"),
                },
            },
            "proxy": {
                "winhttp_proxy": host.network.winhttp_proxy,
                "winhttp_bypass": host.network.winhttp_bypass,
            },
            "sage": {
                "uninstall": sage_uninstall,
                "products": products,
                "executables": _executables(host, products),
            },
            "objets_metiers": {
                "files": _om_files(om_classes),
                "uninstall": om_uninstall,
                "classes": om_classes,
            },
            "azure": {
                "guest_agent_service": host.service("WindowsAzureGuestAgent") is not None,
                "azure_registry_key": reg.key_exists(AZURE_KEY),
                "spc_marker": _spc_marker(host, markers),
            },
            "agent": agent,
            "mae_files": [_mae_file(host, str(p)) for p in _param(params, "mae_files", [])],
            "probes": [
                _probe(host, endpoint, timeout_ms)
                for endpoint in _param(params, "endpoints", [])
                if isinstance(endpoint, dict)
            ],
            "service_logon_right": _logon_right(
                host, params.get("service_account") or agent["account"]
            ),
            "failed_install": read_for_facts(host, str(record)) if record else None,
        }
