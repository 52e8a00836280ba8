"""The catalog of preflight checks: stable ids, severities, evaluation, remediation.

A check is a function over a ``Context`` (typed facts of one host, its
entities from the inventory, the catalogs and the controller's view) that
yields ``Outcome``s. The engine turns outcomes into ``Finding``s, applies
waivers and never lets an exception in one check hide the others.

Id ranges: SF1xx platform, SF2xx Sage, SF3xx network, SF4xx agent/account,
SF9xx sagefleet's own configuration (waivers, transport).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagefleet import catalog
from sagefleet.variables import declarations as declared
from sagefleet.errors import InputError
from sagefleet.facts import HostFacts
from sagefleet.findings import Finding, Severity, Status
from sagefleet.network import DnsResult


@dataclass(frozen=True)
class EntityView:
    """What the checks need to know of one entity (no secrets)."""

    name: str
    edition: str
    mae_path: str | None = None
    azure_sql_server: str | None = None
    sql_instance: str | None = None
    database: str | None = None

    @property
    def sql_fqdn(self) -> str | None:
        if self.edition == "spc" and self.azure_sql_server:
            return f"{self.azure_sql_server}.database.windows.net"
        return None


@dataclass
class Context:
    """Everything a check may read; nothing here is a secret."""

    host: str
    facts: HostFacts
    entities: Sequence[EntityView] = ()
    lang: str = "en"
    # The bastion's UTC time when the host read its clock: the midpoint of the facts
    # round trip (preflight.run), so that a host ahead and one behind are judged alike.
    controller_utc: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # False when there is no bastion time to compare the host's with (offline facts
    # evaluated without the time they were collected at): SF104 is then unknown.
    compare_clock: bool = True
    endpoints: Sequence[catalog.Endpoint] = field(default_factory=catalog.endpoints)
    sage: catalog.SageCatalog = field(default_factory=catalog.sage)
    dotnet: catalog.DotnetCatalog = field(default_factory=catalog.dotnet)
    min_free_mb: int = declared.MIN_FREE_MB.default
    # SF104: a warning from this skew; an error from clock_skew_error_s (AWS rejects
    # requests signed with a clock about 15 minutes off).
    max_clock_skew_s: int = declared.MAX_CLOCK_SKEW.default
    clock_skew_error_s: int = 900
    # The .NET Framework version the agent targets (the agent profile's target_framework):
    # SF102 warns about missing TLS values only for an agent older than 4.7.
    agent_target_framework: str | None = None
    service_account: str | None = None
    target_version: str | None = None
    bastion_dns: Mapping[str, DnsResult] | None = None
    edition: str | None = None
    # How the controller reaches the host (scheme, transport, validation, encryption).
    transport: Mapping[str, Any] | None = None
    allow_insecure_transport: bool = False

    def t(self, en: str, fr: str) -> str:
        """The text in the user's language."""
        return fr if self.lang == "fr" else en

    @property
    def host_edition(self) -> str | None:
        editions = {e.edition for e in self.entities}
        if len(editions) == 1:
            return editions.pop()
        return self.edition


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: str
    remediation: str = ""
    entity: str | None = None
    observed: Any = None
    severity: Severity | None = None  # overrides the check's default (e.g. port 80 optional)


@dataclass(frozen=True)
class Check:
    check_id: str
    severity: Severity
    title_en: str
    title_fr: str
    evaluate: Callable[[Context], Iterable[Outcome]]

    def title(self, lang: str) -> str:
        return self.title_fr if lang == "fr" else self.title_en


REGISTRY: dict[str, Check] = {}


def check(
    check_id: str, severity: Severity, title_en: str, title_fr: str
) -> Callable[[Callable[[Context], Iterable[Outcome]]], Callable[[Context], Iterable[Outcome]]]:
    """Register a check under its stable id."""

    def register(
        func: Callable[[Context], Iterable[Outcome]],
    ) -> Callable[[Context], Iterable[Outcome]]:
        if check_id in REGISTRY:
            raise ValueError(f"duplicate check id {check_id}")
        REGISTRY[check_id] = Check(check_id, severity, title_en, title_fr, func)
        return func

    return register


