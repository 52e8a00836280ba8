"""The catalog of preflight checks: the engine that runs them and applies waivers.

A check is a function over a ``Context`` that yields ``Outcome``s (checks/base.py);
the engine turns them into ``Finding``s. Ids, ranges and statuses: docs/checks.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sagefleet.checks import base
from sagefleet.checks.base import REGISTRY, Check, Context, EntityView, Outcome, unknown
from sagefleet.errors import InputError, field_error, mapping_items
from sagefleet.findings import Finding, Status

__all__ = [
    "REGISTRY",
    "Check",
    "Context",
    "EntityView",
    "Outcome",
    "Waiver",
    "all_checks",
    "finding_for",
    "markdown_table",
    "parse_waivers",
    "run_checks",
]


def __getattr__(name: str) -> Any:
    """What a check is written with (``check``, ``passed``, ``major_minor``...): checks/base.py."""
    return getattr(base, name)


# -- waivers -------------------------------------------------------------------


@dataclass(frozen=True)
class Waiver:
    check_id: str
    reason: str
    expires: dt.date | None = None
    entity: str | None = None


_WAIVER_KEYS = {"id", "reason", "expires", "entity"}


def parse_waivers(host: str, raw: Any) -> list[Waiver]:
    """Read ``sagefleet_waivers``; a malformed waiver stops the run before any host is touched."""
    if raw is None or raw == []:
        return []
    _load_modules()  # every check id is known, whatever this process imported so far
    waivers = []
    expected = "a list of {id, reason, expires?, entity?}"
    for where, item in mapping_items(raw, host=host, field="sagefleet_waivers", expected=expected):
        unknown_keys = set(item) - _WAIVER_KEYS
        if unknown_keys:
            raise InputError(
                f"unknown keys {sorted(unknown_keys)}",
                host=host,
                field=where,
                fix="use id, reason, expires (YYYY-MM-DD) and entity",
            )
        check_id = item.get("id")
        if not isinstance(check_id, str) or check_id not in REGISTRY:
            fix = (
                "use an id that `sagefleet checks list` prints: a waiver applies to "
                "preflight's checks, not to the deploy's or verify's"
            )
            raise field_error(host, f"{where}.id", check_id, "not a preflight check id", fix)
        reason = item.get("reason")
        if not isinstance(reason, str) or len(reason.strip()) < 3:
            fix = "say why the check does not apply"
            raise field_error(host, f"{where}.reason", reason, "a waiver needs a reason", fix)
        expires_raw = item.get("expires")
        expires = None
        if expires_raw is not None:
            if isinstance(expires_raw, dt.date):
                expires = expires_raw
            else:
                try:
                    expires = dt.date.fromisoformat(str(expires_raw))
                except ValueError as exc:
                    message = "expires must be a date YYYY-MM-DD"
                    raise field_error(host, f"{where}.expires", expires_raw, message) from exc
        entity = item.get("entity")
        if entity is not None and not isinstance(entity, str):
            message = "entity must be a connection name"
            raise field_error(host, f"{where}.entity", entity, message)
        waivers.append(Waiver(check_id, reason.strip(), expires, entity))
    return waivers


# -- engine ------------------------------------------------------------------


def _load_modules() -> None:
    from sagefleet.checks import agent, network, platform, sage, sagefleet  # noqa: F401


def run_checks(ctx: Context, waivers: Sequence[Waiver] = ()) -> list[Finding]:
    """Evaluate every check on one host, apply waivers, return findings in id order."""
    _load_modules()
    today = ctx.bastion_utc.date()
    findings: list[Finding] = []
    for check_id in sorted(REGISTRY):
        spec = REGISTRY[check_id]
        try:
            outcomes = list(spec.evaluate(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            outcomes = [unknown(f"check could not be evaluated: {type(exc).__name__}: {exc}")]
        for outcome in outcomes:
            findings.append(_finding(ctx, spec, outcome, waivers, today))
    expired = REGISTRY["SF901"]
    for waiver in waivers:
        if waiver.expires is not None and waiver.expires < today:
            findings.append(
                Finding(
                    check_id=expired.check_id,
                    status=Status.FAIL,
                    severity=expired.severity,
                    title=expired.title(ctx.lang),
                    message=ctx.t(
                        f"the waiver of {waiver.check_id} expired on {waiver.expires}",
                        f"la dérogation de {waiver.check_id} a expiré le {waiver.expires}",
                    ),
                    remediation=ctx.t(
                        "fix the cause, or renew the waiver with a new date and reason",
                        "corrigez la cause, ou renouvelez la dérogation avec une nouvelle date",
                    ),
                    entity=waiver.entity,
                    observed=str(waiver.expires),
                )
            )
    return findings


def _finding(
    ctx: Context, spec: Check, outcome: Outcome, waivers: Sequence[Waiver], today: dt.date
) -> Finding:
    status = outcome.status
    waiver = None
    if status in (Status.FAIL, Status.UNKNOWN):
        waiver = next(
            (
                w
                for w in waivers
                if w.check_id == spec.check_id
                and (w.entity is None or w.entity == outcome.entity)
                and (w.expires is None or w.expires >= today)
            ),
            None,
        )
    return Finding(
        check_id=spec.check_id,
        status=Status.WAIVED if waiver else status,
        severity=outcome.severity or spec.severity,
        title=spec.title(ctx.lang),
        message=outcome.message,
        remediation=outcome.remediation,
        entity=outcome.entity,
        observed=outcome.observed,
        waiver_reason=waiver.reason if waiver else None,
        waiver_expires=str(waiver.expires) if waiver and waiver.expires else None,
    )


def finding_for(check_id: str, outcome: Outcome, lang: str = "en") -> Finding:
    """The finding of one check from an outcome decided without facts (no waiver: the
    host could not even be examined)."""
    _load_modules()
    spec = REGISTRY[check_id]
    return Finding(
        check_id=spec.check_id,
        status=outcome.status,
        severity=outcome.severity or spec.severity,
        title=spec.title(lang),
        message=outcome.message,
        remediation=outcome.remediation,
        entity=outcome.entity,
        observed=outcome.observed,
    )


def all_checks() -> list[Check]:
    """Every registered check, in id order (for docs and completeness tests)."""
    _load_modules()
    return [REGISTRY[k] for k in sorted(REGISTRY)]


def markdown_table(lang: str = "en") -> str:
    """The check reference as a Markdown table (README and docs are generated from it)."""
    from sagefleet.report.labels import label, labels_for  # the reports' words for severities

    header = ("| Id | Severity | Check |", "|---|---|---|")
    if lang == "fr":
        header = ("| Id | Gravité | Contrôle |", "|---|---|---|")
    labels = labels_for(lang)
    rows = [
        f"| {c.check_id} | {label(labels, 'severity', c.severity)} | {c.title(lang)} |"
        for c in all_checks()
    ]
    return "\n".join([*header, *rows])
