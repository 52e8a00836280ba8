"""One data model for a host's findings, shared by every front door.

Frozen dataclasses with ``to_dict()``/``from_dict()``, so a report written by one
front door can be re-rendered or gated on by another. A host's status and its order:
docs/checks.md, "Statuses"; a job's statuses are declared in ``sagefleet.outcomes``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

from sagefleet import __version__, outcomes
from sagefleet.errors import InputError
from sagefleet.outcomes import HostOutcome, Outcome

#: Version of the dictionary layout produced by ``FleetReport.to_dict()``.
SCHEMA_VERSION = 1

#: Host statuses, most urgent first (the order reports sort by): see sagefleet.outcomes.
HOST_STATUSES: tuple[str, ...] = outcomes.STATUSES

LANGS: tuple[str, ...] = ("en", "fr")

_CHECK_ID = re.compile(r"^SF[1-9]\d{2}$")

JsonValue = Any  # JSON-safe: None, bool, int, float, str, list, dict[str, ...]


class Severity(StrEnum):
    """How much a failed check matters: only ``error`` blocks a deploy."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Status(StrEnum):
    """Outcome of one check on one host."""

    PASS = "pass"
    FAIL = "fail"
    WAIVED = "waived"
    UNKNOWN = "unknown"
    # The check cannot apply to this host (e.g. an Azure SQL check on an on-premise
    # server): neither a pass nor an unknown, and it never demotes a host.
    NOT_APPLICABLE = "not_applicable"


def utc_now_iso() -> str:
    """Return the current time as a UTC ISO 8601 string, so reports sort and diff cleanly."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _check_json_safe(value: object, where: str) -> None:
    """Reject values that would not survive a JSON round trip unchanged."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not representable in JSON")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_safe(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string")
            _check_json_safe(item, f"{where}.{key}")
        return
    raise ValueError(f"{where}: {type(value).__name__} is not JSON-safe (use list/dict/str/...)")


def plain(record: Any, *names: str) -> dict[str, Any]:
    """The members ``names`` of ``record`` by name (all its dataclass fields when none are
    named): the start of a ``to_dict``."""
    return {name: getattr(record, name) for name in names or [f.name for f in fields(record)]}


def _optional_str(value: object, where: str) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where} must be a string or None, got {type(value).__name__}")


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise InputError(f"missing key {key!r}", field=where, fix="regenerate the report")
    return data[key]


