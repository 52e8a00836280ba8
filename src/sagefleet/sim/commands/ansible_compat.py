"""What ansible-core's winrm connection sends on its own, and how a host answers.

``raw`` scripts and the connection's put_file/fetch_file, per ansible-core release,
recognised strictly: docs/simulator.md, "ansible-core's own scripts".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from sagefleet.sim.commands.plain import run_cmd, run_ps_line
from sagefleet.sim.commands.registry import Result, clixml_error
from sagefleet.sim.host import ModelError, WindowsHost

MANIFEST_SEPARATOR = b"\n\0\0\0\0\n"

_QUOTES = "'\u2018\u2019\u201a\u201b"
_SINGLE_QUOTED = rf"'((?:[^{_QUOTES}]|([{_QUOTES}])\2)*)'"

# Directories every Windows Server has; files put by ansible create their own.


# -- the host's files ---------------------------------------------------------


def normalise_path(path: str) -> str:
    """Windows paths compare case-insensitively, with either slash, no trailing one."""
    text = path.strip().replace("/", "\\")
    while "\\\\" in text[1:]:
        text = text[0] + text[1:].replace("\\\\", "\\")
    return text.rstrip("\\").lower()


def put(host: WindowsHost, path: str, data: bytes) -> tuple[str | None, str | None]:
    """Write a file into the host's file system as ansible's put_file does.

    Returns (SHA-1 the client compares, None) or (None, the Windows error), e.g.
    when the folder does not exist or the disk is full.
    """
    host.record({"kind": "ansible", "action": "put_file", "path": path, "bytes": len(data)})
    try:
        with host.lock:
            host.fs.write(path, data)
    except ModelError as exc:
        return None, str(exc)
    return hashlib.sha1(data).hexdigest(), None  # noqa: S324 - the digest ansible compares


def _fetch(host: WindowsHost, path: str, buffer_size: int, offset: int, version: str) -> Result:
    host.record(
        {"kind": "ansible", "action": "fetch_file", "path": path, "offset": offset, "via": version}
    )
    with host.lock:
        is_file = host.fs.is_file(path)
        is_dir = not is_file and host.fs.is_dir(path)
        data = host.fs.read(path) if is_file else None
    if data is not None:
        chunk = data[offset : offset + buffer_size] if offset >= 0 else b""
        if not chunk:
            return 0, b"", b""
        return 0, base64.b64encode(chunk) + b"\r\n", b""
    if is_dir:
        return 0, b"[DIR]\r\n", b""
    message = f"{path} does not exist"
    if version == "2.18":


        return 1, b"", clixml_error(message)
    return 1, b"", (message + "\r\n").encode("utf-8")


def _decode_lines(data: bytes) -> bytes:
    """The base64 lines put_file sends, each for one chunk of the file."""
    out = bytearray()
    for line in data.split(b"\n"):
        line = line.strip()
        if line:
            out.extend(base64.b64decode(line, validate=True))
    return bytes(out)


# -- entry point ----------------------------------------------------------------


def normalise_script(script: str) -> list[str]:
    """Lines as ansible's _encode_script leaves them: stripped, blank lines dropped."""
    return [line.strip() for line in script.splitlines() if line.strip()]


def run_script(host: WindowsHost, script: str, stdin: bytes) -> Result:
    """A PowerShell script that is not a sagefleet snippet: ansible's own, or raw."""
    lines = normalise_script(script)
    try:
        if _has_all(lines, _BOOTSTRAP_MARKERS):
            return _run_bootstrap(host, stdin)
        if _has_all(lines, _PUT_MARKERS_218):
            return _put_218(host, lines, stdin)
        if _has_all(lines, _FETCH_MARKERS_218):
            return _fetch_218(host, lines)
    except _Refused as exc:
        return _refuse(host, str(exc), script)
    return run_raw(host, lines, script)


class _Refused(Exception):
    """An ansible script the simulator recognised but cannot honour."""


def _refuse(host: WindowsHost, reason: str, script: str) -> Result:


    host.record({"kind": "rejected", "error": reason})
    preview = script if len(script) <= 200 else script[:200] + "..."
    return 1, b"", clixml_error(f"sagefleet simulator: {reason} not understood: {preview}")


# -- ansible.builtin.raw ------------------------------------------------------


_CMD_C = re.compile(r"^cmd(?:\.exe)?\s+/c\s+(?P<cmd>.+)$", re.I)


def run_raw(host: WindowsHost, lines: list[str], script: str) -> Result:
    """The text of a raw task: each line must be a one-liner the simulator knows.

    Lines run in order as PowerShell would; the first failing line ends the
    script with its rc, as ``$ErrorActionPreference = 'Stop'`` would.
    ``cmd /c <command>`` runs the cmd.exe command the way testinfra's probes do.
    """


    if not lines:
        return 0, b"", b""
    stdout = bytearray()
    stderr = bytearray()
    for line in lines:
        match = _CMD_C.match(line)
        rc, out, err = run_cmd(host, match.group("cmd")) if match else run_ps_line(host, line)
        stdout.extend(out)
        stderr.extend(err)
        if rc != 0:
            return rc, bytes(stdout), bytes(stderr)
    return 0, bytes(stdout), bytes(stderr)


# -- 2.19+: bootstrap wrapper and manifest ------------------------------------

