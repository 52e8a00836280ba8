"""Plain PowerShell one-liners of the naive baseline playbook (bench/), read from the model.

The fleet benchmark compares sagefleet with what an integrator writing plain
Ansible would do: one ``ansible.builtin.raw`` task per check. Those tasks send
one-liners like ``(Get-ItemProperty 'HKLM:\\...').Release`` or
``Test-NetConnection <name> -Port 443 -InformationLevel Quiet``. This module
answers exactly those forms from the host model, with the output and errors
Windows PowerShell 5.1 prints for them; any other line is not recognised here
(``run_line`` returns None) and stays "not understood" for the caller.

Like the facts snippet's model, nothing here sleeps: network probes answer at
once, so the baseline and sagefleet are compared on the same footing (WinRM
round trips and PowerShell start-up, set through the fault plan).

These models belong to the benchmark, not to the simulator: ``register()`` adds
them to a simulator in this process, and running this file runs the
``sagefleet`` command with them (the benchmark starts ``sim serve`` that way).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from sagefleet.sim.commands.registry import LINE_MODELS, Result, failed, simulates_lines
from sagefleet.sim.host import ModelError, RegistryData, WindowsHost

#: How the benchmark starts the ``sagefleet`` command so that its simulator knows these lines.
LAUNCHER = (sys.executable, str(Path(__file__).resolve()))

_QUOTED = r"""(?:'(?P<sq>[^']*)'|"(?P<dq>[^"$`]*)")"""
_SILENT = r"(?P<silent>\s+-ErrorAction\s+(?:SilentlyContinue|Ignore))?"


def _out(text: str) -> Result:
    return 0, (text + "\r\n").encode("utf-8") if text else b"", b""


def _quoted(match: re.Match[str]) -> str:
    return match.group("sq") if match.group("sq") is not None else match.group("dq")


def _format(value: RegistryData | None) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "\r\n".join(value)
    return str(value)


def _registry_path(ps_path: str) -> str | None:
    """``HKLM:\\SOFTWARE\\X`` as the model's ``HKLM\\SOFTWARE\\X``; None if not a registry path."""
    match = re.fullmatch(
        r"(?P<hive>HKLM|HKCU|HKU|HKEY_LOCAL_MACHINE):\\?(?P<rest>.*)", ps_path, re.I
    )
    if not match:
        return None
    return f"{match.group('hive')}\\{match.group('rest')}".rstrip("\\")


# -- the recognised one-liners ------------------------------------------------------

_ITEM_PROPERTY = re.compile(
    rf"\(Get-ItemProperty\s+(?:-Path\s+|-LiteralPath\s+)?{_QUOTED}{_SILENT}\)\.(?P<name>\w+)", re.I
)


def _item_property(host: WindowsHost, match: re.Match[str]) -> Result:
    """``(Get-ItemProperty 'HKLM:\\...').Value``: a registry value (64-bit view)."""
    path = _quoted(match)
    key = _registry_path(path)
    if key is None:
        return failed(f"Cannot find drive. A drive with the name '{path[:1]}' does not exist.")
    with host.lock:
        exists = host.registry.key_exists(key)
        value = host.registry.get(key, match.group("name")) if exists else None
    if not exists:
        if match.group("silent"):
            return 0, b"", b""
        return failed(f"Cannot find path '{path}' because it does not exist.")
    return _out(_format(value))


_TEST_PATH = re.compile(rf"Test-Path\s+(?:-Path\s+|-LiteralPath\s+)?{_QUOTED}", re.I)


def _test_path(host: WindowsHost, match: re.Match[str]) -> Result:
    """``Test-Path '<file or HKLM:\\key>'``: True or False."""
    path = _quoted(match)
    key = _registry_path(path)
    with host.lock:
        try:
            found = host.registry.key_exists(key) if key else host.fs.exists(path)
        except ModelError:
            found = False
    return _out("True" if found else "False")


_VERSION_INFO = re.compile(
    rf"\(Get-Item\s+(?:-Path\s+|-LiteralPath\s+)?{_QUOTED}{_SILENT}\)"
    r"\.VersionInfo\.(?P<field>ProductVersion|FileVersion)",
    re.I,
)


def _version_info(host: WindowsHost, match: re.Match[str]) -> Result:
    """``(Get-Item '<file>').VersionInfo.ProductVersion`` (or FileVersion)."""
    path = _quoted(match)
    with host.lock:
        try:
            found = host.fs.is_file(path)
            entry = host.fs.stat(path) if found else None
        except ModelError:
            entry = None
    if entry is None:
        if match.group("silent"):
            return 0, b"", b""
        return failed(f"Cannot find path '{path}' because it does not exist.")
    field = match.group("field").lower()
    return _out((entry.product_version if field == "productversion" else entry.file_version) or "")


_TEST_NET = re.compile(
    r"Test-NetConnection\s+(?:-ComputerName\s+)?(?P<name>[A-Za-z0-9.-]+)\s+-Port\s+(?P<port>\d+)"
    r"\s+-InformationLevel\s+Quiet",
    re.I,
)


