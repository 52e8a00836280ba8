"""HostSession over the Ansible connection of the current host (action plugins).

Commands go through ``connection.exec_command`` with the exact PowerShell
prefix ansible-core's winrm plugin passes through unchanged, never through
Ansible's module exec wrapper.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sagefleet.remote.errors import (
    AuthenticationFailed,
    HostUnreachable,
    RemoteTimeout,
    TransportError,
)
from sagefleet.remote.session import HostSession

_AUTH = re.compile(r"credentials were rejected|401|unauthori[sz]ed", re.I)
_TIMEOUT = re.compile(r"timed? ?out|timeout", re.I)


class AnsibleSession(HostSession):
    """A HostSession over an already configured Ansible connection plugin."""

    def __init__(self, host: str, connection: Any) -> None:
        super().__init__(host)
        self.connection = connection

    def execute(
        self, command: str, stdin: Iterable[bytes] | None = None
    ) -> tuple[int, bytes, bytes]:
        from ansible.errors import AnsibleConnectionFailure, AnsibleError

        in_data = b"".join(stdin) if stdin is not None else None
        try:
            rc, stdout, stderr = self.connection.exec_command(command, in_data=in_data)
        except AnsibleConnectionFailure as exc:
            raise _classify(self.host, str(exc)) from None
        except AnsibleError as exc:
            text = str(exc)
            if _TIMEOUT.search(text):
                raise RemoteTimeout(self.host, text) from None
            raise TransportError(self.host, text) from None
        return int(rc), _as_bytes(stdout), _as_bytes(stderr)


def _classify(host: str, text: str) -> Exception:
    if _AUTH.search(text):
        return AuthenticationFailed(host, text)
    if re.search(r"read timed out|operation timed out", text, re.I):
        return RemoteTimeout(host, text)
    return HostUnreachable(host, text)


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")
