"""Model side of ``deploy_lock``: create-if-absent, stale recovery, owner-only release.

Each file operation is atomic as on NTFS and nothing more, so another command can run
between them (``host.interleave["deploy_lock.stale"]``): docs/simulator.md, ledger row 18.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from typing import Any

from sagefleet.facts import parse_utc
from sagefleet.sim.commands import semantics
from sagefleet.sim.commands.registry import SnippetAbort, powershell_errors, simulates
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import ModelError, WindowsHost

RACE_POINT = "deploy_lock.stale"
_RENAME_RECOVERY = r"\[System\.IO\.File\]::Move\(\$path,"


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _text(host: WindowsHost, path: str) -> str | None:
    """Read-SfLockText: the file's text, None when absent, '' when it cannot be read."""
    with host.lock:
        if not host.fs.is_file(path):
            return None
        try:
            return host.fs.read(path).decode("utf-8-sig")
        except (ModelError, UnicodeDecodeError):
            return ""


def _parse(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or "expires" not in data or "owner" not in data:
        # The snippet reads any other shape as unreadable (StrictMode forbids missing members).
        return {"owner": "(unreadable)", "acquired": None, "expires": None}
    return data


def _create_new(host: WindowsHost, path: str, record: bytes) -> bool:
    """[IO.File]::Open(path, CreateNew): atomic, fails when the file exists."""
    with host.lock:
        if host.fs.exists(path):
            return False
        host.fs.write(path, record)
        return True


def _recover_by_rename(host: WindowsHost, path: str, seen: str | None) -> bool:
    """Move the stale file to a unique name; False when another run got there first."""
    stale = f"{path}.{uuid.uuid4().hex}.stale"
    with host.lock:
        try:
            host.fs.rename(path, stale, replace=False)
        except ModelError:
            return False  # nothing to move (FileNotFoundException) or in use
    moved = _text(host, stale)
    with host.lock:
        if moved != seen:
            # Another run's fresh lock: put it back (a third run may have created meanwhile).
            with contextlib.suppress(ModelError):
                host.fs.rename(stale, path, replace=False)
            return False
        host.fs.delete(stale)
    return True


def _acquire(host: WindowsHost, params: dict[str, Any], result: dict[str, Any]) -> None:
    path, owner = str(params["path"]), str(params["owner"])
    script = semantics.current()
    by_rename = script is None or script.uses(_RENAME_RECOVERY)
    now = host.utc_now()
    with host.lock:
        host.fs.mkdir(path.rsplit("\\", 1)[0])
    record = json.dumps(
        {
            "owner": owner,
            "acquired": _iso(now),
            "expires": _iso(now + dt.timedelta(seconds=int(params["ttl_s"]))),
        },
        separators=(",", ":"),
    ).encode()
    turn: int | None = None
    try:
        for _ in range(3 if by_rename else 2):
            if _create_new(host, path, record):
                result["acquired"] = True
                return
            seen = _text(host, path)
            current = _parse(seen)
            if current is not None and str(current.get("owner")) == owner:
                with host.lock:
                    host.fs.write(path, record)
                result["acquired"] = True
                return
            expires = parse_utc(str(current.get("expires"))) if current else None
            if current is not None and expires is not None and expires >= now:
                result["holder"] = current
                return
            if turn is None:
                turn = host.race_point(RACE_POINT)
                if turn == 1:
                    host.race_point(RACE_POINT)  # until the other run is done
            if by_rename:
                if not _recover_by_rename(host, path, seen):
                    continue
            else:
                with host.lock:  # Remove-Item -ErrorAction SilentlyContinue
                    if host.fs.is_file(path):
                        host.fs.delete(path)
            result["recovered"] = current
    finally:
        if turn == 0:
            host.race_point(RACE_POINT)  # let the other run go on


@simulates("deploy_lock")
def deploy_lock(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    result: dict[str, Any] = {
        "acquired": False,
        "released": False,
        "holder": None,
        "recovered": None,
    }
    action = params.get("action")
    with powershell_errors():
        if action == "acquire":
            _acquire(host, params, result)
        elif action == "release":
            path, owner = str(params["path"]), str(params["owner"])
            with host.lock:
                current = _parse(_text(host, path))
                if current is not None and str(current.get("owner")) == owner:
                    host.fs.delete(path, force=True)
                    result["released"] = True
        else:
            raise SnippetAbort(f"sagefleet deploy_lock: unknown action '{action}'")
    return result
