"""Model side of the package transfer snippets (stage_*), against the host model.

Each function follows its snippet in snippets/stage_*.ps1 step for step, so a failure
in the middle leaves the host as Windows would: docs/transfer.md, "In the simulator".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from typing import Any

from sagefleet.sim.commands import acl_rules, semantics
from sagefleet.sim.commands.registry import SnippetAbort, powershell_errors, simulates
from sagefleet.sim.commands.removal_models import (
    backup_folder,
    remove_backups,
    remove_tree,
    removes_backups,
)
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import (
    DiskFull,
    FileSystem,
    ModelError,
    WindowsHost,
    has_network_credentials,
)

DOWNLOAD_TIMEOUT_SECONDS = 30.0
# The buffer stage_push reads raw stdin into ($buffer): a disk that fills up fails the
# write of the block that does not fit.
PUSH_READ_BYTES = 65536
_INVALID_NAME_CHARS = set('/:*?"<>|')
_DIGITS = re.compile(r"^[0-9]{1,18}$")
# What stage_cleanup removes one by one: a .part, or a piece of one (-match: any case).
_PART_FILE = re.compile(r"\.part(\.[0-9]{1,18})?$", re.I)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _iso(moment: dt.datetime) -> str:
    """DateTime.ToString('o') of a UTC time: fixed width, so it sorts as it reads."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _parent(path: str) -> str:
    return path.rpartition("\\")[0]


def _touch(fs: FileSystem, folder: str) -> None:
    """Windows bumps a folder's LastWriteTime when its entries change."""
    if fs.is_dir(folder) and folder.lower() in fs.entries:
        fs.stat(folder).modified = fs.clock()


def _resolve(fs: FileSystem, path: Any) -> str:
    with powershell_errors():
        return fs.resolve(str(path or ""))


def _remove_part(fs: FileSystem, part: str, message: str, pieces: bool = False) -> SnippetAbort:
    if fs.is_file(part):
        fs.delete(part)
    if pieces:
        _remove_pieces(fs, part)
    _touch(fs, _parent(part))
    return SnippetAbort(f"{message} (the partial file '{part}' was removed)")


def _append(
    fs: FileSystem, part: str, data: bytes, failure: str, call: tuple[str, int], pieces: bool
) -> None:
    """Write the ``.part`` grown to ``data``; a failed write removes it, as the snippet does,
    and fails with ``failure`` and what the .NET ``call`` (method, argument count) printed."""
    try:
        fs.write(part, data)
    except ModelError as exc:
        raise _remove_part(
            fs, part, f"{failure}: " + _write_error(exc, *call), pieces=pieces
        ) from None


def _write_error(exc: ModelError, method: str = "Write", count: int = 3) -> str:
    """The text PowerShell prints for a .NET call that failed."""
    text = "There is not enough space on the disk." if isinstance(exc, DiskFull) else str(exc)
    return f'Exception calling "{method}" with "{count}" argument(s): "{text}"'


def _pieces(fs: FileSystem, part: str) -> dict[str, int]:
    """The ``<part>.<digits>`` files beside the .part: file -> the start it names."""
    folder, _, name = part.rpartition("\\")
    if not fs.is_dir(folder):
        return {}
    found = {}
    for leaf in fs.listdir(folder):
        suffix = leaf[len(name) + 1 :]
        if leaf[: len(name) + 1].lower() == name.lower() + "." and _DIGITS.match(suffix):
            found[f"{folder}\\{leaf}"] = int(suffix)
    return found


def _remove_pieces(fs: FileSystem, part: str) -> None:
    for file in _pieces(fs, part):
        fs.delete(file)


def _put_in_place(fs: FileSystem, part: str, target: str) -> None:
    """[IO.File]::Replace or ::Move: the final name appears in one step."""
    fs.rename(part, target, replace=True)
    _touch(fs, _parent(target))


# -- stage_status ------------------------------------------------------------------------


