"""The wire form of a snippet run: command line in, (rc, stdout, stderr) out."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from sagefleet import snippets
from sagefleet.remote.contracts import validate_output
from sagefleet.remote.errors import SnippetFailed

# Exactly the prefix ansible-core's winrm plugin recognises and passes through
# unchanged (2.19+), and a command line every PowerShell 5.1 host accepts.
POWERSHELL_PREFIX = (
    "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "
)
# CreateProcess refuses command lines longer than 32767 characters.
MAX_COMMAND_LINE = 32767


def encode_script(script: str) -> str:
    """Base64 of the UTF-16LE script, as -EncodedCommand expects."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def decode_script(encoded: str) -> str:
    return base64.b64decode(encoded).decode("utf-16-le")


def command_line(script: str) -> str:
    """Full command line for a script, refusing what Windows would refuse."""
    line = POWERSHELL_PREFIX + encode_script(script)
    if len(line) > MAX_COMMAND_LINE:
        raise ValueError(
            f"command line of {len(line)} characters exceeds the Windows limit of "
            f"{MAX_COMMAND_LINE}: send large data on stdin instead"
        )
    return line


# A script too long for the command line travels on stdin: this fixed bootstrap
# reads its first line (base64 of the UTF-8 script) and runs it; the rest of
# stdin is left for the script itself (file transfers).
STDIN_BOOTSTRAP = (
    "# sagefleet:stdin/1\n"
    "$ErrorActionPreference = 'Stop'\n"
    "$sagefleetScript = [Console]::In.ReadLine()\n"
    "& ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString("
    "[Convert]::FromBase64String($sagefleetScript))))\n"
)


def snippet_command(name: str, params: dict[str, Any] | None) -> str:
    """The command line of a snippet that fits on it (raises ValueError otherwise)."""
    return command_line(snippets.render(name, params))


def snippet_invocation(name: str, params: dict[str, Any] | None) -> tuple[str, bytes | None]:
    """Command line and stdin prefix for a snippet run.

    The script goes in -EncodedCommand when it fits under the Windows limit,
    otherwise on the first stdin line behind STDIN_BOOTSTRAP. Either way the
    script text is the same: marker, JSON parameter block, prelude, body.
    """
    script = snippets.render(name, params)
    line = POWERSHELL_PREFIX + encode_script(script)
    if len(line) <= MAX_COMMAND_LINE:
        return line, None
    payload = base64.b64encode(script.encode("utf-8")) + b"\r\n"
    return command_line(STDIN_BOOTSTRAP), payload


_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def decode_clixml(data: bytes) -> str:
    """Turn PowerShell's CLIXML error stream into plain text.

    Text that is not CLIXML is returned decoded as is, so nothing is lost.
    """
    text = data.decode("utf-8", errors="replace")
    if not text.startswith("#< CLIXML"):
        return text.strip()
    lines: list[str] = []
    for chunk in re.findall(r"<Objs .*?</Objs>", text, flags=re.S):
        try:
            root = ET.fromstring(chunk)
        except ET.ParseError:
            lines.append(chunk)
            continue
        for node in root.iter():
            if node.tag.endswith("}S") and node.get("S") == "Error" and node.text:
                lines.append(_CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), node.text))
    return "".join(lines).replace("\r\n", "\n").strip()


def parse_result(host: str, name: str, rc: int, stdout: bytes, stderr: bytes) -> Any:
    """Apply the output contract: rc 0 and exactly one JSON document on stdout."""
    if rc != 0:
        raise SnippetFailed(host, name, rc, decode_clixml(stderr))
    text = stdout.decode("utf-8", errors="replace").strip()
    if not text:
        raise SnippetFailed(host, name, rc, f"no output; stderr: {decode_clixml(stderr)}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        preview = text[:200]
        raise SnippetFailed(
            host, name, rc, f"stdout is not one JSON document ({exc.msg}): {preview!r}"
        ) from exc
    validate_output(host, name, document)  # the snippet's output schema (remote/contracts.py)
    return document
