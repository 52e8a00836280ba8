"""SF513: does the agent hold a connection to its vendor's services? Decided on the bastion.

A Running agent can still be disconnected: its account sits behind another
proxy than the administrator's, a firewall admits the administrator's test but
not the service's traffic, TLS is inspected for that account, or the agent
stopped polling after a SQL login failure. The vendor's settings page then says
"Le serveur ne répond pas". The ``agent_connections`` snippet gathers the
evidence (the agent's process and when it started, its TCP connections, what
the endpoints resolve to on the host, the proxy its account would use, direct
probes when asked, and the last "connected" line of its log when the agent
profile names one); this module decides:

- **pass**: an ESTABLISHED connection to an address a required endpoint (or one
  of its ``firewall_names`` without a wildcard, e.g. an S3 bucket's host name)
  resolves to on the host, on the endpoint's port; or to the proxy the
  service's account uses (the endpoint behind a proxy is not in the TCP
  table); or a line of the agent's log matching the profile's
  ``logs.connected_pattern`` written since the process started and within the
  last window (an older one says nothing about now);
- **unknown** while the process is younger than the window
  (``sagefleet_agent_connect_window_s``), or when the evidence cannot decide
  (no process, a TCP table that could not be read, connections to addresses
  the endpoints no longer resolve to);
- **fail** otherwise, naming the endpoints without a connection and the
  likely cause (DNS, a proxy set for the administrator only, the account's
  proxy, the endpoint unreachable from the host, TLS interception, or the
  agent itself).

Which proxy the agent uses depends on its HTTP stack, which is not public:
sagefleet assumes the order a .NET Framework program on Windows meets (the
machine-wide settings when the policy ``ProxySettingsPerUser`` is 0, else the
account's own Internet Options, else the WinHTTP proxy, else direct).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sagefleet import agent_profile, catalog
from sagefleet.errors import InputError
from sagefleet.findings import Finding, Severity, Status
from sagefleet.variables import value

CHECK_ID = "SF513"
TITLE_EN = "Agent connected to the vendor's services"
TITLE_FR = "Agent connecté aux services de l'éditeur"
WINDOW_VARIABLE = "sagefleet_agent_connect_window_s"
#: Seconds an agent has, from its process start, to show a connection.
DEFAULT_WINDOW_S = 120
MAX_WINDOW_S = 3600
#: Seconds between two looks of the deploy's health gate at a young agent.
POLL_S = 5.0
#: Seconds the health gate waits past the window before it stops asking (a host clock
#: that does not move, a process that restarts for ever).
GRACE_S = 30.0
LOG_TAIL_BYTES = 256 * 1024
LOG_MAX_FILES = 3
PROBE_TIMEOUT_MS = 3000


# -- options ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogSpec:
    """Where the agent logs and what a "connected" line looks like (the agent profile)."""

    folders: tuple[str, ...]
    filter: str
    pattern: str

    def to_param(self) -> dict[str, Any]:
        return {
            "folders": list(self.folders),
            "filter": self.filter,
            "pattern": self.pattern,
            "tail_bytes": LOG_TAIL_BYTES,
            "max_files": LOG_MAX_FILES,
        }


@dataclass(frozen=True)
class ConnectionOptions:
    """What the check needs to know of one host; validated before the host is contacted."""

    lookup: Mapping[str, str | None]
    endpoints: tuple[catalog.Endpoint, ...]
    window_s: int = DEFAULT_WINDOW_S
    log: LogSpec | None = None
    lang: str = "en"
    timeout_ms: int = PROBE_TIMEOUT_MS

    @property
    def required(self) -> list[catalog.Endpoint]:
        return [e for e in self.endpoints if e.required]

    def for_service(self, name: str) -> ConnectionOptions:
        """The same options for the service the facts found (the profile may give a pattern)."""
        return replace(
            self, lookup={"name": name, "image_path_pattern": None, "display_name_pattern": None}
        )


def dotnet_regex_error(pattern: str) -> str | None:
    """Why a .NET pattern (``(?<time>...)`` groups) cannot be read, or None."""
    try:
        re.compile(re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern))
    except re.error as exc:
        return str(exc)
    return None


def window_from(host: str, variables: Mapping[str, Any]) -> int:
    found: int = value(host, variables, WINDOW_VARIABLE)
    return found


def log_spec(host: str, profile: agent_profile.AgentProfile) -> LogSpec | None:
    """The profile's log evidence, when it names a "connected" pattern."""
    logs = profile.section("logs")
    pattern = logs.get("connected_pattern")
    if not pattern:
        return None
    problem = dotnet_regex_error(str(pattern))
    if problem:
        raise InputError(
            f"logs.connected_pattern is not a regular expression ({problem})",
            host=host,
            field="sagefleet_agent_profile logs.connected_pattern",
            value=str(pattern),
            fix="a .NET regular expression; name the line's time with (?<time>...)",
        )
    install_dir = profile.install_dir.replace("/", "\\").rstrip("\\")
    folders = (
        (str(logs["dir"]).replace("{install_dir}", install_dir),)
        if logs.get("dir")
        else (install_dir + "\\logs", install_dir)
    )
    return LogSpec(folders, str(logs.get("file_pattern") or "*.log"), str(pattern))


