"""The WS-Management shell protocol layer, driven with pywinrm's own XML."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest
from tests.support.wsman import find, open_shell, request

from sagefleet.sim.protocol import wsman


@pytest.fixture
def service() -> wsman.ShellService:
    return wsman.ShellService(
        "SRV", lambda line, stdin, cmd_shell: (0, f"ran {line}".encode() + stdin.data, b"")
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
        "SRV", lambda line, stdin, cmd_shell: (release.wait(5), (0, b"", b""))[1]
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
