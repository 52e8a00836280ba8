"""HostSession over direct pywinrm: results and typed errors, against the simulator."""

from __future__ import annotations

import socket
import threading

import pytest

from sagefleet.remote import (
    AuthenticationFailed,
    HostUnreachable,
    SnippetFailed,
)
from tests.support.fleets import FleetFactory, session_for


def test_run_snippet_returns_the_parsed_document(make_fleet: FleetFactory) -> None:
    fleet = make_fleet(2, profiles=("healthy-onprem", "healthy-spc"))
    with session_for(fleet, "sage02") as session:
        first = session.run_snippet("host_info")
        second = session.run_snippet("host_info", {"ignored": "Comptabilité"})
    assert first["os_caption"] == "Microsoft Windows Server 2022 Datacenter"
    assert second["hostname"] == "SPC-VM"
    assert [e["params"] for e in fleet.host("sage02").journal] == [{}, {"ignored": "Comptabilité"}]


def test_one_shell_serves_every_run_of_a_session(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    with session_for(fleet, "sage01") as session:
        for _ in range(3):
            session.run_snippet("host_info")
        assert len(fleet.listeners["sage01"].shells.shells) == 1
    assert fleet.listeners["sage01"].shells.shells == {}


def test_a_one_command_session_takes_the_fewest_round_trips(make_fleet: FleetFactory) -> None:
    """NTLM negotiate and authenticate, Create, Command, Send (the script on stdin: the
    command line stays under cmd.exe's limit), Receive, Delete: no Signal, deleting the
    shell ends its command (the lower bound of docs/performance.md)."""
    fleet = make_fleet()
    with session_for(fleet, "sage01") as session:
        session.run_snippet("host_info")
    operations = fleet.listeners["sage01"].stats.operations
    assert operations == {"Create": 1, "Command": 1, "Send": 1, "Receive": 1, "Delete": 1}
    # Every HTTP request: the two NTLM legs before the authenticated Create, then the rest.
    assert fleet.listeners["sage01"].stats.http_requests == 7


def test_the_environment_is_read_once_per_session_not_per_request(
    make_fleet: FleetFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.request

    fleet = make_fleet()
    reads = []
    real = urllib.request.getproxies_environment

    def counted() -> dict[str, str]:
        reads.append(1)
        return real()

    monkeypatch.setattr(urllib.request, "getproxies_environment", counted)
    with session_for(fleet, "sage01") as session:
        for _ in range(3):
            session.run_snippet("host_info")
    assert fleet.listeners["sage01"].stats.http_requests >= 15
    assert len(reads) <= 2, len(reads)  # pywinrm's own look-up when it builds the session


def test_ntlm_derives_the_password_hashes_once_for_many_sessions(
    make_fleet: FleetFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spnego._ntlm_raw import crypto

    from sagefleet.remote import winrm

    fleet = make_fleet()
    winrm.ntlm_hashes.cache_clear()
    blocks = []
    real = crypto.des

    def counted(key: bytes, data: bytes) -> bytes:
        if threading.current_thread() is threading.main_thread():  # not the simulator's
            blocks.append(1)
        return real(key, data)

    monkeypatch.setattr(crypto, "des", counted)
    for _ in range(3):
        with session_for(fleet, "sage01") as session:
            assert session.run_snippet("host_info")["hostname"] == "SAGE-ONPREM"
    assert len(blocks) == 2  # the LM hash, two DES blocks, once (not once a connection)
    assert fleet.listeners["sage01"].stats.auth_failures == 0


def test_an_ended_command_is_terminated_when_the_next_one_starts(
    make_fleet: FleetFactory,
) -> None:
    fleet = make_fleet()
    shells = fleet.listeners["sage01"].shells.shells
    with session_for(fleet, "sage01") as session:
        for _ in range(3):
            session.run_snippet("host_info")
            # Only the command that just ended is still held by the shell.
            assert [len(shell.commands) for shell in shells.values()] == [1]
    assert fleet.listeners["sage01"].stats.operations["Signal"] == 2


@pytest.mark.parametrize("code", ["internal", "timeout"])
def test_a_failed_terminate_signal_does_not_fail_the_next_command(
    make_fleet: FleetFactory, code: str
) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(fault_at="Signal", fault_code=code, fault_times=1)
    with session_for(fleet, "sage01") as session:
        first = session.run_snippet("host_info")
        second = session.run_snippet("host_info")
    assert first["hostname"] == second["hostname"] == "SAGE-ONPREM"
    assert fleet.faults("sage01").counters.faults == 1


def test_wrong_password_is_authentication_failed(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    with (
        pytest.raises(AuthenticationFailed) as caught,
        session_for(fleet, "sage01", password="bad-secret-value") as session,
    ):
        session.run_snippet("host_info")
    assert caught.value.host == "sage01"
    assert "bad-secret-value" not in str(caught.value)
    assert fleet.listeners["sage01"].stats.auth_failures >= 1


def test_closed_port_is_host_unreachable(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with (
        pytest.raises(HostUnreachable, match="^sage01: cannot connect"),
        session_for(fleet, "sage01", port=free_port) as session,
    ):
        session.run_snippet("host_info")


def test_untrusted_certificate_is_host_unreachable(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    import requests

    with (
        pytest.raises(HostUnreachable, match="TLS certificate verify failed: unable to get"),
        session_for(fleet, "sage01", ca_trust_path=requests.certs.where()) as session,
    ):
        session.run_snippet("host_info")


def test_failing_snippet_raises_with_host_name_rc_and_error_text(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.host("sage01").snippet_failures["host_info"] = "Le chemin d'accès est introuvable."
    with pytest.raises(SnippetFailed) as caught, session_for(fleet, "sage01") as session:
        session.run_snippet("host_info")
    assert (caught.value.host, caught.value.snippet, caught.value.rc) == ("sage01", "host_info", 1)
    assert caught.value.error == "Le chemin d'accès est introuvable."
