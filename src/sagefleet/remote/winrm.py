"""Direct pywinrm implementation of HostSession (CLI, tests, fast path)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
from winrm.exceptions import (
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
)
from winrm.protocol import Protocol

from sagefleet.remote.errors import (
    AuthenticationFailed,
    CommandTimeout,
    ConnectionLost,
    HostUnreachable,
    RemoteError,
    RemoteTimeout,
    TransportError,
)
from sagefleet.remote.session import HostSession, Stdin


@dataclass(frozen=True)
class WinRMTarget:
    """How to reach one host: the same settings Ansible's winrm connection takes."""

    host: str
    address: str
    username: str
    password: str
    port: int = 5986
    scheme: str = "https"
    transport: str = "ntlm"
    server_cert_validation: str = "validate"
    ca_trust_path: str | None = None
    message_encryption: str = "auto"
    operation_timeout: int = 20
    read_timeout: int = 30
    path: str = "/wsman"
    # Any other keyword argument of pywinrm's Protocol, as ansible-core's winrm connection
    # passes an ``ansible_winrm_<argument>`` variable through (a proxy, send_cbt...).
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def endpoint(self) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.path}"

    def __repr__(self) -> str:  # never show the password
        return (
            f"WinRMTarget(host={self.host!r}, endpoint={self.endpoint!r}, "
            f"transport={self.transport!r}, username={self.username!r})"
        )


#: How urllib3 words an error on a connection it had open (``ProtocolError``): the peer
#: closed or reset it, or it broke, while the request or its answer travelled.
_ABORTED = "Connection aborted."


