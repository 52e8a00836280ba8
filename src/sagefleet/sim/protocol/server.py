"""HTTP(S) front of the simulated hosts: authentication, encryption, listeners.

One listener per host address; one acceptor thread for the whole fleet and
one thread per client connection. NTLM authentication is connection-bound
(as on Windows), so the context lives on the connection handler. A listener
knows no host: it gets a ``Credentials`` policy and a command ``Runner``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import http.server
import os
import selectors
import shutil
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import spnego
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

from sagefleet.errors import SagefleetError
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.protocol import wsman
from sagefleet.sim.protocol.faults import DropConnection, FaultPlan

BOUNDARY = b"--Encrypted Boundary"
ENCRYPTED_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
ENCRYPTED_TYPE = (
    f'multipart/encrypted;protocol="{ENCRYPTED_PROTOCOL}";boundary="Encrypted Boundary"'
)


class Credentials(Protocol):
    """Who may log on to one listener, and how: all a listener knows of its host.

    The simulated hosts' implementation is ``host.logon.HostCredentials``.
    """

    @property
    def username(self) -> str: ...

    @property
    def allow_basic(self) -> bool: ...

    @property
    def allow_unencrypted(self) -> bool: ...

    def basic(self, user: str, password: str) -> str | None:
        """The account a Basic logon with these credentials opens, or None."""
        ...

    def ntlm(self, principal: str) -> str | None:
        """The account an NTLM logon of ``principal`` (pyspnego's) opens, or None."""
        ...

    def ntlm_users(self) -> list[tuple[str, str, str]]:
        """Every (domain, user, password) an NTLM AUTHENTICATE message may carry."""
        ...


class CredentialsError(SagefleetError):
    """Two hosts of one simulator process give one NTLM user two passwords."""


class _NtlmUsers:
    """Process-wide NTLM credential file (pyspnego reads it from NTLM_USER_FILE).

    It holds every (domain, user) pair under which a host's account may log on
    (``Credentials.ntlm_users``); which pair a given host accepts is decided per
    host after the exchange (``Credentials.ntlm``), since the file is shared.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[tuple[str, str], tuple[str, str, str]] = {}
        self._path: str | None = None

    def add(self, credentials: Credentials) -> None:
        """Register the account of one listener's credentials."""
        entries = credentials.ntlm_users()
        with self._lock:
            added = False
            for domain, user, password in entries:
                key = (domain.lower(), user.lower())
                known = self._users.get(key)
                if known is not None and known[2] != password:
                    raise CredentialsError(
                        f"user {credentials.username!r} is already defined with another "
                        "password in this simulator process; use a distinct user name per "
                        "password"
                    )
                if known is None:
                    self._users[key] = (domain, user, password)
                    added = True
            if added:
                self._write()

    def _write(self) -> None:
        """The accounts as smbpasswd lines: their LM and NT hashes, as Windows keeps an
        account, never the password (the served inventory's may be a real client's; a ':'
        in it would also break a DOMAIN:USER:PASSWORD line). Replaced whole, for the
        logons reading it meanwhile; a private folder, removed when the process ends."""
        if self._path is None:
            folder = tempfile.mkdtemp(prefix="sagefleet-ntlm-")
            self._path = os.path.join(folder, "users.txt")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
        lines = [
            ":".join((d + "\\" + u if d else u, "0", lmowfv1(p).hex(), ntowfv1(p).hex()))
            + ":[U]:LCT-0"
            for d, u, p in sorted(self._users.values())
        ]
        partial = self._path + ".part"
        with open(partial, "w", encoding="utf-8") as stream:
            stream.write("\n".join(lines) + "\n")
        os.replace(partial, self._path)
        os.environ["NTLM_USER_FILE"] = self._path


NTLM_USERS = _NtlmUsers()


@dataclass
class Stats:
    # Shell operations that reached the WS-Management layer (authenticated requests).
    requests: int = 0
    # Every HTTP request the listener answered, NTLM handshake legs included: the
    # round trips a client paid for (benchmarks count them).
    http_requests: int = 0
    encrypted: int = 0
    unencrypted: int = 0
    auth_failures: int = 0
    # Bytes of stdin the host received through Send (decoded), for benchmarks.
    stdin_bytes: int = 0
    # Bytes of HTTP request bodies received, as on the wire.
    body_bytes: int = 0
    operations: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, encrypted: bool) -> None:
        with self.lock:
            self.requests += 1
            if encrypted:
                self.encrypted += 1
            else:
                self.unencrypted += 1


