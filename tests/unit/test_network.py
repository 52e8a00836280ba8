"""Bastion-side probes against real servers on loopback (DNS, TCP, TLS)."""

from __future__ import annotations

import datetime as dt
import errno
import json
import socket
import time

import pytest
from tests.support.netfixtures import (
    GOOD_CA_NAME,
    LEAF_NAME,
    LOOPBACK,
    PROXY_CA_NAME,
    PROXY_CA_ORG,
    REFUSED_NAME,
    SERVFAIL_NAME,
    SILENT_NAME,
    TCP_ONLY_ADDRESS,
    TCP_ONLY_NAME,
    DnsServer,
    Pki,
    TlsServers,
)

from sagefleet.errors import InputError
from sagefleet.probes import (
    DnsResult,
    DnsStatus,
    TcpError,
    classify_socket_error,
    compare_dns,
    probe_endpoints,
    resolve,
    tcp_connect,
    tls_probe,
)


def _resolve(server: DnsServer, name: str, timeout: float = 1.0) -> DnsResult:
    return resolve(name, nameservers=[server.host], port=server.port, timeout=timeout)


# ----------------------------------------------------------------------------- DNS


def test_resolve_returns_a_records(dns_server: DnsServer) -> None:
    result = _resolve(dns_server, "public.example.test")
    assert result.status is DnsStatus.OK
    assert sorted(result.addresses) == ["192.0.2.20", "192.0.2.21"]


def test_resolve_collects_aaaa_records_too(dns_server: DnsServer) -> None:
    result = _resolve(dns_server, "dual.example.test")
    assert result.addresses == ("192.0.2.10", "2001:db8::10")


def test_resolve_follows_cname_chain_to_privatelink(dns_server: DnsServer) -> None:
    result = _resolve(dns_server, "x.database.windows.net")
    assert result.status is DnsStatus.OK
    assert result.cname_chain == ("x.privatelink.database.windows.net",)
    assert result.addresses == ("10.1.2.3",)


def test_privatelink_flag_set_when_chain_goes_through_privatelink(dns_server: DnsServer) -> None:
    assert _resolve(dns_server, "x.database.windows.net").privatelink is True


def test_privatelink_flag_clear_for_public_name(dns_server: DnsServer) -> None:
    assert _resolve(dns_server, "public.example.test").privatelink is False


def test_resolve_reports_nxdomain(dns_server: DnsServer) -> None:
    result = _resolve(dns_server, "missing.example.test")
    assert result.status is DnsStatus.NXDOMAIN
    assert result.addresses == ()


def test_resolve_reports_servfail(dns_server: DnsServer) -> None:
    result = _resolve(dns_server, SERVFAIL_NAME)
    assert result.status is DnsStatus.SERVFAIL
    assert result.message and "SERVFAIL" in result.message


def test_resolve_reports_no_answer_for_name_without_address(dns_server: DnsServer) -> None:
    result = _resolve(dns_server, "txtonly.example.test")
    assert result.status is DnsStatus.NO_ANSWER


def test_resolve_reports_timeout_within_budget(dns_server: DnsServer) -> None:
    start = time.monotonic()
    result = _resolve(dns_server, SILENT_NAME, timeout=0.3)
    elapsed = time.monotonic() - start
    assert result.status is DnsStatus.TIMEOUT
    assert elapsed < 1.0


def test_resolve_retries_over_tcp_when_udp_answer_is_truncated(dns_server: DnsServer) -> None:
    result = _resolve(dns_server, TCP_ONLY_NAME)
    assert result.addresses == (TCP_ONLY_ADDRESS,)
    assert ("tcp", TCP_ONLY_NAME, "A") in dns_server.queries


def test_resolve_reports_error_when_server_refuses(dns_server: DnsServer) -> None:
    result = _resolve(dns_server, REFUSED_NAME)
    assert result.status is DnsStatus.ERROR
    assert result.message and "REFUSED" in result.message


def test_resolve_rejects_nameserver_that_is_not_an_address() -> None:
    with pytest.raises(InputError, match="nameservers"):
        resolve("a.example.test", nameservers=["dns.example.test"], timeout=0.1)


def test_dns_result_to_dict_is_json_safe(dns_server: DnsServer) -> None:
    data = _resolve(dns_server, "x.database.windows.net").to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["privatelink"] is True
    assert data["status"] == "ok"


# ----------------------------------------------------------------------------- compare_dns


def _dns(addresses: tuple[str, ...], status: DnsStatus = DnsStatus.OK) -> DnsResult:
    return DnsResult(name="db.example.test", status=status, addresses=addresses)


def test_compare_dns_is_silent_when_both_agree_in_any_order() -> None:
    assert compare_dns(_dns(("192.0.2.1", "192.0.2.2")), ["192.0.2.2", "192.0.2.1"]) is None


def test_compare_dns_treats_ipv6_spellings_as_equal() -> None:
    assert compare_dns(_dns(("2001:db8::1",)), ["2001:0db8:0:0::1"]) is None


