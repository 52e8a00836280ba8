"""Errors of the simulated host: what Windows refuses, and how (docs/simulator.md)."""

from __future__ import annotations

from sagefleet.errors import SagefleetError


class ProfileError(SagefleetError):
    """A simulator profile is missing or malformed."""


class ModelError(SagefleetError):
    """A Windows operation failed the way Windows fails it.

    Snippet models turn it into a PowerShell-style error (rc 1, the message on
    stderr), so the message is the text Windows would print.
    """


class PathNotFound(ModelError):
    """No such file, folder, drive or reachable network share."""


class DiskFull(ModelError):
    """The volume has not enough free space for the write (disk full)."""


class AccessDenied(ModelError):
    """The file's ACL does not let this account read it."""


class ServiceError(ModelError):
    """A service could not be found, started or stopped.

    ``reason`` is the Win32 error text alone (e.g. error 1069's), as the inner
    exception of ``ServiceController.Start()`` carries it; the message is the
    cmdlet's whole sentence.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class ServiceTimeout(ServiceError):
    """``ServiceController.WaitForStatus(state, timeout)`` gave up: the service is still pending."""


class ScriptHung(BaseException):  # noqa: N818 - named for what happened, as Windows shows it
    """The script waits for ever on Windows (a cmdlet polling a stuck service, a dialog).

    Not an ``Exception``: no model's own error handling may turn it into a
    reported failure, since on Windows the call never returns. The simulator
    holds the command ``WindowsHost.hang_limit_s`` seconds, then ends it with rc 1
    and this text (dispatch.run_snippet), so a test sees the hang and stops.
    """


#: System.ServiceProcess.TimeoutException's message (WaitForStatus with a timeout).


class SharingViolation(ModelError):
    """Another process holds the file open (ERROR_SHARING_VIOLATION, an IOException)."""

