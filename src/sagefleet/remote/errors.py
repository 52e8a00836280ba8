"""Typed errors of the remote layer: every one names the host."""

from __future__ import annotations

import re

from sagefleet.errors import SagefleetError


class RemoteError(SagefleetError):
    """A remote operation on one host failed."""

    kind = "remote"

    def __init__(self, host: str, message: str) -> None:
        self.host = host
        # A connection error of requests/urllib3 as one line with its cause.
        self.message = message = short_cause(message)
        super().__init__(f"{host}: {message}")


class HostUnreachable(RemoteError):
    """The host did not answer at all (refused, no route, DNS, TLS handshake)."""

    kind = "unreachable"


class ConnectionLost(HostUnreachable):
    """A connection that was open broke before the answer came (closed without a reply,
    reset, cut in the middle of the answer): the host was reached, and what the request
    asked may have been done. Retried as a fault for the snippets a second run leaves the
    same (sagefleet.remote.retry), never taken for a host that cannot be reached."""


class AuthenticationFailed(RemoteError):
    """The host rejected the credentials. Never retried: retries lock accounts."""

    kind = "authentication"


class RemoteTimeout(RemoteError):
    """The host accepted the connection but did not answer in time."""

    kind = "timeout"


class CommandTimeout(RemoteError):
    """A command was still running when its time was up: stopped (never retried: it would
    hang again)."""

    kind = "timeout"


class TransportError(RemoteError):
    """The WinRM service answered with an error (HTTP 500, WS-Management fault)."""

    kind = "transport"


#: What a command that never answered raises (its Receive failed, timed out, or lost its
#: connection): it may have stopped part way (the session's terminate Signal kills it where
#: it is), ended with its answer lost, or, the Signal lost too, still run. What it left is
#: read again only once ``HostSession.end_commands`` confirmed it runs no more.
UNANSWERED: tuple[type[RemoteError], ...] = (TransportError, RemoteTimeout, HostUnreachable)
#: What an error says of such a command when the host did not confirm its end.
END_NOT_CONFIRMED = "its end not confirmed (the host did not answer the deletion of its shell)"


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
    names the mode, so the bastion can say what to change.
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


_POOL = re.compile(r"HTTPS?Connection(?:Pool)?\(host='([^']*)', port=(\d+)\)")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')\]]+)")
_CERT = re.compile(r"certificate verify failed: ([^\"'(]+)", re.I)


def short_cause(text: str) -> str:
    """One line for a connection error of requests/urllib3, without its object dump:
    ``HTTPSConnectionPool(host='10.0.0.5', port=5986): Max retries exceeded ... [Errno
    111] Connection refused ...`` → ``cannot connect to 10.0.0.5:5986: connection refused``.
    Any other text is returned unchanged."""
    match = _POOL.search(str(text))
    if match is None:
        return str(text)
    text = " ".join(str(text).split())
    match = _POOL.search(text)
    assert match is not None
    prefix = text[: match.start()]
    for redundant in ("cannot connect: ", "TLS handshake failed: ", "connection timed out: "):
        prefix = prefix.replace(redundant, "")
    return f"{prefix}cannot connect to {match.group(1)}:{match.group(2)}: {_cause(text)}"


def _cause(text: str) -> str:
    cert = _CERT.search(text)
    if cert:
        return "TLS certificate verify failed: " + cert.group(1).strip()
    if "SSLError" in text or "SSL:" in text:
        return "TLS handshake failed"
    if re.search(r"timed out|ConnectTimeout", text, re.I):
        return "connection timed out"
    if re.search(r"NameResolutionError|Failed to resolve", text):
        errno = _ERRNO.search(text)
        return "name does not resolve" + (f" ({errno.group(1).strip()})" if errno else "")
    errno = _ERRNO.search(text)
    if errno:
        return errno.group(1).strip().lower()
    if re.search(r"RemoteDisconnected|Connection aborted|ConnectionResetError", text):
        return "the host closed the connection"
    caused = re.findall(r"Caused by (\w+)", text)
    return caused[-1] if caused else "connection failed"