def test_compare_dns_explains_host_on_private_endpoint() -> None:
    text = compare_dns(_dns(("20.0.0.5",)), ["10.1.2.3"])
    assert text is not None and "private endpoint" in text and "10.1.2.3" in text


def test_compare_dns_explains_host_missing_private_zone() -> None:
    text = compare_dns(_dns(("10.1.2.3",)), ["20.0.0.5"])
    assert text is not None and "private DNS zone" in text


def test_compare_dns_explains_host_resolving_nothing() -> None:
    text = compare_dns(_dns(("20.0.0.5",)), [])
    assert text is not None and "resolves nothing" in text


def test_compare_dns_explains_bastion_failure_with_host_answer() -> None:
    text = compare_dns(_dns((), DnsStatus.NXDOMAIN), ["10.1.2.3"])
    assert text is not None and "nxdomain" in text


def test_compare_dns_calls_public_differences_load_balancing() -> None:
    text = compare_dns(_dns(("52.95.1.1",)), ["52.95.2.2"])
    assert text is not None and "load-balanced" in text


def test_compare_dns_speaks_french() -> None:
    text = compare_dns(_dns(("20.0.0.5",)), ["10.1.2.3"], lang="fr")
    assert text is not None and "point de terminaison privé" in text


# ----------------------------------------------------------------------------- TCP


def test_tcp_connect_succeeds_on_listening_port(tls_servers: TlsServers) -> None:
    result = tcp_connect(LOOPBACK, tls_servers.good, 1.0)
    assert result.ok is True
    assert result.error is None
    assert result.address == LOOPBACK


def test_tcp_connect_reports_refused_on_closed_port(closed_port: int) -> None:
    result = tcp_connect(LOOPBACK, closed_port, 1.0)
    assert result.ok is False
    assert result.error is TcpError.REFUSED


def test_tcp_connect_reports_timeout_when_syn_is_dropped(full_backlog_port: int) -> None:
    result = tcp_connect(LOOPBACK, full_backlog_port, 0.3)
    assert result.error is TcpError.TIMEOUT
    assert result.elapsed_ms < 1000


def test_tcp_connect_reports_dns_when_name_does_not_resolve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The system resolver would send traffic off this machine: make it fail locally instead.
    def no_such_name(*_args: object, **_kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    result = tcp_connect("nowhere.example.test", 443, 1.0)
    assert result.error is TcpError.DNS


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OSError(errno.ENETUNREACH, "Network is unreachable"), TcpError.UNREACHABLE),
        (OSError(errno.EHOSTUNREACH, "No route to host"), TcpError.UNREACHABLE),
        (OSError(errno.ETIMEDOUT, "Connection timed out"), TcpError.TIMEOUT),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), TcpError.REFUSED),
        (socket.gaierror(socket.EAI_NONAME, "unknown"), TcpError.DNS),
    ],
)
def test_classify_socket_error_maps_errno_to_kind(exc: OSError, expected: TcpError) -> None:
    assert classify_socket_error(exc) is expected


# ----------------------------------------------------------------------------- TLS


def test_tls_probe_validates_against_given_ca(pki: Pki, tls_servers: TlsServers) -> None:
    result = tls_probe(
        LOOPBACK, tls_servers.good, server_name=LEAF_NAME, ca_file=str(pki.good_ca), timeout=2
    )
    assert result.validated is True
    assert result.trust_store == str(pki.good_ca)
    assert result.verify_error is None


def test_tls_probe_reports_protocol_and_cipher(pki: Pki, tls_servers: TlsServers) -> None:
    result = tls_probe(
        LOOPBACK, tls_servers.good, server_name=LEAF_NAME, ca_file=str(pki.good_ca), timeout=2
    )
    assert result.protocol == "TLSv1.3"
    assert result.cipher


def test_tls_probe_parses_peer_certificate(pki: Pki, tls_servers: TlsServers) -> None:
    result = tls_probe(
        LOOPBACK, tls_servers.good, server_name=LEAF_NAME, ca_file=str(pki.good_ca), timeout=2
    )
    cert = result.certificate
    assert cert is not None
    assert cert.subject_cn == LEAF_NAME
    assert cert.issuer_cn == GOOD_CA_NAME
    assert set(cert.sans) == {LEAF_NAME, "localhost", LOOPBACK}


def test_tls_probe_reports_tls12_only_server(pki: Pki, tls_servers: TlsServers) -> None:
    result = tls_probe(
        LOOPBACK, tls_servers.tls12, server_name=LEAF_NAME, ca_file=str(pki.good_ca), timeout=2
    )
    assert result.validated is True
    assert result.protocol == "TLSv1.2"


def test_tls_probe_fails_validation_against_system_store(tls_servers: TlsServers) -> None:
    result = tls_probe(LOOPBACK, tls_servers.good, server_name=LEAF_NAME, timeout=2)
    assert result.trust_store == "system"
    assert result.validated is False
    assert result.handshake is True


