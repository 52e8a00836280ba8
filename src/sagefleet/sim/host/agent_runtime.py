"""The simulated agent program while its service runs: its connections and its log.

Which endpoints it holds under its account's network policy and proxy, when, and its
stand-in log: docs/simulator.md, "What is simulated" (the agent at run time).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import math
from dataclasses import dataclass

from sagefleet.sim.host import (
    LOCAL_SERVICE,
    NETWORK_SERVICE,
    SYSTEM,
    ModelError,
    Service,
    WindowsHost,
)
from sagefleet.sim.host.products import (
    AGENT_EXE,
    INTERNET_SETTINGS,
    PROXY_POLICY_KEY,
    SCHANNEL_TLS12,
    USER_SID,
)
from sagefleet.sim.host.x509 import callback_view

#: The endpoints the agent holds a connection to while it polls (S3: only to move files).
HELD_ENDPOINTS = ("sqs.eu-west-3.amazonaws.com", "api.chift.eu")
#: The host's own address as its TCP table shows it (a documentation address).
LOCAL_ADDRESS = "192.0.2.15"
LOG_NAME = "SpendeskSageAgent.log"
#: .NET's text when the certificate validation fails (AuthenticationException).
CERTIFICATE_INVALID = "The remote certificate is invalid according to the validation procedure."
#: Hives Windows keeps loaded: the service accounts' (LocalSystem's is HKU\.DEFAULT too).
ALWAYS_LOADED = (SYSTEM, LOCAL_SERVICE, NETWORK_SERVICE)


def is_agent(service: Service) -> bool:
    """The simulator's agent program, wherever the profile or an installer put it."""
    return service.executable.replace("/", "\\").rsplit("\\", 1)[-1].lower() == AGENT_EXE.lower()


def agents(host: WindowsHost) -> list[Service]:
    return [s for s in host.services.values() if is_agent(s)]


def account_sid(host: WindowsHost, account: str | None) -> str | None:
    """The SID of a service's logon account, or None when it does not translate."""
    if not account:
        return None
    try:
        return host.resolve_principal(account).upper()
    except ModelError:
        return None


def hive_loaded(host: WindowsHost, sid: str | None) -> bool:
    """Whether HKU\\<SID> is loaded: the service accounts' always, the WinRM account's in its
    session, a user's while a service runs as that user (the SCM loads its profile)."""
    if not sid:
        return False
    if sid.upper() in ALWAYS_LOADED or sid.upper() == USER_SID.upper():
        return True
    return any(
        s.state != "Stopped" and account_sid(host, s.process_account or s.account) == sid.upper()
        for s in host.services.values()
    )


@dataclass(frozen=True)
class ProxySettings:
    """One set of Internet Options (WinINET) proxy values, as the registry holds them."""

    enabled: bool
    server: str | None
    bypass: str | None
    auto_config_url: str | None


def proxy_settings(host: WindowsHost, key: str) -> ProxySettings | None:
    """The values under ``key`` (``HKU\\<SID>\\...\\Internet Settings`` or HKLM's)."""
    if not host.registry.key_exists(key):
        return None
    reg = host.registry
    enabled = reg.get(key, "ProxyEnable")

    def text(name: str) -> str | None:
        value = reg.get(key, name)
        return str(value) if value not in (None, "") else None

    return ProxySettings(
        enabled=enabled == 1,
        server=text("ProxyServer"),
        bypass=text("ProxyOverride"),
        auto_config_url=text("AutoConfigURL"),
    )


def machine_policy(host: WindowsHost) -> int | None:
    value = host.registry.get(PROXY_POLICY_KEY, "ProxySettingsPerUser")
    return value if isinstance(value, int) else None


@dataclass(frozen=True)
class Route:
    """How an account's HTTPS leaves the host: a proxy (and where its setting is), or direct."""

    proxy: str | None
    source: str  # machine, user, winhttp, direct


