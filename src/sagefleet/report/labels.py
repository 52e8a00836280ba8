"""Report labels in the languages sagefleet speaks (en, fr).

Kept as one flat table per language so a test can prove both are complete:
a label missing in one language would otherwise surface only in front of a client.
"""

from __future__ import annotations

from collections.abc import Mapping

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
        "col.errors": "ERR",
        "col.warnings": "WARN",
        "col.unknown": "UNK",
        "col.waived": "WAIVED",
        "status.ready": "ready",
        "status.warnings": "warnings",
        "status.blocked": "blocked",
        "status.unreachable": "unreachable",
        "finding.pass": "pass",
        "finding.fail": "fail",
        "finding.waived": "waived",
        "finding.unknown": "unknown",
        "severity.error": "error",
        "severity.warning": "warning",
        "severity.info": "info",
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
        "col.errors": "ERR",
        "col.warnings": "AVERT",
        "col.unknown": "INC",
        "col.waived": "DÉROG",
        "status.ready": "prêt",
        "status.warnings": "avertissements",
        "status.blocked": "bloqué",
        "status.unreachable": "injoignable",
        "finding.pass": "réussi",
        "finding.fail": "échec",
        "finding.waived": "dérogation",
        "finding.unknown": "inconnu",
        "severity.error": "erreur",
        "severity.warning": "avertissement",
        "severity.info": "info",
    },
}


def labels_for(lang: str) -> Mapping[str, str]:
    """Return the label table for ``lang``; an unknown language is a bug, so it raises."""
    try:
        return LABELS[lang]
    except KeyError:
        raise ValueError(f"no report labels for language {lang!r}") from None