def _test_net(host: WindowsHost, match: re.Match[str]) -> Result:
    """``Test-NetConnection <name> -Port <n> -InformationLevel Quiet``: True or False."""
    with host.lock:
        answer = host.network.connect(match.group("name"), int(match.group("port")))
    return _out("True" if answer.ok else "False")


_SERVICE = re.compile(r"Get-Service\s+(?:-Name\s+)?(?:'(?P<q>[^']+)'|(?P<bare>[\w.-]+))", re.I)
_SERVICE_PROP = re.compile(
    r"\(Get-Service\s+(?:-Name\s+)?(?:'(?P<q>[^']+)'|(?P<bare>[\w.-]+))"
    rf"{_SILENT}\)\.(?P<prop>Status|StartType)",
    re.I,
)


def _service(host: WindowsHost, match: re.Match[str]) -> Result:
    """``Get-Service <name>``: the default table, or the error for an unknown service."""
    name = match.group("q") or match.group("bare")
    with host.lock:
        service = host.service(name)
        row = None
        if service is not None:
            row = (service.state, service.name, service.display_name or service.name)
    if row is None:
        return failed(f"Cannot find any service with service name '{name}'.")
    status, svc, display = row
    width = max(len(svc), 4) + 1
    table = (
        "\r\n"
        f"Status   {'Name':<{width}} DisplayName\r\n"
        f"------   {'----':<{width}} -----------\r\n"
        f"{status:<8} {svc:<{width}} {display}\r\n"
        "\r\n"
    )
    return 0, table.encode("utf-8"), b""


def _service_prop(host: WindowsHost, match: re.Match[str]) -> Result:
    """``(Get-Service <name> -ErrorAction SilentlyContinue).Status`` (or StartType)."""
    name = match.group("q") or match.group("bare")
    with host.lock:
        service = host.service(name)
        values = (service.state, service.start_mode) if service else None
    if values is None:
        if match.group("silent"):
            return 0, b"", b""
        return failed(f"Cannot find any service with service name '{name}'.")
    state, mode = values
    start_type = {"Auto": "Automatic"}.get(mode, mode)
    return _out(state if match.group("prop").lower() == "status" else start_type)


_PSDRIVE = re.compile(r"\(Get-PSDrive\s+(?:-Name\s+)?(?P<letter>[A-Za-z])\)\.Free", re.I)


def _psdrive(host: WindowsHost, match: re.Match[str]) -> Result:
    """``(Get-PSDrive C).Free``: free bytes of a drive."""
    letter = match.group("letter").upper()
    with host.lock:
        drive = host.fs.drives.get(f"{letter}:")
        free = drive.volume.free_bytes if drive else None
    if free is None:
        return failed(f"Cannot find drive. A drive with the name '{letter}' does not exist.")
    return _out(str(free))


_UTC_NOW = re.compile(r"\[DateTime\]::UtcNow\.ToString\('o'\)", re.I)


def _utc_now(host: WindowsHost, match: re.Match[str]) -> Result:
    """``[DateTime]::UtcNow.ToString('o')``: the host's clock, 7 fractional digits."""
    return _out(host.utc_now().strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z")


_NETSH_PROXY = re.compile(r"netsh(?:\.exe)?\s+winhttp\s+show\s+proxy", re.I)


def _netsh_proxy(host: WindowsHost, match: re.Match[str]) -> Result:
    """``netsh winhttp show proxy``: the English output of Windows Server 2019."""
    proxy, bypass = host.network.winhttp_proxy, host.network.winhttp_bypass
    if proxy:
        body = (
            f"    Proxy Server(s) :  {proxy}\r\n"
            f"    Bypass List     :  {bypass or '(none)'}\r\n"
        )
    else:
        body = "    Direct access (no proxy server).\r\n"
    text = "\r\nCurrent WinHTTP proxy settings:\r\n\r\n" + body + "\r\n"
    return 0, text.encode("utf-8"), b""


_LINES: tuple[tuple[re.Pattern[str], Callable[[WindowsHost, re.Match[str]], Result]], ...] = (
    (_ITEM_PROPERTY, _item_property),
    (_TEST_PATH, _test_path),
    (_VERSION_INFO, _version_info),
    (_TEST_NET, _test_net),
    (_SERVICE_PROP, _service_prop),
    (_SERVICE, _service),
    (_PSDRIVE, _psdrive),
    (_UTC_NOW, _utc_now),
    (_NETSH_PROXY, _netsh_proxy),
)


def run_line(host: WindowsHost, line: str) -> Result | None:
    """Answer one baseline one-liner, or None when it is not one of them."""
    for pattern, answer in _LINES:
        match = pattern.fullmatch(line.strip())
        if match:
            return answer(host, match)
    return None


def register() -> None:
    """Let the simulator in this process answer the baseline's one-liners."""
    simulates_lines(run_line)


def unregister() -> None:
    if run_line in LINE_MODELS:
        LINE_MODELS.remove(run_line)


if __name__ == "__main__":
    from sagefleet.cli import main

    register()
    sys.exit(main())
