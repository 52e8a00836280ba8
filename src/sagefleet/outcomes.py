"""What happened to a host, in one word: every status sagefleet reports, declared once.

A host's status is the word every format shows (console, JSON, JUnit, HTML,
PLAY RECAP). A job that only observes (preflight, doctor, offline checks)
derives it from the findings: ``blocked``, ``unreachable``, ``warnings`` or
``ready``. A job that acts or verifies (deploy, verify) records an
:class:`Outcome` for the host, whose status is one of the others. The labels
of each status, in English and French, are in ``sagefleet.report.labels``
(``status.<name>``); a test proves every status has both.

``recap`` says how a deploy or verify run ends for a host in ANSIBLE's terms:
``failed`` (the host counts as failed in PLAY RECAP and the run exits 2),
``unreachable`` (unreachable in PLAY RECAP, exit 4) or ``ok``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    """One status: its name, how a run ends for a host in it, what it means."""

    name: str
    recap: str
    meaning: str


#: Every status, most urgent first (the order reports sort hosts by).
KINDS: tuple[Kind, ...] = (
    Kind("failed", "failed", "the change failed and could not be undone: the host needs a look"),
    Kind("rolled-back", "failed", "the change failed; the previous version was restored and runs"),
    Kind("verify-failed", "failed", "a verification check failed on the host"),
    Kind("blocked", "ok", "preflight found a blocking problem: the host was not changed"),
    Kind("unreachable", "unreachable", "the host could not be reached or diagnosed"),
    Kind(
        "not-run", "failed", "the run stopped before it reached this host (an earlier wave failed)"
    ),
    Kind("warnings", "ok", "preflight found warnings only: the host may be deployed"),
    Kind("planned", "ok", "check mode: what a run would do, nothing was changed"),
    Kind("installed", "ok", "the agent was installed and runs the target version"),
    Kind("upgraded", "ok", "the agent was upgraded and runs the target version"),
    Kind("settings-updated", "ok", "settings.json was rewritten and the agent restarted"),
    Kind("started", "ok", "the agent was at the target version but stopped: it was started"),
    Kind("unchanged", "ok", "nothing to do: the agent runs the target version with its settings"),
    Kind("verified", "ok", "every verification check passed"),
    Kind("ready", "ok", "preflight found nothing that stops a deploy"),
)

BY_NAME: Mapping[str, Kind] = {k.name: k for k in KINDS}

#: Every status name, most urgent first.
STATUSES: tuple[str, ...] = tuple(k.name for k in KINDS)

#: The statuses a job that only observes derives from findings (preflight, doctor).
PREFLIGHT_STATUSES: tuple[str, ...] = ("blocked", "unreachable", "warnings", "ready")

#: Deploy outcomes that make the run fail (the host fails in PLAY RECAP).
FAILED: tuple[str, ...] = tuple(k.name for k in KINDS if k.recap == "failed")

NOT_RUN_REASON = "not deployed: the rollout stopped before this host's wave"


def rank(status: str) -> int:
    """Position of ``status`` in the urgency order; an unknown word is a bug, so it raises."""
    try:
        return STATUSES.index(status)
    except ValueError:
        raise ValueError(f"unknown host status {status!r}") from None


@dataclass(frozen=True)
class Outcome:
    """What a run did to one host, beyond its findings.

    ``previous_version`` is the agent version found before, ``target_version`` the
    one asked for, ``version`` the one running afterwards (a rolled-back host runs
    its previous version again).
    """

    status: str
    reason: str | None = None
    plan: str = ""
    previous_version: str | None = None
    target_version: str | None = None
    version: str | None = None
    reboot_required: bool = False

    def __post_init__(self) -> None:
        rank(self.status)
        for name in ("reason", "previous_version", "target_version", "version"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"outcome {name} must be a string or None")
        if not isinstance(self.plan, str):
            raise ValueError("outcome plan must be a string")

    @property
    def detail(self) -> str:
        """One line for a table: the reason when there is one, else the plan."""
        return self.reason or self.plan

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "plan": self.plan,
            "previous_version": self.previous_version,
            "target_version": self.target_version,
            "version": self.version,
            "reboot_required": self.reboot_required,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        return cls(
            status=str(data["status"]),
            reason=data.get("reason"),
            plan=str(data.get("plan") or ""),
            previous_version=data.get("previous_version"),
            target_version=data.get("target_version"),
            version=data.get("version"),
            reboot_required=bool(data.get("reboot_required", False)),
        )