def test_tls_probe_still_returns_certificate_when_validation_fails(
    tls_servers: TlsServers,
) -> None:
    result = tls_probe(LOOPBACK, tls_servers.proxy, server_name=LEAF_NAME, timeout=2)
    assert result.certificate is not None
    assert result.certificate.issuer_o == PROXY_CA_ORG


def test_tls_probe_reports_expired_certificate(pki: Pki, tls_servers: TlsServers) -> None:
    result = tls_probe(
        LOOPBACK, tls_servers.expired, server_name=LEAF_NAME, ca_file=str(pki.good_ca), timeout=2
    )
    assert result.validated is False
    assert result.verify_error is not None and "expired" in result.verify_error
    assert result.certificate is not None
    not_after = dt.datetime.fromisoformat(result.certificate.not_after)
    assert not_after < dt.datetime.now(dt.UTC)


def test_tls_probe_reports_hostname_mismatch(pki: Pki, tls_servers: TlsServers) -> None:
    result = tls_probe(
        LOOPBACK,
        tls_servers.good,
        server_name="other.example.test",
        ca_file=str(pki.good_ca),
        timeout=2,
    )
    assert result.validated is False
    assert result.verify_error is not None and "mismatch" in result.verify_error.lower()


def test_tls_probe_reports_refused_connection(closed_port: int) -> None:
    result = tls_probe(LOOPBACK, closed_port, timeout=1)
    assert result.handshake is False
    assert result.error_kind == "refused"


def test_tls_probe_times_out_on_silent_server(mute_port: int) -> None:
    start = time.monotonic()
    result = tls_probe(LOOPBACK, mute_port, timeout=0.3)
    assert result.error_kind == "timeout"
    assert time.monotonic() - start < 1.5


def test_tls_probe_rejects_missing_ca_file(tls_servers: TlsServers) -> None:
    with pytest.raises(InputError, match="ca_file"):
        tls_probe(LOOPBACK, tls_servers.good, ca_file="/nonexistent/ca.pem", timeout=1)


def test_tls_result_to_dict_is_json_safe(pki: Pki, tls_servers: TlsServers) -> None:
    result = tls_probe(LOOPBACK, tls_servers.proxy, server_name=LEAF_NAME, timeout=2)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["certificate"]["issuer_cn"] == PROXY_CA_NAME


# ----------------------------------------------------------------------------- probe_endpoints


def test_probe_endpoints_keeps_input_order(
    dns_server: DnsServer, pki: Pki, tls_servers: TlsServers, closed_port: int
) -> None:
    endpoints = [
        (LEAF_NAME, tls_servers.good),
        (LOOPBACK, closed_port),
        ("missing.example.test", 1),
    ]
    results = probe_endpoints(
        endpoints,
        nameservers=[dns_server.host],
        dns_port=dns_server.port,
        timeout=1.0,
        tls_ports=frozenset({tls_servers.good}),
        ca_file=str(pki.good_ca),
    )
    assert [(r.host, r.port) for r in results] == endpoints


def test_probe_endpoints_connects_to_address_from_given_nameservers(
    dns_server: DnsServer, pki: Pki, tls_servers: TlsServers
) -> None:
    [result] = probe_endpoints(
        [(LEAF_NAME, tls_servers.good)],
        nameservers=[dns_server.host],
        dns_port=dns_server.port,
        timeout=1.0,
        tls_ports=frozenset({tls_servers.good}),
        ca_file=str(pki.good_ca),
    )
    assert result.dns is not None and result.dns.addresses == (LOOPBACK,)
    assert result.tcp.address == LOOPBACK
    assert result.tls is not None and result.tls.validated is True
    assert result.ok is True


def test_probe_endpoints_stops_at_dns_failure(dns_server: DnsServer) -> None:
    [result] = probe_endpoints(
        [("missing.example.test", 443)],
        nameservers=[dns_server.host],
        dns_port=dns_server.port,
        timeout=1.0,
    )
    assert result.tcp.error is TcpError.DNS
    assert result.tls is None


def test_probe_endpoints_runs_probes_concurrently(full_backlog_port: int) -> None:
    # Eight probes that each time out after 0.3 s finish in well under 8 x 0.3 s.
    start = time.monotonic()
    results = probe_endpoints([(LOOPBACK, full_backlog_port)] * 8, timeout=0.3, max_workers=8)
    elapsed = time.monotonic() - start
    assert all(r.tcp.error is TcpError.TIMEOUT for r in results)
    assert elapsed < 1.5


def test_probe_endpoints_rejects_empty_pool() -> None:
    with pytest.raises(ValueError, match="max_workers"):
        probe_endpoints([(LOOPBACK, 1)], max_workers=0)


def test_endpoint_result_to_dict_is_json_safe(dns_server: DnsServer, closed_port: int) -> None:
    [result] = probe_endpoints(
        [(LOOPBACK, closed_port)],
        nameservers=[dns_server.host],
        dns_port=dns_server.port,
        timeout=1.0,
    )
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["tcp"]["error"] == "refused"
    assert data["ok"] is False
