"""The failed-install record: a fresh install that failed, remembered on the host.

A fresh install has no earlier agent to restore, and the vendor's installer may leave
its agent behind when it fails (exit code 1603 after the files and the service were in
place). Found by the next run, that agent would be taken as installed (``unchanged``,
or upgraded over). So the failure is written to ``failed-install.json`` in the host's
backup root (a private folder: only SYSTEM and Administrators may write it), read by
the facts script before every plan (preflight's SF406 reports it too), and removed by
the next run that leaves the agent as asked
(docs/deploy.md#a-failed-fresh-install-is-remembered).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sagefleet.failed_install import FailedInstall, RecordUnreadable, found_record, record_path
from sagefleet.outcomes import Outcome
from sagefleet.remote import HostSession, SnippetFailed

# The record's document (sagefleet.failed_install), and what the deploy does with it.
__all__ = [
    "SETTLED",
    "FailedInstall",
    "RecordUnreadable",
    "now_utc",
    "read_record",
    "record_path",
    "remove_record",
    "write_record",
]

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


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run(session: HostSession, params: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = session.run_snippet("failed_install", params)
    return answer


def read_record(session: HostSession, path: str) -> FailedInstall | None:
    """The record on the host, read in a command of its own (see found_record); a deploy
    reads it in the facts instead."""
    try:
        answer = _run(session, {"action": "read", "path": path})
    except SnippetFailed as exc:
        raise RecordUnreadable(path, exc.error.strip() or str(exc)) from None
    exists, text = bool(answer.get("exists")), answer.get("text")
    return found_record(path, exists=exists, text=text, error=None)


def write_record(session: HostSession, path: str, record: FailedInstall) -> None:
    _run(session, {"action": "write", "path": path, "text": record.to_text()})


def remove_record(session: HostSession, path: str) -> None:
    _run(session, {"action": "remove", "path": path})
