"""Services and installers: what Windows does with the constructs a script uses.

Called by the agent and diagnose models: docs/simulator.md, "Rules: what Windows
refuses in a script", and the fidelity ledger's rows 11 to 15.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

from sagefleet.sim.commands import semantics
from sagefleet.sim.host import (
    LOGON_FAILURE,
    WAIT_TIMEOUT,
    Service,
    ServiceError,
    ServiceTimeout,
    WindowsHost,
)

__all__ = ["LOGON_FAILURE", "grant_logon_right", "run_installer", "set_state", "wildcard"]

STOP_CMDLET = r"\b(?:Stop|Restart)-Service\b"
START_CMDLET = r"\b(?:Start|Restart)-Service\b"
KILLS_SERVICE_PROCESS = (r"\bProcessId\b", r"\bStop-Process\b|\.Kill\(\s*\)")
# Set-SfServiceState waits for a pending service to settle before it sends a control (a
# control sent to a pending service is refused: WindowsHost.start_service/stop_service).
SETTLES_PENDING = r"StartPending\s*=\s*'Running'"
START_PROCESS_WAIT = r"\bStart-Process\b[^\n]*\s-Wait\b|\bWait\s*=\s*\$true\b"
BOUNDED_WAIT_FOR_EXIT = r"\.WaitForExit\(\s*[^)\s]"
KILLS_TREE = r"\btaskkill(?:\.exe)?\b[^\n]*/T\b"
MSIEXEC = r"\bmsiexec\.exe\b"
INT_EXIT_CODE = r"\[int\]\s*\$\w+\.ExitCode\b"
GRANTS_LOGON_RIGHT = (r"\bsecedit(?:\.exe)?\b", r"\bSeServiceLogonRight\b")

_WILDCARD = re.compile(r"[*?\[\]]")


def wildcard(name: str) -> bool:
    """Whether a name is a wildcard pattern to the service cmdlets."""
    return _WILDCARD.search(name) is not None


def _matching(host: WindowsHost, name: str) -> list[Service]:
    """What a service cmdlet's ``-Name`` finds (WildcardPattern, case-insensitive)."""
    if not wildcard(name):
        found = host.service(name)
        if found is None:
            raise ServiceError(f"Cannot find any service with service name '{name}'.")
        return [found]
    pattern = name.lower()
    return [s for s in host.services.values() if fnmatch.fnmatchcase(s.name.lower(), pattern)]


def _controller_error(verb: str, service: str, exc: ServiceError) -> ServiceError:
    """The text of the snippets' Get-SfError for ServiceController.Start()/Stop():
    the method's message, then the Win32 reason its inner exception carries."""
    outer = (
        f"Cannot start service {service} on computer '.'."
        if verb == "Start"
        else f"Cannot stop {service} service on computer '.'."
    )
    reason = exc.reason or str(exc)
    return ServiceError(
        f'Exception calling "{verb}" with "0" argument(s): "{outer}" {reason}', exc.reason
    )


def set_state(host: WindowsHost, name: str, state: str, timeout_s: float) -> int:
    """The snippets' Set-SfServiceState: bring service ``name`` to ``state`` (Running or
    Stopped), waiting ``timeout_s``; the process id killed on timeout, or 0.

    Raises ServiceError (the text the snippet reports) when the service cannot get
    there. A script that uses the cmdlets instead gets what they do: every service
    matching the name, and no bound on the wait (a stuck service hangs it).
    """
    stopping = state == "Stopped"
    if semantics.uses(STOP_CMDLET if stopping else START_CMDLET):
        for match in _matching(host, name):
            if stopping:
                host.stop_service(match.name)
            else:
                host.start_service(match.name)
        return 0
    if wildcard(name):
        raise ServiceError(f"service name '{name}' has a wildcard character")
    service = host.service(name)
    if service is None:
        raise ServiceError(f"Service '{name}' was not found on computer '.'.")
    pending_towards = {"StartPending": "Running", "StopPending": "Stopped"}.get(service.state)
    try:
        if pending_towards not in (None, state) and semantics.uses(SETTLES_PENDING):
            # The script waits, bounded, for it to settle; a service stuck there never does:
            # no control is sent, and the wait for ``state`` times out too.
            host.sleep(2 * timeout_s)
            raise ServiceTimeout(WAIT_TIMEOUT, WAIT_TIMEOUT)
        if stopping:
            host.stop_service(service.name, timeout_s=timeout_s)
        else:
            host.start_service(service.name, timeout_s=timeout_s)
        return 0
    except ServiceTimeout:
        if not semantics.uses(*KILLS_SERVICE_PROCESS):
            raise
        pending = service.state
        pid = service.process_id
        if pid <= 0 or service.service_type != "Own Process":
            # Set-SfServiceState kills only a process of the service's own.
            raise ServiceError(f"service {name} stayed {pending} for {timeout_s:g} s") from None
        host.kill_process(pid)
        if stopping:
            return pid
        raise ServiceError(
            f"service {name} stayed {pending} for {timeout_s:g} s: its process {pid} was killed"
        ) from None
    except ServiceError as exc:
        if isinstance(exc, ServiceTimeout) or exc.reason is None:
            raise
        raise _controller_error("Stop" if stopping else "Start", name, exc) from None