def options_from(host: str, variables: Mapping[str, Any]) -> ConnectionOptions:
    """The check's options from inventory variables (raises InputError before any contact)."""
    profile = agent_profile.for_host(variables, host=host)
    lang = variables.get("sagefleet_lang", "en")
    return ConnectionOptions(
        lookup=profile.service_lookup,
        endpoints=tuple(catalog.endpoints(variables.get("sagefleet_endpoints"), host=host)),
        window_s=window_from(host, variables),
        log=log_spec(host, profile),
        lang=lang if lang in ("en", "fr") else "en",
    )


def _names(endpoints: Iterable[catalog.Endpoint]) -> list[str]:
    """Every name to resolve on the host: the endpoints and their exact firewall names."""
    names: list[str] = []
    for endpoint in endpoints:
        for name in (endpoint.name, *endpoint.firewall_names):
            if "*" not in name and name.lower() not in names:
                names.append(name.lower())
    return names


def params(options: ConnectionOptions, *, probe: bool = False) -> dict[str, Any]:
    """The snippet's parameters; ``probe`` adds direct probes of the required endpoints."""
    return {
        "service": dict(options.lookup),
        "names": _names(options.endpoints),
        "probes": [{"name": e.name, "port": e.port} for e in options.required] if probe else [],
        "timeout_ms": options.timeout_ms,
        "log": options.log.to_param() if options.log else None,
    }


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


# -- the verdict --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """SF513 on one host: its status, words in the user's language, what it saw."""

    status: Status
    message: str
    remediation: str = ""
    #: dns, proxy-admin-only, proxy, unreachable, tls, agent (a failure's likely cause).
    cause: str | None = None
    #: The required endpoints without a connection (a failure names them).
    missing: tuple[str, ...] = ()
    #: Unknown only because the agent is younger than the window (the gate waits).
    young: bool = False
    #: A failure's likely cause, in words (the message ends with it).
    cause_words: str = ""
    observed: Mapping[str, Any] = field(default_factory=dict)

    def finding(self, lang: str = "en") -> Finding:
        return Finding(
            check_id=CHECK_ID,
            status=self.status,
            severity=Severity.ERROR,
            title=TITLE_FR if lang == "fr" else TITLE_EN,
            message=self.message,
            remediation=self.remediation,
            observed=dict(self.observed),
        )


def _t(lang: str, en: str, fr: str) -> str:
    return fr if lang == "fr" else en


def _addresses(evidence: Evidence, endpoint: catalog.Endpoint) -> set[str]:
    found: set[str] = set()
    for name in (endpoint.name, *endpoint.firewall_names):
        found |= set(evidence.resolved.get(name.lower(), ()))
    return found


