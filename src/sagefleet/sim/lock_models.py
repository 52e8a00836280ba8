"""Model side of ``deploy_lock``: create-if-absent, stale recovery, owner-only release."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sagefleet.facts import parse_utc
from sagefleet.sim.dispatch import SnippetAbort, simulates
from sagefleet.sim.model import WindowsHost


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _read(host: WindowsHost, path: str) -> dict[str, Any] | None:
    if not host.fs.is_file(path):
        return None
    try:
        data = json.loads(host.fs.read(path).decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        return {"owner": "(unreadable)", "acquired": None, "expires": None}
    return data


@simulates("deploy_lock")
def deploy_lock(host: WindowsHost, params: dict[str, Any], stdin: bytes) -> dict[str, Any]:
    path, owner = str(params["path"]), str(params["owner"])
    result: dict[str, Any] = {
        "acquired": False,
        "released": False,
        "holder": None,
        "recovered": None,
    }
    with host.lock:  # the file system's CreateNew is atomic on Windows
        now = host.utc_now()
        if params.get("action") == "acquire":
            host.fs.mkdir(path.rsplit("\\", 1)[0])
            record = json.dumps(
                {
                    "owner": owner,
                    "acquired": _iso(now),
                    "expires": _iso(now + dt.timedelta(seconds=int(params["ttl_s"]))),
                },
                separators=(",", ":"),
            ).encode()
            current = _read(host, path)
            expires = parse_utc(str(current.get("expires"))) if current else None
            if current is None or str(current.get("owner")) == owner:
                host.fs.write(path, record)
                result["acquired"] = True
            elif expires is None or expires < now:
                result["recovered"] = current
                host.fs.write(path, record)
                result["acquired"] = True
            else:
                result["holder"] = current
        elif params.get("action") == "release":
            current = _read(host, path)
            if current is not None and str(current.get("owner")) == owner:
                host.fs.delete(path)
                result["released"] = True
        else:
            raise SnippetAbort(f"sagefleet deploy_lock: unknown action '{params.get('action')}'")
    return result
