"""The simulator's WS-Management replies have the structure of real Windows replies.

Recorded replies of real Windows hosts (tests/fixtures/wire/, see its README)
are compared with the simulator's replies to the same operations: element
tags, attribute names and namespace prefixes must be the same; text values,
ids and the order of siblings are ignored.
"""

from __future__ import annotations

import base64
import io
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmltodict
from winrm.protocol import Protocol

from sagefleet.sim.protocol import wsman

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wire"
PROTOCOL = Protocol("http://127.0.0.1:5985/wsman", username="u", password="p")
XML_NS = "http://www.w3.org/XML/1998/namespace"

Shape = set[tuple[str, tuple[str, ...]]]


def shape(data: bytes | str, under: str | None = None) -> Shape:
    """Every element as (path of prefixed tags, sorted prefixed attribute names)."""
    raw = data.encode() if isinstance(data, str) else data
    prefixes: dict[str, str] = {XML_NS: "xml"}
    for _event, item in ET.iterparse(io.BytesIO(raw), events=("start-ns",)):
        prefix, uri = item  # type: ignore[misc]
        prefixes.setdefault(uri, prefix)

    def name(qualified: str) -> str:
        if qualified.startswith("{"):
            uri, _, local = qualified[1:].partition("}")
            return f"{prefixes.get(uri, '?' + uri)}:{local}"
        return qualified

    result: Shape = set()

    def walk(node: ET.Element, path: str) -> None:
        here = f"{path}/{name(node.tag)}"
        if under is None or here.startswith(under):
            result.add((here, tuple(sorted(name(a) for a in node.attrib))))
        for child in node:
            walk(child, here)

    walk(ET.fromstring(raw), "")
    return result


def recorded(name: str, under: str | None = None) -> Shape:
    return shape((FIXTURES / name).read_bytes(), under)


def request(action: str, shell_id: str | None = None, body: dict | None = None) -> bytes:
    envelope = {
        "env:Envelope": PROTOCOL.build_wsman_header(
            action=action, resource_uri=wsman.SHELL_URI, shell_id=shell_id, message_id=uuid.uuid4()
        )
    }
    envelope["env:Envelope"]["env:Body"] = body or {}
    return xmltodict.unparse(envelope).encode()


class Conversation:
    """One shell, one command with stdin, as a client drives it; keeps each reply."""

    def __init__(self) -> None:
        self.service = wsman.ShellService(
            "SRV",
            lambda line, stdin, cmd_shell, killed: (0, b"hi\r\n" + stdin.data, b"warning\r\n"),
            reads_stdin=lambda line: True,
        )
        self.replies: dict[str, bytes] = {}
        self.replies["create"] = self.service.handle(
            request(wsman.ACTION_CREATE, body={"rsp:Shell": {"rsp:InputStreams": "stdin"}}),
            "u",
            "127.0.0.1",
        )
        root = ET.fromstring(self.replies["create"])
        self.shell_id = next(n for n in root.iter() if n.get("Name") == "ShellId").text
        self.replies["command"] = self.call(
            wsman.ACTION_COMMAND, {"rsp:CommandLine": {"rsp:Command": "hostname"}}
        )
        root = ET.fromstring(self.replies["command"])
        command_id = next(n for n in root.iter() if n.tag.endswith("CommandId")).text
        self.replies["send"] = self.call(
            wsman.ACTION_SEND,
            {
                "rsp:Send": {
                    "rsp:Stream": {
                        "@Name": "stdin",
                        "@CommandId": command_id,
                        "@End": "true",
                        "#text": base64.b64encode(b"in").decode(),
                    }
                }
            },
        )
        self.replies["receive"] = self.call(
            wsman.ACTION_RECEIVE,
            {"rsp:Receive": {"rsp:DesiredStream": {"@CommandId": command_id, "#text": "stdout"}}},
        )
        self.replies["signal"] = self.call(
            wsman.ACTION_SIGNAL,
            {
                "rsp:Signal": {
                    "@CommandId": command_id,
                    "rsp:Code": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate",
                }
            },
        )
        self.replies["delete"] = self.call(wsman.ACTION_DELETE)

    def call(self, action: str, body: dict | None = None) -> bytes:
        return self.service.handle(request(action, self.shell_id, body), "u", "127.0.0.1")


@pytest.fixture(scope="module")
def conversation() -> Conversation:
    return Conversation()


@pytest.mark.parametrize(
    ("operation", "fixture"),
    [
        ("create", "pypsrp_create.xml"),
        ("command", "pypsrp_command.xml"),
        ("send", "pywinrm_send.xml"),
        ("receive", "pypsrp_receive_done.xml"),
        ("signal", "pypsrp_signal.xml"),
        ("signal", "pywinrm_signal.xml"),
        ("delete", "pypsrp_delete.xml"),
        ("delete", "pywinrm_delete.xml"),
    ],
)
def test_reply_has_the_structure_of_the_recorded_windows_reply(
    conversation: Conversation, operation: str, fixture: str
) -> None:
    assert shape(conversation.replies[operation]) == recorded(fixture)


def _fault(code: int, subcode: str) -> bytes:
    fault = wsman.WSManFault(code, "reason", subcode)
    return wsman.fault_envelope(fault, "uuid:1", "SRV")


def test_operation_timeout_fault_has_the_recorded_structure() -> None:
    reply = _fault(wsman.FAULT_OPERATION_TIMEOUT, "w:TimedOut")
    assert shape(reply) == recorded("pypsrp_fault_timeout.xml")


def test_quota_fault_body_has_the_recorded_wmi_error_structure() -> None:
    reply = _fault(wsman.FAULT_QUOTA_MAX_OPERATIONS, "w:InternalError")
    body = "/s:Envelope/s:Body"
    assert shape(reply, body) == recorded("pywinrm_fault_quota.xml", body)


def test_shape_sees_a_missing_attribute() -> None:
    """The comparison itself can fail: a reply without End= is told apart."""
    done = (FIXTURES / "pypsrp_receive_done.xml").read_text()
    assert shape(done.replace(' End="true"', "")) != recorded("pypsrp_receive_done.xml")