def route_words(lang: str, where: Route, evidence: Evidence) -> str:
    account = evidence.account or "?"
    if where.server:
        source = {
            "machine": _t(lang, "machine-wide policy", "stratégie machine"),
            "user": _t(lang, f"{account}'s Internet Options", f"options Internet de {account}"),
            "winhttp": "WinHTTP",
        }[where.source]
        return _t(lang, f"proxy {where.server} ({source})", f"proxy {where.server} ({source})")
    words = _t(lang, "no proxy (direct)", "aucun proxy (accès direct)")
    if not where.account_readable:
        words += _t(
            lang,
            f"; {account}'s own settings not readable (its profile is not loaded)",
            f" ; paramètres propres de {account} illisibles (profil non chargé)",
        )
    return words


def likely_cause(evidence: Evidence, options: ConnectionOptions) -> tuple[str, str, str]:
    """(cause, what it says, what to do) of a disconnected agent, most specific first."""
    lang = options.lang
    account = evidence.account or "?"
    where = route(evidence)
    required = options.required
    for endpoint in required:
        error = evidence.resolve_errors.get(endpoint.name.lower())
        if error:
            return (
                "dns",
                _t(
                    lang,
                    f"DNS: {endpoint.name} does not resolve on the host ({error})",
                    f"DNS : {endpoint.name} ne se résout pas sur le serveur ({error})",
                ),
                _t(
                    lang,
                    "fix the host's DNS resolution of the endpoints (see SF301)",
                    "corrigez la résolution DNS des services sur le serveur (voir SF301)",
                ),
            )
    admin = evidence.current_proxy.active if evidence.current_proxy else None
    if (
        where.server is None
        and admin
        and (evidence.current_sid or "").upper() != (evidence.account_sid or "").upper()
    ):
        user = evidence.current_user or "the WinRM account"
        return (
            "proxy-admin-only",
            _t(
                lang,
                f"a proxy is set for {user} ({admin}, its Internet Options) but neither for "
                f"WinHTTP nor for the service's account {account}: the agent connects directly",
                f"un proxy est défini pour {user} ({admin}, ses options Internet) mais ni pour "
                f"WinHTTP ni pour le compte du service {account} : l'agent sort en direct",
            ),
            _t(
                lang,
                f"give the service its proxy: `netsh winhttp set proxy {admin}`, or the "
                f"machine-wide policy (ProxySettingsPerUser=0 with the machine's settings), "
                f"or {account}'s own Internet Options; then restart the agent",
                f"donnez son proxy au service : `netsh winhttp set proxy {admin}`, ou la "
                f"stratégie machine (ProxySettingsPerUser=0 et les paramètres machine), ou "
                f"les options Internet de {account} ; puis redémarrez l'agent",
            ),
        )
    if where.server is not None:
        host, port = proxy_for_https(where.server)
        addresses = evidence.proxy_addresses.get((host, port), ())
        state = (
            _t(lang, "which does not resolve on the host", "qui ne se résout pas")
            if (not addresses)
            else _t(
                lang, "which the agent holds no connection to", "auquel l'agent n'est pas connecté"
            )
        )
        return (
            "proxy",
            _t(
                lang,
                f"the agent's account goes through proxy {where.server} ({where.source}), {state}",
                f"le compte de l'agent passe par le proxy {where.server} ({where.source}), {state}",
            ),
            _t(
                lang,
                f"check that {host}:{port} is reachable from the host and lets "
                f"{account} through to the endpoints (authentication, TLS inspection)",
                f"vérifiez que {host}:{port} est joignable depuis le serveur et laisse passer "
                f"{account} vers les services (authentification, inspection TLS)",
            ),
        )
    for probe in evidence.probes:
        tcp = probe.get("tcp") or {}
        name = f"{probe.get('name')}:{probe.get('port')}"
        if not tcp.get("ok"):
            return (
                "unreachable",
                _t(
                    lang,
                    f"{name} is not reachable from the host ({tcp.get('error')})",
                    f"{name} n'est pas joignable depuis le serveur ({tcp.get('error')})",
                ),
                _t(
                    lang,
                    f"allow outbound TCP {probe.get('port')} to {probe.get('name')} "
                    "on the firewall (see SF302)",
                    f"autorisez le TCP sortant {probe.get('port')} vers {probe.get('name')} "
                    "sur le pare-feu (voir SF302)",
                ),
            )
        tls = probe.get("tls") or {}
        errors = tls.get("policy_errors")
        if tls and not tls.get("ok"):
            return (
                "tls",
                _t(
                    lang,
                    f"the TLS handshake with {name} fails as the host makes it "
                    f"({tls.get('error')})",
                    f"la négociation TLS avec {name} échoue depuis le serveur "
                    f"({tls.get('error')})",
                ),
                _t(
                    lang,
                    "let the host speak TLS 1.2 (see SF102, SF103) and check what sits on the "
                    "way (SF303)",
                    "permettez le TLS 1.2 au serveur (voir SF102, SF103) et vérifiez ce qui se "
                    "trouve sur le chemin (SF303)",
                ),
            )
        if tls and errors and errors != "None":
            return (
                "tls",
                _t(
                    lang,
                    f"the host does not trust the certificate {name} presents ({errors}): "
                    "TLS interception?",
                    f"le serveur ne fait pas confiance au certificat présenté par {name} "
                    f"({errors}) : interception TLS ?",
                ),
                _t(
                    lang,
                    f"exclude {probe.get('name')} from TLS inspection, or install the "
                    "inspecting proxy's CA in the host's Root store (see SF303)",
                    f"excluez {probe.get('name')} de l'inspection TLS, ou installez l'AC du "
                    "proxy d'inspection dans le magasin Root du serveur (voir SF303)",
                ),
            )
    pending = [c for c in evidence.connections if c.state.lower() == "synsent"]
    if pending:
        target = ", ".join(sorted({f"{c.remote_address}:{c.remote_port}" for c in pending}))
        return (
            "unreachable",
            _t(
                lang,
                f"the agent's connections to {target} stay SYN_SENT: dropped on the way "
                f"for {account} (a firewall that admits other accounts?)",
                f"les connexions de l'agent vers {target} restent en SYN_SENT : bloquées pour "
                f"{account} (un pare-feu qui laisse passer d'autres comptes ?)",
            ),
            _t(
                lang,
                f"allow the service's traffic ({account}) out to the endpoints",
                f"autorisez le trafic du service ({account}) vers les services",
            ),
        )
    return (
        "agent",
        _t(
            lang,
            "the host reaches the endpoints, yet the agent holds no connection: the agent "
            "itself (its SQL login, settings.json)",
            "le serveur joint les services, mais l'agent n'a aucune connexion : l'agent "
            "lui-même (sa connexion SQL, settings.json)",
        ),
        _t(
            lang,
            "read the agent's log; run playbooks/diagnose.yml for the step-by-step",
            "lisez le journal de l'agent ; lancez playbooks/diagnose.yml pour le pas à pas",
        ),
    )


