"""Plain command lines: cmd.exe probes and the PowerShell one-liners clients send.

testinfra and pywinrm's run_cmd send a few cmd.exe lines to learn about a host;
ansible's raw tasks send one-liners. Models registered with
``registry.simulates_lines`` answer more one-liners; anything else is not
understood (rc 1).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable

from sagefleet.sim.commands.registry import LINE_MODELS, Result, not_understood
from sagefleet.sim.host import WindowsHost

Answer = Callable[[WindowsHost, re.Match[str]], Result]


def _line(text: str) -> Result:
    return 0, f"{text}\r\n".encode(), b""


def _exit(host: WindowsHost, match: re.Match[str]) -> Result:
    return int(match.group(1)), b"", b""


def _echo(host: WindowsHost, match: re.Match[str]) -> Result:
    return _line(match.group(1))


def _hostname(host: WindowsHost, match: re.Match[str]) -> Result:
    return _line(host.hostname)


#: The PowerShell one-liners the real clients send on their own.
_PS_LINES: tuple[tuple[str, Answer], ...] = (
    (r"hostname|\[System\.Net\.Dns\]::GetHostName\(\)|\$env:COMPUTERNAME", _hostname),
    (r"(?:Write-Output|echo)\s+'([^']*)'", _echo),
    (r"exit\s+(\d+)", _exit),
    (r"\$PSVersionTable\.PSVersion\.ToString\(\)", lambda h, m: _line(h.powershell_version)),
)


def _system_info(host: WindowsHost, match: re.Match[str]) -> Result:
    text = (
        f"OS Name:                   {host.os_caption}\r\n"
        f"OS Version:                {host.os_version} N/A Build {host.os_build}\r\n"
        "OS Manufacturer:           Microsoft Corporation\r\n"
        "OS Configuration:          Member Server\r\n"
        "OS Build Type:             Multiprocessor Free\r\n"
    )
    return 0, text.encode(), b""


#: The cmd.exe lines testinfra and pywinrm's run_cmd send.
_CMD_LINES: tuple[tuple[str, Answer], ...] = (
    (r'systeminfo\s*\|\s*findstr\s+/B\s+/C:"OS"', _system_info),
    (r"echo\s+%PROCESSOR_ARCHITECTURE%", lambda h, m: _line("AMD64")),
    (r"echo\s+%COMPUTERNAME%|hostname", _hostname),
    (r"whoami", lambda h, m: _line(f"{h.hostname.lower()}\\{h.username.lower()}")),
    (r"echo\s+([^%&|<>^]*)", _echo),
    (r"exit\s+/b\s+(\d+)", _exit),
)


def _answer(host: WindowsHost, table: tuple[tuple[str, Answer], ...], text: str) -> Result | None:
    for pattern, answer in table:
        match = re.fullmatch(pattern, text, re.I)
        if match:
            return answer(host, match)
    return None


def run_ps_line(host: WindowsHost, line: str) -> Result:
    """A plain PowerShell one-liner: ours, then the registered line models'."""
    host.record({"kind": "powershell", "script": line})
    answer = _answer(host, _PS_LINES, line)
    for model in LINE_MODELS:
        if answer is not None:
            break
        answer = model(host, line)
    return answer if answer is not None else not_understood("PowerShell script", line, True)


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
    answer = _answer(host, _CMD_LINES, stripped)
    return answer if answer is not None else not_understood("cmd command", stripped, False)
