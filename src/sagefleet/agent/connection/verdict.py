"""SF513's verdict from the evidence: pass, unknown or fail, and a failure's likely cause
(docs/verify.md, "How it decides")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagefleet import catalog
from sagefleet.agent.connection.evidence import (
    Connection,
    Evidence,
    Route,
    parse_time,
    proxy_for_https,
    route,
)
from sagefleet.agent.connection.options import ConnectionOptions
from sagefleet.findings import Finding, Severity, Status

CHECK_ID = "SF513"
TITLE_EN = "Agent connected to the vendor's services"
TITLE_FR = "Agent connecté aux services de l'éditeur"


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
                    f"la négociation TLS avec {name} échoue depuis le serveur ({tls.get('error')})",
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
                    f"exclude {probe.get('name')} from TLS inspection on the proxy or "
                    "firewall (installing the inspecting proxy's root on the host would not "
                    "do: SF303 reports such a root as interception)",
                    f"excluez {probe.get('name')} de l'inspection TLS sur le proxy ou le "
                    "pare-feu (installer la racine du proxy d'inspection sur le serveur ne "
                    "suffit pas : SF303 signale une telle racine comme une interception)",
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
