"""Drive ansible-core's winrm connection plugin against one simulated host.

Runs under whichever interpreter starts it and imports only ansible-core (and,
for the optional push, sagefleet from the source tree), so the same checks run
with the ansible-core of the test suite and, through a subprocess, with the
one of the ansible-core 2.18 virtualenv (whose file transfer scripts differ).
Prints one JSON document of observations; the calling test asserts on it.

Usage: python ansible_leg.py <target.json> <result.json>
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any


def connect(target: dict[str, Any]) -> Any:
    """An ansible winrm connection configured as the inventory would configure it."""
    from ansible.playbook.play_context import PlayContext
    from ansible.plugins.loader import connection_loader

    connection = connection_loader.get("winrm", PlayContext(), None)
    connection.set_options(
        var_options={
            "ansible_host": target["address"],
            "ansible_port": target["port"],
            "ansible_user": target["username"],
            "ansible_password": target["password"],
            "ansible_winrm_scheme": target.get("scheme", "https"),
            "ansible_winrm_transport": "ntlm",
            "_extras": {
                "ansible_winrm_server_cert_validation": "validate",
                "ansible_winrm_ca_trust_path": target["ca_file"],
            },
        }
    )
    return connection


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def run(target: dict[str, Any]) -> dict[str, Any]:
    from ansible.errors import AnsibleError
    from ansible.release import __version__

    work = Path(tempfile.mkdtemp(prefix="ansible-leg-"))
    result: dict[str, Any] = {"ansible_version": __version__, "transfers": []}
    connection = connect(target)
    try:
        rc, stdout, stderr = connection.exec_command("hostname")
        result["hostname"] = [rc, stdout.decode(), stderr.decode()]
        rc, stdout, stderr = connection.exec_command("Get-Process | Stop-Process")
        result["not_understood"] = [rc, stdout.decode(), stderr.decode()]
        for name, size in target["files"]:
            local = work / f"in-{len(result['transfers'])}.bin"
            local.write_bytes(os.urandom(size))
            back = work / f"back-{len(result['transfers'])}.bin"
            entry: dict[str, Any] = {"remote": name, "size": size, "sha1": sha1(local)}
            connection.put_file(str(local), name)
            connection.fetch_file(name, str(back))
            entry["fetched_sha1"] = sha1(back) if back.exists() else None
            result["transfers"].append(entry)
        missing = work / "missing.bin"
        try:
            connection.fetch_file(target["missing"], str(missing))
            result["missing"] = "no error"
        except AnsibleError as exc:
            result["missing"] = f"AnsibleError: {exc}"
        folder = work / "folder.bin"
        connection.fetch_file(target["directory"], str(folder))
        result["directory_fetch_created_file"] = folder.exists()
        if target.get("stage"):
            result["stage"] = stage(connection, target["stage"])
    finally:
        connection.close()
        shutil.rmtree(work, ignore_errors=True)
    return result


def stage(connection: Any, options: dict[str, Any]) -> dict[str, Any]:
    """sagefleet's push through this connection and copies of it (from the source tree)."""
    from sagefleet import transfer
    from sagefleet.package import inspect
    from sagefleet.remote.ansible import AnsibleSession

    staged = transfer.stage(
        AnsibleSession("sage01", connection),
        inspect(options["package"]),
        encoding=options["encoding"],
        streams=options["streams"],
        min_piece_bytes=options["min_piece_bytes"],
    )
    return {"path": staged.path, "streams": staged.streams, "bytes_sent": staged.bytes_sent}


def main() -> int:
    target = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    # A file, not stdout: ansible's display may write to stdout.
    Path(sys.argv[2]).write_text(json.dumps(run(target)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
