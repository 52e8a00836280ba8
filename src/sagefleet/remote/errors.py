"""Typed errors of the remote layer: every one names the host."""

from __future__ import annotations

from sagefleet.errors import SagefleetError


class RemoteError(SagefleetError):
    """A remote operation on one host failed."""

    kind = "remote"

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        self.message = message
        super().__init__(f"{host}: {message}")


class HostUnreachable(RemoteError):
    """The host did not answer at all (refused, no route, DNS, TLS handshake)."""

    kind = "unreachable"


class AuthenticationFailed(RemoteError):
    """The host rejected the credentials. Never retried: retries lock accounts."""

    kind = "authentication"


class RemoteTimeout(RemoteError):
    """The host accepted the connection but did not answer in time."""

    kind = "timeout"


class TransportError(RemoteError):
    """The WinRM service answered with an error (HTTP 500, WS-Management fault)."""

    kind = "transport"


class SnippetFailed(RemoteError):
    """A snippet ran and failed: rc != 0, or stdout was not one JSON document."""

    kind = "snippet"

    def __init__(self, host: str, snippet: str, rc: int, error: str) -> None:
        self.snippet = snippet
        self.rc = rc
        self.error = error
        detail = error.strip() or "no error text"
        super().__init__(host, f"snippet {snippet} failed (rc {rc}): {detail}")


class LanguageModeRestricted(SnippetFailed):
    """PowerShell on the host runs in another language mode than FullLanguage.

    AppLocker or WDAC policies put remote sessions in Constrained Language Mode,
    where the snippets cannot run at all: the stdin bootstrap stops first and
    names the mode, so the controller can say what to change.
    """

    kind = "language_mode"

    def __init__(self, host: str, snippet: str, rc: int, mode: str) -> None:
        self.mode = mode
        super().__init__(
            host,
            snippet,
            rc,
            f"PowerShell runs in {mode} mode on this host; sagefleet's scripts need "
            "FullLanguage (an AppLocker or WDAC policy applies to WinRM sessions: exempt "
            "the account sagefleet connects with from it)",
        )
