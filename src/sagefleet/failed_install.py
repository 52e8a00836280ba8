"""The failed-install record's document: what a fresh install that failed left on the
host, as the host reads it and as the bastion says it (the deploy's reason, SF406).

Kept apart from the deploy (sagefleet.deploy.record writes, reads and removes it on the
host) so that preflight, its checks and the offline collector read it without importing
the deploy (docs/deploy.md#a-failed-fresh-install-is-remembered).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sagefleet.errors import SagefleetError

RECORD_NAME = "failed-install.json"
ACCEPT = "sagefleet_agent_accept_failed_install"
SCHEMA = 1

class RecordUnreadable(SagefleetError):
    """The record is on the host but cannot be read: never taken as absent."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{unreadable_said(path, why)}. {UNREADABLE_FIX}")
        self.path, self.why = path, why


def record_path(backup_dir: str) -> str:
    return backup_dir.rstrip("\\") + "\\" + RECORD_NAME


def agent_said(service: str, state: str | None, version: str | None) -> str:
    """An agent service as a refusal names it: 'SageAgent Running at 2.3.0'."""
    at = f" at {version}" if version else ""
    return f"{service} {state or 'in an unknown state'}{at}"


@dataclass(frozen=True)
class FailedInstall:
    """One failed fresh install: which run, when (the bastion's UTC time), the version
    it installed, why it failed, and the agent service it left (None: none)."""

    run: str
    recorded_utc: str
    target_version: str
    reason: str
    service: str | None = None
    state: str | None = None
    version: str | None = None

    @property
    def left(self) -> str:
        if not self.service:
            return "no agent service"
        return agent_said(self.service, self.state, self.version)

    @property
    def run_said(self) -> str:
        return f"the deploy run {self.run} of {self.recorded_utc}"

    def to_text(self) -> str:
        document = {
            "schema": SCHEMA,
            "run": self.run,
            "recorded_utc": self.recorded_utc,
            "target_version": self.target_version,
            "reason": self.reason,
            "left": {"service": self.service, "state": self.state, "version": self.version},
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_text(cls, text: str, path: str) -> FailedInstall:
        """Raises RecordUnreadable, naming the file and what is wrong with it."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise RecordUnreadable(path, f"not JSON: {exc}") from None
        left = data.get("left") if isinstance(data, dict) else None
        strings = ("run", "recorded_utc", "target_version", "reason")
        if (
            not isinstance(data, dict)
            or data.get("schema") != SCHEMA
            or not all(isinstance(data.get(k), str) and data[k] for k in strings)
            or not isinstance(left, dict)
            or not all(isinstance(left.get(k), str | None) for k in ("service", "state", "version"))
        ):
            raise RecordUnreadable(path, f"not a record of schema {SCHEMA}")
        return cls(
            **{k: data[k] for k in strings},
            service=left.get("service"),
            state=left.get("state"),
            version=left.get("version"),
        )

    def refusal(self, path: str, found: str) -> str:
        """Why this run fails the host: the agent found is the one the failed install left."""
        return f"{self.refused(path, found)}. {FIX}"

    def refused(self, path: str, found: str) -> str:
        """The refusal without what to do (SF406's message)."""
        return (
            f"{self.run_said} failed to install {self.target_version} on this host "
            f"({self.reason}) and left {self.left}, recorded in {path}: the agent found "
            f"({found}) is not taken as installed"
        )


#: What to do about the agent a failed fresh install left (the deploy's reason, SF406).
FIX = (
    "Uninstall it (Programs and Features), then deploy again; or, to keep it as it is, "
    f"deploy once with {ACCEPT}: true"
)
#: What to do about a record that cannot be read.
UNREADABLE_FIX = (
    "Check the agent (uninstall it if that install left it), delete the record and deploy "
    f"again; or deploy once with {ACCEPT}: true to keep the agent as it is"
)


def unreadable_said(path: str, why: str) -> str:
    return (
        f"the failed-install record {path} cannot be read ({why}): an earlier deploy's "
        "fresh install failed on this host"
    )


def found_record(
    path: str, *, exists: bool, text: str | None, error: str | None
) -> FailedInstall | None:
    """The record as the host read it (the facts script, or failed_install's read): None
    when there is none; RecordUnreadable when it is there and cannot be read (a corrupt
    file, a folder refused): never taken as absent."""
    if error:
        raise RecordUnreadable(path, error.strip())
    if not exists:
        return None
    return FailedInstall.from_text(str(text or ""), path)
