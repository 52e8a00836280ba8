"""Typed facts of one host, parsed from the ``facts`` snippet's JSON document.

This is the contract between the Windows side (snippets/facts.ps1 and its
simulator model) and the checks: one round trip per host returns everything
the checks need. Missing values are None (the check then reports "unknown"),
never guessed.

Document shape (``schema`` 1), every key always present, values may be null:

    {
      "schema": 1,
      "host": {"hostname", "os_caption", "os_version", "os_build",
               "powershell_version", "language_mode", "utc_now", "domain",
               "part_of_domain"},
      "drives": [{"name": "C:", "drive_type": "fixed|network|removable|cdrom|unknown",
                  "free_bytes", "size_bytes", "provider"}],
      "dotnet": {"release"},
      "tls": {"netfx_x64": {"SchUseStrongCrypto", "SystemDefaultTlsVersions"},
              "netfx_x86": {...same...},
              "schannel_tls12_client": {"Enabled", "DisabledByDefault"}},
      "proxy": {"winhttp_proxy", "winhttp_bypass"},
      "sage": {"uninstall": [{"display_name", "display_version", "install_location",
                              "publisher", "view": "64|32"}],
               "products": [{"product", "path"}],
               "executables": [{"name", "path", "product_version"}]},
      "objets_metiers": {"files": [{"path", "file_version"}],
                         "uninstall": [{"display_name", "display_version", "view"}],
                         "classes": [{"name", "clsid", "view", "server", "progid",
                                      "exists", "file_version"}]},
      "azure": {"guest_agent_service", "azure_registry_key", "spc_marker"},
      "agent": {"service_name", "installed", "state", "start_mode", "account",
                "version", "path", "matched_by": "name|image_path|display_name|null",
                "candidates": [names of the services a pattern matched, when several]},
      "mae_files": [{"path", "exists", "size", "drive_type", "unc", "mapped_drive",
                     "serveur_sql", "type", "database", "verifiable"}],
      "probes": [{"name", "port", "tls", "dns": {"status", "addresses", "error"},
                  "tcp": {"ok", "elapsed_ms", "error"},
                  "tls_result": {"ok", "protocol", "issuer", "subject", "not_after",
                                 "error", "policy_errors", "chain_status",
                                 "chain": [{"subject", "issuer", "thumbprint", "not_after"}],
                                 "root_in_authroot", "root_in_root"} | null}],
      "service_logon_right": {"account", "sid", "granted", "error"} | null
    }

Probe ``dns.status`` is one of ok / nxdomain / servfail / timeout / error;
``tcp.error`` is one of refused / timeout / unreachable / dns / null.

``objets_metiers.files`` are the DLLs the ``classes`` (the Objets Métiers COM
classes, per registry view) point at. ``azure.spc_marker`` is reported for the
record only: no public marker identifies an SPC VM, so nothing decides on it.
A key missing from an older document parses as "not reported" (None), which
the checks read as unknown.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagefleet.errors import SagefleetError

SCHEMA = 1


_UTC = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def parse_utc(text: str | None) -> dt.datetime | None:
    """A timezone-aware time from .NET's round-trip format ("o"), 7 fraction digits included."""
    match = _UTC.match((text or "").strip())
    if not match:
        return None
    base, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    offset = "+00:00" if zone in (None, "Z") else zone
    try:
        return dt.datetime.fromisoformat(f"{base}.{micro}{offset}").astimezone(dt.UTC)
    except ValueError:
        return None


class FactsError(SagefleetError):
    """The facts document does not follow the contract (a bug, or a foreign file)."""


