"""Model side of ``agent_install`` and ``agent_rollback``: the host's own behaviour.

Stopping, backing up, running the installer (WindowsHost.run_installer reads
the package metadata and settings.json beside it), starting and restoring
happen in the host model exactly as the PowerShell snippets drive Windows.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

from sagefleet.deploy.backups import BACKUP_STAMP, backup_stamp
from sagefleet.sim.commands import acl_rules, semantics, service_rules
from sagefleet.sim.commands.registry import SnippetAbort, powershell_errors, simulates
from sagefleet.sim.commands.removal_models import (
    COPYING,
    LISTS_BACKUPS,
    MARKS_COPYING,
    backup_folder,
    list_backups,
    remove_backups,
    remove_tree,
    removes_backups,
)
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import ModelError, ServiceError, WindowsHost, process
from sagefleet.sim.host.filesystem import PATH_TOO_LONG

#: Get-CimInstance while winmgmt restarts: RPC_S_SERVER_UNAVAILABLE (0x800706BA).
WMI_UNAVAILABLE = "The RPC server is unavailable. (Exception from HRESULT: 0x800706BA)"


def _parent(path: str) -> str:
    return path.replace("/", "\\").rsplit("\\", 1)[0]


def version_of(host: WindowsHost, exe: str) -> str | None:
    try:
        return host.fs.stat(exe).product_version
    except ModelError:
        return None


def copy_tree(host: WindowsHost, source: str, target: str) -> None:
    """Copy-Item -Recurse: every folder and file under ``source`` into ``target``; each
    copy takes the DACL its destination folder passes down, not the source's. A copy whose
    path would reach MAX_PATH (260, 248 for a folder) throws PathTooLongException there."""
    src = host.fs.resolve(source).rstrip("\\")
    host.fs.mkdir(target)
    prefix = src.lower() + "\\"
    for key in sorted(k for k in list(host.fs.entries) if k.startswith(prefix)):
        entry = host.fs.entries[key]
        if entry.target is not None:
            raise SnippetAbort(
                f"the simulator does not model Copy-Item -Recurse through the junction "
                f"'{entry.path}'"
            )
        relative = entry.path[len(src) + 1 :]
        destination = target.rstrip("\\") + "\\" + relative
        if len(destination) >= (248 if entry.is_dir else 260):
            raise ModelError(PATH_TOO_LONG)  # powershell.exe keeps .NET's legacy MAX_PATH
        if entry.is_dir:
            host.fs.mkdir(destination)
        else:
            host.fs.copy(entry.path, destination)


def empty_folder(host: WindowsHost, folder: str) -> None:
    for name in host.fs.listdir(folder):
        host.fs.delete(folder.rstrip("\\") + "\\" + name)


def backup_name(host: WindowsHost, root: str, version: str | None) -> str:
    """New-SfBackupName: '<version>-<yyyyMMddTHHmmssZ>' at the host's UTC clock, after the
    time of every backup already in ``root`` (even within the same second)."""
    stamp = host.utc_now().strftime(BACKUP_STAMP)
    for name in host.fs.listdir(root):
        found = backup_stamp(name)
        if found is not None and host.fs.is_dir(f"{root}\\{name}") and found >= stamp:
            after = dt.datetime.strptime(found, BACKUP_STAMP) + dt.timedelta(seconds=1)
            stamp = after.strftime(BACKUP_STAMP)
    safe = re.sub(r"[^0-9A-Za-z.+_-]", "_", version or "") or "unknown"
    return f"{safe}-{stamp}"


#: agent_install removing the copy a failed backup left (a script without it leaves the
#: copy, and says nothing of it: Get-SfBackups lists it later as a backup).
_PARTIAL = r"function\s+Remove-SfPartialBackup\b"


def _partial_backup(host: WindowsHost, backup: str) -> str:
    """Remove-SfPartialBackup: the copy goes (Remove-SfTree), or what keeps it is said."""
    try:
        stuck = remove_tree(host.fs, backup.rsplit("\\", 1)[-1], backup)
    except (ModelError, SnippetAbort) as exc:
        return f"the partial copy {backup} is left: {exc}"
    if not stuck:
        return f"the partial copy {backup} was removed"
    return f"the partial copy {backup} is left: {stuck[0]['path']}: {stuck[0]['error']}"


def _quote(argument: str) -> str:
    return f'"{argument}"' if re.search(r"\s", argument) else argument


@simulates("agent_install")
def agent_install(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    name = str(params["service_name"])
    nothing_yet = (
        "previous_version", "install_dir", "backup_path", "exit_code", "log_tail", "state",
        "version", "account", "killed_pid", "failed_step", "error", "state_error",
    )  # fmt: skip
    result: dict[str, Any] = dict.fromkeys(nothing_yet) | {
        "reboot_required": False,
        "logon_right_granted": False,
    }
    staged = params.get("staged_settings")
    wmi: dict[str, str | None] = {"down": None}
    with host.lock:
        password: str | None = None
        try:
            password_line = stdin.data.split(b"\n", 1)[0].strip()
            password = base64.b64decode(password_line).decode() if password_line else None
            _install(host, name, params, password, result, wmi)
            _protect_settings(host, params, result)
        finally:
            password = None
            if staged and host.fs.exists(str(staged)):
                host.fs.delete(str(staged))
        if wmi["down"] is not None:
            # Get-CimInstance fails: a script that does not catch it ends with the error,
            # and its result (the backup's path in it) never reaches the bastion.
            if not semantics.uses(r"\$result\.state_error\s*="):
                raise SnippetAbort(wmi["down"])
            result["state_error"] = wmi["down"]
        else:
            after = host.service(name)
            if after is not None:
                result["state"] = after.wmi_state
                result["account"] = after.account
                result["version"] = version_of(host, after.executable)
        _list_backups(host, params, result)
    return result


def _list_backups(host: WindowsHost, params: dict[str, Any], result: dict[str, Any]) -> None:
    """An install that went through lists the backups (Get-SfBackups), read only; the
    script catches a folder refused into backups_error. A script without it lists none."""
    result.update(backups=None, backups_error=None)
    if semantics.uses(r"backup_links\s+=\s+\$null"):
        result["backup_links"] = None
    if semantics.uses(r"backup_incomplete\s+=\s+\$null"):
        result["backup_incomplete"] = None
    if result["failed_step"] is not None or not semantics.uses(LISTS_BACKUPS):
        return
    if not semantics.uses(acl_rules.FOLDER_CHECK):
        raise SnippetAbort("agent_install: the script does not check its backup folder")
    try:
        root = backup_folder(host, params.get("backup_dir"), "agent_install")
        result["backups"], links, incomplete = list_backups(host, root)
        if links is not None:
            result["backup_links"] = links
        if incomplete is not None:
            result["backup_incomplete"] = incomplete
    except (SnippetAbort, ModelError) as exc:
        result["backups_error"] = str(exc)


def _install(
    host: WindowsHost,
    name: str,
    params: dict[str, Any],
    password: str | None,
    result: dict[str, Any],
    wmi: dict[str, str | None],
) -> None:
    existing = host.service(name)
    if existing is not None:
        exe = existing.executable
        result["previous_version"] = version_of(host, exe)
        result["install_dir"] = _parent(exe)
        was_running = existing.wmi_state == "Running"
        if existing.state != "Stopped":
            try:
                killed = service_rules.set_state(host, name, "Stopped", params["stop_timeout_s"])
            except ModelError as exc:
                result.update(failed_step="stop", error=str(exc))
                _start_again(host, name, params, result, was_running)
                return
            result["killed_pid"] = killed or None
        root = str(params["backup_dir"])
        backup = None
        try:
            root = acl_rules.private_folder(host, root) or root
            backup = f"{root}\\{backup_name(host, root, result['previous_version'])}"
            marks = semantics.uses(MARKS_COPYING)
            if marks:  # Get-SfBackupCopying's file, written before the copy, deleted after
                host.fs.mkdir(backup)
                host.fs.write(f"{backup}\\{COPYING}", b"")
            copy_tree(host, result["install_dir"], backup)
            if marks:
                host.fs.delete(f"{backup}\\{COPYING}")
        except (ModelError, SnippetAbort) as exc:
            result.update(failed_step="backup", error=str(exc))
            if backup is not None and host.fs.is_dir(backup) and semantics.uses(_PARTIAL):
                result["error"] += "; " + _partial_backup(host, backup)
            _start_again(host, name, params, result, was_running)
            return
        result["backup_path"] = backup
    installer = str(params["installer"])
    arguments = [_quote(str(a)) for a in params.get("arguments") or []]
    log_path = params.get("log_path")
    if not host.fs.is_file(installer):
        result.update(
            failed_step="installer",
            error=f"This command cannot be run because the file '{installer}' does not exist.",
        )
        _protect_settings(host, params, result)  # the snippet sets it after a failure too
        return
    code, problem = service_rules.run_installer(
        host,
        installer,
        [a.strip('"') for a in arguments],
        str(log_path) if log_path else None,
        float(params["installer_timeout_s"]),
    )
    result["exit_code"] = code
    if host.installer_metadata(installer).get("restarts_wmi"):
        # The installer restarts Windows Management Instrumentation: WMI queries fail for
        # the rest of this command (package metadata restarts_wmi; a fault, not a default).
        wmi["down"] = WMI_UNAVAILABLE
    if log_path and host.fs.is_file(str(log_path)):
        lines = host.fs.read(str(log_path)).decode("utf-8", "replace").splitlines()
        result["log_tail"] = "\n".join(lines[-40:])
    if problem is not None:
        result.update(failed_step="installer", error=problem)
    elif code not in [int(c) for c in params.get("success_codes") or [0]]:
        result.update(failed_step="installer", error=f"installer exit code {code}")
    else:
        result["reboot_required"] = code in [int(c) for c in params.get("reboot_codes") or []]
    # The snippet sets the settings ACL after the installer, whatever its outcome.
    if not _protect_settings(host, params, result) or result["failed_step"] is not None:
        return
    service = host.service(name)
    if service is None:
        result.update(
            failed_step="start", error=f"Cannot find any service with service name '{name}'."
        )
        return
    account = params.get("account")
    if account:
        try:
            result["logon_right_granted"] = service_rules.grant_logon_right(host, str(account))
            # A new logon applies from the next start: the running service stops first.
            killed = service_rules.set_state(host, name, "Stopped", params["stop_timeout_s"])
            result["killed_pid"] = killed or result["killed_pid"]
        except ModelError as exc:
            result.update(failed_step="account", error=str(exc))
            return
        if wmi["down"] is not None:  # the step's Get-CimInstance, before Change
            result.update(failed_step="account", error=wmi["down"])
            return
        if str(account).lower() not in ("localsystem", "nt authority\\system") and not password:
            result.update(failed_step="account", error="Win32_Service.Change returned 22")
            return
        process.checkpoint()  # Win32_Service.Change
        service.account = str(account)
    try:
        service_rules.set_state(host, name, "Running", params["start_timeout_s"])
    except ModelError as exc:
        result.update(failed_step="start", error=str(exc))
        return


def _start_again(
    host: WindowsHost, name: str, params: dict[str, Any], result: dict[str, Any], was_running: bool
) -> None:
    """As the snippet: a stop or backup that failed installed nothing, so an agent that ran
    before runs again (an error it meets is added to the step's)."""
    if not was_running:
        return
    try:
        service_rules.set_state(host, name, "Running", params["start_timeout_s"])
    except ModelError as exc:
        result["error"] = f"{result['error']}; the agent could not be started again: {exc}"


def _protect_settings(host: WindowsHost, params: dict[str, Any], result: dict[str, Any]) -> bool:
    """The settings ACL on the installed settings.json, as the snippet sets it: whatever
    the outcome of the steps before it. False when it failed (failed_step 'acl')."""
    installed = params.get("installed_settings")
    if not installed or not host.fs.is_file(str(installed)):
        return True
    try:
        host.fs.set_acl(
            str(installed), acl_rules.private_acl(host, params.get("settings_acl") or {})
        )
    except (ModelError, SnippetAbort) as exc:
        if result["failed_step"] is None:
            result.update(failed_step="acl", error=str(exc))
        return False
    return True


@simulates("agent_rollback")
def agent_rollback(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    name = str(params["service_name"])
    install_dir = str(params["install_dir"])
    backup = str(params["backup_path"])
    result: dict[str, Any] = dict.fromkeys(("state", "version", "killed_pid", "error")) | {
        "restored": False
    }
    with host.lock:
        service = host.service(name)
        try:
            if service is not None and service.state != "Stopped":
                result["killed_pid"] = (
                    service_rules.set_state(host, name, "Stopped", params["stop_timeout_s"]) or None
                )
            if not host.fs.is_dir(backup):
                raise SnippetAbort(f"backup folder {backup} not found")
            acl_rules.private_folder(host, _parent(backup))
            if host.fs.is_dir(install_dir):
                empty_folder(host, install_dir)
            copy_tree(host, backup, install_dir)
            result["restored"] = True
            settings = str(params.get("settings_path") or "")
            if settings and acl_rules.uses_private_acl() and host.fs.is_file(settings):
                host.fs.set_acl(
                    settings, acl_rules.private_acl(host, params.get("settings_acl") or {})
                )
            if service is not None:
                service.start_failure = None  # the old binaries start as before
                service.version = version_of(host, service.executable)
            service_rules.set_state(host, name, "Running", params["start_timeout_s"])
        except (ModelError, SnippetAbort) as exc:
            result["error"] = str(exc)
        after = host.service(name)
        if after is not None:
            result["state"] = after.wmi_state
            result["version"] = version_of(host, after.executable)
    return result


@simulates("agent_restart")
def agent_restart(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    name = str(params["service_name"])
    result: dict[str, Any] = {"state": None, "error": None, "killed_pid": None}
    with host.lock:
        try:
            killed = service_rules.set_state(host, name, "Stopped", params["stop_timeout_s"])
            result["killed_pid"] = killed or None
            service_rules.set_state(host, name, "Running", params["start_timeout_s"])
        except ServiceError as exc:
            result["error"] = str(exc)
        after = host.service(name)
        if after is not None:
            result["state"] = after.state
    return result


@simulates("agent_backup_prune")
def agent_backup_prune(host: WindowsHost, params: dict[str, Any], stdin: Stdin) -> dict[str, Any]:
    """List the folders named as agent backups in the private backup folder, and remove the
    ones named (Remove-SfTree: ReadOnly cleared, a file held open keeps its folder)."""
    with host.lock, powershell_errors():
        return _agent_backup_prune(host, params)


def _agent_backup_prune(host: WindowsHost, params: dict[str, Any]) -> dict[str, Any]:
    root = backup_folder(host, params.get("backup_dir"), "agent_backup_prune")
    removes_backups("agent_backup_prune")
    pruned, left = remove_backups(host, root, list(params.get("remove") or []))
    exists = host.fs.is_dir(root)
    names, links, incomplete = list_backups(host, root)
    listed = {"backups": names} | ({} if links is None else {"backup_links": links})
    listed |= {} if incomplete is None else {"backup_incomplete": incomplete}
    return {"backup_dir": root, "exists": exists, **listed, "pruned": pruned, "left": left}
