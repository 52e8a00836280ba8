"""Model side of the settings_write snippet: the same steps, against the host model.

It follows snippets/settings_write.ps1 step for step, so a failure in the middle leaves
the host as Windows would: docs/settings.md, "Writing settings.json to the hosts".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import uuid
from typing import Any

from sagefleet.sim.commands import acl_rules, semantics
from sagefleet.sim.commands.connection_models import dotnet_o, process_start
from sagefleet.sim.commands.lookup import find_service
from sagefleet.sim.commands.registry import SnippetAbort, powershell_errors, simulates
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import Acl, ModelError, WindowsHost

#: The members of the ``agent`` parameter (the agent profile's service lookup).
LOOKUP_KEYS = ("name", "image_path_pattern", "display_name_pattern")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _content_line(stdin: bytes) -> bytes:
    """The last non-empty stdin line, as the snippet reads it."""
    lines = [line.strip() for line in stdin.splitlines() if line.strip()]
    if not lines:
        raise SnippetAbort("no content line on stdin")
    return lines[-1]


class _Folder:
    """The settings file's folder on one host, and its backups."""

    def __init__(self, host: WindowsHost, path: str, *, missing_ok: bool = False) -> None:
        self.host = host
        self.fs = host.fs
        with powershell_errors():
            self.target = self.fs.resolve(path)
        self.folder, _, self.leaf = self.target.rpartition("\\")
        self.exists = self.fs.is_dir(self.folder)
        if not self.exists and not missing_ok:
            raise SnippetAbort(
                f"the folder '{self.folder}' of '{self.target}' does not exist "
                "(is the agent installed there?)"
            )
        self.pattern = re.compile(rf"^{re.escape(self.leaf)}\.\d{{8}}T\d{{6}}Z\.bak$", re.I)

    def path(self, name: str) -> str:
        return f"{self.folder}\\{name}"

    def backups(self) -> list[str]:
        """Newest first, as Sort-Object -Descending orders the names (none without the
        folder: protect's, which asks for it only when it exists)."""
        if not self.exists:
            return []
        names = [n for n in self.fs.listdir(self.folder) if self.pattern.match(n)]
        return sorted(names, key=str.lower, reverse=True)

    def remove_leftovers(self) -> list[str]:
        """Delete the temporary and put-aside files of writes killed before their swap
        (``.<leaf>.<guid>.tmp``, ``.old``: they hold the settings); their names, sorted."""
        pattern = re.compile(rf"^\.{re.escape(self.leaf)}\.[0-9a-f]{{32}}\.(tmp|old)$", re.I)
        found = sorted(n for n in self.fs.listdir(self.folder) if pattern.match(n))
        for name in found:
            self.fs.delete(self.path(name))
        return found

    def current(self) -> bytes | None:
        return self.fs.read(self.target) if self.fs.is_file(self.target) else None

    def backup_name(self) -> str:
        """Stamped with the host's UTC clock, and always after every kept backup."""
        name = f"{self.leaf}.{self.host.utc_now():%Y%m%dT%H%M%SZ}.bak"
        existing = self.backups()
        if existing and existing[0] >= name:
            stamp = dt.datetime.strptime(existing[0][len(self.leaf) + 1 :][:16], "%Y%m%dT%H%M%SZ")
            name = f"{self.leaf}.{stamp + dt.timedelta(seconds=1):%Y%m%dT%H%M%SZ}.bak"
        return name

    def swap_in(self, data: bytes, spec: dict[str, Any], keep_backup: bool) -> str | None:
        """Temporary file, ACL first, then the one-step replace; the backup's name or None."""
        running = semantics.current()
        tmp = self.path(f".{self.leaf}.{uuid.uuid4().hex}.tmp")
        backup = None
        # Where File.Replace puts the replaced file: the backup, or (a rollback, by a script
        # that names one) a name of the snippet's own, deleted after.
        aside: str | None = None
        acl: Acl | None = None
        try:
            self.fs.write(tmp, b"")
            acl = acl_from_spec(self.host, spec)
            self.fs.set_acl(tmp, acl)
            self.fs.write(tmp, data)
            if self.fs.is_file(self.target):
                if keep_backup:
                    backup = self.backup_name()
                    aside = self.path(backup)
                elif running is None or running.uses(r"'\.old'"):
                    aside = self.path(f".{self.leaf}.{uuid.uuid4().hex}.old")
                # [IO.File]::Replace (ReplaceFile): the result keeps the replaced file's
                # DACL, not the one set on the temporary file.
                self.fs.replace(tmp, self.target, aside)
            else:
                self.fs.rename(tmp, self.target, replace=False)
        except (ModelError, SnippetAbort) as exc:
            # ReplaceFile failed half way (1177): the previous file is under the backup
            # name, and the snippet moves it back before it says the file is unchanged.
            recovers = running is None or running.uses(r"::Move\(\$aside,\s*\$target\)")
            if recovers and aside and not self.fs.is_file(self.target) and self.fs.is_file(aside):
                try:
                    self.fs.rename(aside, self.target, replace=False)
                except ModelError as again:
                    raise SnippetAbort(
                        f"settings not written to '{self.target}', and the file is missing: "
                        f"File.Replace failed half way ({exc}), and moving the previous file "
                        f"back from '{aside}' failed: {again}"
                    ) from None
            if self.fs.exists(tmp):
                self.fs.delete(tmp)
            raise SnippetAbort(
                f"settings not written to '{self.target}' (the previous file is unchanged): {exc}"
            ) from None
        if aside is not None and not keep_backup:
            self.fs.delete(aside)
        # File.Replace kept the replaced file's DACL: the snippet sets its own again (a
        # script that does not leaves the file as the installer or a user left it).
        if running is None or running.uses(r"Set-SfPrivateAcl\s+\$target\b"):
            self.fs.set_acl(self.target, acl_from_spec(self.host, spec))
        return backup


