"""What a simulated host does with a command line it is asked to run.

Understood: sagefleet snippets (by marker; the script text must be exactly
what our loader produces), ansible-core's own scripts, and plain lines
(``plain``). Anything else fails loudly: rc 1 and a message naming what was
not understood, never a silent success. The models are registered by
``catalog`` (docs/simulator.md, "Layers").
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from typing import Any

from sagefleet import snippets
from sagefleet.remote.command import (
    CMD_LINE_LIMIT,
    CREATE_PROCESS_LIMIT,
    LANGUAGE_MODE_TAG,
    STDIN_BOOTSTRAP,
)
from sagefleet.sim.commands import ansible_compat, catalog, semantics  # noqa: F401 - catalog registers the models
from sagefleet.sim.commands.plain import run_cmd, run_ps_line
from sagefleet.sim.commands.registry import (
    SNIPPETS,
    Result,
    SnippetAbort,
    failed,
    not_understood,
)
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import ScriptHung, WindowsHost, logon_session, process

__all__ = [
    "Result",
    "Stdin",
    "reads_stdin",
    "run_cmd",
    "run_command",
    "run_ps_line",
    "run_snippet",
]

_ENCODED = re.compile(
    r"^\s*powershell(?:\.exe)?\s+(?P<flags>(?:-\w+(?:\s+(?!-)\S+)?\s+)*?)"
    r"-(?:encodedcommand|enc|e|ec)\s+(?P<b64>[A-Za-z0-9+/=]+)\s*$",
    re.I,
)
_PS_COMMAND = re.compile(r"^\s*powershell(?:\.exe)?\s+(?:-\w+\s+)*?-command\s+(?P<cmd>.+)$", re.I)
# What makes powershell.exe read its standard input: the pipeline input a script names
# as $input ("about_Automatic_Variables"), the console's reader or raw stream
# ([Console]::In, ::Read, ::ReadLine, ::OpenStandardInput), or "-" as the command
# ("about_PowerShell_exe": -Command - reads the commands from stdin).
_STDIN_READERS = re.compile(
    r"\$input\b|\[(?:system\.)?console\]::(?:in\b|read|openstandardinput)", re.I
)


# What a killed process leaves: TerminateProcess's exit code, no more output. WinRS
# delivers none of it: the command is gone (Signal) or its shell (Delete).
KILLED: Result = (1, b"", b"")
# cmd.exe's answer to a command line over CMD_LINE_LIMIT (Microsoft: "Command prompt
# (Cmd.exe) command-line string limitation").
CMD_TOO_LONG = b"The command line is too long.\r\n"
# CreateProcess's answer over CREATE_PROCESS_LIMIT, the only limit when cmd.exe is skipped.
CREATE_PROCESS_TOO_LONG = b"The filename or extension is too long.\r\n"


def run_command(
    host: WindowsHost,
    command_line: str,
    stdin: bytes | Stdin,
    *,
    cmd_shell: bool = True,
    killed: threading.Event | None = None,
) -> Result:
    """Entry point used by the WS-Management layer for every Command.

    WinRS hands the line to cmd.exe unless the command skips it (``cmd_shell``
    False: ``WINRS_SKIP_CMD_SHELL=TRUE``): cmd.exe refuses one over 8191
    characters before anything runs (rc 1), CreateProcess one over 32767.
    Plain ``bytes`` are a whole stdin that ended normally. ``killed``, once set,
    stops the model at its next effect point (``process.Terminated``): the
    command's process was terminated; its result is KILLED, which no client
    receives (docs/simulator.md, ledger row 43).
    """
    with process.running(killed):
        try:
            return _run_command(host, command_line, stdin, cmd_shell=cmd_shell)
        except process.Terminated:
            host.record({"kind": "terminated", "command": command_line[:80]})
            return KILLED


def _run_command(
    host: WindowsHost, command_line: str, stdin: bytes | Stdin, *, cmd_shell: bool
) -> Result:
    stdin = Stdin.of(stdin)
    if cmd_shell:
        if len(command_line) > CMD_LINE_LIMIT:
            host.record({"kind": "refused", "error": "cmd.exe: command line too long"})
            return 1, b"", CMD_TOO_LONG
    elif len(command_line) > CREATE_PROCESS_LIMIT:
        host.record({"kind": "refused", "error": "CreateProcess: command line too long"})
        return 1, b"", CREATE_PROCESS_TOO_LONG
    # Every command runs in the WinRM logon session: none of the interactive user's
    # mapped drives, no credentials for a third machine (the second hop).
    with logon_session(host.winrm.delegation):
        return _run_line(host, command_line, stdin)


def reads_stdin(command_line: str) -> bool:
    """Whether the process a command line starts reads its stdin, as the models run it.

    WinRS creates the process when it answers the Command, and the process reads
    stdin as Send requests deliver it: the protocol layer starts a command that
    reads none at once, one that reads it when its stdin ends (docs/simulator.md,
    ledger row 42). Only a PowerShell line gets stdin here (``run_cmd`` reads
    none); a script naming none of ``_STDIN_READERS`` reads none, so its process
    starts at once (when unsure: early, as Windows may).
    """
    match = _ENCODED.match(command_line)
    if match:
        script = _decoded(match.group("b64"))
    else:
        match = _PS_COMMAND.match(command_line)
        script = _unquote(match.group("cmd")) if match else None
        if script == "-":
            return True
    if script is None:
        return False
    if _ENCODED.match(script.strip()):  # encoded twice (ansible-core 2.18)
        return reads_stdin(script.strip())
    return _STDIN_READERS.search(script) is not None


def _decoded(b64: str) -> str | None:
    """The script of an -EncodedCommand (base64 of UTF-16LE), None if it is not one."""
    try:
        return base64.b64decode(b64, validate=True).decode("utf-16-le")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _run_line(host: WindowsHost, command_line: str, stdin: Stdin) -> Result:
    match = _ENCODED.match(command_line)
    if match:
        script = _decoded(match.group("b64"))
        if script is None:
            return not_understood("encoded command (bad base64/UTF-16)", command_line, True)
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


def run_powershell(host: WindowsHost, script: str, stdin: Stdin) -> Result:
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
        return failed(f"sagefleet simulator: {exc}")
    if parsed is not None:
        return run_snippet(host, parsed.name, parsed.params, stdin, script=script)
    # Not a snippet: ansible-core's own put/fetch scripts, or raw one-liners.
    return ansible_compat.run_script(host, script, stdin.data)


def run_bootstrap(host: WindowsHost, stdin: Stdin) -> Result:
    """What STDIN_BOOTSTRAP does, step by step as its PowerShell does it.

    It names a language mode other than FullLanguage and stops (nothing else it
    uses is allowed there); reads at most 12 bytes up to a LF as the script's
    length; reads exactly that many bytes as the UTF-8 script; runs it with the
    rest of stdin left, byte for byte, to the script.
    """
    if host.language_mode != "FullLanguage":
        host.record({"kind": "refused", "error": f"language mode {host.language_mode}"})
        return failed(f"{LANGUAGE_MODE_TAG} {host.language_mode}")
    data = stdin.data
    head = bytearray()
    position = 0
    while len(head) < 12:
        if position >= len(data):
            break
        byte = data[position]
        position += 1
        if byte == 10:
            break
        head.append(byte)
    if not re.fullmatch(rb"[0-9]{1,9}", bytes(head)):
        return failed("sagefleet: stdin does not start with the length of a script")
    size = int(head)
    if len(data) - position < size:
        return failed("sagefleet: stdin ended before the whole script")
    script = data[position : position + size].decode("utf-8", errors="replace")
    with host.lock:
        host.script_bytes += position + size
    return run_powershell(host, script, stdin.rest(position + size))


def run_snippet(
    host: WindowsHost,
    name: str,
    params: dict[str, Any],
    stdin: bytes | Stdin,
    *,
    script: str | None = None,
) -> Result:
    stdin = Stdin.of(stdin)
    host.record({"kind": "snippet", "name": name, "params": params, "stdin_bytes": len(stdin)})
    failure = host.snippet_failures.get(name)
    if failure is not None:
        return failed(failure)
    impl = SNIPPETS.get(name)
    if impl is None:
        return not_understood(f"snippet {name!r} (no model in the simulator)", name, True)
    view = semantics.Script(
        name, params, script if script is not None else snippets.render(name, params)
    )
    refused = semantics.refusal(host, view)
    if refused is not None:
        host.record({"kind": "refused", "name": name, "error": refused})
        return failed(refused)
    token = semantics.running(view)
    try:
        # A WinRM logon holds no credentials for a third machine (the second hop); a
        # snippet run without run_command (the in-process session) gets it here.
        with logon_session(host.winrm.delegation):
            result = impl(host, params, stdin)
    except SnippetAbort as exc:
        return failed(str(exc))
    except ScriptHung as exc:
        # Windows would still be waiting; the simulator ends it so the client sees it.
        return failed(str(exc))
    finally:
        semantics.done(token)
    return 0, json.dumps(result, ensure_ascii=True, separators=(",", ":")).encode("ascii"), b""
