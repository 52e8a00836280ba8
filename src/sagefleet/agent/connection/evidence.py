"""What the ``agent_connections`` snippet saw on the host, read into records: the agent's
process, its TCP connections, what the endpoints resolve to, the proxy its account uses."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# -- evidence ---------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    """A list from PowerShell, which unwraps a one-element array."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def parse_time(text: Any) -> dt.datetime | None:
    if not text:
        return None
    value = str(text).strip()
    # .NET's 'o' format has seven fractional digits; Python reads six.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Proxy:
    """One set of Internet Options proxy values (None fields: not set)."""

    enabled: bool
    server: str | None
    bypass: str | None = None

    @classmethod
    def of(cls, data: Any) -> Proxy | None:
        if not isinstance(data, Mapping):
            return None
        return cls(
            bool(data.get("enabled")), data.get("server") or None, data.get("bypass") or None
        )

    @property
    def active(self) -> str | None:
        return self.server if self.enabled and self.server else None


@dataclass(frozen=True)
class Route:
    """The proxy the service's account would use, and where that setting comes from."""

    server: str | None
    source: str  # machine, user, winhttp, direct
    account_readable: bool = True


@dataclass(frozen=True)
class Connection:
    remote_address: str
    remote_port: int
    state: str

    @property
    def established(self) -> bool:
        return self.state.lower() == "established"


@dataclass
class Evidence:
    """The snippet's document, typed."""

    service_exists: bool
    service_name: str | None
    state: str | None
    account: str | None
    account_sid: str | None
    candidates: tuple[str, ...]
    process_id: int
    started: dt.datetime | None
    process_error: str | None
    now: dt.datetime | None
    tcp_source: str | None
    tcp_error: str | None
    connections: list[Connection]
    resolved: dict[str, tuple[str, ...]]
    resolve_errors: dict[str, str]
    winhttp: str | None
    winhttp_bypass: str | None
    per_user: int | None
    machine: Proxy | None
    account_loaded: bool
    account_proxy: Proxy | None
    current_user: str | None
    current_sid: str | None
    current_proxy: Proxy | None
    proxy_addresses: dict[tuple[str, int], tuple[str, ...]]
    probes: list[dict[str, Any]] = field(default_factory=list)
    log: dict[str, Any] | None = None

    @property
    def age_s(self) -> float | None:
        if self.started is None or self.now is None:
            return None
        return (self.now - self.started).total_seconds()


def parse(document: Mapping[str, Any]) -> Evidence:
    service = document.get("service") or {}
    process = document.get("process") or {}
    tcp = document.get("tcp") or {}
    proxy = document.get("proxy") or {}
    policy = proxy.get("machine_policy") or {}
    account = proxy.get("account") or {}
    current = proxy.get("current_user") or {}
    resolved: dict[str, tuple[str, ...]] = {}
    errors: dict[str, str] = {}
    for entry in _list(document.get("resolved")):
        name = str(entry.get("name") or "").lower()
        resolved[name] = tuple(str(a) for a in _list(entry.get("addresses")))
        if entry.get("error"):
            errors[name] = str(entry["error"])
    per_user = policy.get("per_user")
    return Evidence(
        service_exists=bool(service.get("exists")),
        service_name=service.get("name"),
        state=service.get("state"),
        account=service.get("account") or None,
        account_sid=service.get("account_sid"),
        candidates=tuple(str(c) for c in _list(service.get("candidates"))),
        process_id=int(service.get("process_id") or 0),
        started=parse_time(process.get("started_utc")),
        process_error=process.get("error"),
        now=parse_time(document.get("now_utc")),
        tcp_source=tcp.get("source"),
        tcp_error=tcp.get("error"),
        connections=[
            Connection(
                str(c.get("remote_address")),
                int(c.get("remote_port") or 0),
                str(c.get("state") or ""),
            )
            for c in _list(tcp.get("connections"))
        ],
        resolved=resolved,
        resolve_errors=errors,
        winhttp=(proxy.get("winhttp") or {}).get("server") or None,
        winhttp_bypass=(proxy.get("winhttp") or {}).get("bypass") or None,
        per_user=per_user if isinstance(per_user, int) else None,
        machine=Proxy.of(policy.get("settings")),
        account_loaded=bool(account.get("loaded")),
        account_proxy=Proxy.of(account.get("settings")),
        current_user=current.get("name"),
        current_sid=current.get("sid"),
        current_proxy=Proxy.of(current.get("settings")),
        proxy_addresses={
            (str(a.get("host") or "").lower(), int(a.get("port") or 0)): tuple(
                str(x) for x in _list(a.get("addresses"))
            )
            for a in _list(proxy.get("addresses"))
        },
        probes=[dict(p) for p in _list(document.get("probes"))],
        log=dict(document["log"]) if isinstance(document.get("log"), Mapping) else None,
    )


def route(evidence: Evidence) -> Route:
    """The proxy the service's account would use (the order in the module's docstring)."""
    if evidence.per_user == 0:
        server = evidence.machine.active if evidence.machine else None
        return Route(server, "machine" if server else "direct")
    readable = evidence.account_loaded
    if readable and evidence.account_proxy and evidence.account_proxy.active:
        return Route(evidence.account_proxy.active, "user")
    if evidence.winhttp:
        return Route(evidence.winhttp, "winhttp", readable)
    return Route(None, "direct", readable)


def proxy_for_https(server: str) -> tuple[str, int]:
    """(host, port) of a proxy setting for HTTPS: ``a:8080`` or ``http=a:80;https=b:8443``."""
    entries = [e.strip() for e in server.split(";") if e.strip()]
    chosen = next((e for e in entries if e.lower().startswith("https=")), None)
    if chosen is None:
        chosen = next((e for e in entries if "=" not in e), entries[0] if entries else "")
    chosen = chosen.split("=", 1)[-1].split("://", 1)[-1].rstrip("/")
    name, _, port = chosen.rpartition(":")
    if not name or not port.isdigit():
        return chosen.lower(), 80
    return name.lower(), int(port)
