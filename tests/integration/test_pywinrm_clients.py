"""pywinrm, unmodified, against the simulator: every transport the issue names."""

from __future__ import annotations

import json
import time

import pytest
import requests
import winrm
from winrm.exceptions import InvalidCredentialsError, WSManFaultError

from sagefleet import snippets
from sagefleet.remote.command import snippet_invocation
from sagefleet.sim.fleet import generate_specs
from sagefleet.sim.host.products import AGENT_SERVICE
from tests.support.fleets import FleetFactory, next_first_address
from tests.support.signals import LOCK


def session(fleet, name: str, transport: str, password: str | None = None, **kw) -> winrm.Session:
    spec = fleet.spec(name)
    return winrm.Session(
        fleet.endpoint(name),
        auth=(spec.username, password if password is not None else spec.password),
        transport=transport,
        **kw,
    )


@pytest.fixture
def basic_http(make_fleet: FleetFactory):
    specs = generate_specs(1, first_address=next_first_address(), port=0, scheme="http")
    specs[0].overrides = {"winrm": {"allow_basic": True, "allow_unencrypted": True}}
    return make_fleet(specs=specs)


def test_basic_over_http_runs_ps_and_cmd(basic_http) -> None:
    s = session(basic_http, "sage01", "basic")
    result = s.run_ps(snippets.render("host_info", {}))
    assert result.status_code == 0
    assert json.loads(result.std_out)["hostname"] == "SAGE-ONPREM"
    assert s.run_cmd("echo", ["%PROCESSOR_ARCHITECTURE%"]).std_out == b"AMD64\r\n"
    assert basic_http.listeners["sage01"].stats.unencrypted >= 2


def test_basic_over_http_with_wrong_password_is_invalid_credentials(basic_http) -> None:
    with pytest.raises(InvalidCredentialsError):
        session(basic_http, "sage01", "basic", password="wrong").run_cmd("hostname")


def test_basic_over_http_is_refused_when_unencrypted_traffic_is_off(
    make_fleet: FleetFactory,
) -> None:
    fleet = make_fleet(scheme="http")
    with pytest.raises(InvalidCredentialsError):
        session(fleet, "sage01", "basic").run_cmd("hostname")


def test_ntlm_over_http_encrypts_every_message(make_fleet: FleetFactory) -> None:
    fleet = make_fleet(scheme="http")
    s = session(fleet, "sage01", "ntlm")
    result = s.run_ps(snippets.render("host_info", {"société": "Comptabilité"}))
    assert result.status_code == 0, result.std_err
    assert json.loads(result.std_out)["os_build"] == 17763
    assert s.run_cmd("hostname").std_out == b"SAGE-ONPREM\r\n"
    stats = fleet.listeners["sage01"].stats
    assert stats.encrypted >= 8 and stats.unencrypted == 0


def test_ntlm_over_http_without_encryption_is_refused(make_fleet: FleetFactory) -> None:
    fleet = make_fleet(scheme="http")
    s = session(fleet, "sage01", "ntlm", message_encryption="never")
    with pytest.raises(WSManFaultError) as caught:
        s.run_cmd("hostname")
    assert caught.value.code == 500
    assert "AllowUnencrypted=false" in caught.value.reason


def test_ntlm_over_http_with_wrong_password_is_invalid_credentials(
    make_fleet: FleetFactory,
) -> None:
    fleet = make_fleet(scheme="http")
    with pytest.raises(InvalidCredentialsError):
        session(fleet, "sage01", "ntlm", password="wrong").run_cmd("hostname")


