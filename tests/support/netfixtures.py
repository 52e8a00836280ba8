"""Loopback network servers for the network probe tests.

Everything listens on 127.0.0.1 with an ephemeral port and is stopped by its
fixture: a DNS server (UDP and TCP, written with dnspython, serving a zone
defined below), TLS servers with certificates from CAs generated at test time,
a bound-but-not-listening port (refused) and a listener that never speaks
(handshake timeout).

tests/conftest.py registers the fixtures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import selectors
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sagefleet.sim.host.pki import ca_certificate, server_certificate

LOOPBACK = "127.0.0.1"

# ----------------------------------------------------------------------------- DNS

#: The zone the loopback DNS server answers for: (name, type) -> rdata texts.
#: The 10.1.2.3 record only holds data: nothing ever connects to it.
ZONE: dict[tuple[str, str], list[str]] = {
    ("x.database.windows.net", "CNAME"): ["x.privatelink.database.windows.net."],
    ("x.privatelink.database.windows.net", "A"): ["10.1.2.3"],
    ("api.example.test", "A"): [LOOPBACK],
    ("dual.example.test", "A"): ["192.0.2.10"],
    ("dual.example.test", "AAAA"): ["2001:db8::10"],
    ("txtonly.example.test", "TXT"): ['"no address here"'],
    ("public.example.test", "A"): ["192.0.2.20", "192.0.2.21"],
}
SERVFAIL_NAME = "broken.example.test"
SILENT_NAME = "silent.example.test"
REFUSED_NAME = "refused.example.test"
#: Over UDP this name always answers truncated, forcing the resolver onto TCP.
TCP_ONLY_NAME = "big.example.test"
TCP_ONLY_ADDRESS = "192.0.2.99"


def _lookup(qname: str, qtype: str) -> tuple[dns.rcode.Rcode, list[dns.rrset.RRset]]:
    """Answer like an authoritative server: follow CNAMEs inside the zone."""
    answers: list[dns.rrset.RRset] = []
    name = qname
    for _ in range(8):
        cname = ZONE.get((name, "CNAME"))
        if cname and qtype != "CNAME":
            answers.append(dns.rrset.from_text(name + ".", 300, "IN", "CNAME", *cname))
            name = cname[0].rstrip(".")
            continue
        records = ZONE.get((name, qtype))
        if records:
            answers.append(dns.rrset.from_text(name + ".", 300, "IN", qtype, *records))
            return dns.rcode.NOERROR, answers
        exists = any(key[0] == name for key in ZONE)
        return (dns.rcode.NOERROR if exists else dns.rcode.NXDOMAIN), answers
    return dns.rcode.SERVFAIL, []


def _respond(wire: bytes, *, tcp: bool, log: list[tuple[str, str, str]]) -> bytes | None:
    query = dns.message.from_wire(wire)
    question = query.question[0]
    qname = str(question.name).rstrip(".").lower()
    qtype = dns.rdatatype.to_text(question.rdtype)
    log.append(("tcp" if tcp else "udp", qname, qtype))
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    if qname == SILENT_NAME:
        return None
    if qname in (SERVFAIL_NAME, REFUSED_NAME):
        response.set_rcode(dns.rcode.SERVFAIL if qname == SERVFAIL_NAME else dns.rcode.REFUSED)
        return response.to_wire()
    if qname == TCP_ONLY_NAME:
        if not tcp:
            response.flags |= dns.flags.TC
            return response.to_wire()
        if qtype == "A":
            response.answer.append(
                dns.rrset.from_text(qname + ".", 300, "IN", "A", TCP_ONLY_ADDRESS)
            )
        return response.to_wire()
    rcode, answers = _lookup(qname, qtype)
    response.set_rcode(rcode)
    response.answer.extend(answers)
    if rcode == dns.rcode.NXDOMAIN or not any(r.rdtype == question.rdtype for r in answers):
        response.authority.append(
            dns.rrset.from_text(
                "example.test.",
                300,
                "IN",
                "SOA",
                "ns.example.test. admin.example.test. 1 60 60 60 60",
            )
        )
    return response.to_wire()


@dataclass
class DnsServer:
    """A running loopback DNS server and what the tests need to know about it."""

    host: str
    port: int
    #: (transport, name, type) of every query received, in order.
    queries: list[tuple[str, str, str]]


def _recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def _bind_udp_tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Bind UDP on an ephemeral port, then TCP on the same port (retry if it is taken)."""
    for _ in range(20):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((LOOPBACK, 0))
        port = udp.getsockname()[1]
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind((LOOPBACK, port))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(8)
        return udp, tcp
    raise RuntimeError("could not bind UDP and TCP on the same loopback port")


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    """Serve ZONE over UDP and TCP on 127.0.0.1 until the module's tests are done."""
    udp, tcp = _bind_udp_tcp_pair()
    server = DnsServer(LOOPBACK, udp.getsockname()[1], [])
    stop = threading.Event()
    selector = selectors.DefaultSelector()
    selector.register(udp, selectors.EVENT_READ, "udp")
    selector.register(tcp, selectors.EVENT_READ, "tcp")

    def serve() -> None:
        while not stop.is_set():
            for key, _ in selector.select(timeout=0.05):
                if key.data == "udp":
                    wire, peer = udp.recvfrom(65535)
                    reply = _respond(wire, tcp=False, log=server.queries)
                    if reply is not None:
                        udp.sendto(reply, peer)
                else:
                    conn, _peer = tcp.accept()
                    with conn:
                        conn.settimeout(1.0)
                        try:
                            (length,) = struct.unpack("!H", _recv_exact(conn, 2))
                            wire = _recv_exact(conn, length)
                            reply = _respond(wire, tcp=True, log=server.queries)
                            if reply is not None:
                                conn.sendall(struct.pack("!H", len(reply)) + reply)
                        except (OSError, ConnectionError):
                            pass

    thread = threading.Thread(target=serve, name="test-dns", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=2)
        selector.close()
        udp.close()
        tcp.close()