def _opt_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def _map(doc: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FactsError(f"facts: {where}{key} must be an object, got {type(value).__name__}")
    return value


def _list(doc: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = doc.get(key)
    if value is None:
        return []
    if isinstance(value, Mapping):  # PowerShell 5.1 unwraps one-element arrays
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise FactsError(f"facts: {where}{key} must be a list of objects")
    return list(value)


@dataclass(frozen=True)
class HostIdentity:
    hostname: str | None = None
    os_caption: str | None = None
    os_version: str | None = None
    os_build: int | None = None
    powershell_version: str | None = None
    # $ExecutionContext.SessionState.LanguageMode of the session that gathered the facts.
    language_mode: str | None = None
    utc_now: str | None = None
    domain: str | None = None
    part_of_domain: bool | None = None


@dataclass(frozen=True)
class Drive:
    name: str
    drive_type: str = "unknown"
    free_bytes: int | None = None
    size_bytes: int | None = None
    provider: str | None = None


@dataclass(frozen=True)
class TlsSettings:
    netfx_x64_strong_crypto: int | None = None
    netfx_x64_system_default: int | None = None
    netfx_x86_strong_crypto: int | None = None
    netfx_x86_system_default: int | None = None
    schannel_tls12_enabled: int | None = None
    schannel_tls12_disabled_by_default: int | None = None


@dataclass(frozen=True)
class UninstallEntry:
    display_name: str
    display_version: str | None = None
    install_location: str | None = None
    publisher: str | None = None
    view: str | None = None


@dataclass(frozen=True)
class SageProduct:
    product: str
    path: str | None = None


@dataclass(frozen=True)
class Executable:
    name: str
    path: str | None = None
    product_version: str | None = None


@dataclass(frozen=True)
class FileVersion:
    path: str
    file_version: str | None = None


@dataclass(frozen=True)
class ComClass:
    """One Objets Métiers COM class as one registry view registers it."""

    name: str
    clsid: str
    view: str
    server: str | None = None  # InprocServer32: the DLL's path
    progid: str | None = None
    exists: bool = False
    file_version: str | None = None


@dataclass(frozen=True)
class LogonRight:
    """Whether the service account holds "Log on as a service" (SeServiceLogonRight)."""

    account: str
    sid: str | None = None
    granted: bool | None = None  # None: could not be read (``error`` says why)
    error: str | None = None


@dataclass(frozen=True)
class Agent:
    service_name: str | None = None
    installed: bool = False
    state: str | None = None
    start_mode: str | None = None
    account: str | None = None
    version: str | None = None
    path: str | None = None
    #: How the agent profile's lookup found the service: by its name or by a pattern.
    matched_by: str | None = None
    #: The services a pattern matched when there were several (then none is the agent).
    candidates: tuple[str, ...] = ()


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # PowerShell 5.1 unwraps one-element arrays
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FactsError("facts: agent.candidates must be a list of service names")
    return tuple(value)


@dataclass(frozen=True)
class MaeFile:
    path: str
    exists: bool = False
    size: int | None = None
    drive_type: str | None = None
    unc: bool = False
    mapped_drive: bool = False
    serveur_sql: str | None = None
    type: str | None = None
    database: str | None = None
    # False: on a share this (network logon) session cannot read, so neither found nor
    # missing (the second hop). Facts of schema 1 without the field: True.
    verifiable: bool = True

    @property
    def on_network(self) -> bool:
        """On a share or a mapped drive: a service needs a domain account to reach it."""
        return self.unc or self.mapped_drive or self.drive_type == "network"


@dataclass(frozen=True)
class DnsProbe:
    status: str | None = None
    addresses: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class TcpProbe:
    ok: bool | None = None
    elapsed_ms: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class ChainElement:
    subject: str | None = None
    issuer: str | None = None
    thumbprint: str | None = None
    not_after: str | None = None


@dataclass(frozen=True)
class TlsProbe:
    ok: bool | None = None
    protocol: str | None = None
    issuer: str | None = None
    subject: str | None = None
    not_after: str | None = None
    error: str | None = None
    # What Windows made of the certificate (X509Chain in SslStream's callback): None when
    # not reported (no certificate seen, or a document without it).
    policy_errors: str | None = None
    chain_status: tuple[str, ...] = ()
    chain: tuple[ChainElement, ...] = ()
    root_in_authroot: bool | None = None
    root_in_root: bool | None = None

    @property
    def root(self) -> ChainElement | None:
        return self.chain[-1] if self.chain else None


@dataclass(frozen=True)
class Probe:
    name: str
    port: int
    tls: bool
    dns: DnsProbe = field(default_factory=DnsProbe)
    tcp: TcpProbe = field(default_factory=TcpProbe)
    tls_result: TlsProbe | None = None


@dataclass(frozen=True)
class HostFacts:
    identity: HostIdentity
    drives: tuple[Drive, ...]
    dotnet_release: int | None
    tls: TlsSettings
    winhttp_proxy: str | None
    winhttp_bypass: str | None
    sage_uninstall: tuple[UninstallEntry, ...]
    sage_products: tuple[SageProduct, ...]
    sage_executables: tuple[Executable, ...]
    objets_metiers_files: tuple[FileVersion, ...]
    objets_metiers_uninstall: tuple[UninstallEntry, ...]
    # None: not reported (a document from before the classes were read).
    objets_metiers_classes: tuple[ComClass, ...] | None
    azure_guest_agent: bool | None
    azure_registry_key: bool | None
    spc_marker: bool | None
    agent: Agent
    mae_files: tuple[MaeFile, ...]
    probes: tuple[Probe, ...]
    service_logon_right: LogonRight | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def drive(self, letter: str) -> Drive | None:
        wanted = letter.rstrip(":\\").upper() + ":"
        return next((d for d in self.drives if d.name.upper() == wanted), None)

    def probe(self, name: str, port: int) -> Probe | None:
        return next((p for p in self.probes if p.name == name and p.port == port), None)


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # PowerShell 5.1 unwraps one-element arrays
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _tls_probe(data: Mapping[str, Any]) -> TlsProbe:
    return TlsProbe(
        ok=_bool(data.get("ok")),
        protocol=_opt_str(data.get("protocol")),
        issuer=_opt_str(data.get("issuer")),
        subject=_opt_str(data.get("subject")),
        not_after=_opt_str(data.get("not_after")),
        error=_opt_str(data.get("error")),
        policy_errors=_opt_str(data.get("policy_errors")),
        chain_status=_strings(data.get("chain_status")),
        chain=tuple(
            ChainElement(
                subject=_opt_str(c.get("subject")),
                issuer=_opt_str(c.get("issuer")),
                thumbprint=_opt_str(c.get("thumbprint")),
                not_after=_opt_str(c.get("not_after")),
            )
            for c in _list(data, "chain", "probes[].tls_result.")
        ),
        root_in_authroot=_bool(data.get("root_in_authroot")),
        root_in_root=_bool(data.get("root_in_root")),
    )


def _classes(om: Mapping[str, Any]) -> tuple[ComClass, ...] | None:
    if "classes" not in om:
        return None
    return tuple(
        ComClass(
            name=str(c.get("name") or ""),
            clsid=str(c.get("clsid") or ""),
            view=str(c.get("view") or ""),
            server=_opt_str(c.get("server")),
            progid=_opt_str(c.get("progid")),
            exists=c.get("exists") is True,
            file_version=_opt_str(c.get("file_version")),
        )
        for c in _list(om, "classes", "objets_metiers.")
    )


def _logon_right(value: Any) -> LogonRight | None:
    if not isinstance(value, Mapping) or not value.get("account"):
        return None
    return LogonRight(
        account=str(value["account"]),
        sid=_opt_str(value.get("sid")),
        granted=_bool(value.get("granted")),
        error=_opt_str(value.get("error")),
    )


def _uninstall(items: list[Mapping[str, Any]]) -> tuple[UninstallEntry, ...]:
    return tuple(
        UninstallEntry(
            display_name=str(i.get("display_name") or ""),
            display_version=_opt_str(i.get("display_version")),
            install_location=_opt_str(i.get("install_location")),
            publisher=_opt_str(i.get("publisher")),
            view=_opt_str(i.get("view")),
        )
        for i in items
        if i.get("display_name")
    )


def parse_facts(doc: Any) -> HostFacts:
    """Turn the snippet's document into typed facts; raise FactsError if it is foreign."""
    if not isinstance(doc, Mapping):
        raise FactsError("facts: the document must be a JSON object")
    if doc.get("schema") != SCHEMA:
        raise FactsError(f"facts: unsupported schema {doc.get('schema')!r} (expected {SCHEMA})")
    host = _map(doc, "host", "")
    tls = _map(doc, "tls", "")
    x64 = _map(tls, "netfx_x64", "tls.")
    x86 = _map(tls, "netfx_x86", "tls.")
    schannel = _map(tls, "schannel_tls12_client", "tls.")
    proxy = _map(doc, "proxy", "")
    sage = _map(doc, "sage", "")
    om = _map(doc, "objets_metiers", "")
    azure = _map(doc, "azure", "")
    agent = _map(doc, "agent", "")
    probes = []
    for p in _list(doc, "probes", ""):
        dns = _map(p, "dns", "probes[].")
        tcp = _map(p, "tcp", "probes[].")
        tls_result = p.get("tls_result")
        addresses = dns.get("addresses") or []
        if isinstance(addresses, str):
            addresses = [addresses]
        probes.append(
            Probe(
                name=str(p.get("name") or ""),
                port=_opt_int(p.get("port")) or 0,
                tls=bool(p.get("tls")),
                dns=DnsProbe(
                    status=_opt_str(dns.get("status")),
                    addresses=tuple(str(a) for a in addresses),
                    error=_opt_str(dns.get("error")),
                ),
                tcp=TcpProbe(
                    ok=_bool(tcp.get("ok")),
                    elapsed_ms=_opt_int(tcp.get("elapsed_ms")),
                    error=_opt_str(tcp.get("error")),
                ),
                tls_result=_tls_probe(tls_result) if isinstance(tls_result, Mapping) else None,
            )
        )
    return HostFacts(
        identity=HostIdentity(
            hostname=_opt_str(host.get("hostname")),
            os_caption=_opt_str(host.get("os_caption")),
            os_version=_opt_str(host.get("os_version")),
            os_build=_opt_int(host.get("os_build")),
            powershell_version=_opt_str(host.get("powershell_version")),
            language_mode=_opt_str(host.get("language_mode")),
            utc_now=_opt_str(host.get("utc_now")),
            domain=_opt_str(host.get("domain")),
            part_of_domain=_bool(host.get("part_of_domain")),
        ),
        drives=tuple(
            Drive(
                name=str(d.get("name") or ""),
                drive_type=str(d.get("drive_type") or "unknown"),
                free_bytes=_opt_int(d.get("free_bytes")),
                size_bytes=_opt_int(d.get("size_bytes")),
                provider=_opt_str(d.get("provider")),
            )
            for d in _list(doc, "drives", "")
        ),
        dotnet_release=_opt_int(_map(doc, "dotnet", "").get("release")),
        tls=TlsSettings(
            netfx_x64_strong_crypto=_opt_int(x64.get("SchUseStrongCrypto")),
            netfx_x64_system_default=_opt_int(x64.get("SystemDefaultTlsVersions")),
            netfx_x86_strong_crypto=_opt_int(x86.get("SchUseStrongCrypto")),
            netfx_x86_system_default=_opt_int(x86.get("SystemDefaultTlsVersions")),
            schannel_tls12_enabled=_opt_int(schannel.get("Enabled")),
            schannel_tls12_disabled_by_default=_opt_int(schannel.get("DisabledByDefault")),
        ),
        winhttp_proxy=_opt_str(proxy.get("winhttp_proxy")),
        winhttp_bypass=_opt_str(proxy.get("winhttp_bypass")),
        sage_uninstall=_uninstall(_list(sage, "uninstall", "sage.")),
        sage_products=tuple(
            SageProduct(product=str(p.get("product") or ""), path=_opt_str(p.get("path")))
            for p in _list(sage, "products", "sage.")
        ),
        sage_executables=tuple(
            Executable(
                name=str(e.get("name") or ""),
                path=_opt_str(e.get("path")),
                product_version=_opt_str(e.get("product_version")),
            )
            for e in _list(sage, "executables", "sage.")
        ),
        objets_metiers_files=tuple(
            FileVersion(path=str(f.get("path") or ""), file_version=_opt_str(f.get("file_version")))
            for f in _list(om, "files", "objets_metiers.")
        ),
        objets_metiers_uninstall=_uninstall(_list(om, "uninstall", "objets_metiers.")),
        objets_metiers_classes=_classes(om),
        azure_guest_agent=_bool(azure.get("guest_agent_service")),
        azure_registry_key=_bool(azure.get("azure_registry_key")),
        spc_marker=_bool(azure.get("spc_marker")),
        agent=Agent(
            service_name=_opt_str(agent.get("service_name")),
            installed=bool(agent.get("installed")),
            state=_opt_str(agent.get("state")),
            start_mode=_opt_str(agent.get("start_mode")),
            account=_opt_str(agent.get("account")),
            version=_opt_str(agent.get("version")),
            path=_opt_str(agent.get("path")),
            matched_by=_opt_str(agent.get("matched_by")),
            candidates=_names(agent.get("candidates")),
        ),
        mae_files=tuple(
            MaeFile(
                path=str(m.get("path") or ""),
                exists=bool(m.get("exists")),
                size=_opt_int(m.get("size")),
                drive_type=_opt_str(m.get("drive_type")),
                unc=bool(m.get("unc")),
                mapped_drive=bool(m.get("mapped_drive")),
                serveur_sql=_opt_str(m.get("serveur_sql")),
                type=_opt_str(m.get("type")),
                database=_opt_str(m.get("database")),
                verifiable=m.get("verifiable") is not False,
            )
            for m in _list(doc, "mae_files", "")
        ),
        probes=tuple(probes),
        service_logon_right=_logon_right(doc.get("service_logon_right")),
        raw=doc,
    )
