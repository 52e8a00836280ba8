"""Typed facts of one host, parsed from the ``facts`` snippet's JSON document.

The contract between the Windows side (snippets/facts.ps1 and its simulator
model) and the checks; its shape is schemas/snippets/facts.schema.json. A value
missing or of the wrong kind is None ("not reported": the check says unknown),
never guessed. See docs/checks.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

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


T = TypeVar("T")


Readers = tuple[tuple[str, Callable[[Any], Any]], ...]
_READERS: dict[type, Readers] = {}


def _members(cls: type) -> Readers:
    """How each scalar field of the record ``cls`` is read from the document's member of
    the same name, by its declared type; other fields are given by the caller."""
    known = _READERS.get(cls)
    if known is not None:
        return known
    readers: list[tuple[str, Callable[[Any], Any]]] = []
    for item in fields(cls):
        default = item.default
        reader: Callable[[Any], Any] | None = {
            "str | None": _opt_str,
            "int | None": _opt_int,
            "bool | None": _bool,
            "int": lambda value: _opt_int(value) or 0,
            "str": lambda value, d=default: str(value or (d if isinstance(d, str) else "")),
            # True unless reported false (a member older documents lack), else false unless true
            "bool": (lambda value: value is not False) if default is True else bool,
        }.get(str(item.type))
        if reader is not None:
            readers.append((item.name, reader))
    _READERS[cls] = tuple(readers)
    return _READERS[cls]


def _record(cls: type[T], data: Mapping[str, Any], **given: Any) -> T:
    """The record ``cls`` from one object of the document, member by member; ``given``
    holds the fields read otherwise."""
    values = {name: read(data.get(name)) for name, read in _members(cls) if name not in given}
    return cls(**values, **given)


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
class RecordFile:
    """The failed-install record as the facts script read it, read only
    (sagefleet/deploy/record.py): its text, its absence, or why it could not be read."""

    path: str
    exists: bool = False
    text: str | None = None
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
    #: Every install of the vendor's agent by its uninstall entry (the agent profile's
    #: vendor pattern); None: not reported (no pattern given, or an earlier document).
    agent_installs: tuple[UninstallEntry, ...] | None = None
    #: The failed-install record; None: not reported (no path given, or an earlier document).
    failed_install: RecordFile | None = None
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
    chain = _list(data, "chain", "probes[].tls_result.")
    return _record(
        TlsProbe,
        data,
        chain_status=_strings(data.get("chain_status")),
        chain=tuple(_record(ChainElement, c) for c in chain),
    )


def _classes(om: Mapping[str, Any]) -> tuple[ComClass, ...] | None:
    if "classes" not in om:
        return None
    return tuple(
        _record(ComClass, c, exists=c.get("exists") is True)
        for c in _list(om, "classes", "objets_metiers.")
    )


def _logon_right(value: Any) -> LogonRight | None:
    if not isinstance(value, Mapping) or not value.get("account"):
        return None
    return _record(LogonRight, value)


def _record_file(value: Any) -> RecordFile | None:
    if not isinstance(value, Mapping) or not value.get("path"):
        return None
    return _record(RecordFile, value, exists=value.get("exists") is True)


def _uninstall(items: list[Mapping[str, Any]]) -> tuple[UninstallEntry, ...]:
    return tuple(_record(UninstallEntry, i) for i in items if i.get("display_name"))


def _probe(p: Mapping[str, Any]) -> Probe:
    dns = _map(p, "dns", "probes[].")
    tcp = _map(p, "tcp", "probes[].")
    tls_result = p.get("tls_result")
    addresses = dns.get("addresses") or []
    if isinstance(addresses, str):
        addresses = [addresses]
    return _record(
        Probe,
        p,
        dns=_record(DnsProbe, dns, addresses=tuple(str(a) for a in addresses)),
        tcp=_record(TcpProbe, tcp),
        tls_result=_tls_probe(tls_result) if isinstance(tls_result, Mapping) else None,
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
    probes = tuple(_probe(p) for p in _list(doc, "probes", ""))
    return HostFacts(
        identity=_record(HostIdentity, host),
        drives=tuple(_record(Drive, d) for d in _list(doc, "drives", "")),
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
        sage_products=tuple(_record(SageProduct, p) for p in _list(sage, "products", "sage.")),
        sage_executables=tuple(
            _record(Executable, e) for e in _list(sage, "executables", "sage.")
        ),
        objets_metiers_files=tuple(
            _record(FileVersion, f) for f in _list(om, "files", "objets_metiers.")
        ),
        objets_metiers_uninstall=_uninstall(_list(om, "uninstall", "objets_metiers.")),
        objets_metiers_classes=_classes(om),
        azure_guest_agent=_bool(azure.get("guest_agent_service")),
        azure_registry_key=_bool(azure.get("azure_registry_key")),
        spc_marker=_bool(azure.get("spc_marker")),
        agent=_record(Agent, agent, candidates=_names(agent.get("candidates"))),
        mae_files=tuple(_record(MaeFile, m) for m in _list(doc, "mae_files", "")),
        probes=probes,
        service_logon_right=_logon_right(doc.get("service_logon_right")),
        agent_installs=(
            _uninstall(_list(agent, "installs", "agent.")) if "installs" in agent else None
        ),
        failed_install=_record_file(doc.get("failed_install")),
        raw=doc,
    )