def route(host: WindowsHost, sid: str | None) -> Route:
    """The proxy the account's program uses, in the order documented in the module."""
    if machine_policy(host) == 0:
        machine = proxy_settings(host, f"HKLM\\{INTERNET_SETTINGS}")
        if machine is not None and machine.enabled and machine.server:
            return Route(machine.server, "machine")
        return Route(None, "direct")
    if sid and hive_loaded(host, sid):
        user = proxy_settings(host, f"HKU\\{sid}\\{INTERNET_SETTINGS}")
        if user is not None and user.enabled and user.server:
            return Route(user.server, "user")
    if host.network.winhttp_proxy:
        return Route(host.network.winhttp_proxy, "winhttp")
    return Route(None, "direct")


def proxy_for_https(server: str) -> tuple[str, int]:
    """(host, port) of a proxy setting for HTTPS: ``a:8080`` or ``http=a:80;https=b:8443``."""
    entries = [e.strip() for e in server.split(";") if e.strip()]
    chosen = next((e for e in entries if e.lower().startswith("https=")), None)
    if chosen is None:
        chosen = next((e for e in entries if "=" not in e), entries[0] if entries else "")
    chosen = chosen.split("=", 1)[-1]
    chosen = chosen.split("://", 1)[-1].rstrip("/")
    name, _, port = chosen.rpartition(":")
    if not name or not port.isdigit():
        return chosen, 80
    return name, int(port)


def bypassed(name: str, bypass: str | None) -> bool:
    """Whether ``name`` is in a proxy bypass list (``<local>``: names without a dot)."""
    for entry in (bypass or "").replace(",", ";").split(";"):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "<local>" and "." not in name:
            return True
        if fnmatch.fnmatchcase(name.lower(), entry):
            return True
    return False


@dataclass(frozen=True)
class Reach:
    """What one attempt of the agent to reach an endpoint gives."""

    ok: bool
    remote_address: str | None = None
    remote_port: int | None = None
    error: str | None = None  # dns, timeout, refused, unreachable, tls, sql
    detail: str | None = None


def _bypass_of(host: WindowsHost, where: Route, sid: str | None) -> str | None:
    if where.source == "winhttp":
        return host.network.winhttp_bypass
    key = (
        f"HKLM\\{INTERNET_SETTINGS}"
        if where.source == "machine"
        else (f"HKU\\{sid}\\{INTERNET_SETTINGS}")
    )
    settings = proxy_settings(host, key)
    return settings.bypass if settings else None


def reach(host: WindowsHost, sid: str | None, name: str, port: int = 443) -> Reach:
    """Whether the account's program reaches ``name`` over HTTPS, and through which address."""
    policy = host.network.for_account(sid)
    where = route(host, sid)
    target, target_port = name, port
    if where.proxy and not bypassed(name, _bypass_of(host, where, sid)):
        target, target_port = proxy_for_https(where.proxy)
    dns = policy.resolve(target)
    if dns.status != "ok" or not dns.addresses:
        return Reach(False, error="dns", detail=f"{target}: {dns.error or dns.status}")
    address = dns.addresses[0]
    tcp = policy.connect(target, target_port)
    if not tcp.ok:
        return Reach(
            False, address, target_port, tcp.error or "unreachable", f"{target}:{target_port}"
        )
    # Through a proxy the TLS session is the endpoint's (CONNECT), inspected or not.
    tls = policy.handshake(name, port, ("TLSv1.2",) if tls12_allowed(host) else ())
    if not tls.ok:
        return Reach(False, address, target_port, "tls", tls.error)
    view = callback_view(name, tls.chain, host.cert_stores, host.utc_now())
    if view["policy_errors"] != "None":
        return Reach(False, address, target_port, "tls", CERTIFICATE_INVALID)
    return Reach(True, address, target_port)


def tls12_allowed(host: WindowsHost) -> bool:
    """Schannel's TLS 1.2 client switch (Enabled=0 forbids it to every program)."""
    return host.registry.get(SCHANNEL_TLS12, "Enabled") != 0


