"""What a simulated host does with a command line it is asked to run.

Understood: sagefleet snippets (by marker; the script text must be exactly
what our loader produces), the cmd probes testinfra sends to detect Windows,
and a few plain commands. Anything else fails loudly: rc 1 and a message
naming what was not understood, never a silent success.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
from collections.abc import Callable
from typing import Any

from sagefleet import snippets
from sagefleet.remote.command import (
    CMD_LINE_LIMIT,
    CREATE_PROCESS_LIMIT,
    LANGUAGE_MODE_TAG,
    STDIN_BOOTSTRAP,
)
from sagefleet.sim import ansible_compat, semantics, wsman
from sagefleet.sim.model import ScriptHung, WindowsHost, logon_session

Result = tuple[int, bytes, bytes]

_ENCODED = re.compile(
    r"^\s*powershell(?:\.exe)?\s+(?P<flags>(?:-\w+(?:\s+(?!-)\S+)?\s+)*?)"
    r"-(?:encodedcommand|enc|e|ec)\s+(?P<b64>[A-Za-z0-9+/=]+)\s*$",
    re.I,
)
_PS_COMMAND = re.compile(r"^\s*powershell(?:\.exe)?\s+(?:-\w+\s+)*?-command\s+(?P<cmd>.+)$", re.I)


class NotUnderstood(Exception):
    """The simulator cannot model this command; reported to the client as rc 1."""


def clixml_error(message: str) -> bytes:
    """The stderr a PowerShell host writes for an uncaught error."""
    escaped = (
        message.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", "")
        .replace("\n", "_x000D__x000A_")
    )
    return (
        "#< CLIXML\r\n"
        '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        f'<S S="Error">{escaped}_x000D__x000A_</S></Objs>'
    ).encode()


def _not_understood(what: str, text: str, powershell: bool) -> Result:
    preview = text if len(text) <= 200 else text[:200] + "..."
    message = f"sagefleet simulator: {what} not understood: {preview}"
    stderr = clixml_error(message) if powershell else (message + "\r\n").encode("utf-8")
    return 1, b"", stderr


# cmd.exe's answer to a command line over CMD_LINE_LIMIT (Microsoft: "Command prompt
# (Cmd.exe) command-line string limitation").
CMD_TOO_LONG = b"The command line is too long.\r\n"
# CreateProcess's answer over CREATE_PROCESS_LIMIT, the only limit when cmd.exe is skipped.
CREATE_PROCESS_TOO_LONG = b"The filename or extension is too long.\r\n"


def run_command(host: WindowsHost, command_line: str, stdin: bytes) -> Result:
    """Entry point used by the WS-Management layer for every Command.

    WinRS hands the line to cmd.exe unless the command skips it: cmd.exe refuses
    one over 8191 characters before anything runs (rc 1), CreateProcess one over
    32767.
    """
    if wsman.through_cmd_shell():
        if len(command_line) > CMD_LINE_LIMIT:
            host.record({"kind": "refused", "error": "cmd.exe: command line too long"})
            return 1, b"", CMD_TOO_LONG
    elif len(command_line) > CREATE_PROCESS_LIMIT:
        host.record({"kind": "refused", "error": "CreateProcess: command line too long"})
        return 1, b"", CREATE_PROCESS_TOO_LONG
    return _run_line(host, command_line, stdin)


def _run_line(host: WindowsHost, command_line: str, stdin: bytes) -> Result:
    match = _ENCODED.match(command_line)
    if match:
        try:
            script = base64.b64decode(match.group("b64"), validate=True).decode("utf-16-le")
        except (binascii.Error, UnicodeDecodeError):
            return _not_understood("encoded command (bad base64/UTF-16)", command_line, True)
        return run_powershell(host, script, stdin)
    match = _PS_COMMAND.match(command_line)
    if match:
        return run_powershell(host, _unquote(match.group("cmd")), stdin)
    return run_cmd(host, command_line)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def run_powershell(host: WindowsHost, script: str, stdin: bytes) -> Result:
    stripped = script.strip()
    # ansible-core 2.18 encodes an already encoded command a second time.
    nested = _ENCODED.match(stripped)
    if nested:
        return _run_line(host, stripped, stdin)
    if script.replace("\r\n", "\n") == STDIN_BOOTSTRAP:
        return run_bootstrap(host, stdin)
    try:
        parsed = snippets.parse(script)
    except snippets.SnippetError as exc:
        host.record({"kind": "rejected", "error": str(exc)})
        return 1, b"", clixml_error(f"sagefleet simulator: {exc}")
    if parsed is not None:
        return run_snippet(host, parsed.name, parsed.params, stdin, script=script)
    # Not a snippet: ansible-core's own put/fetch scripts, or raw one-liners.
    return ansible_compat.run_script(host, script, stdin)


def run_bootstrap(host: WindowsHost, stdin: bytes) -> Result:
    """What STDIN_BOOTSTRAP does, step by step as its PowerShell does it.

    It names a language mode other than FullLanguage and stops (nothing else it
    uses is allowed there); reads at most 12 bytes up to a LF as the script's
    length; reads exactly that many bytes as the UTF-8 script; runs it with the
    rest of stdin left, byte for byte, to the script.
    """
    if host.language_mode != "FullLanguage":
        host.record({"kind": "refused", "error": f"language mode {host.language_mode}"})
        return 1, b"", clixml_error(f"{LANGUAGE_MODE_TAG} {host.language_mode}")
    head = bytearray()
    position = 0
    while len(head) < 12:
        if position >= len(stdin):
            break
        byte = stdin[position]
        position += 1
        if byte == 10:
            break
        head.append(byte)
    if not re.fullmatch(rb"[0-9]{1,9}", bytes(head)):
        return 1, b"", clixml_error("sagefleet: stdin does not start with the length of a script")
    size = int(head)
    if len(stdin) - position < size:
        return 1, b"", clixml_error("sagefleet: stdin ended before the whole script")
    script = stdin[position : position + size].decode("utf-8", errors="replace")
    with host.lock:
        host.script_bytes += position + size
    return run_powershell(host, script, stdin[position + size :])


SnippetImpl = Callable[[WindowsHost, dict[str, Any], bytes], Any]
SNIPPETS: dict[str, SnippetImpl] = {}


def simulates(name: str) -> Callable[[SnippetImpl], SnippetImpl]:
    """Register the model-side behaviour of a snippet."""

    def register(func: SnippetImpl) -> SnippetImpl:
        SNIPPETS[name] = func
        return func

    return register


class SnippetAbort(Exception):
    """Raised by a snippet model the way a PowerShell `throw` ends the script."""


def run_snippet(
    host: WindowsHost,
    name: str,
    params: dict[str, Any],
    stdin: bytes,
    *,
    script: str | None = None,
) -> Result:
    host.record({"kind": "snippet", "name": name, "params": params, "stdin_bytes": len(stdin)})
    failure = host.snippet_failures.get(name)
    if failure is not None:
        return 1, b"", clixml_error(failure)
    impl = SNIPPETS.get(name)
    if impl is None:
        return _not_understood(f"snippet {name!r} (no model in the simulator)", name, True)
    view = semantics.Script(
        name, params, script if script is not None else snippets.render(name, params)
    )
    refused = semantics.refusal(host, view)
    if refused is not None:
        host.record({"kind": "refused", "name": name, "error": refused})
        return 1, b"", clixml_error(refused)
    token = semantics.running(view)
    try:
        # A WinRM logon holds no credentials for a third machine (the second hop).
        with logon_session(host.winrm.delegation):
            result = impl(host, params, stdin)
    except SnippetAbort as exc:
        return 1, b"", clixml_error(str(exc))
    except ScriptHung as exc:
        # Windows would still be waiting; the simulator ends it so the client sees it.
        return 1, b"", clixml_error(str(exc))
    finally:
        semantics.done(token)
    return 0, json.dumps(result, ensure_ascii=True, separators=(",", ":")).encode("ascii"), b""


def run_ps_line(host: WindowsHost, line: str) -> Result:
    """The few plain PowerShell one-liners the real clients send on their own."""
    host.record({"kind": "powershell", "script": line})
    if re.fullmatch(
        r"hostname|\[System\.Net\.Dns\]::GetHostName\(\)|\$env:COMPUTERNAME", line, re.I
    ):
        return 0, f"{host.hostname}\r\n".encode(), b""
    match = re.fullmatch(r"(?:Write-Output|echo)\s+'([^']*)'", line, re.I)
    if match:
        return 0, f"{match.group(1)}\r\n".encode(), b""
    match = re.fullmatch(r"exit\s+(\d+)", line, re.I)
    if match:
        return int(match.group(1)), b"", b""
    if re.fullmatch(r"\$PSVersionTable\.PSVersion\.ToString\(\)", line, re.I):
        return 0, f"{host.powershell_version}\r\n".encode(), b""
    return baseline_models.run_line(host, line) or _not_understood("PowerShell script", line, True)


def run_cmd(host: WindowsHost, line: str) -> Result:
    """cmd.exe command lines, as testinfra and pywinrm's run_cmd send them."""
    host.record({"kind": "cmd", "command": line})
    stripped = line.strip()
    try:
        words = shlex.split(stripped, posix=False)
    except ValueError:
        words = stripped.split()
    first = words[0].lower() if words else ""
    if first in {"uname", "ls", "cat", "sh", "bash", "id"}:
        message = (
            f"'{words[0]}' is not recognized as an internal or external command,\r\n"
            "operable program or batch file.\r\n"
        )
        return 1, b"", message.encode()
    if re.fullmatch(r'systeminfo\s*\|\s*findstr\s+/B\s+/C:"OS"', stripped, re.I):
        text = (
            f"OS Name:                   {host.os_caption}\r\n"
            f"OS Version:                {host.os_version} N/A Build {host.os_build}\r\n"
            "OS Manufacturer:           Microsoft Corporation\r\n"
            "OS Configuration:          Member Server\r\n"
            "OS Build Type:             Multiprocessor Free\r\n"
        )
        return 0, text.encode(), b""
    if re.fullmatch(r"echo\s+%PROCESSOR_ARCHITECTURE%", stripped, re.I):
        return 0, b"AMD64\r\n", b""
    if re.fullmatch(r"echo\s+%COMPUTERNAME%|hostname", stripped, re.I):
        return 0, f"{host.hostname}\r\n".encode(), b""
    if re.fullmatch(r"whoami", stripped, re.I):
        return 0, f"{host.hostname.lower()}\\{host.username.lower()}\r\n".encode(), b""
    match = re.fullmatch(r"echo\s+([^%&|<>^]*)", stripped, re.I)
    if match:
        return 0, f"{match.group(1)}\r\n".encode(), b""
    match = re.fullmatch(r"exit\s+/b\s+(\d+)", stripped, re.I)
    if match:
        return int(match.group(1)), b"", b""
    return _not_understood("cmd command", stripped, False)


# Snippet models register themselves on import.
from sagefleet.sim import (  # noqa: E402,F401
    acl_rules,
    agent_learn_models,
    agent_models,
    baseline_models,
    connection_models,
    diagnose_models,
    discover_models,
    language_rules,
    lock_models,
    platform_rules,
    query_models,
    service_rules,
    settings_models,
    snippet_models,
    stage_models,
)
