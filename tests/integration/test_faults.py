"""Injected faults provoke, in the real clients, what the same fault does on Windows."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMOperationTimeoutError, WSManFaultError

from sagefleet import snippets
from sagefleet.remote import AuthenticationFailed, HostUnreachable, TransportError
from sagefleet.remote.command import snippet_invocation
from sagefleet.sim.fleet import Fleet, FleetError, generate_specs, specs_from_inventory
from sagefleet.sim.protocol.faults import FaultError, FaultPlan
from tests.support.ansible_leg import connect
from tests.support.fleets import FleetFactory, next_first_address, session_for


def pywinrm_session(
    fleet: Fleet, name: str = "sage01", password: str | None = None
) -> winrm.Session:
    spec = fleet.spec(name)
    return winrm.Session(
        fleet.endpoint(name),
        auth=(spec.username, spec.password if password is None else password),
        transport="ntlm",
        server_cert_validation="validate",
        ca_trust_path=str(fleet.ca_file),
    )


def stdin_command(fleet: Fleet, size: int) -> tuple[int, float]:
    """Send ``size`` bytes of stdin to the host_info snippet; rc and elapsed seconds."""
    protocol = pywinrm_session(fleet).protocol
    shell_id = protocol.open_shell()
    started = time.monotonic()
    line, script = snippet_invocation("host_info", {})
    command_id = protocol.run_command(shell_id, line, console_mode_stdin=False)
    protocol.send_command_input(shell_id, command_id, script)
    chunk = 50_000
    for offset in range(0, size, chunk):
        data = b"x" * min(chunk, size - offset)
        protocol.send_command_input(shell_id, command_id, data, end=offset + chunk >= size)
    _, _, rc = protocol.get_command_output(shell_id, command_id)
    elapsed = time.monotonic() - started
    protocol.close_shell(shell_id)
    return rc, elapsed


# -- delays -----------------------------------------------------------------------


def test_latency_is_added_to_every_request(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(latency=0.05)
    stats = fleet.listeners["sage01"].stats
    before = stats.requests
    started = time.monotonic()
    with session_for(fleet, "sage01") as session:
        session.run_snippet("host_info")
    elapsed = time.monotonic() - started
    requests_made = stats.requests - before
    assert requests_made >= 4  # Create, Command, Receive, Signal (+ Delete on close)
    assert elapsed >= 0.05 * requests_made


def test_powershell_start_up_delays_powershell_commands_only(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(powershell_startup=0.6)
    s = pywinrm_session(fleet)
    started = time.monotonic()
    assert s.run_cmd("hostname").status_code == 0
    cmd_elapsed = time.monotonic() - started
    started = time.monotonic()
    assert s.run_ps(snippets.render("host_info", {})).status_code == 0
    ps_elapsed = time.monotonic() - started
    assert ps_elapsed >= 0.6 > cmd_elapsed
    assert fleet.faults("sage01").counters.delayed_commands == 1


def test_bandwidth_limit_paces_stdin_transfer(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(bandwidth=400_000)
    rc, elapsed = stdin_command(fleet, 300_000)
    assert rc == 0
    assert 0.75 <= elapsed < 5
    script = len(snippet_invocation("host_info", {})[1])  # the script travels on stdin first
    assert fleet.listeners["sage01"].stats.stdin_bytes == 300_000 + script
    fleet.faults("sage01").clear()
    rc, fast = stdin_command(fleet, 300_000)
    assert rc == 0 and fast < 0.5
    assert fleet.listeners["sage01"].stats.stdin_bytes == 2 * (300_000 + script)


# -- dropped connections --------------------------------------------------------


def test_connection_dropped_after_n_stdin_bytes_is_a_connection_error(
    make_fleet: FleetFactory,
) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(drop_after_stdin_bytes=120_000)
    with pytest.raises(requests.exceptions.ConnectionError):
        stdin_command(fleet, 300_000)
    assert fleet.faults("sage01").counters.dropped == 1
    script = len(snippet_invocation("host_info", {})[1])  # the script's own Send came first
    assert fleet.listeners["sage01"].stats.stdin_bytes == script + 150_000  # the third 50 kB
    rc, _ = stdin_command(fleet, 300_000)  # one-shot: the retry goes through
    assert rc == 0


@pytest.mark.parametrize("operation", ["Create", "Command", "Receive"])
def test_connection_dropped_at_an_operation_is_a_connection_error(
    make_fleet: FleetFactory, operation: str
) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(drop_at=operation)
    with pytest.raises(requests.exceptions.ConnectionError):
        pywinrm_session(fleet).run_cmd("hostname")
    assert pywinrm_session(fleet).run_cmd("hostname").std_out == b"SAGE-ONPREM\r\n"
    assert fleet.listeners["sage01"].stats.operations[operation] >= 2


def test_connection_dropped_at_send_is_a_connection_error(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(drop_at="Send", drop_times="always")
    for _ in range(2):
        with pytest.raises(requests.exceptions.ConnectionError):
            stdin_command(fleet, 10)
    assert fleet.faults("sage01").counters.dropped == 2


def test_dropped_connection_is_host_unreachable_for_a_session(make_fleet: FleetFactory) -> None:
    """Said as a connection lost, not as one never made: what it asked may have been done."""
    fleet = make_fleet()
    fleet.faults("sage01").set(drop_at="Command")
    with (
        pytest.raises(HostUnreachable, match="^sage01: connection lost before the answer: "),
        session_for(fleet, "sage01") as session,
    ):
        session.run_snippet("host_info")


# -- WS-Management faults -------------------------------------------------------


def test_next_requests_answer_http_500_with_a_wsman_fault(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(fault_next=2)
    for _ in range(2):
        with pytest.raises(WSManFaultError) as caught:
            pywinrm_session(fleet).run_cmd("hostname")
        assert caught.value.code == 500
        assert caught.value.wsman_fault_code == 1359
        assert "internal error" in caught.value.reason
    assert pywinrm_session(fleet).run_cmd("hostname").status_code == 0


def test_wsman_fault_is_transport_error_for_a_session(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(fault_at="Command", fault_times=1)
    with (
        pytest.raises(TransportError, match="^sage01: WinRM error"),
        session_for(fleet, "sage01") as session,
    ):
        session.run_snippet("host_info")


def test_operation_timeout_at_receive_is_retried_by_pywinrm(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(fault_at="Receive", fault_code="timeout", fault_times=3)
    result = pywinrm_session(fleet).run_ps(snippets.render("host_info", {}))
    assert result.status_code == 0
    assert json.loads(result.std_out)["hostname"] == "SAGE-ONPREM"
    assert fleet.faults("sage01").counters.faults == 3
    assert fleet.listeners["sage01"].stats.operations["Receive"] == 4


def test_operation_timeout_at_command_reaches_the_caller(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(fault_at="Command", fault_code="timeout")
    protocol = pywinrm_session(fleet).protocol
    shell_id = protocol.open_shell()
    with pytest.raises(WinRMOperationTimeoutError):
        protocol.run_command(shell_id, "hostname")


def test_quota_fault_at_command_makes_ansible_recreate_the_shell(
    make_fleet: FleetFactory,
) -> None:
    fleet = make_fleet()
    spec = fleet.spec("sage01")
    connection = connect(
        {
            "address": spec.address,
            "port": spec.port,
            "username": spec.username,
            "password": spec.password,
            "ca_file": str(fleet.ca_file),
        }
    )
    try:
        assert connection.exec_command("hostname")[0] == 0
        fleet.faults("sage01").set(fault_at="Command", fault_code="quota", fault_times=1)
        rc, stdout, _ = connection.exec_command("hostname")
    finally:
        connection.close()
    assert (rc, stdout) == (0, b"SAGE-ONPREM\r\n")
    operations = fleet.listeners["sage01"].stats.operations
    assert operations["Create"] == 2 and operations["Delete"] == 2
    assert operations["Command"] == 3  # ok, quota fault, ok in the new shell


def test_quota_fault_carries_the_wmi_error_code(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(fault_at="Command", fault_code="quota")
    with pytest.raises(WSManFaultError) as caught:
        pywinrm_session(fleet).run_cmd("hostname")
    assert caught.value.wmierror_code == 0x803381A6


# -- authentication ---------------------------------------------------------------


def test_auth_failures_reject_the_right_password_n_times(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(auth_failures=2)
    for _ in range(2):
        with pytest.raises(InvalidCredentialsError):
            pywinrm_session(fleet).run_cmd("hostname")
    assert pywinrm_session(fleet).run_cmd("hostname").status_code == 0
    assert fleet.listeners["sage01"].stats.auth_failures == 2


def test_auth_always_failing_is_authentication_failed(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    fleet.faults("sage01").set(auth_failures="always")
    for _ in range(3):
        with (
            pytest.raises(AuthenticationFailed, match="credentials rejected"),
            session_for(fleet, "sage01") as session,
        ):
            session.run_snippet("host_info")
    assert fleet.faults("sage01").counters.auth_failures == 3


# -- host down ----------------------------------------------------------------------


def test_host_down_refuses_connections_and_comes_back_up(make_fleet: FleetFactory) -> None:
    fleet = make_fleet(2)
    port = fleet.spec("sage01").port
    fleet.host_down("sage01")
    assert fleet.is_down("sage01")
    with (
        pytest.raises(HostUnreachable, match="^sage01: cannot connect"),
        session_for(fleet, "sage01") as session,
    ):
        session.run_snippet("host_info")
    with session_for(fleet, "sage02") as other:
        assert other.run_snippet("host_info")["hostname"] == "SAGE-ONPREM"
    fleet.host_up("sage01")
    assert fleet.spec("sage01").port == port
    with session_for(fleet, "sage01") as session:
        assert session.run_snippet("host_info")["hostname"] == "SAGE-ONPREM"


def test_host_down_cuts_an_open_session(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    with session_for(fleet, "sage01") as session:
        session.run_snippet("host_info")
        fleet.host_down("sage01")
        with pytest.raises(HostUnreachable):
            session.run_snippet("host_info")


# -- from a spec or an inventory -------------------------------------------------------


def test_faults_from_the_host_spec_apply_from_the_start(make_fleet: FleetFactory) -> None:
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    specs[0].faults = {"fault_next": 1, "latency": 0.01}
    specs[1].faults = {"down": True}
    fleet = make_fleet(specs=specs)
    with pytest.raises(WSManFaultError):
        pywinrm_session(fleet).run_cmd("hostname")
    assert pywinrm_session(fleet).run_cmd("hostname").status_code == 0
    assert fleet.is_down("sage02")
    fleet.faults("sage01").set(fault_next=1)
    fleet.faults("sage01").reset()  # back to the spec: one fault again
    with pytest.raises(WSManFaultError):
        pywinrm_session(fleet).run_cmd("hostname")


def test_unknown_fault_setting_is_refused(tmp_path: Path) -> None:
    specs = generate_specs(1, first_address=next_first_address(), port=0)
    specs[0].faults = {"latancy": 1}
    with pytest.raises(FleetError, match="unknown fault setting"):
        Fleet(specs, tmp_path).start()
    with pytest.raises(FaultError, match="unknown operation 'Enumerate'"):
        FaultPlan().set(drop_at="Enumerate")
    with pytest.raises(FaultError, match="expected a count or 'always'"):
        FaultPlan().set(auth_failures="sometimes")


def test_inventory_carries_faults_to_the_simulator(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    specs = generate_specs(1, first_address=next_first_address(), port=0)
    specs[0].faults = {"auth_failures": "always", "bandwidth": 1000}
    fleet = make_fleet(specs=specs)
    inventory = fleet.write_inventory(tmp_path / "inventory" / "hosts.yml")
    (read,) = specs_from_inventory(inventory)
    assert read.faults == {"auth_failures": "always", "bandwidth": 1000}
