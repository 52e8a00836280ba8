"""Model side of ``failed_install``: the failed-install record, a file in a private folder.

The model follows the snippet's .NET calls and nothing more (docs/simulator.md, ledger
row 36): ``File.Exists``, ``File.ReadAllText`` (a byte order mark decides the
encoding), ``File.WriteAllText`` (with or without a byte order mark, as the encoding
given says), ``File.Delete`` (refused on a read-only or open file). The facts script
reads the record the same way, read only (``read_for_facts``). A script that reads,
writes or deletes it another way fails loudly: the simulator would not know what
Windows does with it.
"""

from __future__ import annotations

import re
from typing import Any

from sagefleet.sim.commands import acl_rules, semantics
from sagefleet.sim.commands.registry import SnippetAbort, powershell_errors, simulates
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import ModelError, WindowsHost

_READ = r"\[System\.IO\.File\]::ReadAllText\("
_DELETE = r"\[System\.IO\.File\]::Delete\("
_WRITE = r"\[System\.IO\.File\]::WriteAllText\("
# The encodings a WriteAllText call may name, and the byte order mark each writes.
_NO_BOM = r"New-Object\s+-TypeName\s+System\.Text\.UTF8Encoding\s+-ArgumentList\s+\$false"
_BOM = r"WriteAllText\([^)\n]*\[System\.Text\.Encoding\]::UTF8\)"
UTF8_BOM = b"\xef\xbb\xbf"


def _require(pattern: str, what: str) -> None:
    if not semantics.uses(pattern):
        raise SnippetAbort(
            f"the simulator models the failed-install record's {what} only through "
            f"{pattern.replace(chr(92), '')}: this script does it another way"
        )


def _bom() -> bytes:
    """What WriteAllText puts before the text, from the encoding the script gives it."""
    if semantics.uses(_BOM):
        return UTF8_BOM  # Encoding.UTF8's preamble is written
    if semantics.uses(_NO_BOM):
        return b""
    raise SnippetAbort(
        "the simulator models WriteAllText with [System.Text.Encoding]::UTF8 or a "
        "UTF8Encoding without a byte order mark only: this script gives another encoding"
    )


def _leaf(path: str) -> str:
    """[IO.Path]::GetFileName: what follows the last separator ('' after a trailing one)."""
    return re.split(r"[\\/]", path)[-1]


def _parent(path: str) -> str:
    """Split-Path -Parent: '' for a bare name (the folder check then refuses it)."""
    cleaned = path.replace("/", "\\").rstrip("\\")
    return cleaned.rsplit("\\", 1)[0] if "\\" in cleaned else ""


def _checks_folder(snippet: str) -> None:
    """A script that does not check the record's folder (Confirm-SfPrivateFolder) would
    trust one anyone may have planted: not simulated."""
    if not semantics.uses(acl_rules.FOLDER_CHECK):
        raise SnippetAbort(
            f"{snippet}: the script does not check the failed-install record's folder"
        )


def _record_file(host: WindowsHost, given: str, *, create: bool) -> str:
    """The record's path in its folder as Confirm-SfPrivateFolder returns it (created only
    to write; a folder another account owns or may open is refused)."""
    folder = acl_rules.private_folder(host, _parent(given), create=create)
    return f"{folder}\\{_leaf(given)}"


@simulates("failed_install")
def failed_install(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    action, given = str(params.get("action")), str(params.get("path") or "")
    if action not in ("read", "write", "remove"):
        raise SnippetAbort(f"sagefleet failed_install: unknown action '{action}'")
    _checks_folder("failed_install")
    result: dict[str, Any] = {"exists": False, "text": None, "written": False, "removed": False}
    with host.lock, powershell_errors():
        path = _record_file(host, given, create=action == "write")
        if action == "write":
            _require(_WRITE, "write")
            text = str(params.get("text") or "")
            host.fs.write(path, _bom() + text.encode("utf-8"))
            result.update(exists=True, written=True)
        elif host.fs.is_file(path):  # File.Exists: false for a folder, never an error
            result["exists"] = True
            if action == "read":
                _require(_READ, "read")
                result["text"] = host.fs.read_all_text(path)
            else:
                _require(_DELETE, "removal")
                host.fs.delete(path)  # File.Delete: a read-only file is refused
                result["removed"] = True
    return result


def read_for_facts(host: WindowsHost, given: str) -> dict[str, Any]:
    """The facts script's read of the record: the folder checked read only
    (Confirm-SfPrivateFolder, never created), ``File.Exists``, ``File.ReadAllText``; what
    stops the read (a folder refused, a file held open) is its ``error``, never the facts'."""
    _checks_folder("facts")
    _require(_READ, "read")
    found: dict[str, Any] = {"path": given, "exists": False, "text": None, "error": None}
    try:
        path = _record_file(host, given, create=False)
        if host.fs.is_file(path):
            found["exists"] = True
            found["text"] = host.fs.read_all_text(path)
    except (SnippetAbort, ModelError) as exc:
        found["error"] = str(exc)
    return found