def _age_simulated(host: WindowsHost, service: Service) -> float:
    """Simulated seconds since the service's process started (infinite at time_scale 0)."""
    if service.process_started is None:
        return 0.0
    real = (host.utc_now() - service.process_started).total_seconds()
    if host.time_scale <= 0:
        return math.inf
    return max(0.0, real) / host.time_scale


def _polling(host: WindowsHost, service: Service) -> bool:
    """Whether the agent is past its start and still polling."""
    if service.state != "Running" or not service.process_id:
        return False
    age = _age_simulated(host, service)
    behaviour = host.agent_behaviour
    if age < behaviour.connect_after_s:
        return False
    return not (behaviour.sql_login == "failed" and age >= behaviour.stop_after_s)


@dataclass(frozen=True)
class TcpRow:
    """One row of the host's TCP table (Get-NetTCPConnection / netstat -ano)."""

    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    state: str  # Established, SynSent... (MSFT_NetTCPConnection's State names)
    owning_process: int


def connections(host: WindowsHost, service: Service) -> list[TcpRow]:
    """The agent process's TCP connections now."""
    if not is_agent(service) or not _polling(host, service):
        return []
    sid = account_sid(host, service.process_account or service.account)
    rows = []
    for index, name in enumerate(HELD_ENDPOINTS):
        found = reach(host, sid, name)
        if found.remote_address is None or found.remote_port is None:
            continue
        state = "Established" if found.ok else ("SynSent" if found.error == "timeout" else None)
        if state is None:
            continue
        rows.append(
            TcpRow(
                LOCAL_ADDRESS,
                49700 + (service.process_id % 200) + index,
                found.remote_address,
                found.remote_port,
                state,
                service.process_id,
            )
        )
    return rows


def _events(host: WindowsHost, service: Service) -> list[tuple[float, str, str]]:
    """(simulated seconds after start, level, text) of what the agent logs."""
    behaviour = host.agent_behaviour
    events: list[tuple[float, str, str]] = [(0.0, "INFO", f"service {service.name} started")]
    sid = account_sid(host, service.process_account or service.account)
    at = behaviour.connect_after_s
    for name in HELD_ENDPOINTS:
        found = reach(host, sid, name)
        if found.ok:
            events.append((at, "INFO", f"connected to {name}"))
        else:
            events.append((at, "ERROR", f"cannot reach {name}: {found.error} ({found.detail})"))
    if behaviour.sql_login == "failed":
        events.append((at, "ERROR", "SQL login failed for the connection's SQL user"))
        events.append((behaviour.stop_after_s, "WARN", "polling stopped"))
    return events


def advance(host: WindowsHost) -> None:
    """Write the log lines of every running agent whose moment has come."""
    with host.lock:
        for service in agents(host):
            if not host.agent_behaviour.log or not service.process_id:
                continue
            if service.process_started is None:
                continue
            age = _age_simulated(host, service)
            done = host.agent_log_written.get(service.process_id, 0)
            due = [e for e in _events(host, service) if e[0] <= age]
            if len(due) <= done:
                continue
            folder = service.executable.replace("/", "\\").rsplit("\\", 1)[0] + "\\logs"
            path = f"{folder}\\{LOG_NAME}"
            try:
                host.fs.mkdir(folder)
                old = host.fs.read(path) if host.fs.is_file(path) else b""
                lines = []
                for offset, level, text in due[done:]:
                    when = service.process_started + dt.timedelta(
                        seconds=offset * max(host.time_scale, 0.0)
                    )
                    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
                    lines.append(f"{stamp} {level} {text}\r\n")
                host.fs.write(path, old + "".join(lines).encode("utf-8"), reserve_space=False)
            except ModelError:
                continue  # a full disk or a locked folder: the agent loses its log lines
            host.agent_log_written[service.process_id] = len(due)
