"""What happened to a host, in one word: every status sagefleet reports, declared once.

:class:`Outcome` is the vocabulary (with how PLAY RECAP ends a host in each), and
:class:`HostOutcome` what a deploy or verify run records for one host. Meanings and
exit codes: docs/deploy.md#outcomes-reports-and-exit-codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """Every host status, most urgent first (the order reports sort hosts by)."""

    FAILED = "failed"
    ROLLED_BACK = "rolled-back"
    VERIFY_FAILED = "verify-failed"
    INCOMPLETE = "incomplete"
    BLOCKED = "blocked"
    UNREACHABLE = "unreachable"
    NOT_RUN = "not-run"
    WARNINGS = "warnings"
    PLANNED = "planned"
    INSTALLED = "installed"
    UPGRADED = "upgraded"
    DOWNGRADED = "downgraded"
    SETTINGS_UPDATED = "settings-updated"
    STARTED = "started"
    RESTARTED = "restarted"
    UNCHANGED = "unchanged"
    VERIFIED = "verified"
    READY = "ready"

    @property
    def recap(self) -> str:
        """How a run ends for a host in this status, in Ansible's words: ``failed``
        (exit code 2), ``unreachable`` (exit code 4) or ``ok``."""
        return _RECAP.get(self, "ok")

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_RECAP = {
    Outcome.FAILED: "failed",
    Outcome.ROLLED_BACK: "failed",
    Outcome.VERIFY_FAILED: "failed",
    Outcome.INCOMPLETE: "failed",
    Outcome.NOT_RUN: "failed",
    Outcome.UNREACHABLE: "unreachable",
}

_MEANINGS = {
    Outcome.FAILED: "the change failed and could not be undone: the host needs a look",
    Outcome.ROLLED_BACK: "the change failed; the previous version was restored and runs",
    Outcome.VERIFY_FAILED: "a verification check failed on the host",
    Outcome.INCOMPLETE: (
        "the support bundle was written without part of what was asked: what was not read, "
        "and why, is named"
    ),
    Outcome.BLOCKED: "preflight found a blocking problem: the host was not changed",
    Outcome.UNREACHABLE: "the host could not be reached or diagnosed",
    Outcome.NOT_RUN: "the run stopped before it reached this host (an earlier wave failed)",
    Outcome.WARNINGS: "preflight found warnings only: the host may be deployed",
    Outcome.PLANNED: "check mode: what a run would do, nothing was changed",
    Outcome.INSTALLED: "the agent was installed and runs the target version",
    Outcome.UPGRADED: "the agent was upgraded and runs the target version",
    Outcome.DOWNGRADED: (
        "the agent ran a newer version than the target: it was replaced, and runs the target"
    ),
    Outcome.SETTINGS_UPDATED: (
        "settings.json was rewritten and the agent restarted (an agent not installed reads "
        "it once installed)"
    ),
    Outcome.STARTED: "the agent was at the target version but stopped: it was started",
    Outcome.RESTARTED: (
        "the agent ran without its settings.json (started before its last write): "
        "it was restarted to read them"
    ),
    Outcome.UNCHANGED: (
        "nothing to do: the agent runs the target version with its settings "
        "(settings.yml: settings.json is already as built)"
    ),
    Outcome.VERIFIED: "every verification check passed",
    Outcome.READY: "preflight found nothing that stops a deploy",
}

BY_NAME: Mapping[str, Outcome] = {o.value: o for o in Outcome}

#: Every status name, most urgent first.
STATUSES: tuple[str, ...] = tuple(o.value for o in Outcome)

#: The statuses a job that only observes derives from findings (preflight, doctor).
PREFLIGHT_STATUSES: tuple[str, ...] = tuple(
    o.value for o in (Outcome.BLOCKED, Outcome.UNREACHABLE, Outcome.WARNINGS, Outcome.READY)
)

#: Deploy outcomes that make the run fail (the host fails in PLAY RECAP).
FAILED: tuple[str, ...] = tuple(o.value for o in Outcome if o.recap == "failed")
#: Outcomes that end a host unreachable in PLAY RECAP.
UNREACHABLE: tuple[str, ...] = tuple(o.value for o in Outcome if o.recap == "unreachable")
#: Outcomes sagefleet_outcome marks with its defaults (failed or unreachable); a play may
#: end every other host without running it (deploy.yml does: docs/performance.md).
MARKED: tuple[str, ...] = FAILED + UNREACHABLE

NOT_RUN_REASON = "not deployed: the rollout stopped before this host's wave"


def rank(status: str) -> int:
    """Position of ``status`` in the urgency order; an unknown word is a bug, so it raises."""
    try:
        return STATUSES.index(status)
    except ValueError:
        raise ValueError(f"unknown host status {status!r}") from None


def end_host(
    status: str, reason: str, fail_on: Sequence[str], unreachable_on: Sequence[str]
) -> dict[str, Any]:
    """The task result that ends a host in ``status`` (sagefleet_outcome): failed or
    unreachable in PLAY RECAP when ``fail_on`` or ``unreachable_on`` lists it."""
    message = f"{status}: {reason}" if reason else status
    result: dict[str, Any] = {"changed": False, "status": status, "msg": message}
    if status in unreachable_on:
        result["unreachable"] = True
    elif status in fail_on:
        result["failed"] = True
    return result


@dataclass(frozen=True)
class HostOutcome:
    """What a run did to one host, beyond its findings.

    ``previous_version`` is the agent version found before, ``target_version`` the
    one asked for, ``version`` the one running afterwards (a rolled-back host runs
    its previous version again). ``entities`` names the entities whose settings the
    run wrote (or would write) to the host's settings.json (settings.yml).
    """

    status: str
    reason: str | None = None
    plan: str = ""
    previous_version: str | None = None
    target_version: str | None = None
    version: str | None = None
    reboot_required: bool = False
    entities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rank(self.status)
        for name in ("reason", "previous_version", "target_version", "version"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"outcome {name} must be a string or None")
        if not isinstance(self.plan, str):
            raise ValueError("outcome plan must be a string")
        if not all(isinstance(name, str) for name in self.entities):
            raise ValueError("outcome entities must be strings")

    @property
    def detail(self) -> str:
        """One line for a table: the reason when there is one, else the plan."""
        return self.reason or self.plan

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "reason": self.reason,
            "plan": self.plan,
            "previous_version": self.previous_version,
            "target_version": self.target_version,
            "version": self.version,
            "reboot_required": self.reboot_required,
            "entities": list(self.entities),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, status_key: str = "status") -> HostOutcome:
        """From :meth:`to_dict`'s form, or a deploy result's (``status_key="outcome"``)."""
        return cls(
            status=str(data[status_key]),
            reason=data.get("reason"),
            plan=str(data.get("plan") or ""),
            previous_version=data.get("previous_version"),
            target_version=data.get("target_version"),
            version=data.get("version"),
            reboot_required=bool(data.get("reboot_required", False)),
            entities=tuple(data.get("entities") or ()),
        )