def passed(message: str, **kw: Any) -> Outcome:
    return Outcome(Status.PASS, message, **kw)


def failed(message: str, remediation: str, **kw: Any) -> Outcome:
    return Outcome(Status.FAIL, message, remediation, **kw)


def unknown(message: str, remediation: str = "", **kw: Any) -> Outcome:
    return Outcome(Status.UNKNOWN, message, remediation, **kw)


def not_applicable(message: str, **kw: Any) -> Outcome:
    """The check cannot apply to this host (its edition, no such entity): not a pass."""
    return Outcome(Status.NOT_APPLICABLE, message, **kw)


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
    field_name = "sagefleet_waivers"
    if raw is None or raw == []:
        return []
    _load_modules()  # every check id is known, whatever this process imported so far
    if not isinstance(raw, list):
        raise InputError(
            "must be a list of {id, reason, expires?, entity?}",
            host=host,
            field=field_name,
            value=repr(raw)[:80],
        )
    waivers = []
    for index, item in enumerate(raw):
        where = f"{field_name}[{index}]"
        if not isinstance(item, Mapping):
            raise InputError("must be a mapping", host=host, field=where, value=repr(item)[:80])
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
            raise InputError(
                "unknown check id",
                host=host,
                field=f"{where}.id",
                value=repr(check_id),
                fix="use an id listed in the README",
            )
        reason = item.get("reason")
        if not isinstance(reason, str) or len(reason.strip()) < 3:
            raise InputError(
                "a waiver needs a reason",
                host=host,
                field=f"{where}.reason",
                value=repr(reason),
                fix="say why the check does not apply",
            )
        expires_raw = item.get("expires")
        expires = None
        if expires_raw is not None:
            if isinstance(expires_raw, dt.date):
                expires = expires_raw
            else:
                try:
                    expires = dt.date.fromisoformat(str(expires_raw))
                except ValueError as exc:
                    raise InputError(
                        "expires must be a date YYYY-MM-DD",
                        host=host,
                        field=f"{where}.expires",
                        value=repr(expires_raw),
                    ) from exc
        entity = item.get("entity")
        if entity is not None and not isinstance(entity, str):
            raise InputError(
                "entity must be a connection name",
                host=host,
                field=f"{where}.entity",
                value=repr(entity),
            )
        waivers.append(Waiver(check_id, reason.strip(), expires, entity))
    return waivers


# -- engine ------------------------------------------------------------------


def _load_modules() -> None:
    from sagefleet.checks import agent, network, platform, sage, sagefleet  # noqa: F401


def run_checks(ctx: Context, waivers: Sequence[Waiver] = ()) -> list[Finding]:
    """Evaluate every check on one host, apply waivers, return findings in id order."""
    _load_modules()
    today = ctx.controller_utc.date()
    findings: list[Finding] = []
    for check_id in sorted(REGISTRY):
        spec = REGISTRY[check_id]
        try:
            outcomes = list(spec.evaluate(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            outcomes = [unknown(f"check could not be evaluated: {type(exc).__name__}: {exc}")]
        for outcome in outcomes:
            findings.append(_finding(ctx, spec, outcome, waivers, today))
    for waiver in waivers:
        if waiver.expires is not None and waiver.expires < today:
            findings.append(
                Finding(
                    check_id="SF901",
                    status=Status.FAIL,
                    severity=Severity.ERROR,
                    title=ctx.t("Waiver expired", "Dérogation expirée"),
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


VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)")


def major_minor(text: str | None) -> tuple[int, int] | None:
    """(11, 2) from "11.02" or "11.02.0.1234"; None when unreadable."""
    match = VERSION_RE.match(text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


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
