"""A disconnected agent explained step by step, and the verdict: which step failed.

The steps of ``playbooks/diagnose.yml`` and how the verdict is reached:
docs/operations.md, "Support bundle". Labels come from report/labels.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagefleet.agent import connection
from sagefleet.findings import Finding, Status, plain
from sagefleet.report.labels import labels_for, typography

STEPS = ("service", "account_proxy", "reachability", "tls", "connections", "logs", "restart")
REACHABILITY_CHECKS = ("SF301", "SF302", "SF304")
TLS_CHECKS = ("SF102", "SF103", "SF303")


@dataclass
class Step:
    step: str
    title: str
    ok: bool | None
    detail: list[str] = field(default_factory=list)
    #: What failed, in words (the verdict quotes it).
    cause: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass
class Diagnosis:
    lang: str
    steps: list[Step]
    #: The first step that failed (None: none did).
    failed: str | None
    #: connected, failed, undecided, unreachable.
    outcome: str
    verdict: str
    #: What was asked but not read on the host, each "what: why" (the verdict says so).
    not_read: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            **plain(self, "lang", "outcome"),
            "failed_step": self.failed,
            "verdict": self.verdict,
            "not_read": list(self.not_read),
            "steps": [s.to_dict() for s in self.steps],
        }

    def text(self) -> str:
        """The diagnosis for people, in its language."""
        labels = labels_for(self.lang)
        marks = {True: labels["diagnose.ok.true"], False: labels["diagnose.ok.false"],
                 None: labels["diagnose.ok.none"]}
        lines = [labels["diagnose.title"], ""]
        for number, step in enumerate(self.steps, 1):
            lines.append(f"{number}. [{marks[step.ok]}] {step.title}")
            lines.extend(f"   - {d}" for d in step.detail)
        lines += ["", self.verdict, ""]
        return typography("\n".join(lines), self.lang)


def _t(lang: str, en: str, fr: str) -> str:
    return fr if lang == "fr" else en


def _proxy_words(lang: str, settings: connection.Proxy | None) -> str:
    if settings is None:
        return _t(lang, "none", "aucun")
    if settings.active:
        return settings.active + (f" (bypass {settings.bypass})" if settings.bypass else "")
    return _t(lang, "none", "aucun")


def _account_step(
    lang: str,
    evidence: connection.Evidence | None,
    verdict: connection.Verdict | None,
) -> tuple[bool | None, list[str], str | None]:
    if evidence is None or not evidence.service_exists:
        return None, [_t(lang, "no service: nothing to read", "aucun service : rien à lire")], None
    account = evidence.account or "?"
    where = connection.route(evidence)
    detail = [
        _t(lang, f"the service runs as {account} ({evidence.account_sid or 'SID unknown'})",
           f"le service tourne sous {account} ({evidence.account_sid or 'SID inconnu'})"),
        _t(lang, f"proxy it would use: {connection.route_words(lang, where, evidence)}",
           f"proxy qu'il utiliserait : {connection.route_words(lang, where, evidence)}"),
        f"WinHTTP: {evidence.winhttp or _t(lang, 'direct access', 'accès direct')}"
        + (f" (bypass {evidence.winhttp_bypass})" if evidence.winhttp_bypass else ""),
        _t(lang, "machine-wide policy (ProxySettingsPerUser=0): "
           + ("yes, " + _proxy_words(lang, evidence.machine) if evidence.per_user == 0
              else "not set"),
           "stratégie machine (ProxySettingsPerUser=0) : "
           + ("oui, " + _proxy_words(lang, evidence.machine) if evidence.per_user == 0
              else "non définie")),
        _t(lang, f"{account}'s Internet Options: "
           + (_proxy_words(lang, evidence.account_proxy) if evidence.account_loaded
              else "not readable (its profile is not loaded)"),
           f"options Internet de {account} : "
           + (_proxy_words(lang, evidence.account_proxy) if evidence.account_loaded
              else "illisibles (profil non chargé)")),
        _t(lang, f"for comparison, the WinRM account {evidence.current_user}: "
           f"{_proxy_words(lang, evidence.current_proxy)}",
           f"pour comparer, le compte WinRM {evidence.current_user} : "
           f"{_proxy_words(lang, evidence.current_proxy)}"),
    ]
    if verdict is not None and verdict.status is Status.FAIL and verdict.cause in (
        "proxy-admin-only", "proxy"
    ):
        return False, detail + [verdict.remediation], verdict.cause_words
    ok = True if verdict is not None and verdict.status is Status.PASS else None
    return ok, detail, None


def _findings_step(
    findings: Sequence[Finding], ids: Sequence[str], lang: str, note: str
) -> tuple[bool | None, list[str], str | None]:
    chosen = [f for f in findings if f.check_id in ids]
    if not chosen:
        return None, [_t(lang, "not gathered (see facts in the bundle's notes)",
                         "non collecté (voir les notes du paquet)")], None
    errors = [f for f in chosen if f.severity.value == "error"]
    failed = [f for f in errors if f.status is Status.FAIL]
    detail = [
        f"{f.check_id} {'noted' if f.is_note else f.status.value}: {f.message}" for f in chosen
    ] + [note]
    if failed:
        return False, detail, "; ".join(f"{f.check_id}: {f.message}" for f in failed)
    if any(f.status is Status.UNKNOWN for f in errors):
        return None, detail, None  # a check that could not decide: neither ok nor failed
    return True, detail, None


def _logs_step(
    lang: str,
    evidence: connection.Evidence | None,
    options: connection.ConnectionOptions | None,
    collected: Mapping[str, int],
) -> tuple[bool | None, list[str]]:
    counts = _t(
        lang,
        f"{collected.get('agent', 0)} agent log(s), {collected.get('installer', 0)} installer "
        f"log(s), {collected.get('events', 0)} event(s) in the bundle",
        f"{collected.get('agent', 0)} journal(aux) de l'agent, {collected.get('installer', 0)} "
        f"de l'installeur, {collected.get('events', 0)} événement(s) dans le paquet",
    )
    if collected.get("left_out"):
        counts += _t(
            lang,
            f"; {collected['left_out']} older log(s) left out (sagefleet_diagnose_max_log_files):"
            " listed in manifest.json",
            f" ; {collected['left_out']} journal(aux) plus ancien(s) laissé(s) de côté "
            "(sagefleet_diagnose_max_log_files) : listé(s) dans manifest.json",
        )
    if options is None or options.log is None:
        return None, [_t(lang, "the agent profile names no \"connected\" pattern "
                         "(logs.connected_pattern): no log evidence",
                         "le profil de l'agent ne donne aucun motif « connecté » "
                         "(logs.connected_pattern) : pas de preuve par le journal"), counts]
    log = (evidence.log if evidence else None) or {}
    if log.get("error"):
        return None, [_t(lang, f"the log could not be read: {log['error']}",
                         f"journal illisible : {log['error']}"), counts]
    if not log.get("line"):
        read = ", ".join(log.get("files") or []) or _t(lang, "no file", "aucun fichier")
        return False, [_t(lang, f"no line matches {options.log.pattern!r} in {read}",
                          f"aucune ligne ne correspond à {options.log.pattern!r} dans {read}"),
                       counts]
    when = log.get("time_utc") or _t(lang, "time unknown (no (?<time>...) group)",
                                     "heure inconnue (pas de groupe (?<time>...))")
    detail = [_t(lang, f"last \"connected\" line at {when} in {log.get('path')}",
                 f"dernière ligne « connecté » à {when} dans {log.get('path')}"), counts]
    if evidence is not None and connection.log_is_fresh(evidence, options):
        return True, detail
    return False, [_t(lang, f"no \"connected\" line since the agent started and within the "
                      f"last {options.window_s} s (the last one: {when})",
                      f"aucune ligne « connecté » depuis le démarrage de l'agent et dans les "
                      f"{options.window_s} dernières secondes (la dernière : {when})"),
                   *detail]


def diagnose(
    *,
    lang: str,
    findings: Sequence[Finding],
    result: Mapping[str, Any] | None,
    verdict: connection.Verdict | None,
    evidence: connection.Evidence | None,
    options: connection.ConnectionOptions | None,
    error: str | None = None,
    reachable: bool = True,
    not_read: Sequence[str] = (),
    result_error: str | None = None,
) -> Diagnosis:
    """The steps and the verdict of one host (``reachable`` False: the host could not be
    reached, ``error`` says why, and the verdict says so). ``not_read``: what was asked
    but not read on the host ("what: why"), which the verdict names; ``result_error``:
    why the diagnose snippet gave no ``result`` (a step never states what it did not read)."""
    labels = labels_for(lang)
    title = {name: labels[f"diagnose.step.{name}"] for name in STEPS}
    steps: list[Step] = []
    service = (result or {}).get("service") or {}
    running = bool(service.get("installed")) and service.get("state") == "Running"
    state = f"{service.get('name')}: " + (
        f"{service.get('state')} ({service.get('start_mode')}, {service.get('account')})"
        if service.get("installed") else _t(lang, "not installed", "non installé")
    )
    unread = _t(lang, "not read", "non lu") + (f": {result_error}" if result_error else "")
    steps.append(Step("service", title["service"], running if service else None,
                      [state] if service else [unread],
                      state if service and not running else None))
    ok, detail, cause = _account_step(lang, evidence, verdict)
    steps.append(Step("account_proxy", title["account_proxy"], ok, detail, cause))
    ok, detail, cause = _findings_step(findings, REACHABILITY_CHECKS, lang, _t(
        lang, "as the WinRM account sees the network; the service's account may meet another",
        "vu du compte WinRM ; le compte du service peut rencontrer un autre réseau"))
    steps.append(Step("reachability", title["reachability"], ok, detail, cause))
    ok, detail, cause = _findings_step(findings, TLS_CHECKS, lang, _t(
        lang, "the chain each endpoint presents, validated by the host's own root stores",
        "la chaîne présentée par chaque service, validée par les magasins du serveur"))
    steps.append(Step("tls", title["tls"], ok, detail, cause))
    if verdict is None:
        steps.append(Step("connections", title["connections"], None,
                          [error or _t(lang, "not gathered", "non collecté")]))
    else:
        ok = {Status.PASS: True, Status.FAIL: False}.get(verdict.status)
        detail = [f"{connection.CHECK_ID} {verdict.status.value}: {verdict.message}"]
        if evidence is not None and evidence.connections:
            rows = ", ".join(
                f"{c.remote_address}:{c.remote_port} {c.state}" for c in evidence.connections
            )
            detail.append(_t(lang, "TCP table", "table TCP") + f" ({evidence.tcp_source}): {rows}")
        if verdict.remediation:
            detail.append(verdict.remediation)
        cause = (verdict.cause_words or verdict.message) if ok is False else None
        steps.append(Step("connections", title["connections"], ok, detail, cause))
    collected = {
        "agent": sum(1 for x in (result or {}).get("logs") or [] if x.get("kind") == "agent"),
        "installer": sum(
            1 for x in (result or {}).get("logs") or [] if x.get("kind") == "installer"
        ),
        "events": len((result or {}).get("events") or []),
        "left_out": len({
            str(item.get("path")).lower()
            for folder in (result or {}).get("folders") or []
            for item in folder.get("left_out") or []
        }),
    }
    ok, detail = _logs_step(lang, evidence, options, collected)
    steps.append(Step("logs", title["logs"], ok, detail, detail[0] if ok is False else None))
    restart = (result or {}).get("restart")
    steps.append(Step("restart", title["restart"],
                      None if not restart else bool(restart.get("done"))
                      and restart.get("state_after") == "Running",
                      [_t(lang, "not requested (sagefleet_diagnose_restart: true to restart)",
                          "non demandé (sagefleet_diagnose_restart: true pour redémarrer)")]
                      if not restart else
                      [f"{restart.get('state_before')} -> {restart.get('state_after')}"
                       + (f": {restart['error']}" if restart.get("error") else "")
                       + (_t(lang, f" (stuck: its process {restart['killed_pid']} was killed)",
                             f" (bloqué : son processus {restart['killed_pid']} a été arrêté)")
                          if restart.get("killed_pid") else "")]))
    if not reachable:
        text = labels["diagnose.verdict.unreachable"].format(detail=error or "")
        return Diagnosis(lang, steps, None, "unreachable", typography(text, lang))
    return _verdict(lang, steps, labels, not_read)


def _verdict(
    lang: str, steps: list[Step], labels: Mapping[str, str], not_read: Sequence[str]
) -> Diagnosis:
    found = _first(lang, steps, labels)
    if not_read:
        found.not_read = list(not_read)
        found.verdict += " " + labels["diagnose.verdict.incomplete"].format(
            detail="; ".join(not_read)
        )
    found.verdict = typography(found.verdict, lang)
    return found


def _first(lang: str, steps: list[Step], labels: Mapping[str, str]) -> Diagnosis:
    numbered = {s.step: (n, s) for n, s in enumerate(steps, 1)}
    n, connections = numbered["connections"]
    if connections.ok:
        text = labels["diagnose.verdict.connected"].format(n=n, step=connections.title)
        return Diagnosis(lang, steps, None, "connected", text)
    for number, step in enumerate(steps[:6], 1):
        if step.ok is False:
            text = labels["diagnose.verdict.failed"].format(
                n=number, step=step.title, detail=step.cause or ""
            )
            return Diagnosis(lang, steps, step.step, "failed", text)
    text = labels["diagnose.verdict.undecided"].format(
        detail=connections.detail[0] if connections.detail else ""
    )
    return Diagnosis(lang, steps, None, "undecided", text)
