"""Report labels in the languages sagefleet speaks (en, fr).

Kept as one flat table per language so a test can prove both are complete:
a label missing in one language would otherwise surface only in front of a client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime

LABELS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Preflight report",
        "generated_at": "Generated",
        "tool_version": "sagefleet version",
        "hosts": "Hosts",
        "host": "Host",
        "address": "Address",
        "status": "Status",
        "errors": "Errors",
        "warnings_count": "Warnings",
        "unknown": "Unknown",
        "waived": "Waived",
        "failed_checks": "Failed checks",
        "facts": "Facts",
        "duration": "Duration (s)",
        "totals": "Totals",
        "by_check": "Failures by check",
        "notes_by_check": "For information: what the info checks found (never a failure)",
        "hosts_noted": "Hosts",
        "check": "Check",
        "severity": "Severity",
        "hosts_failing": "Hosts failing",
        "check_title": "Title",
        "findings": "Findings",
        "message": "Observed",
        "remediation": "Remediation",
        "entity": "Entity",
        "waiver": "Waiver",
        "waiver_expires": "expires",
        "no_findings": "No findings.",
        "no_failures": "No failed checks.",
        "host_error": "Could not be diagnosed",
        "sort_hint": "Click a column header to sort.",
        "summary": "Summary",
        "hosts_unknown": "Hosts unknown",
        "filters": "Filter the hosts",
        "filter_host": "Host name",
        "all": "all",
        "show_passed": "Show passed and not applicable checks",
        "clear_filters": "Clear filters",
        "shown": "{shown} of {total} hosts shown",
        "hidden_checks": "Hidden until asked",
        "check_hosts": "Show the hosts of {check}",
        "col.errors": "ERR",
        "col.warnings": "WARN",
        "col.unknown": "UNK",
        "col.waived": "WAIVED",
        "status.ready": "ready",
        "status.warnings": "warnings",
        "status.blocked": "blocked",
        "status.unreachable": "unreachable",
        "status.failed": "failed",
        "status.rolled-back": "rolled back",
        "status.verify-failed": "verify failed",
        "status.incomplete": "incomplete",
        "status.not-run": "not run",
        "status.planned": "planned",
        "status.installed": "installed",
        "status.upgraded": "upgraded",
        "status.downgraded": "downgraded",
        "status.settings-updated": "settings updated",
        "status.started": "started",
        "status.restarted": "restarted",
        "status.unchanged": "unchanged",
        "status.verified": "verified",
        "blocked.fails": (
            "Blocked hosts fail this run (PLAY RECAP: failed): the agent was not deployed on them."
        ),
        "blocked.passes": (
            "Blocked hosts do not fail this run (sagefleet_deploy_fail_on_blocked: false): "
            "the agent was not deployed on them."
        ),
        "blocked.fails_except": (
            "Blocked hosts fail this run (PLAY RECAP: failed) except {hosts} "
            "(sagefleet_deploy_fail_on_blocked: false): the agent was not deployed on them."
        ),
        "outcome.from": "From",
        "outcome.to": "To",
        "outcome.now": "Running",
        "outcome.reason": "Reason",
        "outcome.reboot": "reboot required",
        "finding.pass": "pass",
        "finding.fail": "fail",
        "finding.noted": "noted",
        "finding.waived": "waived",
        "finding.unknown": "unknown",
        "finding.not_applicable": "not applicable",
        "severity.error": "error",
        "severity.warning": "warning",
        "severity.info": "info",
        "diagnose.title": "Why the agent is (not) connected, step by step",
        "diagnose.step.service": "The agent's service runs",
        "diagnose.step.account_proxy": "Its account, and the proxy that account uses",
        "diagnose.step.reachability": "The endpoints are reachable from the host",
        "diagnose.step.tls": "TLS as the host sees it",
        "diagnose.step.connections": "The agent's own connections",
        "diagnose.step.logs": "What the agent's log says",
        "diagnose.step.restart": "Service restart",
        "diagnose.ok.true": "ok",
        "diagnose.ok.false": "FAILED",
        "diagnose.ok.none": "info",
        "diagnose.verdict.failed": "Step {n} failed ({step}): {detail}",
        "diagnose.verdict.connected": "The agent is connected (step {n}, {step}).",
        "diagnose.verdict.undecided": (
            "No step failed, but the agent's connection is not proven: {detail}"
        ),
        "diagnose.verdict.unreachable": (
            "The host could not be reached, so nothing on it was diagnosed: {detail}"
        ),
        "diagnose.verdict.incomplete": "Incomplete: not read: {detail}.",
    },
    "fr": {
        "title": "Rapport de pré-vérification",
        "generated_at": "Généré le",
        "tool_version": "Version de sagefleet",
        "hosts": "Serveurs",
        "host": "Serveur",
        "address": "Adresse",
        "status": "État",
        "errors": "Erreurs",
        "warnings_count": "Avertissements",
        "unknown": "Inconnus",
        "waived": "Dérogations",
        "failed_checks": "Contrôles en échec",
        "facts": "Informations",
        "duration": "Durée (s)",
        "totals": "Totaux",
        "by_check": "Échecs par contrôle",
        "notes_by_check": (
            "Pour information : ce qu'ont relevé les contrôles info (jamais un échec)"
        ),
        "hosts_noted": "Hôtes",
        "check": "Contrôle",
        "severity": "Gravité",
        "hosts_failing": "Serveurs en échec",
        "check_title": "Intitulé",
        "findings": "Constats",
        "message": "Constaté",
        "remediation": "Correction",
        "entity": "Dossier",
        "waiver": "Dérogation",
        "waiver_expires": "expire le",
        "no_findings": "Aucun constat.",
        "no_failures": "Aucun contrôle en échec.",
        "host_error": "Diagnostic impossible",
        "sort_hint": "Cliquez sur un en-tête de colonne pour trier.",
        "summary": "Synthèse",
        "hosts_unknown": "Serveurs inconnus",
        "filters": "Filtrer les serveurs",
        "filter_host": "Nom du serveur",
        "all": "tous",
        "show_passed": "Afficher les contrôles réussis et non applicables",
        "clear_filters": "Effacer les filtres",
        "shown": "{shown} serveurs affichés sur {total}",
        "hidden_checks": "Masqués, à afficher sur demande",
        "check_hosts": "Afficher les serveurs concernés par {check}",
        "col.errors": "ERR",
        "col.warnings": "AVERT",
        "col.unknown": "INC",
        "col.waived": "DÉROG",
        "status.ready": "prêt",
        "status.warnings": "avertissements",
        "status.blocked": "bloqué",
        "status.unreachable": "injoignable",
        "status.failed": "échec",
        "status.rolled-back": "retour arrière",
        "status.verify-failed": "vérification en échec",
        "status.incomplete": "incomplet",
        "status.not-run": "non traité",
        "status.planned": "prévu",
        "status.installed": "installé",
        "status.upgraded": "mis à jour",
        "status.downgraded": "rétrogradé",
        "status.settings-updated": "paramètres mis à jour",
        "status.started": "démarré",
        "status.restarted": "redémarré",
        "status.unchanged": "inchangé",
        "status.verified": "vérifié",
        "blocked.fails": (
            "Les serveurs bloqués font échouer cette exécution (PLAY RECAP : failed) : "
            "l'agent n'y a pas été déployé."
        ),
        "blocked.passes": (
            "Les serveurs bloqués ne font pas échouer cette exécution "
            "(sagefleet_deploy_fail_on_blocked : false) : l'agent n'y a pas été déployé."
        ),
        "blocked.fails_except": (
            "Les serveurs bloqués font échouer cette exécution (PLAY RECAP : failed), sauf "
            "{hosts} (sagefleet_deploy_fail_on_blocked : false) : l'agent n'y a pas été "
            "déployé."
        ),
        "outcome.from": "Depuis",
        "outcome.to": "Vers",
        "outcome.now": "En service",
        "outcome.reason": "Motif",
        "outcome.reboot": "redémarrage nécessaire",
        "finding.pass": "réussi",
        "finding.fail": "échec",
        "finding.noted": "signalé",
        "finding.waived": "dérogation",
        "finding.unknown": "inconnu",
        "finding.not_applicable": "sans objet",
        "severity.error": "erreur",
        "severity.warning": "avertissement",
        "severity.info": "info",
        "diagnose.title": "Pourquoi l'agent est (ou n'est pas) connecté, étape par étape",
        "diagnose.step.service": "Le service de l'agent tourne",
        "diagnose.step.account_proxy": "Son compte, et le proxy qu'utilise ce compte",
        "diagnose.step.reachability": "Les services sont joignables depuis le serveur",
        "diagnose.step.tls": "Le TLS vu du serveur",
        "diagnose.step.connections": "Les connexions de l'agent lui-même",
        "diagnose.step.logs": "Ce que dit le journal de l'agent",
        "diagnose.step.restart": "Redémarrage du service",
        "diagnose.ok.true": "ok",
        "diagnose.ok.false": "ÉCHEC",
        "diagnose.ok.none": "info",
        "diagnose.verdict.failed": "Étape {n} en échec ({step}) : {detail}",
        "diagnose.verdict.connected": "L'agent est connecté (étape {n}, {step}).",
        "diagnose.verdict.undecided": (
            "Aucune étape en échec, mais la connexion de l'agent n'est pas prouvée : {detail}"
        ),
        "diagnose.verdict.unreachable": (
            "Le serveur est injoignable, rien n'y a été diagnostiqué : {detail}"
        ),
        "diagnose.verdict.incomplete": "Incomplet : non lu : {detail}.",
    },
}


_WORD = re.compile(r"[^a-z0-9]+")


def status_key(status: str) -> str:
    """``not run``, ``not-run`` and ``not_run`` are one status: ``not_run``."""
    return _WORD.sub("_", str(status).lower()).strip("_")


def label(labels: Mapping[str, str], kind: str, status: str) -> str:
    """The label of a status (``kind`` is ``status``, ``finding`` or ``severity``).

    The key may spell the status with hyphens or underscores. A status this table
    does not know yet is shown by its own name, never dropped and never an error:
    a renderer must not break the day the model gains a status.
    """
    key = status_key(status)
    for spelling in (str(status), key.replace("_", "-"), key):
        found = labels.get(f"{kind}.{spelling}")
        if found:
            return found
    return key.replace("_", " ")


# French typography: a no-break space before the colon, a narrow no-break space
# before ; ? ! (the Imprimerie nationale's rule); neither lets a line start with the sign.
NBSP = "\u00a0"
NNBSP = "\u202f"
_FR_SPACE_BEFORE = re.compile(r"[ \u00a0\u202f]([:;?!])(?=\s|$)")


def colon(lang: str) -> str:
    """The colon that follows a label, spaces included: ``: `` or `` : `` in French."""
    return f"{NBSP}: " if lang == "fr" else ": "


def typography(text: str, lang: str) -> str:
    """French text with the right space before ``: ; ? !`` (the checks write a plain one).

    Only a sign that follows a space and ends a word group is touched, so ``C:\\``,
    ``09:07`` and ``https://`` stay as they are.
    """
    if lang != "fr" or not text:
        return text
    return _FR_SPACE_BEFORE.sub(
        lambda m: (NBSP if m.group(1) == ":" else NNBSP) + m.group(1), text
    )


_MONTHS_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)


def format_date(value: str | date, lang: str) -> str:
    """A calendar date for people: 2027-03-31 in English, « 31 mars 2027 » in French."""
    day = value if isinstance(value, date) else date.fromisoformat(value)
    if lang != "fr":
        return day.isoformat()
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {_MONTHS_FR[day.month - 1]} {day.year}"


def format_datetime(value: str, lang: str) -> str:
    """A report's UTC time stamp for people, to the minute.

    English: ``2026-12-05 09:07 UTC``; French: ``5 décembre 2026 à 09:07 UTC``. The JSON
    and JUnit reports keep the ISO 8601 value.
    """
    stamp = datetime.fromisoformat(value)
    clock = stamp.strftime("%H:%M")
    if lang != "fr":
        return f"{stamp.date().isoformat()} {clock} UTC"
    return f"{format_date(stamp.date(), lang)} à {clock} UTC"


def labels_for(lang: str) -> Mapping[str, str]:
    """Return the label table for ``lang``; an unknown language is a bug, so it raises."""
    try:
        return LABELS[lang]
    except KeyError:
        raise ValueError(f"no report labels for language {lang!r}") from None