def evaluate(evidence: Evidence, options: ConnectionOptions) -> Verdict:
    """SF513 from the evidence of one look at the host."""
    lang = options.lang
    name = evidence.service_name or "the agent's service"
    if len(evidence.candidates) > 1:
        return Verdict(
            Status.UNKNOWN,
            _t(
                lang,
                f"several services match the agent profile: {', '.join(evidence.candidates)}",
                f"plusieurs services correspondent au profil de l'agent : "
                f"{', '.join(evidence.candidates)}",
            ),
        )
    if not evidence.service_exists:
        return Verdict(
            Status.FAIL,
            _t(
                lang,
                "the agent's service is not installed (SF501)",
                "le service de l'agent n'est pas installé (SF501)",
            ),
            _t(lang, "install the agent", "installez l'agent"),
            cause="service",
            missing=_missing(options),
        )
    if (evidence.state or "").lower() != "running" or not evidence.process_id:
        return Verdict(
            Status.FAIL,
            _t(
                lang,
                f"{name} is {evidence.state}: a stopped agent holds no connection (SF502)",
                f"{name} est {evidence.state} : un agent arrêté n'a aucune connexion (SF502)",
            ),
            _t(lang, "start the agent's service", "démarrez le service de l'agent"),
            cause="service",
            missing=_missing(options),
        )
    age = evidence.age_s
    observed: dict[str, Any] = {
        "age_s": None if age is None else round(age),
        "window_s": options.window_s,
        "tcp_source": evidence.tcp_source,
    }
    where = route(evidence)
    observed["proxy"] = where.server
    observed["proxy_source"] = where.source
    held = [c for c in evidence.connections if c.established]
    matched: dict[str, list[Connection]] = {}
    for endpoint in options.required:
        addresses = _addresses(evidence, endpoint)
        hits = [c for c in held if c.remote_address in addresses and c.remote_port == endpoint.port]
        if hits:
            matched[f"{endpoint.name}:{endpoint.port}"] = hits
    running = (
        _t(lang, f"running for {age:.0f} s", f"démarré depuis {age:.0f} s")
        if (age is not None)
        else _t(lang, "running since an unknown time", "démarré depuis une durée inconnue")
    )
    if matched:
        observed["connected"] = sorted(matched)
        listed = ", ".join(
            f"{n} ({', '.join(sorted({c.remote_address for c in cs}))})"
            for n, cs in sorted(matched.items())
        )
        absent = [
            f"{e.name}:{e.port}" for e in options.required if f"{e.name}:{e.port}" not in matched
        ]
        note = (
            _t(lang, f"; none to {', '.join(absent)}", f" ; aucune vers {', '.join(absent)}")
            if (absent)
            else ""
        )
        return Verdict(
            Status.PASS,
            _t(
                lang,
                f"connected to {listed}; {running}{note}",
                f"connecté à {listed} ; {running}{note}",
            ),
            observed=observed,
        )
    if where.server:
        host, port = proxy_for_https(where.server)
        addresses = set(evidence.proxy_addresses.get((host, port), ()))
        hits = [c for c in held if c.remote_address in addresses and c.remote_port == port]
        if hits:
            observed["connected"] = [f"proxy {host}:{port}"]
            return Verdict(
                Status.PASS,
                _t(
                    lang,
                    f"holds {len(hits)} connection(s) through its proxy {where.server} "
                    f"({where.source}): the endpoint behind a proxy is not in the TCP table; "
                    f"{running}",
                    f"{len(hits)} connexion(s) par son proxy {where.server} ({where.source}) : "
                    f"le service joint derrière un proxy n'apparaît pas dans la table TCP ; "
                    f"{running}",
                ),
                observed=observed,
            )
    log = evidence.log or {}
    if log_is_fresh(evidence, options):
        observed["log"] = {"path": log.get("path"), "time_utc": log.get("time_utc")}
        return Verdict(
            Status.PASS,
            _t(
                lang,
                f"its log says it connected at {log.get('time_utc')} ({log.get('path')}); "
                f"{running}",
                f"son journal indique une connexion à {log.get('time_utc')} ({log.get('path')}) ; "
                f"{running}",
            ),
            observed=observed,
        )
    if evidence.started is None or age is None:
        return Verdict(
            Status.UNKNOWN,
            _t(
                lang,
                f"the start time of {name}'s process could not be read ({evidence.process_error})",
                f"l'heure de démarrage du processus de {name} est illisible "
                f"({evidence.process_error})",
            ),
            observed=observed,
        )
    if age < options.window_s:
        return Verdict(
            Status.UNKNOWN,
            _t(
                lang,
                f"no connection yet, {running} (window {options.window_s} s)",
                f"pas encore de connexion, {running} (fenêtre de {options.window_s} s)",
            ),
            young=True,
            observed=observed,
        )
    if evidence.tcp_error:
        return Verdict(
            Status.UNKNOWN,
            _t(
                lang,
                f"the TCP table could not be read ({evidence.tcp_source}: {evidence.tcp_error})",
                f"la table TCP est illisible ({evidence.tcp_source} : {evidence.tcp_error})",
            ),
            observed=observed,
        )
    elsewhere = [c for c in held if c.remote_port in {e.port for e in options.required}]
    if elsewhere:
        listed = ", ".join(sorted({f"{c.remote_address}:{c.remote_port}" for c in elsewhere}))
        return Verdict(
            Status.UNKNOWN,
            _t(
                lang,
                f"connected to {listed}, addresses the endpoints do not resolve to on the "
                f"host now (DNS answers that rotate?); {running}",
                f"connecté à {listed}, des adresses auxquelles les services ne se résolvent pas "
                f"sur le serveur en ce moment (DNS tournant ?) ; {running}",
            ),
            observed=observed,
        )
    cause, words, fix = likely_cause(evidence, options)
    missing = _missing(options)
    observed["cause"] = cause
    return Verdict(
        Status.FAIL,
        _t(
            lang,
            f"no connection to {', '.join(missing)} after {age:.0f} s (window "
            f"{options.window_s} s; {route_words(lang, where, evidence)}); likely cause: {words}",
            f"aucune connexion vers {', '.join(missing)} après {age:.0f} s (fenêtre "
            f"{options.window_s} s ; {route_words(lang, where, evidence)}) ; cause probable : "
            f"{words}",
        ),
        fix,
        cause=cause,
        missing=missing,
        cause_words=words,
        observed=observed,
    )


