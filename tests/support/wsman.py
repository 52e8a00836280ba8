"""WS-Management requests as pywinrm builds them, for driving the simulator's shell layer."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import xmltodict
from winrm.protocol import Protocol

from sagefleet.sim.protocol import wsman

PROTOCOL = Protocol("http://127.0.0.1:5985/wsman", username="u", password="p")


def request(
    action: str, shell_id: str | None = None, body: dict | None = None
) -> tuple[bytes, str]:
    message_id = uuid.uuid4()
    envelope = {
        "env:Envelope": PROTOCOL.build_wsman_header(
            action=action, resource_uri=wsman.SHELL_URI, shell_id=shell_id, message_id=message_id
        )
    }
    envelope["env:Envelope"]["env:Body"] = body or {}
    return xmltodict.unparse(envelope).encode(), f"uuid:{message_id}"


def find(root: ET.Element, suffix: str) -> ET.Element:
    return next(n for n in root.iter() if n.tag.endswith(suffix))


def open_shell(service: wsman.ShellService) -> str:
    data, _ = request(wsman.ACTION_CREATE, body={"rsp:Shell": {"rsp:InputStreams": "stdin"}})
    root = ET.fromstring(service.handle(data, "u", "127.0.0.1"))
    return next(n for n in root.iter() if n.get("Name") == "ShellId").text or ""