# ----------------------------------------------------------------------------- PKI


@dataclass
class Pki:
    """Test CAs and leaf certificates, written as PEM files."""

    good_ca: Path
    proxy_ca: Path
    good_leaf: tuple[Path, Path]
    proxy_leaf: tuple[Path, Path]
    expired_leaf: tuple[Path, Path]


GOOD_CA_NAME = "Sagefleet Test Root CA"
GOOD_CA_ORG = "Sagefleet Test Trust"
PROXY_CA_NAME = "Corporate Inspection Proxy CA"
PROXY_CA_ORG = "Example Corp Security"
LEAF_NAME = "api.example.test"


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )


def _make_ca(cn: str, org: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _name(cn, org)
    before, after = now - dt.timedelta(days=1), now + dt.timedelta(days=30)
    return key, ca_certificate(name, key, name, key, before, after, path_length=0)


def _make_leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    *,
    expired: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    if expired:
        start, end = now - dt.timedelta(days=60), now - dt.timedelta(days=30)
    else:
        start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=30)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LEAF_NAME)])
    cert = server_certificate(
        subject, key, ca_cert, ca_key, start, end,
        names=[LEAF_NAME, "localhost"], addresses=[LOOPBACK],
    )  # fmt: skip
    return key, cert


def _write_pair(
    folder: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> tuple[Path, Path]:
    cert_path = folder / f"{stem}.crt"
    key_path = folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A good CA, an interception-proxy CA, and leaves for api.example.test/127.0.0.1."""
    folder = tmp_path_factory.mktemp("pki")
    good_key, good_cert = _make_ca(GOOD_CA_NAME, GOOD_CA_ORG)
    proxy_key, proxy_cert = _make_ca(PROXY_CA_NAME, PROXY_CA_ORG)
    good_ca, _ = _write_pair(folder, "good-ca", good_key, good_cert)
    proxy_ca, _ = _write_pair(folder, "proxy-ca", proxy_key, proxy_cert)
    return Pki(
        good_ca=good_ca,
        proxy_ca=proxy_ca,
        good_leaf=_write_pair(folder, "good-leaf", *_make_leaf(good_key, good_cert)),
        proxy_leaf=_write_pair(folder, "proxy-leaf", *_make_leaf(proxy_key, proxy_cert)),
        expired_leaf=_write_pair(
            folder, "expired-leaf", *_make_leaf(good_key, good_cert, expired=True)
        ),
    )


# ----------------------------------------------------------------------------- TLS servers


class TlsServer:
    """A TLS server on 127.0.0.1 that completes handshakes and closes; stop() to end it."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-tls", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(2.0)
            try:
                with self._context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)  # wait for the client to close
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._listener.close()


def _server_context(pair: tuple[Path, Path], *, max_tls12: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile=str(pair[0]), keyfile=str(pair[1]))
    if max_tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass
class TlsServers:
    """Ports of the running TLS servers, by what they present."""

    good: int
    proxy: int
    expired: int
    tls12: int


@pytest.fixture(scope="module")
def tls_servers(pki: Pki) -> Iterator[TlsServers]:
    """Four TLS servers: good, intercepted (proxy CA), expired certificate, TLS 1.2 only."""
    servers = {
        "good": TlsServer(_server_context(pki.good_leaf)),
        "proxy": TlsServer(_server_context(pki.proxy_leaf)),
        "expired": TlsServer(_server_context(pki.expired_leaf)),
        "tls12": TlsServer(_server_context(pki.good_leaf, max_tls12=True)),
    }
    try:
        yield TlsServers(**{name: s.port for name, s in servers.items()})
    finally:
        for server in servers.values():
            server.stop()


# ----------------------------------------------------------------------------- TCP oddities


@pytest.fixture()
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting to it is refused, deterministically."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture()
def mute_port() -> Iterator[int]:
    """A loopback port that accepts TCP but never says a word (a TLS handshake times out)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture()
def full_backlog_port() -> Iterator[int]:
    """A loopback listener whose accept queue is full: new SYNs are dropped, connect times out."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((LOOPBACK, port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
