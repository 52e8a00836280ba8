"""What a check is made of: its ``Context``, its ``Outcome``s and the ``@check`` registry.

The check modules import this; the package (``sagefleet.checks``) runs them.
See docs/checks.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sagefleet import catalog
from sagefleet.facts import HostFacts
from sagefleet.findings import Severity, Status
from sagefleet.probes import DnsResult
from sagefleet.variables import jobs


def _same_names(record: type, source: object) -> dict[str, Any]:
    """``source``'s attributes named as ``record``'s fields: one name, one concept."""
    return {f.name: getattr(source, f.name) for f in fields(record) if hasattr(source, f.name)}


@dataclass(frozen=True)
class EntityView:
    """What the checks need to know of one entity (no secrets)."""

    name: str
    edition: str
    mae_path: str | None = None
    azure_sql_server: str | None = None
    sql_instance: str | None = None
    database: str | None = None

    @classmethod
    def of(cls, entity: object) -> EntityView:
        """The view of a validated entity (``settings.validate``'s)."""
        return cls(**_same_names(cls, entity))

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
    bastion_utc: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # False when there is no bastion time to compare the host's with (offline facts
    # evaluated without the time they were collected at): SF104 is then unknown.
    compare_clock: bool = True
    endpoints: Sequence[catalog.Endpoint] = field(default_factory=catalog.endpoints)
    sage: catalog.SageCatalog = field(default_factory=catalog.sage)
    dotnet: catalog.DotnetCatalog = field(default_factory=catalog.dotnet)
    min_free_mb: int = jobs.MIN_FREE_MB.default
    # SF104: a warning from this skew; an error from clock_skew_error_s (AWS rejects
    # requests signed with a clock about 15 minutes off).
    max_clock_skew_s: int = jobs.MAX_CLOCK_SKEW.default
    clock_skew_error_s: int = 900
    # The .NET Framework version the agent targets (the agent profile's target_framework):
    # SF102 warns about missing TLS values only for an agent older than 4.7.
    agent_target_framework: str | None = None
    # Any install of the vendor's agent, and the one the agent profile describes (SF405).
    agent_vendor_pattern: str | None = None
    agent_uninstall_pattern: str | None = None
    service_account: str | None = None
    target_version: str | None = None
    bastion_dns: Mapping[str, DnsResult] | None = None
    edition: str | None = None
    # How the bastion reaches the host (scheme, transport, validation, encryption).
    transport: Mapping[str, Any] | None = None
    allow_insecure_transport: bool = False
    # sagefleet_agent_accept_failed_install: the agent a failed fresh install left is taken
    # as installed (SF406 passes).
    accept_failed_install: bool = False

    @classmethod
    def of(cls, inputs: object, **given: Any) -> Context:
        """A host's checked inputs (``preflight.PreparedHost``) as the fields of the same
        name, and ``given``."""
        return cls(**{**_same_names(cls, inputs), **given})

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


Evaluate = Callable[[Context], Iterable[Outcome]]


def declared(check_id: str) -> tuple[Severity, str, str]:
    """A check's default severity and its English and French titles (catalog/checks.yml)."""
    entry = catalog.load("checks").get(check_id)
    if not isinstance(entry, dict):
        raise ValueError(f"check {check_id} is not declared in catalog/checks.yml")
    return Severity(entry["severity"]), str(entry["en"]), str(entry["fr"])


def check(check_id: str) -> Callable[[Evaluate], Evaluate]:
    """Register the function that evaluates a check, under its stable id."""
    severity, title_en, title_fr = declared(check_id)

    def register(func: Evaluate) -> Evaluate:
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


VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)")


def major_minor(text: str | None) -> tuple[int, int] | None:
    """(11, 2) from "11.02" or "11.02.0.1234"; None when unreadable."""
    match = VERSION_RE.match(text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None