def log_is_fresh(evidence: Evidence, options: ConnectionOptions) -> bool:
    """Whether the last "connected" line was written by this process (since its start) and
    within the last window: a line from before a later stop says nothing about now."""
    logged = parse_time((evidence.log or {}).get("time_utc"))
    if logged is None or evidence.started is None or evidence.now is None:
        return False
    since_start = logged >= evidence.started - dt.timedelta(seconds=1)
    recent = (evidence.now - logged).total_seconds() <= max(options.window_s, 1)
    return since_start and recent


def _missing(options: ConnectionOptions) -> tuple[str, ...]:
    return tuple(f"{e.name}:{e.port}" for e in options.required)


# -- running it -----------------------------------------------------------------------------

Runner = Callable[[dict[str, Any]], Mapping[str, Any]]


def look(run: Runner, options: ConnectionOptions) -> tuple[Verdict, Evidence]:
    """One look at the host; a failure is looked at once more with the direct probes, so
    that its likely cause rests on them."""
    evidence = parse(run(params(options)))
    verdict = evaluate(evidence, options)
    if verdict.status is Status.FAIL and verdict.cause not in ("service", None):
        evidence = parse(run(params(options, probe=True)))
        verdict = evaluate(evidence, options)
    return verdict, evidence


def wait_connected(
    run: Runner,
    options: ConnectionOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Verdict, Evidence, int]:
    """The deploy's health gate: look until the agent is connected, or older than the
    window (polling every POLL_S at most, bounded by the window plus GRACE_S).

    Returns the verdict, its evidence and how many looks it took.
    """
    deadline = clock() + options.window_s + GRACE_S
    looks = 0
    while True:
        verdict, evidence = look(run, options)
        looks += 1
        if not verdict.young:
            return verdict, evidence, looks
        remaining = deadline - clock()
        if remaining <= 0:
            return (
                replace(
                    verdict,
                    young=False,
                    message=verdict.message
                    + _t(
                        options.lang,
                        f"; still none {options.window_s + GRACE_S:.0f} s after the "
                        "gate began (the host's clock or the agent's process keeps restarting?)",
                        f" ; toujours aucune {options.window_s + GRACE_S:.0f} s après le début du "
                        "contrôle (horloge du serveur ou processus de l'agent qui redémarre ?)",
                    ),
                ),
                evidence,
                looks,
            )
        age = evidence.age_s or 0.0
        sleep(max(0.2, min(POLL_S, options.window_s - age + 0.5, remaining)))