class _ListenerHooks:
    """Counts each shell operation and stdin byte, then lets the fault plan act."""

    def __init__(self, stats: Stats, faults: FaultPlan) -> None:
        self.stats = stats
        self.faults = faults

    def on_operation(self, operation: str) -> None:
        with self.stats.lock:
            self.stats.operations[operation] = self.stats.operations.get(operation, 0) + 1
        self.faults.on_operation(operation)

    def on_stdin(self, count: int) -> None:
        with self.stats.lock:
            self.stats.stdin_bytes += count
        self.faults.on_stdin(count)


def _starts_powershell(command_line: str) -> bool:
    first = command_line.lstrip().split(" ", 1)[0].lower()
    return first in {"powershell", "powershell.exe", "pwsh", "pwsh.exe"}


class Listener(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """One host's WinRM endpoint (HTTP or HTTPS)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: str,
        port: int,
        scheme: str,
        ssl_context: ssl.SSLContext | None,
        *,
        machine: str,
        credentials: Credentials,
        runner: wsman.Runner,
        reads_stdin: Callable[[str], bool],
        faults: FaultPlan | None = None,
        stats: Stats | None = None,
    ) -> None:
        self.credentials = credentials
        self.runner = runner
        self.scheme = scheme
        self.ssl_context = ssl_context
        self.stats = stats if stats is not None else Stats()
        self.faults = faults if faults is not None else FaultPlan()
        self.shells = wsman.ShellService(
            machine,
            self._run,
            hooks=_ListenerHooks(self.stats, self.faults),
            reads_stdin=reads_stdin,
        )
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__((address, port), Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the address back to a name (getfqdn):
        # a reverse DNS query per host, 75 ms each, for a name nobody reads.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def _run(
        self, command_line: str, stdin: Stdin, *, cmd_shell: bool, killed: threading.Event
    ) -> tuple[int, bytes, bytes]:
        if _starts_powershell(command_line):
            self.faults.powershell_delay(killed)
            if killed.is_set():
                return 1, b"", b""  # killed while powershell.exe started: no script ran
        return self.runner(command_line, stdin, cmd_shell=cmd_shell, killed=killed)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_context is not None:
            try:
                request.settimeout(10)
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        with self.conn_lock:
            self.connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self.conn_lock:
                self.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client went away mid-request: normal for HTTP clients, not worth a traceback.
        return

    def close_connections(self) -> None:
        with self.conn_lock:
            for conn in list(self.connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    timeout = 120
    server: Listener

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes: without this, Nagle's algorithm
        # holds the body until the client's delayed ACK (about 40 ms per request).
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ntlm: Any = None
        self.ntlm_scheme = "Negotiate"
        self.ntlm_user: str | None = None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    # -- HTTP plumbing -------------------------------------------------
    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _challenge(self, token: bytes | None = None) -> None:
        if token is not None:
            offers = [f"{self.ntlm_scheme} {base64.b64encode(token).decode()}"]
        else:
            offers = ["Negotiate"]
            if self.server.credentials.allow_basic:
                offers.append('Basic realm="WSMAN"')
        self.send_response(401)
        for offer in offers:
            self.send_header("WWW-Authenticate", offer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._reply(405)

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.faults.on_request()
        with self.server.stats.lock:
            self.server.stats.body_bytes += len(body)
            self.server.stats.http_requests += 1
        if self.path.rstrip("/").lower() != "/wsman":
            self._reply(404)
            return
        user = self._authenticate()
        if user is None:
            return
        content_type = self.headers.get("Content-Type", "")
        encrypted = content_type.startswith("multipart/encrypted")
        if encrypted:
            if self.ntlm is None or not self.ntlm.complete:
                self._reply(400)
                return
            try:
                body = self._unwrap(body)
            except ValueError:
                self._reply(400)
                return
        if not body:
            self._reply(200)  # message-encryption set-up: authenticate only
            return
        if (
            self.server.scheme == "http"
            and not encrypted
            and not self.server.credentials.allow_unencrypted
        ):
            fault = wsman.WSManFault(
                5,
                "Access is denied: unencrypted traffic is disabled in the WinRM service "
                "configuration (AllowUnencrypted=false).",
                "w:AccessDenied",
            )
            self._reply(
                500,
                self.server.shells.fault_reply(body, fault),
                {"Content-Type": "application/soap+xml;charset=UTF-8"},
            )
            return
        self.server.stats.count(encrypted)
        status = 200
        try:
            reply = self.server.shells.handle(body, user, self.client_address[0])
        except wsman.WSManFault as fault:
            status = 500
            reply = self.server.shells.fault_reply(body, fault)
        except DropConnection:
            # The command whose input was cut has acted on what it received.
            self.server.shells.connection_lost(body)
            self._drop()
            return
        if encrypted:
            self._reply(status, self._wrap(reply), {"Content-Type": ENCRYPTED_TYPE})
        else:
            self._reply(status, reply, {"Content-Type": "application/soap+xml;charset=UTF-8"})

    def _drop(self) -> None:
        """Close the TCP connection without a reply, as a cut link or crashed proxy does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- authentication ------------------------------------------------
    def _authenticate(self) -> str | None:
        credentials = self.server.credentials
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        scheme_l = scheme.lower()
        if scheme_l == "basic":
            if not credentials.allow_basic or (
                self.server.scheme == "http" and not credentials.allow_unencrypted
            ):
                self._fail_auth()
                return None
            try:
                user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                self._fail_auth()
                return None
            account = credentials.basic(user, password)
            if not self.server.faults.auth_should_fail() and account is not None:
                return account
            self._fail_auth()
            return None
        if scheme_l in {"negotiate", "ntlm"}:
            try:
                token = base64.b64decode(value)
            except ValueError:
                self._fail_auth()
                return None
            return self._ntlm_step(scheme, token)
        if self.ntlm_user is not None:
            return self.ntlm_user
        self._challenge()
        return None

    def _ntlm_step(self, scheme: str, token: bytes) -> str | None:
        message_type = struct.unpack("<I", token[8:12])[0] if len(token) >= 12 else 0
        if message_type == 1:
            self.ntlm_scheme = scheme
            self.ntlm_user = None
            self.ntlm = spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
            try:
                out = self.ntlm.step(token)
            except spnego.exceptions.SpnegoError:
                self._fail_auth()
                return None
            self._challenge(out)
            return None
        if message_type == 3 and self.ntlm is not None:
            try:
                self.ntlm.step(token)
            except spnego.exceptions.SpnegoError:
                self.ntlm = None
                self._fail_auth()
                return None
            principal = str(self.ntlm.client_principal or "")
            injected = self.server.faults.auth_should_fail()
            account = self.server.credentials.ntlm(principal) if self.ntlm.complete else None
            if injected or account is None:
                self.ntlm = None
                self._fail_auth()
                return None
            self.ntlm_user = account
            return account
        self._fail_auth()
        return None

    def _fail_auth(self) -> None:
        with self.server.stats.lock:
            self.server.stats.auth_failures += 1
        self.ntlm_user = None
        self._challenge()

    # -- message encryption ----------------------------------------------
    def _unwrap(self, body: bytes) -> bytes:
        parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
        if len(parts) < 2:
            raise ValueError("not an encrypted multipart body")
        header, payload = parts[0], parts[1]
        try:
            length = int(header.split(b"Length=")[1].split(b"\r\n")[0])
        except (IndexError, ValueError) as exc:
            raise ValueError("no OriginalContent length") from exc
        if payload.endswith(BOUNDARY + b"--\r\n"):
            payload = payload[: -len(BOUNDARY + b"--\r\n")]
        payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        signature_length = struct.unpack("<i", payload[:4])[0]
        signature = payload[4 : 4 + signature_length]
        sealed = payload[4 + signature_length :]
        try:
            plain = bytes(self.ntlm.unwrap_winrm(signature, sealed))
        except spnego.exceptions.SpnegoError as exc:
            raise ValueError("message signature check failed") from exc
        if len(plain) != length:
            raise ValueError("encrypted length mismatch")
        return plain

    def _wrap(self, message: bytes) -> bytes:
        wrapped = self.ntlm.wrap_winrm(message)
        header: bytes = wrapped.header
        data: bytes = wrapped.data
        return (
            BOUNDARY + b"\r\n"
            b"\tContent-Type: " + ENCRYPTED_PROTOCOL.encode() + b"\r\n"
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
            + str(len(message)).encode()
            + b"\r\n"
            + BOUNDARY
            + b"\r\n"
            b"\tContent-Type: application/octet-stream\r\n"
            + struct.pack("<i", len(header))
            + header
            + data
            + BOUNDARY
            + b"--\r\n"
        )


class Acceptor:
    """One thread accepting connections for every listener of a fleet."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._listeners: list[Listener] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)
            self._selector.register(listener.socket, selectors.EVENT_READ, listener)

    def remove(self, listener: Listener) -> None:
        """Stop accepting for one listener and close it: its port refuses connections."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(listener.socket)
        listener.close_connections()
        listener.server_close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="sim-acceptor", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                events = self._selector.select(timeout=0.2)
            except (OSError, ValueError):
                continue
            for key, _ in events:
                listener: Listener = key.data
                try:
                    listener._handle_request_noblock()  # type: ignore[attr-defined]
                except OSError:
                    continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for listener in self._listeners:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(listener.socket)
                listener.close_connections()
                listener.server_close()
            self._listeners.clear()
        self._selector.close()


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context