def test_ntlm_over_https_validates_the_generated_ca(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    s = session(
        fleet, "sage01", "ntlm", server_cert_validation="validate", ca_trust_path=str(fleet.ca_file)
    )
    result = s.run_ps(snippets.render("host_info", {}))
    assert result.status_code == 0
    assert json.loads(result.std_out)["powershell_version"].startswith("5.1")
    assert s.run_cmd("uname", ["-s"]).status_code == 1


def test_https_without_the_ca_fails_certificate_validation(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    s = session(
        fleet,
        "sage01",
        "ntlm",
        server_cert_validation="validate",
        ca_trust_path=requests.certs.where(),
    )
    with pytest.raises(requests.exceptions.SSLError):
        s.run_cmd("hostname")


def test_ntlm_over_https_with_wrong_password_is_invalid_credentials(
    make_fleet: FleetFactory,
) -> None:
    fleet = make_fleet()
    with pytest.raises(InvalidCredentialsError):
        session(
            fleet,
            "sage01",
            "ntlm",
            password="wrong",
            ca_trust_path=str(fleet.ca_file),
            server_cert_validation="validate",
        ).run_cmd("hostname")


def test_stdin_through_protocol_send_reaches_the_command(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    s = session(
        fleet, "sage01", "ntlm", ca_trust_path=str(fleet.ca_file), server_cert_validation="validate"
    )
    protocol = s.protocol
    shell_id = protocol.open_shell()
    # A command that reads its stdin (the bootstrap, then the script's own input).
    line, script = snippet_invocation("host_info", {})
    command_id = protocol.run_command(shell_id, line, console_mode_stdin=False)
    protocol.send_command_input(shell_id, command_id, script + b"line one\r\n")
    protocol.send_command_input(shell_id, command_id, b"line two\r\n", end=True)
    stdout, _, rc = protocol.get_command_output(shell_id, command_id)
    protocol.cleanup_command(shell_id, command_id)
    protocol.close_shell(shell_id)
    assert rc == 0 and json.loads(stdout)["hostname"] == "SAGE-ONPREM"
    assert fleet.host("sage01").journal[-1]["stdin_bytes"] == len(b"line one\r\nline two\r\n")


def test_a_command_whose_stdin_ended_runs_though_the_client_went_away_before_receive(
    make_fleet: FleetFactory,
) -> None:
    """A deploy killed after its last Send (End="true") and before its first Receive: the
    process WinRS created at Command has its whole script, and runs it to its end."""
    fleet = make_fleet()
    protocol = session(
        fleet, "sage01", "ntlm", ca_trust_path=str(fleet.ca_file), server_cert_validation="validate"
    ).protocol
    shell_id = protocol.open_shell()
    params = {"action": "acquire", "path": LOCK, "owner": "killed-run", "ttl_s": 600}
    line, script = snippet_invocation("deploy_lock", params)
    command_id = protocol.run_command(shell_id, line, console_mode_stdin=False)
    protocol.send_command_input(shell_id, command_id, script, end=True)
    protocol.transport.close_session()  # the client is gone: no Receive, Signal or Delete
    command = fleet.listeners["sage01"].shells.shells[shell_id].commands[command_id]
    assert command.done.wait(10), "the command never ran"
    assert json.loads(fleet.host("sage01").fs.read(LOCK))["owner"] == "killed-run"
    assert fleet.listeners["sage01"].stats.operations.get("Receive") is None


def test_pywinrm_cleanup_command_kills_a_running_command_where_it_is(
    make_fleet: FleetFactory,
) -> None:
    """pywinrm's cleanup_command (the terminate Signal ansible-core sends after an error)
    reaches a restart while the agent stops: the stop goes on, the start never comes, and
    the command's output is gone."""
    fleet = make_fleet(profiles=["agent-old"])
    host = fleet.host("sage01")
    agent = host.service(AGENT_SERVICE)
    assert agent is not None
    agent.stop_seconds, host.time_scale = 30.0, 0.1  # 3 real seconds to stop
    protocol = session(
        fleet, "sage01", "ntlm", ca_trust_path=str(fleet.ca_file), server_cert_validation="validate"
    ).protocol
    shell_id = protocol.open_shell()
    params = {"service_name": AGENT_SERVICE, "stop_timeout_s": 60, "start_timeout_s": 60}
    line, script = snippet_invocation("agent_restart", params)
    command_id = protocol.run_command(shell_id, line, console_mode_stdin=False)
    protocol.send_command_input(shell_id, command_id, script, end=True)
    deadline = time.monotonic() + 5
    while agent.state != "StopPending":
        assert time.monotonic() < deadline, agent.state
        time.sleep(0.01)
    protocol.cleanup_command(shell_id, command_id)
    assert agent.state == "Stopped"
    assert host.journal[-1]["kind"] == "terminated"
    with pytest.raises(WSManFaultError):
        protocol.get_command_output_raw(shell_id, command_id)
    protocol.close_shell(shell_id)
    assert agent.state == "Stopped"
