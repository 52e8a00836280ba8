"""AnsibleSession words a connection failure as sagefleet's own sessions do (remote/winrm.py)."""

from __future__ import annotations

import pytest

from sagefleet.remote import AuthenticationFailed, HostUnreachable, RemoteTimeout
from sagefleet.remote.ansible import _classify

REFUSED = (
    "HTTPSConnectionPool(host='10.0.0.5', port=5986): Max retries exceeded with url: /wsman "
    "(Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>: "
    "Failed to establish a new connection: [Errno 111] Connection refused'))"
)


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        (
            "ntlm: the specified credentials were rejected by the server",
            AuthenticationFailed,
            "credentials rejected: the specified credentials were rejected by the server",
        ),
        (f"ntlm: {REFUSED}", HostUnreachable, f"cannot connect: {REFUSED}"),
        (
            f"ntlm: {REFUSED}{'x' * 300}",
            HostUnreachable,
            f"cannot connect: {(REFUSED + 'x' * 300)[:297]}...",
        ),
        (
            "ssl: HTTPSConnectionPool(host='h', port=5986): Max retries exceeded "
            "(Caused by SSLError(SSLCertVerificationError(1, 'certificate verify failed')))",
            HostUnreachable,
            "TLS handshake failed: HTTPSConnectionPool(host='h', port=5986): Max retries "
            "exceeded (Caused by SSLError(SSLCertVerificationError(1, 'certificate verify "
            "failed')))",
        ),
        (
            "ntlm: HTTPSConnectionPool(host='h', port=5986): Read timed out. (read timeout=30)",
            RemoteTimeout,
            "HTTPSConnectionPool(host='h', port=5986): Read timed out. (read timeout=30)",
        ),
        # Two transports tried in turn: both errors kept, as ansible-core lists them.
        (
            "ntlm: the specified credentials were rejected by the server, basic: the "
            "specified credentials were rejected by the server",
            AuthenticationFailed,
            "credentials rejected: ntlm: the specified credentials were rejected by the "
            "server, basic: the specified credentials were rejected by the server",
        ),
    ],
)
def test_connection_failures_read_the_same_as_a_direct_session(
    text: str, kind: type[Exception], message: str
) -> None:
    error = _classify("sage01", text)
    assert isinstance(error, kind)
    assert error.message == message  # type: ignore[attr-defined]
