"""Remote layer: run sagefleet snippets on Windows hosts over WinRM."""

from __future__ import annotations

from sagefleet.remote.errors import (
    AuthenticationFailed,
    CommandTimeout,
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
    "HostSession",
    "HostUnreachable",
    "RemoteError",
    "RemoteTimeout",
    "LanguageModeRestricted",
    "SnippetFailed",
    "TransportError",
]
