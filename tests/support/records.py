"""The failed-install record the tests write and read (docs/deploy.md, "A failed fresh
install is remembered"): one record, in the default backup root."""

from __future__ import annotations

from sagefleet.deploy import record

ROOT = "C:\\ProgramData\\sagefleet\\backup"
PATH = record.record_path(ROOT)


def failed_record(
    reason: str = "installer failed: installer exit code 1603",
) -> record.FailedInstall:
    """A fresh install of 3.2.0 that failed and left the agent running."""
    return record.FailedInstall(
        run="bastion:42:cafe0001:abcdef",
        recorded_utc="2026-12-06T10:00:00Z",
        target_version="3.2.0",
        reason=reason,
        service="SpendeskSageAgent",
        state="Running",
        version="3.2.0",
    )
