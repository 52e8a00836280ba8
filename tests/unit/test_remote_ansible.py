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


def test_an_answer_cut_in_its_middle_is_a_lost_connection_not_a_raw_exception() -> None:
    """A reply whose body the connection cut (a host restarting, a proxy dropping it) is
    requests' ChunkedEncodingError, which the direct session did not know: it escaped as a
    traceback instead of reading as a lost connection."""
    import socket
    import threading

    import requests

    from sagefleet.remote.winrm import remote_error

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer_half() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<s:Envelope")
        connection.close()

    thread = threading.Thread(target=answer_half)
    thread.start()
    try:
        with pytest.raises(requests.exceptions.RequestException) as raised:
            url = f"http://127.0.0.1:{server.getsockname()[1]}/wsman"
            requests.post(url, data=b"x", timeout=10)
    finally:
        thread.join()
        server.close()
    error = remote_error("sage01", raised.value)
    assert isinstance(error, HostUnreachable), type(raised.value)
    assert "connection lost during the answer" in error.message
