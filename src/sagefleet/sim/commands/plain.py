"""Plain command lines: cmd.exe probes and the PowerShell one-liners clients send.

testinfra and pywinrm's run_cmd send a few cmd.exe lines to learn about a host;
ansible's raw tasks send one-liners. Models registered with
``registry.simulates_lines`` answer more one-liners; anything else is not
understood (rc 1).
"""

from __future__ import annotations

import re
import shlex

from sagefleet.sim.commands.registry import LINE_MODELS, Result, not_understood
from sagefleet.sim.host import WindowsHost


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
    for model in LINE_MODELS:
        answer = model(host, line)
        if answer is not None:
            return answer
    return not_understood("PowerShell script", line, True)


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
    return not_understood("cmd command", stripped, False)
