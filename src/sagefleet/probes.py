"""Bastion-side network probes: DNS (dnspython), TCP connect and TLS handshake.

They see an endpoint from the bastion, to compare with the host's own view; a network
failure is a result (a keyword-only frozen record with ``to_dict()``), never an
exception. See docs/checks.md ("Seen from the bastion").
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from datetime import UTC
from enum import StrEnum
from typing import Any

import dns.exception
import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtensionOID, NameOID

from sagefleet.errors import InputError

PRIVATELINK_SUFFIX = ".privatelink.database.windows.net"


def _elapsed_ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000.0, 1)


def _plain(value: Any) -> Any:
    """Make a result JSON-safe: tuples become lists, nested results become dicts."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def _as_dict(obj: Any) -> dict[str, Any]:
    """Every field of a result record, JSON-safe."""
    return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj)}


# --------------------------------------------------------------------------- DNS


class DnsStatus(StrEnum):
    """Outcome of a name resolution, coarse enough to act on."""

    OK = "ok"
    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    TIMEOUT = "timeout"
    NO_ANSWER = "no_answer"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True)
class DnsResult:
    """What the bastion resolved for a name (A and AAAA), following CNAMEs."""

    name: str
    status: DnsStatus
    addresses: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    message: str | None = None
    nameservers: tuple[str, ...] = ()
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the name resolved to at least one address."""
        return self.status is DnsStatus.OK

    @property
    def privatelink(self) -> bool:
        """True when the name goes through an Azure SQL private endpoint (privatelink zone).

        Logins by IP or by the privatelink name fail by design there, and only hosts
        using the private DNS zone reach the server.
        """
        return any(n.endswith(PRIVATELINK_SUFFIX) for n in (self.name, *self.cname_chain))

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-safe data, ``privatelink`` included."""
        data = _as_dict(self)
        data["status"] = str(self.status)
        data["privatelink"] = self.privatelink
        return data


def _norm_name(name: dns.name.Name | str) -> str:
    return str(name).rstrip(".").lower()


def _servfail_in(exc: dns.resolver.NoNameservers) -> bool:
    errors = exc.kwargs.get("errors") or []
    for entry in errors:
        response = entry[4] if len(entry) > 4 else None
        if response is not None and response.rcode() == dns.rcode.SERVFAIL:
            return True
        if len(entry) > 3 and entry[3] == "SERVFAIL":
            return True
    return False


def resolve(
    name: str,
    *,
    nameservers: list[str] | None = None,
    port: int = 53,
    timeout: float = 2.0,
) -> DnsResult:
    """Resolve ``name`` (A then AAAA) the way the bastion sees it.

    DNS outcomes are results, never exceptions; only an invalid ``nameservers``
    entry (not an IP address) raises InputError, since that is the caller's mistake.

    With ``nameservers`` the query goes only to them (on ``port``), which is how a
    check compares the client's DNS with public DNS; otherwise the system resolver
    configuration is used. ``timeout`` bounds the whole resolution, both queries.
    """
    start = time.monotonic()
    qname = name.strip().rstrip(".")
    try:
        resolver = dns.resolver.Resolver(configure=nameservers is None)
    except dns.exception.DNSException as exc:
        return DnsResult(
            name=qname, status=DnsStatus.ERROR, message=f"no resolver configuration: {exc}"
        )
    if nameservers is not None:
        try:
            resolver.nameservers = list(nameservers)
        except ValueError as exc:
            raise InputError(
                "a DNS server must be an IP address",
                field="nameservers",
                value=", ".join(nameservers),
                fix="give IP addresses, e.g. 10.0.0.53",
            ) from exc
        resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout
    resolver.cache = None
    servers = tuple(str(s) for s in resolver.nameservers)
    deadline = start + timeout

    addresses: list[str] = []
    chain: list[str] = []
    notes: list[str] = []

    def result(status: DnsStatus, message: str | None, found: Sequence[str] = ()) -> DnsResult:
        return DnsResult(
            name=qname,
            status=status,
            addresses=tuple(found),
            cname_chain=tuple(chain),
            message=message,
            nameservers=servers,
            elapsed_ms=_elapsed_ms(start),
        )

    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if addresses:
                notes.append(f"{rdtype.name} not queried: time budget spent")
                break
            return result(DnsStatus.TIMEOUT, f"no answer within {timeout:g}s")
        try:
            answer = resolver.resolve(
                qname, rdtype, raise_on_no_answer=False, search=False, lifetime=remaining
            )
        except dns.resolver.NXDOMAIN as exc:
            return result(DnsStatus.NXDOMAIN, str(exc))
        except dns.exception.DNSException as exc:
            # A second query's failure is a note beside the first one's addresses.
            if addresses:
                notes.append(_query_note(rdtype.name, exc))
                continue
            return result(_failure_status(exc), str(exc))
        for rrset in answer.chaining_result.cnames:
            for rdata in rrset:
                target = _norm_name(rdata.target)
                if target not in chain:
                    chain.append(target)
        if answer.rrset is not None:
            for rdata in answer.rrset:
                if rdata.address not in addresses:
                    addresses.append(rdata.address)
    message = "; ".join(notes) if notes else None
    status = DnsStatus.OK if addresses else DnsStatus.NO_ANSWER
    if status is DnsStatus.NO_ANSWER and message is None:
        message = "the name exists but has no A or AAAA record"
    return result(status, message, addresses)