def acl_from_spec(host: WindowsHost, spec: dict[str, Any]) -> Acl:
    """The protected DACL a snippet sets from an ACL spec {owner, full_control, read}."""
    return acl_rules.private_acl(host, spec)


@simulates("settings_write")
def settings_write(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    with host.lock, powershell_errors():
        return _settings_write(host, params, stdin)


def _settings_write(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    action = params.get("action")
    folder = _Folder(host, str(params.get("path") or ""), missing_ok=action == "protect")
    check = bool(params.get("check"))
    return_content = bool(params.get("return_content"))
    current = folder.current()
    result: dict[str, Any] = {
        "action": action,
        "path": folder.target,
        "existed": current is not None,
        "changed": False,
        "previous_sha256": None if current is None else _sha256(current),
        "sha256": None,
        "backup": None,
        "restored": None,
        "pruned": [],
        "backups": [],
        "previous": None,
        "content": None,
    }
    # What a write killed before its swap left (row 43): removed by a write, not a check.
    result["leftovers"] = [] if check or not folder.exists else folder.remove_leftovers()
    data: bytes = b""
    if action == "write":
        expected = params.get("expect_previous")
        if expected is not None:
            if not isinstance(expected, dict) or set(expected) != {"sha256"}:
                # The snippet reads $P.expect_previous.sha256: anything else is a caller bug
                # whose effect on Windows the model cannot tell.
                raise SnippetAbort(f"settings_write: expect_previous not understood: {expected!r}")
            previous, wanted = result["previous_sha256"], expected["sha256"]
            # PowerShell's -ne: $null differs from any string, strings compare ignoring case.
            if (previous is None) != (wanted is None) or (
                previous is not None and previous.lower() != str(wanted).lower()
            ):
                raise SnippetAbort(
                    f"settings not written to '{folder.target}': the file changed since it "
                    "was read (run again)"
                )
        result["sha256"] = str(params.get("sha256") or "").lower()
        if not check:
            try:
                data = base64.b64decode(_content_line(stdin.data), validate=True)
            except binascii.Error:
                raise SnippetAbort(
                    f"settings not written to '{folder.target}': the content line is not base64"
                ) from None
            if _sha256(data) != result["sha256"]:
                raise SnippetAbort(
                    f"settings not written to '{folder.target}': the content received does "
                    "not match its SHA-256"
                )
    elif action == "rollback":
        available = folder.backups()
        if not available:
            raise SnippetAbort(
                f"no backup of '{folder.target}' to roll back to "
                f"({folder.leaf}.<yyyyMMddTHHmmssZ>.bak in '{folder.folder}')"
            )
        name = available[0]
        wanted = params.get("backup")
        if wanted:
            found = [n for n in available if n.lower() == str(wanted).lower()]
            if not found:
                raise SnippetAbort(
                    f"backup '{wanted}' of '{folder.target}' not found; "
                    f"available: {', '.join(available)}"
                )
            name = found[0]
        data = folder.fs.read(folder.path(name))
        result["restored"] = name
        result["sha256"] = _sha256(data)
        if return_content:
            result["content"] = base64.b64encode(data).decode("ascii")
    elif action == "protect":
        # The copy a stopped installer left: the private DACL, the content untouched (by a
        # script that sets it: one that does not leaves the file as the installer did).
        running = semantics.current()
        sets = running is None or running.uses(r"Set-SfPrivateAcl\s+-Path\s+\$target\b")
        if current is not None and not check and sets:
            folder.fs.set_acl(folder.target, acl_from_spec(host, params.get("acl") or {}))
            host.record({"kind": "settings_protect", "path": folder.target})
        result["sha256"] = result["previous_sha256"]
    else:
        raise SnippetAbort(f"unknown settings_write action '{action}'")

    result["changed"] = result["previous_sha256"] != result["sha256"]
    if result["changed"] and return_content and current is not None:
        result["previous"] = base64.b64encode(current).decode("ascii")
    if result["changed"] and not check:
        result["backup"] = folder.swap_in(
            data, params.get("acl") or {}, keep_backup=action == "write"
        )
        if action == "write":
            keep = int(params.get("keep_backups") or 0)
            result["pruned"] = folder.backups()[keep:]
            for name in result["pruned"]:
                folder.fs.delete(folder.path(name))
        host.record(
            {
                "kind": "settings_write",
                "action": action,
                "path": folder.target,
                "sha256": result["sha256"],
                "backup": result["backup"],
                "restored": result["restored"],
                "pruned": list(result["pruned"]),
            }
        )
    result["backups"] = folder.backups()
    result["now_utc"] = dotnet_o(host.utc_now())
    written = folder.fs.stat(folder.target).modified if folder.fs.is_file(folder.target) else None
    result["written_utc"] = dotnet_o(written) if written else None
    result["agent"] = _agent(host, params.get("agent"))
    return result


def _agent(host: WindowsHost, lookup: Any) -> dict[str, Any] | None:
    """The agent's service and when its process started (Process.StartTime), as the
    snippet answers; None when the caller did not ask."""
    if lookup is None:
        return None
    if not isinstance(lookup, dict) or set(lookup) != set(LOOKUP_KEYS):
        # The snippet reads the three members under strict mode: anything else is a
        # caller bug whose effect on Windows the model cannot tell.
        raise SnippetAbort(f"settings_write: agent lookup not understood: {lookup!r}")
    service, _by, candidates = find_service(host, lookup)
    agent: dict[str, Any] = {
        "name": None,
        "state": None,
        "started_utc": None,
        "error": None,
        "candidates": list(candidates),
    }
    if service is not None:
        started, error = process_start(service)
        agent.update(name=service.name, state=service.wmi_state, started_utc=started, error=error)
    return agent