def remote_error(host: str, exc: BaseException) -> RemoteError | None:
    """sagefleet's typed error for an exception of pywinrm or requests talking to ``host``
    (None: any other exception)."""
    if isinstance(exc, InvalidCredentialsError):
        return AuthenticationFailed(host, f"credentials rejected: {exc}")
    if isinstance(exc, requests.exceptions.SSLError):
        return HostUnreachable(host, f"TLS handshake failed: {_short(exc)}")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return HostUnreachable(host, f"connection timed out: {_short(exc)}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _ABORTED in str(exc):
            # urllib3's word for a connection that was open (never one refused or not
            # made): cut before the answer, what the request asked may have been done.
            return ConnectionLost(host, f"connection lost before the answer: {_short(exc)}")
        return HostUnreachable(host, f"cannot connect: {_short(exc)}")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        # The host answered, and the connection broke in the middle of its answer: what
        # the request asked may have been done, as after a connection lost at any point.
        return ConnectionLost(host, f"connection lost during the answer: {_short(exc)}")
    if isinstance(exc, requests.exceptions.Timeout):
        return RemoteTimeout(host, f"no answer in time: {_short(exc)}")
    if isinstance(exc, WinRMOperationTimeoutError):
        # Not a WinRMError subclass in pywinrm: the service's OperationTimeout fault
        # outside the Receive loop (e.g. at Command).
        return RemoteTimeout(host, "the WinRM service did not complete the operation in time")
    if isinstance(exc, WinRMTransportError | WinRMError):
        # An HTTP 500, a WS-Management fault (WSManFaultError is a WinRMError).
        return TransportError(host, f"WinRM error: {_short(exc)}")
    return None


def _last_flag(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    iterator = iter(chunks)
    try:
        current = next(iterator)
    except StopIteration:
        yield b"", True
        return
    for following in iterator:
        yield current, False
        current = following
    yield current, True


class WinRMSession(HostSession):
    """A HostSession over pywinrm, keeping one remote shell for all its runs."""

    streams_stdin = True  # one Send per block, as the iterable yields it

    def __init__(self, target: WinRMTarget) -> None:
        super().__init__(target.host)
        self.target = target
        #: How long one command may run (None: as long as it takes). pywinrm polls a
        #: command that never ends for ever; past this it is stopped (CommandTimeout).
        self.command_timeout_s: float | None = None
        #: What the timeout is called where the operator sets it, for the error.
        self.command_timeout_name = "the command's time limit"
        self._protocol: Protocol | None = None
        self._shell_id: str | None = None
        # A command that ended and whose terminate Signal is deferred: the next
        # command sends it; closing does not, since deleting the shell ends its
        # commands. A one-command session (a preflight) saves a round trip.
        self._ended: str | None = None

    def _connect(self) -> tuple[Protocol, str]:
        if self._protocol is None or self._shell_id is None:
            t = self.target
            kwargs: dict[str, Any] = {
                "endpoint": t.endpoint,
                "transport": t.transport,
                "username": t.username,
                "password": t.password,
                "server_cert_validation": t.server_cert_validation,
                "message_encryption": t.message_encryption,
                "operation_timeout_sec": t.operation_timeout,
                "read_timeout_sec": t.read_timeout,
            }
            if t.ca_trust_path:
                kwargs["ca_trust_path"] = t.ca_trust_path
            kwargs.update(t.options)
            if t.transport == "ntlm":
                kwargs["password"] = ntlm_hashes(t.password)
            protocol = Protocol(**kwargs)
            self._guard(lambda: _settle(protocol))
            self._shell_id = self._guard(lambda: protocol.open_shell(codepage=65001))
            self._protocol = protocol
        return self._protocol, self._shell_id

    def _guard(self, call: Any) -> Any:
        try:
            return call()
        except Exception as exc:
            error = remote_error(self.host, exc)
            if error is None:
                raise
            raise error from None

    def execute(self, command: str, stdin: Stdin = None) -> tuple[int, bytes, bytes]:
        protocol, shell_id = self._connect()
        if self._ended is not None:
            self._terminate(protocol, shell_id, self._ended)
            self._ended = None
        command_id: str = self._guard(
            lambda: protocol.run_command(shell_id, command, console_mode_stdin=stdin is None)
        )
        try:
            if stdin is not None:
                for chunk, last in _last_flag(stdin):
                    self._guard(
                        lambda c=chunk, e=last: protocol.send_command_input(
                            shell_id, command_id, c, end=e
                        )
                    )
            stdout, stderr, rc = self._output(protocol, shell_id, command_id)
        except BaseException:
            self._terminate(protocol, shell_id, command_id)  # it may still be running
            raise
        self._ended = command_id
        return int(rc), stdout, stderr

    def _output(
        self, protocol: Protocol, shell_id: str, command_id: str
    ) -> tuple[bytes, bytes, int]:
        """The command's output, Receive after Receive (each ends with the output so far,
        or the service's OperationTimeout while the command runs quiet), until it is done
        or its time is up."""
        limit = self.command_timeout_s
        deadline = None if limit is None else time.monotonic() + limit
        out: list[bytes] = []
        err: list[bytes] = []
        while True:
            received = self._guard(lambda: _receive(protocol, shell_id, command_id))
            if received is not None:
                stdout, stderr, rc, done = received
                out.append(stdout)
                err.append(stderr)
                if done:
                    return b"".join(out), b"".join(err), int(rc)
            if deadline is not None and time.monotonic() >= deadline:
                raise CommandTimeout(
                    self.host,
                    f"the command was still running after {limit:g} s "
                    f"({self.command_timeout_name}): stopped; a hung WMI query, a script "
                    "waiting for input? Run it again, or read the host's event logs",
                )

    def sibling(self) -> WinRMSession:
        """A session of its own (connection, NTLM context, shell) to the same host."""
        return WinRMSession(self.target)

    @staticmethod
    def _terminate(protocol: Protocol, shell_id: str, command_id: str) -> None:
        # Best effort: the result is already known, or the error being raised matters more.
        # (pywinrm's OperationTimeout is not a WinRMError.)
        with contextlib.suppress(
            WinRMError, WinRMOperationTimeoutError, requests.exceptions.RequestException
        ):
            protocol.cleanup_command(shell_id, command_id)

    def end_commands(self) -> bool:
        protocol, shell_id = self._protocol, self._shell_id
        self._protocol = self._shell_id = self._ended = None  # the next command: a new one
        if protocol is None or shell_id is None:
            return True  # no shell open: nothing of this session runs
        try:
            protocol.close_shell(shell_id)
        except (WinRMError, WinRMOperationTimeoutError, requests.exceptions.RequestException):
            return False
        return True

    def close(self) -> None:
        protocol, shell_id = self._protocol, self._shell_id
        self._protocol = self._shell_id = self._ended = None
        if protocol is not None and shell_id is not None:
            with contextlib.suppress(RemoteError, WinRMError, requests.exceptions.RequestException):
                protocol.close_shell(shell_id)


def _receive(
    protocol: Protocol, shell_id: str, command_id: str
) -> tuple[bytes, bytes, int, bool] | None:
    """One Receive; None when the service's OperationTimeout came first (the command runs
    on, quiet), which pywinrm raises as an error of its own."""
    try:
        return protocol.get_command_output_raw(shell_id, command_id)
    except WinRMOperationTimeoutError:
        return None


def _settle(protocol: Protocol) -> None:
    """Build the protocol's HTTP session now, then stop requests reading the environment
    on every request.

    pywinrm reads the proxy settings of the environment once, for its one endpoint,
    when it builds the session (an HTTP endpoint's NTLM handshake for message
    encryption happens there too). requests would read them again on every request
    (every environment variable decoded, several times a request): the same answer for
    the same endpoint. netrc and REQUESTS_CA_BUNDLE, the other things it reads, do not
    apply: the session has its own authentication and certificate settings.
    """
    session = protocol.transport.build_session()
    session.trust_env = False


@functools.lru_cache(maxsize=64)
def ntlm_hashes(password: str) -> str:
    """The password as its NTLM hashes, ``LM:NT`` in hexadecimal, which pyspnego takes in
    place of the password: computed once per password instead of at every connection
    (the LM hash is pure-Python DES, about a tenth of a preflight's CPU on the bastion).

    The hashes are what NTLM derives from the password before anything goes on the
    wire; the messages are the same. Falls back to the password itself if pyspnego no
    longer offers its hash functions.
    """
    try:
        from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
    except ImportError:  # pragma: no cover - a pyspnego without them: slower, same result
        return password
    return f"{lmowfv1(password).hex()}:{ntowfv1(password).hex()}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
