"""AnsibleSession words a connection failure as sagefleet's own sessions do (remote/winrm.py).

WinRMSession raises HostUnreachable("cannot connect: <requests' text>") and the like:
the expected messages are built the same way, so whatever RemoteError makes of the
text, both read alike.
"""

from __future__ import annotations

import pytest

from sagefleet.remote import AuthenticationFailed, HostUnreachable, RemoteTimeout
from sagefleet.remote.ansible import _classify

POOL = "HTTPSConnectionPool(host='h', port=5986)"
CERT = (
    "HTTPSConnectionPool(host='h', port=5986): Max retries exceeded "
    "(Caused by SSLError(SSLCertVerificationError(1, 'certificate verify failed')))"
)
REFUSED = (
    "HTTPSConnectionPool(host='10.0.0.5', port=5986): Max retries exceeded with url: /wsman "
    "(Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>: "
    "Failed to establish a new connection: [Errno 111] Connection refused'))"
)


def direct(message: str) -> str:
    """The message of WinRMSession's error for the same failure."""
    return HostUnreachable("sage01", message).message


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        (
            "ntlm: the specified credentials were rejected by the server",
            AuthenticationFailed,
            "credentials rejected: the specified credentials were rejected by the server",
        ),
        (f"ntlm: {REFUSED}", HostUnreachable, direct(f"cannot connect: {REFUSED}")),
        (
            f"ntlm: {REFUSED}{'x' * 300}",
            HostUnreachable,
            direct(f"cannot connect: {(REFUSED + 'x' * 300)[:297]}..."),
        ),
        (
            f"ssl: {CERT}",
            HostUnreachable,
            direct(f"TLS handshake failed: {CERT}"),
        ),
        (
            f"ntlm: {POOL}: Read timed out. (read timeout=30)",
            RemoteTimeout,
            RemoteTimeout("sage01", f"{POOL}: Read timed out. (read timeout=30)").message,
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


def test_a_port_holding_the_digits_401_is_not_a_rejected_login() -> None:
    text = (
        "HTTPSConnectionPool(host='127.0.183.6', port=37401): Max retries exceeded with url: "
        "/wsman (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object>: "
        "Failed to establish a new connection: [Errno 111] Connection refused'))"
    )
    assert not isinstance(_classify("h05", text), AuthenticationFailed)
    assert not isinstance(
        _classify("h05", "cannot connect to 127.0.40.1:5986"), AuthenticationFailed
    )
    assert isinstance(_classify("h05", "ntlm: 401 Unauthorized"), AuthenticationFailed)
    assert isinstance(
        _classify("h05", "Bad HTTP response returned from server. Code 401"), AuthenticationFailed
    )