@simulates("stage_status")
def stage_status(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    with host.lock, powershell_errors():
        acl_rules.private_folder(host, params.get("root"), create=False)
        return _stage_status(host.fs, params)


def _stage_status(fs: FileSystem, params: dict[str, Any]) -> dict[str, Any]:
    target = _resolve(fs, params.get("path"))
    part = _resolve(fs, params.get("part"))
    result: dict[str, Any] = {
        "path": target,
        "exists": False,
        "size": None,
        "sha256": None,
        "part": part,
        "part_exists": False,
        "part_size": 0,
        "segments": [],
        "volume": None,
        "free_bytes": None,
    }
    if fs.is_file(target):
        result["exists"] = True
        result["size"] = fs.stat(target).size
        if params.get("hash"):
            result["sha256"] = _sha256(fs.read(target))
    if fs.is_file(part):
        result["part_exists"] = True
        result["part_size"] = fs.stat(part).size
    result["segments"] = [
        {"start": start, "size": fs.stat(file).size} for file, start in _pieces(fs, part).items()
    ]
    result["volume"] = target[:3] if target[1:2] == ":" else target
    result["free_bytes"] = fs.free_bytes(target)
    return result


# -- stage_push --------------------------------------------------------------------------


@simulates("stage_push")
def stage_push(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    abrupt = stdin.ended_abruptly
    expects = _expected_until(params) > int(params.get("offset") or 0)
    if expects and stdin.never_comes:
        raise SnippetAbort(
            "sagefleet simulator: stage_push reads its stdin, but the command was started "
            "without one (WINRS_CONSOLEMODE_STDIN): on Windows the read would wait until the "
            "command is killed"
        )
    with host.lock, powershell_errors():
        acl_rules.private_folder(host, params.get("root"))
        result = _stage_push(host, params, stdin.data if expects else b"", abrupt)
    return result


def _expected_until(params: dict[str, Any]) -> int:
    """Where the bytes the snippet reads from stdin end: the first piece's start, or the
    size (it reads nothing when that is not past the offset)."""
    segments = params.get("segments") or []
    return int(segments[0]["start"]) if segments else int(params.get("size") or 0)


def _base64_blocks(
    fs: FileSystem, part: str, target: str, stdin: bytes, abrupt: bool, whole: bool
) -> Iterator[bytes]:
    """[Console]::In.ReadLine() and FromBase64String, line by line: the decoded lines."""
    lines = stdin.split(b"\n")
    if abrupt:
        # ReadLine was still waiting for the end of the last line when the process died.
        lines = lines[:-1]
    received = 0
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        try:
            chunk = base64.b64decode(line, validate=True)
        except binascii.Error:
            raise _remove_part(
                fs,
                part,
                f"package not staged at '{target}': writing failed after {received} bytes: "
                'Exception calling "FromBase64String" with "1" argument(s): "The input is not '
                'a valid Base-64 string as it contains a non-base 64 character."',
                pieces=whole,
            ) from None
        received += len(chunk)
        yield chunk


def _binary_blocks(stdin: bytes) -> Iterator[bytes]:
    """[Console]::OpenStandardInput().Read into a 64 KiB buffer: every byte, in order.

    A cut stdin changes nothing here: every byte that arrived was read and
    written before the process waited for more.
    """
    view = memoryview(stdin)
    for start in range(0, len(stdin), PUSH_READ_BYTES):
        yield bytes(view[start : start + PUSH_READ_BYTES])


def _stage_push(
    host: WindowsHost, params: dict[str, Any], stdin: bytes, abrupt: bool
) -> dict[str, Any]:
    fs = host.fs
    target = _resolve(fs, params.get("path"))
    part = _resolve(fs, params.get("part"))
    offset = int(params.get("offset") or 0)
    size = int(params.get("size") or 0)
    expected = str(params.get("sha256") or "").lower()
    whole = not params.get("piece")  # the snippet's default: the whole package
    segments = list(params.get("segments") or [])
    encoding = params.get("encoding")
    if encoding is None:
        encoding = "binary"  # the snippet's default
    if encoding not in ("binary", "base64"):
        raise SnippetAbort(
            f"package not staged at '{target}': unknown stdin encoding '{encoding}' "
            "(binary or base64)"
        )
    fs.mkdir(_parent(part))
    existing = fs.read(part) if fs.is_file(part) else b""
    if len(existing) < offset:
        raise SnippetAbort(
            f"package not staged at '{target}': cannot resume '{part}' at offset {offset}, "
            f"it holds {len(existing)} bytes"
        )
    content = bytearray(existing[:offset])
    fs.write(part, bytes(content))  # SetLength(offset)
    _touch(fs, _parent(part))
    budget = fs.free_bytes(part)  # what the appends may use
    blocks = (
        _binary_blocks(stdin)
        if encoding == "binary"
        else _base64_blocks(fs, part, target, stdin, abrupt, whole)
    )
    received = 0
    for chunk in blocks:
        if received + len(chunk) > budget:
            # The append of this block or line is where Windows reports the disk full.
            _append(
                fs,
                part,
                bytes(content) + chunk,
                f"package not staged at '{target}': writing failed after {received} bytes",
                ("Write", 3),
                pieces=whole,
            )
        content.extend(chunk)
        received += len(chunk)
    # Each block or line is appended as it arrives on Windows; the model writes them once
    # at the end (rewriting the file per block would make a transfer quadratic in its size).
    fs.write(part, bytes(content))
    if abrupt:
        host.record({"kind": "stage_push_interrupted", "part": part, "size": len(content)})
        raise SnippetAbort(
            f"stage_push stopped before the end of its input: '{part}' holds {len(content)} bytes"
        )
    for segment in segments:
        _append_piece(fs, target, part, content, segment)
    if len(content) != size:
        raise _remove_part(
            fs,
            part,
            f"package not staged at '{target}': received {len(content)} bytes in all, "
            f"expected {size}",
            pieces=whole,
        )
    if not whole:
        host.record({"kind": "stage_piece", "part": part, "offset": offset, "received": received})
        return {"path": part, "size": len(content), "offset": offset, "received_bytes": received}
    actual = _sha256(bytes(content))
    if actual != expected:
        raise _remove_part(
            fs,
            part,
            f"package not staged at '{target}': the content does not match the expected "
            f"SHA-256 ({actual}, expected {expected})",
            pieces=True,
        )
    _put_in_place(fs, part, target)
    _remove_pieces(fs, part)
    host.record(
        {
            "kind": "stage_push",
            "path": target,
            "offset": offset,
            "received": received,
            "segments": len(segments),
        }
    )
    return {
        "path": target,
        "sha256": actual,
        "size": len(content),
        "offset": offset,
        "received_bytes": received,
    }


def _append_piece(
    fs: FileSystem, target: str, part: str, content: bytearray, segment: dict[str, Any]
) -> None:
    """Append ``<part>.<start>`` to the .part, checked whole first, then delete it."""
    start = int(segment["start"])
    length = int(segment["end"]) - start
    file = f"{part}.{start}"
    have = fs.stat(file).size if fs.is_file(file) else -1
    if len(content) != start or have != length:
        raise SnippetAbort(
            f"package not staged at '{target}': cannot append the piece '{file}' ({have} "
            f"bytes, expected {length}) to '{part}' at {len(content)} bytes, expected "
            f"{start}; every file is kept for the next attempt"
        )
    data = fs.read(file)
    _append(
        fs,
        part,
        bytes(content) + data,
        f"package not staged at '{target}': appending the piece '{file}' failed",
        ("CopyTo", 1),
        pieces=True,
    )
    content.extend(data)
    fs.delete(file)


# -- stage_pull --------------------------------------------------------------------------


def _loopback_url(url: str) -> str:
    """The URL when it points at this machine; a loud refusal otherwise."""
    parts = urllib.parse.urlsplit(url)
    name = (parts.hostname or "").lower()
    loopback = name == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.ip_address(name) in ipaddress.ip_network("127.0.0.0/8")
        except ValueError:
            loopback = False
    if parts.scheme not in ("http", "https") or not loopback:
        raise SnippetAbort(
            f"sagefleet simulator: refusing to download {url!r}: a simulated host only fetches "
            "http(s) URLs on loopback (127.0.0.0/8 or localhost)"
        )
    return url


SECOND_HOP = (
    " The WinRM session holds no credentials it can pass on to another server (the second "
    "hop): let the repository serve the package without Windows authentication, or push it "
    "(stage_push)."
)


def _download(url: str, default_credentials: bool = False) -> bytes:
    """What WebClient.DownloadFile gets, with its error texts; never through a proxy.

    The simulated host never authenticates: a server that asks for Windows
    authentication (401) sees an anonymous caller, as it sees a WinRM session
    without delegation (the second hop). With delegation it would authenticate:
    that is not modelled, and refused loudly.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        message = f"The remote server returned an error: ({exc.code}) {exc.reason}."
        if exc.code == 401 and default_credentials:
            if has_network_credentials():
                message = (
                    "sagefleet simulator: a delegated Windows authentication (CredSSP, "
                    "Kerberos delegation) to the repository is not modelled"
                )
            else:
                message += SECOND_HOP
        raise SnippetAbort(message) from None
    except (urllib.error.URLError, OSError) as exc:
        raise SnippetAbort(f"Unable to connect to the remote server ({exc})") from None


@simulates("stage_pull")
def stage_pull(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    url = _loopback_url(str(params.get("url") or ""))
    fs = host.fs
    with host.lock, powershell_errors():
        acl_rules.private_folder(host, params.get("root"))
        target = _resolve(fs, params.get("path"))
        part = _resolve(fs, params.get("part"))
        fs.mkdir(_parent(part))
    prefix = f"package not staged at '{target}' from '{url}'"
    try:
        # Outside the host lock: other commands go on meanwhile.
        data = _download(url, bool(params.get("use_default_credentials")))
    except SnippetAbort as exc:
        with host.lock:
            raise _remove_part(fs, part, f"{prefix}: download failed: {exc}") from None
    with host.lock:
        try:
            fs.write(part, data)
        except ModelError as exc:
            raise _remove_part(
                fs, part, f"{prefix}: download failed: {_write_error(exc)}"
            ) from None
        actual = _sha256(data)
        expected = str(params.get("sha256") or "").lower()
        if actual != expected:
            raise _remove_part(
                fs,
                part,
                f"{prefix}: the content does not match the expected SHA-256 "
                f"({actual}, expected {expected})",
            )
        with powershell_errors():
            _put_in_place(fs, part, target)
        host.record({"kind": "stage_pull", "path": target, "url": url, "size": len(data)})
    return {"path": target, "sha256": actual, "size": len(data), "url": url}


# -- stage_extract -----------------------------------------------------------------------


def _inside(dest: str, name: str) -> str | None:
    """Path.GetFullPath(Path.Combine(dest + '\\', name)) when it stays under dest, else None."""
    text = name.replace("/", "\\")
    if text.startswith("\\") or (len(text) > 1 and text[1] == ":"):
        return None
    stack: list[str] = []
    for piece in text.split("\\"):
        if piece in ("", "."):
            continue
        if piece == "..":
            if not stack:
                return None
            stack.pop()
            continue
        stack.append(piece)
    return "\\".join(stack)


@simulates("stage_extract")
def stage_extract(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    with host.lock, powershell_errors():
        create = not params.get("check")
        acl_rules.private_folder(host, params.get("root"), create=create)
        return _stage_extract(host, params)


def _stage_extract(host: WindowsHost, params: dict[str, Any]) -> dict[str, Any]:
    fs = host.fs
    zip_path = _resolve(fs, params.get("path"))
    dest = _resolve(fs, params.get("dest")).rstrip("\\")
    marker = f"{dest}\\{params.get('marker')}"
    if not fs.is_file(zip_path):
        raise SnippetAbort(
            f"cannot extract '{zip_path}' into '{dest}': the staged package is not there"
        )
    data = fs.read(zip_path)
    sha256 = _sha256(data)
    expected = params.get("sha256")
    if expected and sha256 != str(expected).lower():
        raise SnippetAbort(
            f"cannot extract '{zip_path}' into '{dest}': its SHA-256 is {sha256}, "
            f"expected {expected}"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise SnippetAbort(
            'Exception calling "OpenRead" with "1" argument(s): "End of Central Directory '
            'record could not be found."'
        ) from None
    names: list[str] = []
    members: list[tuple[str, zipfile.ZipInfo]] = []
    total = 0
    with archive:
        for info in archive.infolist():
            relative = _inside(dest, info.filename)
            if relative is None or any(c in _INVALID_NAME_CHARS for c in relative):
                raise SnippetAbort(
                    f"cannot extract '{zip_path}': the entry '{info.filename}' would land "
                    f"outside '{dest}' (zip-slip)"
                )
            if info.filename.endswith(("/", "\\")):
                continue
            names.append(relative)
            members.append((relative, info))
            total += info.file_size
        names.sort(key=str.lower)
        files = [f"{dest}\\{n}" for n in names]
        present = False
        if fs.is_file(marker):
            try:
                known = json.loads(fs.read_text(marker)).get("sha256")
            except (ValueError, AttributeError, ModelError):
                known = None
            present = known == sha256 and all(fs.is_file(f) for f in files)
        result: dict[str, Any] = {
            "path": zip_path,
            "dest": dest,
            "sha256": sha256,
            "files": files,
            "bytes": total,
            "skipped": present,
            "changed": not present,
        }
        if present or params.get("check"):
            return result
        free = fs.free_bytes(dest)
        if free < total:
            raise SnippetAbort(
                f"cannot extract '{zip_path}' into '{dest}': it expands to {total} bytes, "
                f"{free} bytes free on {dest[:3]}"
            )
        fs.mkdir(dest)
        if fs.is_file(marker):
            fs.delete(marker)
        for relative, info in members:
            path = f"{dest}\\{relative}"
            fs.mkdir(_parent(path))
            try:
                fs.write(path, archive.read(info))
            except ModelError as exc:
                raise SnippetAbort(_write_error(exc, "ExtractToFile", 3)) from None
            _touch(fs, _parent(path))
    text = json.dumps({"sha256": sha256, "files": names}, separators=(",", ":"))
    fs.write(marker, text.encode("utf-8"))
    host.record({"kind": "stage_extract", "path": zip_path, "dest": dest, "files": len(files)})
    return result


# -- stage_cleanup -----------------------------------------------------------------------


def _child(root: str, name: Any, depth: int) -> str:
    text = str(name)
    parts = text.split("\\")
    if len(parts) != depth or any(
        p in ("", ".", "..") or any(c in _INVALID_NAME_CHARS for c in p) for p in parts
    ):
        raise SnippetAbort(f"refusing to remove '{text}' under '{root}': not a staged version name")
    return f"{root}\\{text}"


def _cleanup_backups(host: WindowsHost, params: dict[str, Any]) -> dict[str, Any] | None:
    """stage_cleanup's backups (remove_backups given); the script catches a refusal (the
    folder, a name) into 'error', and the staged versions are cleaned all the same."""
    names = params.get("remove_backups") or []
    names = names if isinstance(names, list) else [names]
    if not names:
        return None
    if not semantics.uses(r"Get-SfParam\s+remove_backups\b"):
        raise SnippetAbort("stage_cleanup: this script does not read remove_backups")
    removes_backups("stage_cleanup")
    if not semantics.uses(acl_rules.FOLDER_CHECK):
        raise SnippetAbort("stage_cleanup: the script does not check its backup folder")
    done: dict[str, Any] = {"pruned": [], "left": [], "error": None}
    try:
        root = backup_folder(host, params.get("backup_dir"), "stage_cleanup")
        done["pruned"], done["left"] = remove_backups(host, root, names)
    except (SnippetAbort, ModelError) as exc:
        done["error"] = str(exc)
    return done


@simulates("stage_cleanup")
def stage_cleanup(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    with host.lock, powershell_errors():
        return _stage_cleanup(host, params)


def _stage_cleanup(host: WindowsHost, params: dict[str, Any]) -> dict[str, Any]:
    fs = host.fs
    root = acl_rules.private_folder(host, params.get("root"), create=False) or _resolve(
        fs, params.get("root")
    ).rstrip("\\")
    backups = _cleanup_backups(host, params)
    removed: list[str] = []
    left: list[dict[str, str]] = []
    for name in params.get("remove") or []:
        folder = _child(root, name, 1)
        if fs.is_dir(folder):
            stuck = remove_tree(fs, str(name), folder)
            _touch(fs, root)
            if stuck:
                left.extend(stuck)
            else:
                removed.append(str(name))
    removed_parts: list[str] = []
    for name in params.get("remove_parts") or []:
        file = _child(root, name, 2)
        if not _PART_FILE.search(file):
            raise SnippetAbort(
                f"refusing to remove '{file}': only .part files and their pieces "
                "(.part.<start>) are removed one by one"
            )
        if fs.is_file(file):
            fs.delete(file)
            _touch(fs, _parent(file))
            removed_parts.append(str(name))
    folders: list[dict[str, Any]] = []
    exists = fs.is_dir(root)
    if exists:
        for name in fs.listdir(root):
            path = f"{root}\\{name}"
            if not fs.is_dir(path):
                continue
            files = [
                {"name": n, "size": fs.stat(f"{path}\\{n}").size}
                for n in fs.listdir(path)
                if fs.is_file(f"{path}\\{n}")
            ]
            folders.append({"name": name, "modified": _iso(fs.stat(path).modified), "files": files})
    if removed or removed_parts:
        host.record({"kind": "stage_cleanup", "removed": removed, "removed_parts": removed_parts})
    return {
        "root": root,
        "exists": exists,
        "folders": folders,
        "removed": removed,
        "removed_parts": removed_parts,
        "left": left,
        "backups": backups,
    }