def _failure_status(exc: dns.exception.DNSException) -> DnsStatus:
    """The status of a query that failed (NXDOMAIN aside)."""
    if isinstance(exc, dns.resolver.LifetimeTimeout):
        return DnsStatus.TIMEOUT
    if isinstance(exc, dns.resolver.NoNameservers) and _servfail_in(exc):
        return DnsStatus.SERVFAIL
    return DnsStatus.ERROR


def _query_note(rdtype: str, exc: dns.exception.DNSException) -> str:
    if isinstance(exc, dns.resolver.LifetimeTimeout):
        return f"{rdtype} query timed out"
    return f"{rdtype} query failed: {exc}"


_COMPARE_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "bastion_only": (
            "{name}: the bastion resolves {bastion} but the host resolves nothing; check the "
            "host's DNS servers and that outbound DNS is allowed from it."
        ),
        "host_only": (
            "{name}: the host resolves {host} but the bastion cannot ({status}); the host "
            "probably uses a private DNS zone, so test this endpoint from the host itself."
        ),
        "host_private": (
            "{name}: the host resolves private addresses {host} while the bastion sees "
            "public {bastion}; the host uses a private endpoint (private DNS zone). Test "
            "connectivity from the host, and connect by the normal name, not the IP."
        ),
        "host_public": (
            "{name}: the bastion resolves the private endpoint {bastion} but the host "
            "resolves public {host}; the host does not use the private DNS zone and will be "
            "refused if public access is disabled. Point the host's DNS at the private zone."
        ),
        "differ": (
            "{name}: the host resolves {host} and the bastion {bastion}; usual for "
            "load-balanced names (S3, CDNs) and harmless unless connections fail."
        ),
    },
    "fr": {
        "bastion_only": (
            "{name} : le bastion résout {bastion} mais le serveur ne résout rien ; vérifiez "
            "les serveurs DNS du serveur et que le DNS sortant y est autorisé."
        ),
        "host_only": (
            "{name} : le serveur résout {host} mais pas le bastion ({status}) ; le serveur "
            "utilise sans doute une zone DNS privée : testez ce point d'accès depuis le serveur."
        ),
        "host_private": (
            "{name} : le serveur résout des adresses privées {host} alors que le bastion voit "
            "des adresses publiques {bastion} ; le serveur passe par un point de terminaison "
            "privé. Testez depuis le serveur et connectez-vous par le nom, pas par l'IP."
        ),
        "host_public": (
            "{name} : le bastion résout le point de terminaison privé {bastion} mais le serveur "
            "résout l'adresse publique {host} ; le serveur n'utilise pas la zone DNS privée et "
            "sera refusé si l'accès public est désactivé. Faites pointer son DNS vers la zone "
            "privée."
        ),
        "differ": (
            "{name} : le serveur résout {host} et le bastion {bastion} ; courant pour les noms "
            "répartis (S3, CDN), sans conséquence sauf si les connexions échouent."
        ),
    },
}


