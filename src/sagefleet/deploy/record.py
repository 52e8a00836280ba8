"""The failed-install record: a fresh install that failed, remembered on the host.

A fresh install has no earlier agent to restore, and the vendor's installer may leave
its agent behind when it fails (exit code 1603 after the files and the service were in
place). Found by the next run, that agent would be taken as installed (``unchanged``,
or upgraded over). So the failure is written to ``failed-install.json`` in the host's
backup root (a private folder: only SYSTEM and Administrators may write it), read before
every plan, and removed by the next run that leaves the agent as asked
(docs/deploy.md#a-failed-fresh-install-is-remembered).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sagefleet.errors import SagefleetError
from sagefleet.outcomes import Outcome
from sagefleet.remote import HostSession, SnippetFailed

RECORD_NAME = "failed-install.json"
ACCEPT = "sagefleet_agent_accept_failed_install"
SCHEMA = 1

#: The outcomes after which the host holds the agent as asked: a record goes.
SETTLED = frozenset(
    {
        Outcome.INSTALLED,
        Outcome.UPGRADED,
        Outcome.DOWNGRADED,
        Outcome.SETTINGS_UPDATED,
        Outcome.STARTED,
        Outcome.RESTARTED,
        Outcome.UNCHANGED,
    }
)


class RecordUnreadable(SagefleetError):
    """The record is on the host but cannot be read: never taken as absent."""


def record_path(backup_dir: str) -> str:
    return backup_dir.rstrip("\\") + "\\" + RECORD_NAME


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
        at = f" at {self.version}" if self.version else ""
        return f"{self.service} {self.state or 'in an unknown state'}{at}"

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
            raise RecordUnreadable(_unreadable(path, f"not JSON: {exc}")) from None
        left = data.get("left") if isinstance(data, dict) else None
        strings = ("run", "recorded_utc", "target_version", "reason")
        if (
            not isinstance(data, dict)
            or data.get("schema") != SCHEMA
            or not all(isinstance(data.get(k), str) and data[k] for k in strings)
            or not isinstance(left, dict)
            or not all(isinstance(left.get(k), str | None) for k in ("service", "state", "version"))
        ):
            raise RecordUnreadable(_unreadable(path, f"not a record of schema {SCHEMA}"))
        return cls(
            **{k: data[k] for k in strings},
            service=left.get("service"),
            state=left.get("state"),
            version=left.get("version"),
        )

    def refusal(self, path: str, found: str) -> str:
        """Why this run fails the host: the agent found is the one the failed install left."""
        return (
            f"{self.run_said} failed to install {self.target_version} on this host "
            f"({self.reason}) and left {self.left}, recorded in {path}: the agent found "
            f"({found}) is not taken as installed. Uninstall it (Programs and Features), then "
            f"deploy again; or, to keep it as it is, deploy once with {ACCEPT}: true"
        )


def _unreadable(path: str, why: str) -> str:
    return (
        f"the failed-install record {path} cannot be read ({why}): an earlier deploy's "
        "fresh install failed on this host. Check the agent (uninstall it if that install "
        f"left it), delete the record and deploy again; or deploy once with {ACCEPT}: true "
        "to keep the agent as it is"
    )


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run(session: HostSession, params: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = session.run_snippet("failed_install", params)
    return answer


def read_record(session: HostSession, path: str) -> FailedInstall | None:
    """The record on the host, None when there is none; RecordUnreadable when it is there
    and cannot be read (a corrupt file, a folder refused): never taken as absent."""
    try:
        answer = _run(session, {"action": "read", "path": path})
    except SnippetFailed as exc:
        raise RecordUnreadable(_unreadable(path, exc.error.strip() or str(exc))) from None
    if not answer.get("exists"):
        return None
    return FailedInstall.from_text(str(answer.get("text") or ""), path)


def write_record(session: HostSession, path: str, record: FailedInstall) -> None:
    _run(session, {"action": "write", "path": path, "text": record.to_text()})


def remove_record(session: HostSession, path: str) -> None:
    _run(session, {"action": "remove", "path": path})
