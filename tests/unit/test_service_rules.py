"""Services and installers in the simulator: never kinder than Windows (items 11 to 16).

Each test runs a construct the snippets used to rely on (the cmdlets, Start-Process
-Wait, an .msi opened by association, ``[int]$process.ExitCode``) against the host
state that trips it, and the construct the snippets use now.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sagefleet import snippets, versions
from sagefleet.sim.commands import dispatch, semantics, service_rules
from sagefleet.sim.host import (
    LOGON_FAILURE,
    WAIT_TIMEOUT,
    ScriptHung,
    Service,
    ServiceError,
    ServiceTimeout,
    WindowsHost,
    host_from_profile,
    load_profile,
)
from sagefleet.sim.host.products import AGENT_SERVICE

SETUP = "C:\\Staging\\package\\Setup.exe"
MSI = "C:\\Staging\\package\\Setup.msi"
LOG = "C:\\Staging\\install.log"
RESTART = {"service_name": AGENT_SERVICE, "stop_timeout_s": 30, "start_timeout_s": 30}


def make(profile: str = "agent-old") -> WindowsHost:
    host = host_from_profile("h1", "127.0.0.2", "admin", "pw", load_profile(profile))
    host.hang_limit_s = 0.05
    return host


@contextmanager
def running(text: str, name: str = "agent_install") -> Iterator[None]:
    """Run the model helpers as inside a script of this text."""
    token = semantics.running(semantics.Script(name, {}, text))
    try:
        yield
    finally:
        semantics.done(token)


def new_script(name: str) -> str:
    return snippets.render(name, {})


def hangs(host: WindowsHost) -> list[str]:
    return [e["reason"] for e in host.journal if e["kind"] == "hang"]


def run(host: WindowsHost, name: str, params: dict[str, Any], script: str | None = None) -> Any:
    rc, out, err = dispatch.run_snippet(host, name, params, b"", script=script)
    return rc, (json.loads(out) if rc == 0 else err.decode())


# -- item 11: services stuck pending -------------------------------------------------------


def test_stop_service_waits_for_ever_on_a_service_stuck_stop_pending() -> None:
    host = make()
    host.service(AGENT_SERVICE).stuck = "StopPending"  # type: ignore[union-attr]
    with running("Stop-Service -Name $serviceName -Force"), pytest.raises(ScriptHung) as hung:
        service_rules.set_state(host, AGENT_SERVICE, "Stopped", 30)
    assert "Stop-Service waits without bound" in str(hung.value)
    assert host.service(AGENT_SERVICE).state == "StopPending"  # type: ignore[union-attr]


def test_a_script_using_restart_service_never_ends_on_a_stuck_service() -> None:
    """The way diagnose restarted the agent before: the command does not end (rc 1 after the
    simulator's bound, with what Windows would still be waiting on)."""
    host = make()
    host.service(AGENT_SERVICE).stuck = "StopPending"  # type: ignore[union-attr]
    old = "# sagefleet:agent_restart/1\nRestart-Service -Name $serviceName -Force\n"
    rc, error = run(host, "agent_restart", RESTART, script=old)
    assert rc == 1
    assert "never ends" in error and "StopPending" in error
    assert hangs(host)


def test_service_controller_gives_up_and_the_killed_process_leaves_it_stopped() -> None:
    host = make()
    service = host.service(AGENT_SERVICE)
    assert service is not None
    service.stuck = "StopPending"
    pid = service.process_id
    assert pid > 0
    rc, result = run(host, "agent_restart", RESTART)
    assert rc == 0, result
    assert result == {"state": "Running", "error": None, "killed_pid": pid}
    assert {"kind": "kill", "pid": pid, "service": AGENT_SERVICE} in host.journal
    assert service.process_id not in (0, pid)
    assert not hangs(host)


def test_a_service_stuck_start_pending_is_killed_and_the_start_reported_failed() -> None:
    host = make()
    service = host.service(AGENT_SERVICE)
    assert service is not None
    service.stuck = "StartPending"
    rc, result = run(host, "agent_restart", RESTART)
    assert rc == 0, result
    assert result["state"] == "Stopped"
    assert re.search(r"stayed StartPending for 30 s: its process \d+ was killed", result["error"])


def test_wait_for_status_without_a_kill_reports_the_dotnet_timeout() -> None:
    host = make()
    host.service(AGENT_SERVICE).stuck = "StopPending"  # type: ignore[union-attr]
    timeout = pytest.raises(ServiceTimeout, match=WAIT_TIMEOUT)
    with running("$sc.WaitForStatus($State, $t)"), timeout:
        service_rules.set_state(host, AGENT_SERVICE, "Stopped", 5)


def test_diagnose_restart_kills_a_stuck_service_instead_of_hanging() -> None:
    host = make()
    host.service(AGENT_SERVICE).stuck = "StopPending"  # type: ignore[union-attr]
    params = {
        "service_name": AGENT_SERVICE,
        "logs": [],
        "tail_bytes": 100,
        "restart": True,
        "restart_timeout_s": 20,
        "events": {"providers": [], "scm_ids": [], "display_names": [], "days": 1, "max": 10},
    }
    rc, result = run(host, "diagnose", params)
    assert rc == 0, result
    assert result["restart"]["done"] is True
    assert result["restart"]["killed_pid"]
    assert result["restart"]["state_after"] == "Running"


# -- item 12: service names are wildcards to the cmdlets -----------------------------------


def test_a_wildcard_name_stops_every_matching_service_through_the_cmdlet() -> None:
    host = make()
    host.install_service(Service("SpendeskUpdater", state="Running"))
    with running("Stop-Service -Name $serviceName -Force"):
        service_rules.set_state(host, "Spendesk*", "Stopped", 30)
    assert host.service("SpendeskUpdater").state == "Stopped"  # type: ignore[union-attr]
    assert host.service(AGENT_SERVICE).state == "Stopped"  # type: ignore[union-attr]


def test_the_snippets_refuse_a_wildcard_service_name() -> None:
    host = make()
    host.install_service(Service("SpendeskUpdater", state="Running"))
    rc, result = run(host, "agent_restart", {**RESTART, "service_name": "Spendesk*"})
    assert rc == 0
    assert result["error"] == "service name 'Spendesk*' has a wildcard character"
    assert host.service("SpendeskUpdater").state == "Running"  # type: ignore[union-attr]


# -- item 15: Log on as a service ----------------------------------------------------------


def test_an_account_without_log_on_as_a_service_fails_to_start_with_1069() -> None:
    host = make()
    service = host.install_service(Service("Foo", account="CORP\\svc-new"))
    with pytest.raises(ServiceError) as failed:
        host.start_service("Foo")
    assert failed.value.reason == LOGON_FAILURE
    assert service.state == "Stopped" and service.process_id == 0
    host.grant_service_logon_right("corp\\SVC-NEW")
    assert host.start_service("Foo").state == "Running"


def test_built_in_accounts_always_log_on_as_a_service() -> None:
    host = make()
    for account in (
        "LocalSystem",
        "NT AUTHORITY\\NetworkService",
        "NT AUTHORITY\\LOCAL SERVICE",
        "NT SERVICE\\SpendeskSageAgent",
    ):
        assert host.has_service_logon_right(account), account
    assert not host.has_service_logon_right(".\\svc-local")
    host.grant_service_logon_right(f"{host.hostname}\\svc-local")
    assert host.has_service_logon_right(".\\svc-local")


def test_a_profile_account_already_running_holds_the_right() -> None:
    host = make("agent-old")
    assert host.has_service_logon_right("CORP\\svc-spendesk")


def test_only_a_script_writing_the_right_through_secedit_grants_it() -> None:
    host = make()
    with running("Invoke-CimMethod -InputObject $s -MethodName Change"):
        assert service_rules.grant_logon_right(host, "CORP\\svc-new") is False
    assert not host.has_service_logon_right("CORP\\svc-new")
    with running(new_script("agent_install")):
        assert service_rules.grant_logon_right(host, "CORP\\svc-new") is True
    assert host.has_service_logon_right("CORP\\svc-new")


# -- items 13, 14: installers ----------------------------------------------------------------


def put_installer(host: WindowsHost, path: str, **meta: Any) -> None:
    folder = path.rsplit("\\", 1)[0]
    host.fs.mkdir(folder)
    host.fs.write(path, b"MZ installer")
    host.fs.write(path + ".sagefleet.json", json.dumps({"agent_version": "3.2.0", **meta}).encode())
    host.fs.write(folder + "\\settings.json", b"{}")


OLD_START_PROCESS = (
    "$start = @{ FilePath = [string]$P.installer; Wait = $true; PassThru = $true }\n"
    "$process = Start-Process @start\n$result.exit_code = [int]$process.ExitCode\n"
)


def test_start_process_wait_never_returns_when_the_installer_leaves_a_child() -> None:
    host = make("healthy-onprem")
    put_installer(host, SETUP, leaves_child="SpendeskSageAgentTray.exe")
    with running(OLD_START_PROCESS), pytest.raises(ScriptHung, match="whole process tree"):
        service_rules.run_installer(host, SETUP, ["/VERYSILENT"], LOG, 600)
    with running(new_script("agent_install")):
        assert service_rules.run_installer(host, SETUP, ["/VERYSILENT"], LOG, 600) == (0, None)


def test_an_installer_that_never_exits_is_killed_with_its_tree_after_the_timeout() -> None:
    host = make("healthy-onprem")
    put_installer(host, SETUP, never_exits=True)
    with running(OLD_START_PROCESS), pytest.raises(ScriptHung, match="never exits"):
        service_rules.run_installer(host, SETUP, [], LOG, 600)
    with running(new_script("agent_install")):
        code, error = service_rules.run_installer(host, SETUP, [], LOG, 600)
    assert code is None
    assert error == "the installer did not end in 600 s: its process tree was killed"
    assert {"kind": "kill-tree", "program": SETUP} in host.journal
    assert host.service(AGENT_SERVICE) is None


def test_a_missing_exit_code_is_not_success() -> None:
    host = make("healthy-onprem")
    put_installer(host, SETUP, exit_code=None)
    with running(OLD_START_PROCESS):
        assert service_rules.run_installer(host, SETUP, [], LOG, 600) == (0, None)  # [int]$null
    with running(new_script("agent_install")):
        assert service_rules.run_installer(host, SETUP, [], LOG, 600) == (
            None,
            "the installer exited without an exit code",
        )


def test_an_msi_opened_by_association_shows_msiexec_in_session_0() -> None:
    host = make("healthy-onprem")
    put_installer(host, MSI)
    with running(OLD_START_PROCESS), pytest.raises(ScriptHung, match="file association"):
        service_rules.run_installer(host, MSI, ["/VERYSILENT"], LOG, 600)
    with running(new_script("agent_install")):
        with pytest.raises(ScriptHung, match="unknown switch '/VERYSILENT'"):
            service_rules.run_installer(host, MSI, ["/VERYSILENT"], LOG, 600)
        assert service_rules.run_installer(host, MSI, ["AGENTMODE=service"], LOG, 600) == (0, None)
    run = host.installer_runs[-1]
    assert run["args"] == ["/qn", "/norestart", "/l*v", LOG, "AGENTMODE=service"]
    assert host.fs.is_file(LOG)


def test_a_control_sent_to_a_pending_service_is_refused_unless_it_settles_first() -> None:
    host = make()
    service = host.service(AGENT_SERVICE)
    assert service is not None
    service.stuck = "StartPending"
    service.state = "StartPending"
    script = new_script("agent_restart")
    without_settling = script.replace("StartPending = 'Running'", "Pending = 'Running'")
    refused = pytest.raises(ServiceError, match="cannot accept control messages")
    with running(without_settling, "agent_restart"), refused:
        service_rules.set_state(host, AGENT_SERVICE, "Stopped", 30)
    with running(script, "agent_restart"):
        assert service_rules.set_state(host, AGENT_SERVICE, "Stopped", 30) > 0  # killed
    assert service.state == "Stopped"


def test_a_stuck_service_sharing_its_process_is_not_killed() -> None:
    host = make()
    service = host.service(AGENT_SERVICE)
    assert service is not None
    service.stuck = "StopPending"
    service.service_type = "Share Process"
    script = new_script("agent_restart")
    stuck = pytest.raises(ServiceError, match="stayed StopPending for 30 s$")
    with running(script, "agent_restart"), stuck:
        service_rules.set_state(host, AGENT_SERVICE, "Stopped", 30)
    assert service.state == "StopPending" and service.process_id > 0


def test_msiexec_gets_the_switches_the_script_gives_it() -> None:
    # The model reads msiexec's switches from the script: without /qn, msiexec's window
    # waits in session 0; without the log switch, no log is written.
    host = make("healthy-onprem")
    put_installer(host, MSI)
    script = new_script("agent_install")
    assert script.count("/qn /norestart") == 1
    without_qn = script.replace("/qn /norestart", "/norestart")
    with running(without_qn), pytest.raises(ScriptHung, match="without /qn"):
        service_rules.run_installer(host, MSI, [], LOG, 600)
    with running(script.replace(' /l*v "{0}"', "")):
        assert service_rules.run_installer(host, MSI, [], LOG, 600) == (0, None)
    assert host.installer_runs[-1]["args"] == ["/qn", "/norestart"]


@pytest.mark.parametrize("code", [0, 3010, 1618, 1603])
def test_msi_exit_codes_come_back_as_they_are(code: int) -> None:
    host = make("healthy-onprem")
    put_installer(host, MSI, exit_code=code)
    with running(new_script("agent_install")):
        assert service_rules.run_installer(host, MSI, [], LOG, 600) == (code, None)


# -- item 16 and the snippets' text ------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("3.2.0", "3.2.0.0", True),
        ("3.2.0+1a2b3c4", "3.2.0", True),
        ("3.2.0.0+abc", "3.2", True),
        (" 3.2.0 ", "3.2.0", True),
        ("3.2.0", "3.2.1", False),
        ("3.2.0-beta", "3.2.0", False),
        ("3.10", "3.1", False),
        (None, None, True),
        (None, "3.2.0", False),
    ],
)
def test_versions_compare_normalised(left: str | None, right: str | None, same: bool) -> None:
    assert versions.same(left, right) is same


