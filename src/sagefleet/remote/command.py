"""The wire form of a snippet run: command line in, (rc, stdout, stderr) out."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

from sagefleet import snippets
from sagefleet.remote.contracts import validate_output
from sagefleet.remote.errors import LanguageModeRestricted, SnippetFailed

# Exactly the prefix ansible-core's winrm plugin recognises and passes through
# unchanged (2.19+), and a command line every PowerShell 5.1 host accepts.
POWERSHELL_PREFIX = (
    "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "
)
# WinRS starts every command through cmd.exe unless WINRS_SKIP_CMD_SHELL is set,
# and neither ansible-core nor pywinrm's run_cmd sets it: cmd.exe refuses a
# command line over 8191 characters ("The command line is too long.").
CMD_LINE_LIMIT = 8191
# CreateProcess's own limit, the only one left when cmd.exe is skipped.
CREATE_PROCESS_LIMIT = 32767


def encode_script(script: str) -> str:
    """Base64 of the UTF-16LE script, as -EncodedCommand expects."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def decode_script(encoded: str) -> str:
    return base64.b64decode(encoded).decode("utf-16-le")


def command_line(script: str, limit: int = CMD_LINE_LIMIT) -> str:
    """Full command line for a script, refusing what Windows would refuse."""
    line = POWERSHELL_PREFIX + encode_script(script)
    if len(line) > limit:
        raise ValueError(
            f"command line of {len(line)} characters exceeds the Windows limit of "
            f"{limit}: send the script on stdin instead"
        )
    return line


# Every snippet travels on stdin behind this fixed bootstrap, so the command line
# is the same short one for every snippet and every client (cmd.exe's limit).
# stdin starts with the script's length in bytes (decimal, then LF), then the
# script as UTF-8; whatever follows is the script's own input. The bootstrap
# reads exactly those bytes from the raw stdin stream, one Read at a time and
# never further, so a script that then reads stdin (a line through [Console]::In,
# or raw bytes through OpenStandardInput) sees its input from its first byte.
# A session in another language mode than FullLanguage (AppLocker, WDAC) cannot
# run the snippets ([Console], [ScriptBlock]::Create): the bootstrap says so
# first, in a line the bastion recognises (LANGUAGE_MODE_TAG), with nothing
# but what Constrained Language Mode allows.
LANGUAGE_MODE_TAG = "sagefleet-language-mode:"
STDIN_BOOTSTRAP = (
    "# sagefleet:stdin/2\n"
    "$sfMode = [string]$ExecutionContext.SessionState.LanguageMode\n"
    f"if ($sfMode -ne 'FullLanguage') {{ throw \"{LANGUAGE_MODE_TAG} $sfMode\" }}\n"
    "$sfIn = [Console]::OpenStandardInput()\n"
    "$sfHead = ''\n"
    "while ($sfHead.Length -lt 12) { $sfByte = $sfIn.ReadByte(); "
    "if ($sfByte -lt 0 -or $sfByte -eq 10) { break }; $sfHead += [char]$sfByte }\n"
    "if ($sfHead -notmatch '^[0-9]{1,9}$') "
    "{ throw 'sagefleet: stdin does not start with the length of a script' }\n"
    "$sfSize = [int]$sfHead\n"
    "$sfScript = New-Object -TypeName byte[] -ArgumentList $sfSize\n"
    "$sfDone = 0\n"
    "while ($sfDone -lt $sfSize) { $sfRead = $sfIn.Read($sfScript, $sfDone, $sfSize - $sfDone); "
    "if ($sfRead -le 0) { throw 'sagefleet: stdin ended before the whole script' }; "
    "$sfDone += $sfRead }\n"
    "& ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString($sfScript)))\n"
)


def bootstrap_command() -> str:
    """The one command line every snippet run sends (well under cmd.exe's limit)."""
    return command_line(STDIN_BOOTSTRAP)


def stdin_script(script: str) -> bytes:
    """What the bootstrap reads first on stdin: the script's length, LF, the script."""
    data = script.encode("utf-8")
    return f"{len(data)}\n".encode("ascii") + data


def snippet_invocation(name: str, params: dict[str, Any] | None) -> tuple[str, bytes]:
    """Command line and stdin prefix for a snippet run.

    The command line is the fixed bootstrap; the script (marker, JSON parameter
    block, prelude, body) is the first thing on stdin. Whatever stdin the
    snippet itself reads follows it.
    """
    return bootstrap_command(), stdin_script(snippets.render(name, params))


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
        error = decode_clixml(stderr)
        mode = re.search(re.escape(LANGUAGE_MODE_TAG) + r"\s*(\w+)", error)
        if mode:
            raise LanguageModeRestricted(host, name, rc, mode.group(1))
        raise SnippetFailed(host, name, rc, error)
    text = stdout.decode("utf-8", errors="replace").strip()
    if not text:
        raise SnippetFailed(host, name, rc, f"no output; stderr: {decode_clixml(stderr)}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # No preview of the text: a snippet's output may hold secrets (a settings file).
        raise SnippetFailed(
            host,
            name,
            rc,
            f"stdout is not one JSON document ({exc.msg} at character {exc.pos} of {len(text)})",
        ) from exc
    validate_output(host, name, document)  # the snippet's output schema (remote/contracts.py)
    return document
