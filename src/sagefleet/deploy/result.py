"""What a deploy did to one host (:class:`DeployResult`), and the findings it adds."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from sagefleet.errors import SagefleetError
from sagefleet.findings import Finding, HostReport, Severity, Status
from sagefleet.outcomes import HostOutcome, Outcome

RUN_ID = secrets.token_hex(4)

#: What a deploy result shares with the host's outcome, beyond the status (the entities
#: written are settings.yml's).
_OUTCOME_FIELDS = tuple(f.name for f in fields(HostOutcome) if f.name not in ("status", "entities"))


def run_owner() -> str:
    """Who holds a host's deploy lock: bastion, process and a random run id."""
    return f"{socket.gethostname()}:{os.getpid()}:{RUN_ID}"


class DeployLocked(SagefleetError):
    """Another run holds the host's deploy lock."""


@dataclass
class DeployResult:
    """What happened on one host, in the words of the fleet summary (sagefleet.outcomes).

    ``previous_version`` is the version found before, ``target_version`` the one asked
    for, ``version`` the one running afterwards.
    """

    host: str
    outcome: Outcome
    changed: bool = False
    plan: str = ""
    previous_version: str | None = None
    target_version: str | None = None
    version: str | None = None
    reboot_required: bool = False
    reason: str | None = None
    duration_s: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    diff: str | None = None
    #: Members only the host's settings.json had, kept in what is written (names only).
    settings_kept: list[str] = field(default_factory=list)
    #: The agent's backups this run removed after it ended well (names only).
    backups_pruned: list[str] = field(default_factory=list)
    #: What went wrong without failing the host (a backup a file in use kept), one line each.
    warnings: list[str] = field(default_factory=list)
    report: HostReport | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in (Outcome.ROLLED_BACK, Outcome.FAILED)

    def as_outcome(self) -> HostOutcome:
        return HostOutcome(self.outcome.value, **{n: getattr(self, n) for n in _OUTCOME_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "outcome": self.outcome.value,
            "changed": self.changed,
            **{name: getattr(self, name) for name in _OUTCOME_FIELDS},
            "duration_s": round(self.duration_s, 3),
            "steps": self.steps,
            "settings_kept": self.settings_kept,
            "backups_pruned": self.backups_pruned,
        }


def finding(check_id: str, ok: bool, title: str, message: str, remediation: str = "") -> Finding:
    """A deploy step's finding (SF601 install, SF603 running, SF604 rollback)."""
    return Finding(
        check_id=check_id,
        status=Status.PASS if ok else Status.FAIL,
        severity=Severity.ERROR,
        title=title,
        message=message,
        remediation=remediation,
    )


def killed_note(outcome: Mapping[str, Any], service: str) -> str:
    """What the snippet did to a service stuck pending, for the report."""
    pid = outcome.get("killed_pid")
    if not pid:
        return ""
    return f"; {service} stayed pending past its timeout: its process {pid} was killed"