def grant_logon_right(host: WindowsHost, account: str) -> bool:
    """Grant "Log on as a service" as the script's secedit export/import does; whether
    it was added. A script without it grants nothing (Win32_Service.Change never does)."""
    if not semantics.uses(*GRANTS_LOGON_RIGHT) or host.has_service_logon_right(account):
        return False
    host.grant_service_logon_right(account)
    return True


_MSI_SWITCHES = {"/qn", "/quiet", "/norestart", "/promptrestart", "/forcerestart"}


def _msiexec_switches(log_path: str | None) -> list[str]:
    """The switches the running script gives msiexec after ``/i "<file>"`` (its format
    string), and the verbose log when it adds one: what msiexec would be started with."""
    script = semantics.current()
    text = script.text if script is not None else ""
    found = re.search(r"""'/i "\{0\}"([^']*)'""", text)
    if found is None:
        return ["(no /i <file>)"]  # msiexec without a package: its usage dialog
    switches = found.group(1).split()
    if log_path and re.search(r"""'\s*/l\*v\s+"\{0\}"'""", text):
        switches += ["/l*v", log_path]
    return switches


def _msiexec_problem(switches: Sequence[str]) -> str | None:
    """Why msiexec would show its usage dialog or its UI for these switches (None: silent)."""
    if not any(s.lower() in ("/qn", "/quiet") for s in switches):
        return "without /qn its installation UI waits for a click"
    index = 0
    while index < len(switches):
        switch = switches[index]
        if re.fullmatch(r"/l[iwearucmopvx+!*]*", switch, re.I):
            index += 2
            continue
        if switch.lower() in _MSI_SWITCHES or re.fullmatch(r"[A-Za-z_][\w.]*=.*", switch, re.S):
            index += 1
            continue
        return f"unknown switch {switch!r}: msiexec shows its usage dialog"
    return None


def run_installer(
    host: WindowsHost,
    installer: str,
    arguments: Sequence[str],
    log_path: str | None,
    timeout_s: float,
) -> tuple[int | None, str | None]:
    """The snippet's installer step: (exit code, error). The exit code is None when the
    installer gave none or did not end in time; the error says why."""
    meta = host.installer_metadata(installer)
    program_args = list(arguments)
    if installer.lower().endswith(".msi"):
        if not semantics.uses(MSIEXEC):
            host.hang(
                "the .msi was started by file association, not through msiexec.exe /i <file> "
                "/qn: msiexec shows its window in session 0, where nobody can close it"
            )
        program_args = [*_msiexec_switches(log_path), *arguments]
        problem = _msiexec_problem(program_args)
        if problem is not None:
            host.hang(f"msiexec in session 0, where nobody can close its window: {problem}")
    waits_for_tree = semantics.uses(START_PROCESS_WAIT)
    if meta.get("never_exits"):
        if waits_for_tree or not semantics.uses(BOUNDED_WAIT_FOR_EXIT):
            host.hang("the installer never exits and the script waits for it without bound")
        host.sleep(timeout_s)
        if semantics.uses(KILLS_TREE):
            host.record({"kind": "kill-tree", "program": installer})
        return None, f"the installer did not end in {timeout_s:g} s: its process tree was killed"
    code, _log = host.run_installer(installer, program_args)
    child = meta.get("leaves_child")
    if child and waits_for_tree:
        host.hang(
            f"Start-Process -Wait waits for the installer's whole process tree, and {child} "
            "(started by the installer) keeps running"
        )
    if code is None:
        if semantics.uses(INT_EXIT_CODE):
            return 0, None  # [int]$null is 0: a missing exit code read as success
        return None, "the installer exited without an exit code"
    return code, None