def _norm_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return text.strip()


def _is_private(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_private
    except ValueError:
        return False


def compare_dns(bastion: DnsResult, host_addresses: list[str], *, lang: str = "en") -> str | None:
    """Explain why the Windows host and the bastion disagree on a name, or None if they agree.

    The explanation names the likely cause (private endpoint, missing private zone,
    host DNS broken, load balancing) because that is what the integrator must fix.
    """
    text = _COMPARE_TEXT[lang] if lang in _COMPARE_TEXT else _COMPARE_TEXT["en"]
    ours = sorted({_norm_address(a) for a in bastion.addresses})
    theirs = sorted({_norm_address(a) for a in host_addresses if a.strip()})
    if ours == theirs:
        return None
    fields = {
        "name": bastion.name,
        "bastion": ", ".join(ours),
        "host": ", ".join(theirs),
        "status": str(bastion.status),
    }
    if not theirs:
        return text["bastion_only"].format(**fields)
    if not ours:
        return text["host_only"].format(**fields)
    host_private = all(_is_private(a) for a in theirs)
    bastion_private = all(_is_private(a) for a in ours)
    if host_private and not bastion_private:
        return text["host_private"].format(**fields)
    if bastion_private and not host_private:
        return text["host_public"].format(**fields)
    return text["differ"].format(**fields)


# --------------------------------------------------------------------------- TCP


class TcpError(StrEnum):
    """Why a TCP connection failed, in the terms a firewall ticket needs."""

    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    DNS = "dns"


@dataclass(frozen=True, kw_only=True)
class TcpResult:
    """Outcome of one TCP connect from the bastion."""

    host: str
    port: int
    ok: bool
    elapsed_ms: float
    error: TcpError | None = None
    message: str | None = None
    address: str | None = None

    @classmethod
    def failed(
        cls, host: str, port: int, error: TcpError, message: str, elapsed_ms: float = 0.0
    ) -> TcpResult:
        """A connection that did not open, and why."""
        return cls(
            host=host, port=port, ok=False, elapsed_ms=elapsed_ms, error=error, message=message
        )

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-safe data."""
        data = _as_dict(self)
        data["error"] = None if self.error is None else str(self.error)
        return data


_UNREACHABLE_ERRNOS = {
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.EHOSTDOWN,
    errno.ENETDOWN,
    errno.EADDRNOTAVAIL,
}


def classify_socket_error(exc: BaseException) -> TcpError:
    """Map a socket exception to a TcpError (refused, timeout, unreachable or dns).

    Anything else (for example a permission error from a local firewall) is
    reported as unreachable: the destination cannot be reached from here.
    """
    if isinstance(exc, socket.gaierror):
        return TcpError.DNS
    if isinstance(exc, ConnectionRefusedError):
        return TcpError.REFUSED
    if isinstance(exc, TimeoutError | socket.timeout):
        return TcpError.TIMEOUT
    if isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED:
        return TcpError.REFUSED
    if isinstance(exc, OSError) and exc.errno == errno.ETIMEDOUT:
        return TcpError.TIMEOUT
    return TcpError.UNREACHABLE


def _connect(host: str, port: int, timeout: float) -> tuple[socket.socket, str]:
    """Connect to the first address of ``host`` that accepts, within ``timeout`` overall."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    for family, kind, proto, _canon, sockaddr in infos:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {timeout:g}s")
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock, str(sockaddr[0])
    raise last if last is not None else OSError(f"no address for {host}")


