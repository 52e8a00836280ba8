"""The WS-Management shell protocol layer, driven with pywinrm's own XML."""

from __future__ import annotations

import base64
import functools
import time
import xml.etree.ElementTree as ET

import pytest
from tests.support.wsman import find, open_shell, request

from sagefleet import snippets
from sagefleet.remote.command import command_line, snippet_invocation
from sagefleet.sim.commands.dispatch import reads_stdin, run_command
from sagefleet.sim.host import WindowsHost, host_from_profile, load_profile
from sagefleet.sim.host.products import AGENT_SERVICE
from sagefleet.sim.protocol import wsman

LOCK = "C:\\ProgramData\\sagefleet\\deploy.lock"
TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"


@pytest.fixture
def service() -> wsman.ShellService:
    # Every command here reads its stdin: it starts when its stdin ends (or at a Receive).
    return wsman.ShellService(
        "SRV",
        lambda line, stdin, cmd_shell, killed: (0, f"ran {line}".encode() + stdin.data, b""),
        reads_stdin=lambda line: True,
    )


def test_create_returns_shell_id_in_selector_and_shell(service: wsman.ShellService) -> None:
    shell_id = open_shell(service)
    assert shell_id in service.shells


def test_command_send_receive_round_trip(service: wsman.ShellService) -> None:
    shell_id = open_shell(service)
    data, _ = request(
        wsman.ACTION_COMMAND,
        shell_id,
        {"rsp:CommandLine": {"rsp:Command": "echo", "rsp:Arguments": "hi"}},
    )
    command_id = find(ET.fromstring(service.handle(data, "u", "c")), "CommandId").text
    data, _ = request(
        wsman.ACTION_SEND,
        shell_id,
        {
            "rsp:Send": {
                "rsp:Stream": {
                    "@Name": "stdin",
                    "@CommandId": command_id,
                    "@End": "true",
                    "#text": base64.b64encode(b"+in").decode(),
                }
            }
        },
    )
    service.handle(data, "u", "c")
    data, _ = request(
        wsman.ACTION_RECEIVE,
        shell_id,
        {
            "rsp:Receive": {
                "rsp:DesiredStream": {"@CommandId": command_id, "#text": "stdout stderr"}
            }
        },
    )
    root = ET.fromstring(service.handle(data, "u", "c"))
    streams = [n for n in root.iter() if n.tag.endswith("Stream") and n.get("Name") == "stdout"]
    assert base64.b64decode(streams[0].text or "") == b"ran echo hi+in"
    states = [n for n in root.iter() if n.get("State", "").endswith("CommandState/Done")]
    assert len(states) == 1
    assert find(root, "ExitCode").text == "0"


def test_signal_and_delete_relate_to_the_request(service: wsman.ShellService) -> None:
    shell_id = open_shell(service)
    data, message_id = request(wsman.ACTION_DELETE, shell_id)
    root = ET.fromstring(service.handle(data, "u", "c"))
    assert find(root, "RelatesTo").text == message_id
    assert shell_id not in service.shells


def test_unknown_shell_is_an_invalid_selectors_fault(service: wsman.ShellService) -> None:
    data, _ = request(wsman.ACTION_DELETE, "NOPE")
    with pytest.raises(wsman.WSManFault) as caught:
        service.handle(data, "u", "c")
    assert caught.value.code == wsman.FAULT_INVALID_SELECTORS


def test_unknown_action_is_a_loud_fault(service: wsman.ShellService) -> None:
    data, _ = request("http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate")
    with pytest.raises(wsman.WSManFault, match="does not implement the action"):
        service.handle(data, "u", "c")


def test_fault_envelope_is_what_pywinrm_parses() -> None:
    fault = wsman.WSManFault(wsman.FAULT_OPERATION_TIMEOUT, "timed out", "w:TimedOut")
    root = ET.fromstring(wsman.fault_envelope(fault, "uuid:1", "SRV"))
    code = root.find("s:Body/s:Fault/s:Detail/f:WSManFault", wsman.NS)
    assert code is not None and code.get("Code") == "2150858793"
    assert root.findtext("s:Body/s:Fault/s:Reason/s:Text", namespaces=wsman.NS) == "timed out"


def test_slow_command_answers_receive_with_operation_timeout() -> None:
    import threading

    release = threading.Event()
    service = wsman.ShellService(
        "SRV",
        lambda line, stdin, cmd_shell, killed: (release.wait(5), (0, b"", b""))[1],
        reads_stdin=lambda line: True,
    )
    shell_id = open_shell(service)
    data, _ = request(wsman.ACTION_COMMAND, shell_id, {"rsp:CommandLine": {"rsp:Command": "x"}})
    command_id = find(ET.fromstring(service.handle(data, "u", "c")), "CommandId").text
    receive, _ = request(
        wsman.ACTION_RECEIVE,
        shell_id,
        {"rsp:Receive": {"rsp:DesiredStream": {"@CommandId": command_id, "#text": "stdout"}}},
    )
    with pytest.raises(wsman.WSManFault) as caught:
        service.handle(receive.replace(b"PT20S", b"PT0.5S"), "u", "c")
    assert caught.value.code == wsman.FAULT_OPERATION_TIMEOUT
    release.set()
    root = ET.fromstring(service.handle(receive, "u", "c"))
    assert find(root, "ExitCode").text == "0"


# -- when the command's process runs: as on Windows, whether a Receive comes or not ----


@pytest.fixture
def host() -> WindowsHost:
    return host_from_profile("h1", "127.0.0.2", "admin", "pw", load_profile("healthy-onprem"))