@dataclass(frozen=True)
class Finding:
    """The result of one check on one host (and optionally one entity)."""

    check_id: str
    status: Status
    severity: Severity
    title: str
    message: str
    remediation: str = ""
    entity: str | None = None
    observed: JsonValue = None
    waiver_reason: str | None = None
    waiver_expires: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.check_id, str) or not _CHECK_ID.match(self.check_id):
            raise ValueError(f"check_id {self.check_id!r} is not of the form SF123")
        # Accept the plain strings too, so callers building findings by hand stay terse.
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "severity", Severity(self.severity))
        for name in ("title", "message", "remediation"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{self.check_id}: {name} must be a string")
        for name in ("entity", "waiver_reason", "waiver_expires"):
            _optional_str(getattr(self, name), f"{self.check_id}: {name}")
        if self.waiver_expires is not None:
            try:
                date.fromisoformat(self.waiver_expires)
            except ValueError as exc:
                raise ValueError(
                    f"{self.check_id}: waiver_expires {self.waiver_expires!r} is not YYYY-MM-DD"
                ) from exc
        if self.status is Status.WAIVED and not self.waiver_reason:
            raise ValueError(f"{self.check_id}: a waived finding needs a waiver_reason")
        _check_json_safe(self.observed, f"{self.check_id}: observed")

    @property
    def is_failure(self) -> bool:
        """True when the check ran and the host does not meet it (waived failures excluded).

        An info check never fails a host: what it found is a note (``is_note``).
        """
        return self.status is Status.FAIL and self.severity is not Severity.INFO

    @property
    def is_note(self) -> bool:
        """True when an info check found something to say (a WinHTTP proxy set, a private
        endpoint): its status is ``fail``, and it only informs (docs/checks.md)."""
        return self.status is Status.FAIL and self.severity is Severity.INFO

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-safe data (enums as their string values)."""
        return {**plain(self), "status": str(self.status), "severity": str(self.severity)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Rebuild a finding from ``to_dict()`` output; bad data raises InputError."""
        where = f"finding {data.get('check_id', '?')}"
        try:
            return cls(
                check_id=_require(data, "check_id", where),
                status=Status(_require(data, "status", where)),
                severity=Severity(_require(data, "severity", where)),
                title=_require(data, "title", where),
                message=_require(data, "message", where),
                remediation=data.get("remediation", ""),
                entity=data.get("entity"),
                observed=data.get("observed"),
                waiver_reason=data.get("waiver_reason"),
                waiver_expires=data.get("waiver_expires"),
            )
        except (ValueError, TypeError) as exc:
            raise InputError(str(exc), field=where, fix="regenerate the report") from exc


@dataclass(frozen=True)
class HostReport:
    """Everything diagnosed on one host, plus why diagnosis stopped if it did."""

    host: str
    reachable: bool
    findings: tuple[Finding, ...] = ()
    address: str | None = None
    error: str | None = None
    summary: Mapping[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    outcome: HostOutcome | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ValueError("host must be a non-empty string")
        object.__setattr__(self, "findings", tuple(self.findings))
        for item in self.findings:
            if not isinstance(item, Finding):
                raise ValueError(f"{self.host}: findings must be Finding objects")
        _optional_str(self.address, f"{self.host}: address")
        _optional_str(self.error, f"{self.host}: error")
        summary = dict(self.summary)
        for key, value in summary.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"{self.host}: summary must map strings to strings")
        object.__setattr__(self, "summary", summary)
        duration = float(self.duration_s)
        if not math.isfinite(duration) or duration < 0:
            raise ValueError(f"{self.host}: duration_s must be a finite number >= 0")
        object.__setattr__(self, "duration_s", duration)
        if self.outcome is not None and not isinstance(self.outcome, HostOutcome):
            raise ValueError(f"{self.host}: outcome must be a HostOutcome")

    @cached_property  # findings are immutable; every report format asks, once per host
    def status(self) -> str:
        """One word a fleet table can sort on; the rules: docs/checks.md, "Statuses"."""
        if self.outcome is not None:
            return self.outcome.status
        if any(
            f.severity is Severity.ERROR and f.status in (Status.FAIL, Status.UNKNOWN)
            for f in self.findings
        ):
            return Outcome.BLOCKED.value
        if not self.reachable or self.error is not None:
            return Outcome.UNREACHABLE.value
        if any(
            f.severity is Severity.WARNING and f.status in (Status.FAIL, Status.UNKNOWN)
            for f in self.findings
        ):
            return Outcome.WARNINGS.value
        return Outcome.READY.value

    @property
    def status_counts(self) -> dict[str, int]:
        """Number of findings per status, every status present (zeros included)."""
        counts = {str(s): 0 for s in Status}
        for item in self.findings:
            counts[str(item.status)] += 1
        return counts

    @property
    def severity_counts(self) -> dict[str, int]:
        """Number of findings of status fail per severity (what "2 errors, 1 warning"
        means; under ``info``, the notes)."""
        counts = {str(s): 0 for s in Severity}
        for item in self.findings:
            if item.status is Status.FAIL:
                counts[str(item.severity)] += 1
        return counts

    @property
    def failed_check_ids(self) -> tuple[str, ...]:
        """Distinct ids of failed checks, sorted, for one-line display (info checks never
        fail: their findings are notes, ``noted_check_ids``)."""
        return tuple(sorted({f.check_id for f in self.findings if f.is_failure}))

    @property
    def undecided_check_ids(self) -> tuple[str, ...]:
        """Distinct ids of the checks that could not decide (unknown) and failed nowhere
        on the host, sorted: never a pass, and a blocking one blocks the host."""
        failed = set(self.failed_check_ids)
        return tuple(
            sorted(
                {
                    f.check_id
                    for f in self.findings
                    if f.status is Status.UNKNOWN
                    and f.severity is not Severity.INFO
                    and f.check_id not in failed
                }
            )
        )

    @property
    def noted_check_ids(self) -> tuple[str, ...]:
        """Distinct ids of the info checks that found something to say, sorted."""
        return tuple(sorted({f.check_id for f in self.findings if f.is_note}))

    @property
    def blocked_reason(self) -> str:
        """Why preflight blocks the host, in the same words everywhere (preflight's verdict,
        deploy's reason): the checks the report lists as failed, then the blocking
        checks that could not be decided."""
        unknown = sorted(
            {
                f.check_id
                for f in self.findings
                if f.status is Status.UNKNOWN and f.severity is Severity.ERROR
            }
        )
        parts = []
        if self.failed_check_ids:
            parts.append(" ".join(self.failed_check_ids) + " failed")
        if unknown:
            parts.append(" ".join(unknown) + " unknown")
        return ", ".join(parts) or "blocked"

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-safe data; ``status`` and counts are included for readers."""
        return {
            **plain(self, "host", "address", "reachable", "error", "status"),
            **plain(self, "status_counts", "severity_counts"),
            "summary": dict(self.summary),
            "duration_s": self.duration_s,
            "outcome": self.outcome.to_dict() if self.outcome else None,
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostReport:
        """Rebuild a host report; derived keys (status, counts) are recomputed, not trusted."""
        where = f"host {data.get('host', '?')}"
        findings = _require(data, "findings", where)
        if not isinstance(findings, list):
            raise InputError("findings must be a list", field=where)
        outcome = data.get("outcome")
        try:
            return cls(
                host=_require(data, "host", where),
                address=data.get("address"),
                reachable=bool(_require(data, "reachable", where)),
                error=data.get("error"),
                findings=tuple(Finding.from_dict(item) for item in findings),
                summary=data.get("summary") or {},
                duration_s=data.get("duration_s", 0.0),
                outcome=HostOutcome.from_dict(outcome) if isinstance(outcome, Mapping) else None,
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(str(exc), field=where, fix="regenerate the report") from exc


def _hosts_by_check(check_ids: Iterable[tuple[str, ...]]) -> dict[str, int]:
    """How many hosts name each check id, most first (ties by id)."""
    counts: dict[str, int] = {}
    for ids in check_ids:
        for check_id in ids:
            counts[check_id] = counts.get(check_id, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _status_rank(host: HostReport) -> int:
    return outcomes.rank(host.status)


@dataclass(frozen=True)
class FleetReport:
    """A fleet run: what every renderer takes as input."""

    title: str
    hosts: tuple[HostReport, ...]
    generated_at: str = field(default_factory=utc_now_iso)
    tool_version: str = __version__
    lang: str = "en"
    #: Which blocked hosts the run fails (PLAY RECAP then ends them failed): every one
    #: (True), none (False), or those named, each by its own
    #: sagefleet_deploy_fail_on_blocked (true by default) or
    #: sagefleet_preflight_fail_on_blocked. A set naming every blocked host or none is
    #: kept as True or False.
    fail_on_blocked: bool | frozenset[str] = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosts", tuple(self.hosts))
        if self.lang not in LANGS:
            raise ValueError(f"lang {self.lang!r} is not one of {', '.join(LANGS)}")
        try:
            stamp = datetime.fromisoformat(self.generated_at)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"generated_at {self.generated_at!r} is not ISO 8601") from exc
        if stamp.utcoffset() != timedelta(0):
            raise ValueError(f"generated_at {self.generated_at!r} must be in UTC")
        names = [h.host for h in self.hosts]
        if len(set(names)) != len(names):
            raise ValueError("host names must be unique within a report")
        chosen = self.fail_on_blocked
        if not isinstance(chosen, bool):
            chosen = frozenset(chosen)
            blocked = {h.host for h in self.hosts if h.status == Outcome.BLOCKED}
            if not chosen <= blocked:
                others = ", ".join(sorted(chosen - blocked))
                raise ValueError(f"fail_on_blocked names hosts that are not blocked: {others}")
            if not chosen or chosen == blocked:
                chosen = bool(chosen)
            object.__setattr__(self, "fail_on_blocked", chosen)

    @property
    def host_status_counts(self) -> dict[str, int]:
        """Number of hosts per status, most urgent first.

        A report of findings only (preflight, doctor) has preflight's four statuses,
        zeros included; a report with outcomes (deploy, verify) has the statuses its
        hosts have.
        """
        with_outcomes = any(h.outcome is not None for h in self.hosts)
        counts = {} if with_outcomes else dict.fromkeys(outcomes.PREFLIGHT_STATUSES, 0)
        for host in self.hosts:
            counts[host.status] = counts.get(host.status, 0) + 1
        return {s: counts[s] for s in HOST_STATUSES if s in counts}

    @property
    def failures_by_check(self) -> dict[str, int]:
        """Number of hosts failing each check id, most frequent first (ties by id); info
        checks never fail (``notes_by_check``)."""
        return _hosts_by_check(host.failed_check_ids for host in self.hosts)

    @property
    def unknown_by_check(self) -> dict[str, int]:
        """Number of hosts on which each check could not decide (and failed nowhere on
        that host), most frequent first (ties by id)."""
        return _hosts_by_check(host.undecided_check_ids for host in self.hosts)

    @property
    def notes_by_check(self) -> dict[str, int]:
        """Number of hosts each info check found something on, most frequent first."""
        return _hosts_by_check(host.noted_check_ids for host in self.hosts)

    def check_titles(self) -> dict[str, tuple[str, str]]:
        """Title and severity of each check id with a finding of status fail (a failure or
        a note) or unknown, for "counts by check" tables (a failure's severity first)."""
        titles: dict[str, tuple[str, str]] = {}
        for wanted in (Status.FAIL, Status.UNKNOWN):
            for host in self.hosts:
                for item in host.findings:
                    if item.status is wanted and item.check_id not in titles:
                        titles[item.check_id] = (item.title, str(item.severity))
        return titles

    def fail_on_blocked_for(self, host: str) -> bool:
        """Whether the run fails ``host``, a blocked host (by its own fail_on_blocked)."""
        chosen = self.fail_on_blocked
        return chosen if isinstance(chosen, bool) else host in chosen

    def recap(self, host: HostReport) -> str | None:
        """How this run ends ``host``, in PLAY RECAP's words (``failed``, ``unreachable``,
        ``ok``): a blocked host fails when the run fails it (fail_on_blocked_for). None for
        a status not declared."""
        if host.status == Outcome.BLOCKED and self.fail_on_blocked_for(host.host):
            return "failed"
        kind = outcomes.BY_NAME.get(host.status)
        return kind.recap if kind else None

    def sorted_hosts(self) -> list[HostReport]:
        """Hosts most urgent first (failed, rolled back... blocked, unreachable...), then by name.

        At hundreds of hosts the reader must see what stops a deploy without scrolling.
        """
        return sorted(self.hosts, key=lambda h: (_status_rank(h), h.host))

    def to_dict(self) -> dict[str, Any]:
        """Return the documented report document (see schemas/report.schema.json)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "title": self.title,
            "generated_at": self.generated_at,
            "tool_version": self.tool_version,
            "lang": self.lang,
            "fail_on_blocked": (
                self.fail_on_blocked
                if isinstance(self.fail_on_blocked, bool)
                else sorted(self.fail_on_blocked)
            ),
            "host_status_counts": self.host_status_counts,
            "failures_by_check": self.failures_by_check,
            "unknown_by_check": self.unknown_by_check,
            "hosts": [{**h.to_dict(), "recap": self.recap(h)} for h in self.hosts],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FleetReport:
        """Read back a report document, refusing a schema version this code does not know."""
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise InputError(
                "unsupported report schema version",
                field="schema_version",
                value=str(version),
                fix=f"use a report written with schema_version {SCHEMA_VERSION}",
            )
        hosts = _require(data, "hosts", "report")
        if not isinstance(hosts, list):
            raise InputError("hosts must be a list", field="report")
        try:
            return cls(
                title=_require(data, "title", "report"),
                generated_at=_require(data, "generated_at", "report"),
                tool_version=_require(data, "tool_version", "report"),
                lang=data.get("lang", "en"),
                fail_on_blocked=_fail_on_blocked(data.get("fail_on_blocked", False)),
                hosts=tuple(HostReport.from_dict(h) for h in hosts),
            )
        except (ValueError, TypeError) as exc:
            raise InputError(str(exc), field="report", fix="regenerate the report") from exc


def _fail_on_blocked(value: Any) -> bool | frozenset[str]:
    """A report document's fail_on_blocked: true, false, or the blocked hosts it fails."""
    if isinstance(value, bool):
        return value
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return frozenset(value)
    raise InputError(
        "fail_on_blocked must be true, false or a list of blocked hosts' names",
        field="fail_on_blocked",
        value=repr(value)[:80],
        fix="regenerate the report",
    )