def tcp_connect(host: str, port: int, timeout: float = 3.0) -> TcpResult:
    """Open (and close) a TCP connection, telling refused from filtered from unroutable.

    Refused means something answered (a host or a firewall sending RST); timeout
    usually means a firewall dropping packets; the difference decides who to call.
    """
    start = time.monotonic()
    try:
        sock, address = _connect(host, port, timeout)
    except OSError as exc:
        kind = classify_socket_error(exc)
        detail = str(exc) or kind.value
        return TcpResult.failed(host, port, kind, detail, _elapsed_ms(start))
    elapsed = _elapsed_ms(start)
    sock.close()
    return TcpResult(host=host, port=port, ok=True, elapsed_ms=elapsed, address=address)


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True, kw_only=True)
class CertInfo:
    """The parts of a peer certificate that explain a TLS failure."""

    subject_cn: str | None
    issuer_cn: str | None
    issuer_o: str | None
    issuer: str
    not_before: str
    not_after: str
    sans: tuple[str, ...]
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-safe data."""
        return _as_dict(self)


def _name_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attrs = name.get_attributes_for_oid(oid)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def parse_certificate(der: bytes) -> CertInfo:
    """Extract subject, issuer, validity and SANs from a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    sans: list[str] = []
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        pass
    else:
        san = ext.value
        if isinstance(san, x509.SubjectAlternativeName):
            sans.extend(san.get_values_for_type(x509.DNSName))
            sans.extend(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    return CertInfo(
        subject_cn=_name_attr(cert.subject, NameOID.COMMON_NAME),
        issuer_cn=_name_attr(cert.issuer, NameOID.COMMON_NAME),
        issuer_o=_name_attr(cert.issuer, NameOID.ORGANIZATION_NAME),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc.astimezone(UTC).isoformat(),
        not_after=cert.not_valid_after_utc.astimezone(UTC).isoformat(),
        sans=tuple(sans),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


@dataclass(frozen=True, kw_only=True)
class TlsResult:
    """Outcome of a TLS handshake: negotiated parameters, peer certificate, trust verdict.

    ``handshake`` is true when some handshake completed (possibly only the
    non-validating second attempt); ``validated`` when the certificate chain and
    name checked out against ``trust_store`` ("system" or the given CA file).
    """

    host: str
    port: int
    server_name: str
    handshake: bool
    validated: bool
    trust_store: str
    elapsed_ms: float
    protocol: str | None = None
    cipher: str | None = None
    certificate: CertInfo | None = None
    verify_error: str | None = None
    error: str | None = None
    error_kind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-safe data."""
        return _as_dict(self)


@dataclass(frozen=True)
class _Handshake:
    protocol: str | None
    cipher: str | None
    der: bytes | None


def _handshake(
    host: str, port: int, server_name: str, context: ssl.SSLContext, timeout: float
) -> _Handshake:
    sock, _address = _connect(host, port, timeout)
    try:
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            cipher = tls.cipher()
            return _Handshake(
                protocol=tls.version(),
                cipher=cipher[0] if cipher else None,
                der=tls.getpeercert(binary_form=True),
            )
    finally:
        sock.close()


def _tls_error_kind(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return "tls"
    return str(classify_socket_error(exc))


def tls_probe(
    host: str,
    port: int = 443,
    *,
    server_name: str | None = None,
    ca_file: str | None = None,
    timeout: float = 5.0,
) -> TlsResult:
    """Handshake with ``host:port`` and report protocol, cipher, certificate and trust.

    Validates against the system store, or only ``ca_file`` when given. When
    validation fails the certificate is still fetched with a second, non-validating
    handshake, because the certificate (expired, wrong name, a proxy's CA) is the
    explanation the integrator needs. No data is sent beyond the handshake.
    """
    sni = server_name or host
    store = ca_file or "system"
    start = time.monotonic()
    try:
        verifying = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(
            "cannot load the CA file", field="ca_file", value=ca_file, fix="give a PEM CA bundle"
        ) from exc

    def result(
        shake: _Handshake | None,
        *,
        validated: bool = False,
        verify_error: str | None = None,
        failure: BaseException | None = None,
    ) -> TlsResult:
        return TlsResult(
            host=host,
            port=port,
            server_name=sni,
            handshake=shake is not None,
            validated=validated,
            trust_store=store,
            elapsed_ms=_elapsed_ms(start),
            protocol=shake.protocol if shake else None,
            cipher=shake.cipher if shake else None,
            certificate=parse_certificate(shake.der) if shake and shake.der else None,
            verify_error=verify_error,
            error=None if failure is None else str(failure) or type(failure).__name__,
            error_kind=None if failure is None else _tls_error_kind(failure),
        )

    try:
        shake = _handshake(host, port, sni, verifying, timeout)
    except ssl.SSLCertVerificationError as exc:
        verify_error = exc.verify_message or str(exc)
    except (OSError, ssl.SSLError) as exc:
        return result(None, failure=exc)
    else:
        return result(shake, validated=True)

    lenient = ssl.create_default_context()
    lenient.check_hostname = False
    lenient.verify_mode = ssl.CERT_NONE
    try:
        shake = _handshake(host, port, sni, lenient, timeout)
    except (OSError, ssl.SSLError) as exc:
        return result(None, verify_error=verify_error, failure=exc)
    return result(shake, verify_error=verify_error)


# --------------------------------------------------------------------------- fleet of probes


@dataclass(frozen=True, kw_only=True)
class EndpointResult:
    """DNS, TCP and (for TLS ports) TLS results for one endpoint, as seen from the bastion."""

    host: str
    port: int
    dns: DnsResult | None
    tcp: TcpResult
    tls: TlsResult | None

    @property
    def ok(self) -> bool:
        """True when the endpoint is reachable and, if probed, its TLS certificate validated."""
        return self.tcp.ok and (self.tls is None or self.tls.validated)

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-safe data."""
        data = _as_dict(self)
        data["ok"] = self.ok
        return data


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def probe_endpoint(
    host: str,
    port: int,
    *,
    timeout: float = 3.0,
    tls_ports: frozenset[int] = frozenset({443}),
    nameservers: list[str] | None = None,
    dns_port: int = 53,
    ca_file: str | None = None,
) -> EndpointResult:
    """Resolve, connect and (on TLS ports) handshake with one endpoint.

    The TCP and TLS probes go to the address dnspython resolved, so a custom
    ``nameservers`` list really decides where traffic goes; TLS still uses the
    name for SNI and certificate checks.
    """
    dns_result: DnsResult | None = None
    target = host
    if not _is_ip(host):
        dns_result = resolve(host, nameservers=nameservers, port=dns_port, timeout=timeout)
        if not dns_result.ok:
            tcp = TcpResult.failed(
                host,
                port,
                TcpError.DNS,
                f"not resolved ({dns_result.status}): {dns_result.message}",
            )
            return EndpointResult(host=host, port=port, dns=dns_result, tcp=tcp, tls=None)
        target = dns_result.addresses[0]
    tcp = replace(tcp_connect(target, port, timeout), host=host)
    tls: TlsResult | None = None
    if tcp.ok and port in tls_ports:
        tls = tls_probe(target, port, server_name=host, ca_file=ca_file, timeout=timeout)
    return EndpointResult(host=host, port=port, dns=dns_result, tcp=tcp, tls=tls)


def probe_endpoints(
    endpoints: Iterable[tuple[str, int]],
    *,
    timeout: float = 3.0,
    max_workers: int = 16,
    tls_ports: frozenset[int] = frozenset({443}),
    nameservers: list[str] | None = None,
    dns_port: int = 53,
    ca_file: str | None = None,
) -> list[EndpointResult]:
    """Probe many endpoints concurrently, results in input order.

    The pool is bounded (``max_workers``) so a long endpoint list cannot open
    hundreds of sockets at once from the bastion; total time is about
    ``ceil(n / max_workers)`` probe timeouts in the worst case.
    """
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    items = [(str(h), int(p)) for h, p in endpoints]
    if not items:
        return []
    with ThreadPoolExecutor(
        max_workers=min(max_workers, len(items)), thread_name_prefix="sagefleet-probe"
    ) as pool:
        futures = [
            pool.submit(
                probe_endpoint,
                host,
                port,
                timeout=timeout,
                tls_ports=tls_ports,
                nameservers=nameservers,
                dns_port=dns_port,
                ca_file=ca_file,
            )
            for host, port in items
        ]
        return [f.result() for f in futures]