def real_service(host: WindowsHost) -> wsman.ShellService:
    """The shell layer over the host's real command layer, as a listener wires it."""
    return wsman.ShellService("SRV", functools.partial(run_command, host), reads_stdin=reads_stdin)


def start_command(service: wsman.ShellService, shell_id: str, line: str) -> str:
    data, _ = request(wsman.ACTION_COMMAND, shell_id, {"rsp:CommandLine": {"rsp:Command": line}})
    return find(ET.fromstring(service.handle(data, "u", "c")), "CommandId").text or ""


def send_stdin(service: wsman.ShellService, shell_id: str, command_id: str, data: bytes) -> None:
    stream = {"@Name": "stdin", "@CommandId": command_id, "@End": "true"}
    stream["#text"] = base64.b64encode(data).decode()
    body, _ = request(wsman.ACTION_SEND, shell_id, {"rsp:Send": {"rsp:Stream": stream}})
    service.handle(body, "u", "c")


def ended(service: wsman.ShellService, shell_id: str, command_id: str) -> bool:
    return service.shells[shell_id].commands[command_id].done.wait(10)


def test_a_command_whose_stdin_ended_runs_on_the_host_without_any_receive(
    host: WindowsHost,
) -> None:
    """A client killed after its last Send (End) and before its first Receive: on
    Windows the process read the whole script and ran it; the lock it takes is there."""
    service = real_service(host)
    shell_id = open_shell(service)
    params = {"action": "acquire", "path": LOCK, "owner": "run-1", "ttl_s": 600}
    line, script = snippet_invocation("deploy_lock", params)
    command_id = start_command(service, shell_id, line)
    assert not host.journal  # the bootstrap waits for its stdin
    send_stdin(service, shell_id, command_id, script)
    assert ended(service, shell_id, command_id)
    assert [e["name"] for e in host.journal if e["kind"] == "snippet"] == ["deploy_lock"]
    assert host.fs.is_file(LOCK)


def test_a_command_that_reads_no_stdin_runs_when_the_command_is_answered(
    host: WindowsHost,
) -> None:
    service = real_service(host)
    shell_id = open_shell(service)
    command_id = start_command(service, shell_id, command_line(snippets.render("host_info", {})))
    assert ended(service, shell_id, command_id)
    assert [e["name"] for e in host.journal if e["kind"] == "snippet"] == ["host_info"]


# -- a terminate Signal or a shell Delete kills a running command where it is -----------


def stopping(seconds: float = 30.0) -> WindowsHost:
    """A host whose agent takes ``seconds`` simulated seconds to stop (a tenth real)."""
    host = host_from_profile("h1", "127.0.0.2", "admin", "pw", load_profile("agent-old"))
    service = host.service(AGENT_SERVICE)
    assert service is not None
    service.stop_seconds = seconds
    host.time_scale = 0.1
    return host


def kill_request(action: str, shell_id: str, command_id: str) -> bytes:
    if action == wsman.ACTION_DELETE:
        return request(action, shell_id)[0]
    signal = {"@CommandId": command_id, "rsp:Code": TERMINATE}
    return request(action, shell_id, {"rsp:Signal": signal})[0]


@pytest.mark.parametrize("stop_s", [30.0, 600.0], ids=["in-time", "past-its-timeout"])
@pytest.mark.parametrize(
    "action", [wsman.ACTION_SIGNAL, wsman.ACTION_DELETE], ids=["signal", "delete"]
)
def test_a_killed_command_keeps_what_it_did_and_does_nothing_after(
    action: str, stop_s: float
) -> None:
    """agent_restart killed while the agent stops: the stop it asked for goes on (the
    service's, not the script's), the start after it never comes, and no output is
    delivered: the Signal ends the command, the Delete its shell. A stop longer than the
    script's timeout settles too: the script no longer waits for it."""
    host = stopping(stop_s)
    service = real_service(host)
    shell_id = open_shell(service)
    params = {"service_name": AGENT_SERVICE, "stop_timeout_s": 60, "start_timeout_s": 60}
    line, script = snippet_invocation("agent_restart", params)
    command_id = start_command(service, shell_id, line)
    send_stdin(service, shell_id, command_id, script)
    deadline = time.monotonic() + 5
    while host.service(AGENT_SERVICE).state != "StopPending":  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    started = time.monotonic()
    service.handle(kill_request(action, shell_id, command_id), "u", "c")
    assert time.monotonic() - started < 2  # stopped in its wait, not at its end
    assert host.service(AGENT_SERVICE).state == "Stopped"  # type: ignore[union-attr]
    assert [e["kind"] for e in host.journal][-1] == "terminated"
    receive, _ = request(
        wsman.ACTION_RECEIVE,
        shell_id,
        {"rsp:Receive": {"rsp:DesiredStream": {"@CommandId": command_id, "#text": "stdout"}}},
    )
    with pytest.raises(wsman.WSManFault) as caught:
        service.handle(receive, "u", "c")
    assert caught.value.code == wsman.FAULT_INVALID_SELECTORS


def test_a_command_that_ended_before_the_signal_ran_to_its_end(host: WindowsHost) -> None:
    service = real_service(host)
    shell_id = open_shell(service)
    params = {"action": "acquire", "path": LOCK, "owner": "run-1", "ttl_s": 600}
    line, script = snippet_invocation("deploy_lock", params)
    command_id = start_command(service, shell_id, line)
    send_stdin(service, shell_id, command_id, script)
    assert ended(service, shell_id, command_id)
    service.handle(kill_request(wsman.ACTION_SIGNAL, shell_id, command_id), "u", "c")
    assert host.fs.is_file(LOCK)
    assert "terminated" not in [e["kind"] for e in host.journal]