@pytest.mark.parametrize(
    ("left", "right", "older"),
    [
        ("3.2.0", "3.3.0", True),
        ("3.3.0.0", "3.2.0", False),
        ("3.9", "3.10", True),  # numbers, not text
        ("3.2.0+abc", "3.2", False),  # the same release
        ("3.2.0-beta", "3.3.0", None),  # no order to tell
        (None, "3.2.0", None),
    ],
)
def test_versions_tell_an_older_release(
    left: str | None, right: str | None, older: bool | None
) -> None:
    assert versions.older(left, right) is older


def _function(text: str, name: str) -> str:
    match = re.search(rf"^function {name}\b.*?^}}$", text, re.M | re.S)
    assert match, f"no function {name}"
    return match.group(0)


def test_rollback_reads_the_service_program_as_install_does() -> None:
    # One Get-ServiceExe, in the prelude, travels with both snippets.
    install = snippets.render("agent_install", {})
    rollback = snippets.render("agent_rollback", {})
    assert _function(rollback, "Get-ServiceExe") == _function(install, "Get-ServiceExe")
    assert _function(snippets.prelude(), "Get-ServiceExe") == _function(install, "Get-ServiceExe")
    assert "Get-ServiceExe $after" in snippets.load("agent_rollback").body


@pytest.mark.parametrize("name", ["agent_install", "agent_restart", "agent_rollback", "diagnose"])
def test_no_snippet_controls_a_service_through_the_cmdlets(name: str) -> None:
    body = snippets.load(name).body
    assert not re.search(r"\b(?:Stop|Start|Restart|Get)-Service\b", body, re.I), name
    assert "Set-SfServiceState" in body


def test_the_service_password_is_read_inside_the_try_whose_finally_drops_it() -> None:
    body = snippets.load("agent_install").body
    read = body.index("[Console]::In.ReadLine()")
    opened = body.rfind("\ntry {", 0, read)
    assert opened != -1 and body.find("\n} finally {", opened) > read
    final = body[body.index("\n} finally {", read) :]
    assert "$password = $null" in final and "$passwordLine = $null" in final
    assert not re.search(r"(Write-\w+|Out-\w+|Add-Content|Set-Content)[^\n]*\$password\b", body)
