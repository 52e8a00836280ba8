"""Remote layer: run sagefleet snippets on Windows hosts over WinRM."""

from __future__ import annotations

from sagefleet.remote.errors import (
    AuthenticationFailed,
    CommandTimeout,
    ConnectionLost,
    HostUnreachable,
    LanguageModeRestricted,
    RemoteError,
    RemoteTimeout,
    SnippetFailed,
    TransportError,
)
from sagefleet.remote.session import HostSession

__all__ = [
    "AuthenticationFailed",
    "CommandTimeout",
    "ConnectionLost",
    "HostSession",
    "HostUnreachable",
    "RemoteError",
    "RemoteTimeout",
    "LanguageModeRestricted",
    "SnippetFailed",
    "TransportError",
]