_BOOTSTRAP_MARKERS = (
    "$codeJson = foreach ($in in $input) {",
    'if ([string]::Equals($in, "`0`0`0`0")) {',
    "$code = ConvertFrom-Json -InputObject $codeJson",
    "$input | & $cmd @splat",
)


def _has_all(lines: list[str], markers: tuple[str, ...]) -> bool:
    """Whether every marker line of one of ansible's scripts is there."""
    return all(marker in lines for marker in markers)


def _run_bootstrap(host: WindowsHost, stdin: bytes) -> Result:
    parts = stdin.split(MANIFEST_SEPARATOR, 2)
    if len(parts) < 2:
        raise _Refused("ansible bootstrap input without an exec manifest")
    try:
        wrapper = json.loads(parts[0])
        manifest = json.loads(parts[1])
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refused(f"ansible bootstrap manifest that is not JSON ({exc})") from None
    if not isinstance(wrapper, dict) or wrapper.get("name") != "exec_wrapper":
        raise _Refused("ansible bootstrap input whose first part is not exec_wrapper")
    actions = manifest.get("actions") if isinstance(manifest, dict) else None
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise _Refused("ansible exec manifest without exactly one action")
    name = actions[0].get("name")
    params = actions[0].get("params") or {}
    if not isinstance(params, dict):
        raise _Refused(f"ansible action {name!r} with params that are not a mapping")
    rest = parts[2] if len(parts) > 2 else b""
    if name == "winrm_put_file.ps1":
        sha1, error = _put_lines(host, _text_param(params, "Path", name), rest)
        if error is not None:
            return 1, b"", (error + "\r\n").encode("utf-8")
        return 0, json.dumps({"sha1": sha1}).encode() + b"\r\n", b""
    if name == "winrm_fetch_file.ps1":
        path = _text_param(params, "Path", name)
        size = _int_param(params, "BufferSize", name)
        offset = _int_param(params, "Offset", name)
        if size <= 0 or offset < 0:
            raise _Refused(f"fetch_file with BufferSize {size} and Offset {offset}")
        return _fetch(host, path, size, offset, "2.19")
    raise _Refused(f"ansible exec manifest action {name!r} (only put_file/fetch_file are modelled)")


def _text_param(params: dict[str, Any], key: str, action: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise _Refused(f"ansible action {action} without a {key} string")
    return value


def _int_param(params: dict[str, Any], key: str, action: str) -> int:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refused(f"ansible action {action} without an integer {key}")
    return value


# -- 2.18: scripts with the values written in -----------------------------------

_PATH_LINE = re.compile(rf"^\$path = {_SINGLE_QUOTED}$")
_PUT_MARKERS_218 = (
    "begin {",
    "$fd = [System.IO.File]::Create($path)",
    "$bytes = [System.Convert]::FromBase64String($input)",
    "$sha1.TransformFinalBlock($bytes, 0, 0) | Out-Null",
    'Write-Output "{""sha1"":""$hash""}"',
)
_FETCH_MARKERS_218 = (
    "If (Test-Path -LiteralPath $path -PathType Leaf)",
    "$stream.Seek($offset, [System.IO.SeekOrigin]::Begin) > $null",
    "[System.Convert]::ToBase64String($bytes)",
    'Write-Host "[DIR]";',
    'Write-Error "$path does not exist";',
)


def _unescape(quoted: str) -> str:
    """Undo ansible's PowerShell single-quote escaping (each quote character doubled)."""
    return re.sub(rf"([{_QUOTES}])\1", r"\1", quoted)


def _path_218(lines: list[str]) -> str:
    found = [m for m in (_PATH_LINE.match(line) for line in lines) if m]
    if len(found) != 1:
        raise _Refused("ansible 2.18 transfer script without exactly one $path = '...' line")
    path = _unescape(found[0].group(1))
    if not path:
        raise _Refused("ansible 2.18 transfer script with an empty path")
    return path


def _int_line_218(lines: list[str], name: str) -> int:
    pattern = re.compile(rf"^\${name} = (\d+)$")
    found = [m for m in (pattern.match(line) for line in lines) if m]
    if len(found) != 1:
        raise _Refused(f"ansible 2.18 fetch script without exactly one ${name} = <n> line")
    return int(found[0].group(1))


def _put_lines(host: WindowsHost, path: str, data: bytes) -> tuple[str | None, str | None]:
    """put_file's input (base64 lines, both versions) written to ``path``."""
    try:
        content = _decode_lines(data)
    except (binascii.Error, ValueError) as exc:
        raise _Refused(f"put_file input that is not base64 lines ({exc})") from None
    return put(host, path, content)


def _put_218(host: WindowsHost, lines: list[str], stdin: bytes) -> Result:
    sha1, error = _put_lines(host, _path_218(lines), stdin)
    if error is not None:


        return 1, b"", clixml_error(error)
    return 0, f'{{"sha1":"{sha1}"}}\r\n'.encode(), b""


def _fetch_218(host: WindowsHost, lines: list[str]) -> Result:
    path = _path_218(lines)
    size = _int_line_218(lines, "buffer_size")
    offset = _int_line_218(lines, "offset")
    if size <= 0:
        raise _Refused(f"ansible 2.18 fetch script with buffer size {size}")
    return _fetch(host, path, size, offset, "2.18")
