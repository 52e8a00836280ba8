"""Deploys against services and installers that behave as real ones do (items 11 to 16).

Each test sets the host state that trips a construct (a service stuck pending, an
account without "Log on as a service", an installer that leaves a child running or
gives no exit code, an .msi, a ProductVersion with build metadata) and runs the
deploy over WinRM, as the bastion does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagefleet.deploy import DeployResult, deploy_host
from sagefleet.errors import InputError
from sagefleet.inventory import load
from sagefleet.package import build_test_package, inspect
from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.host import WindowsHost
from sagefleet.sim.host.products import AGENT_SERVICE
from tests.support.fleets import next_first_address, session_for
from tests.support.scenarios import write_inventory

AGENT_EXE = "C:\\Program Files\\Spendesk\\Sage Agent\\SpendeskSageAgent.exe"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[Fleet, dict[str, Any], Path]]:
    specs = generate_specs(
        2, profiles=("healthy-onprem", "agent-old"), first_address=next_first_address(), port=0
    )
    fleet = Fleet(specs, tmp_path / "fleet").start()
    inventory = write_inventory(
        fleet,
        tmp_path / "inventory" / "hosts.yml",
        {"sagefleet_agent_target_version": "3.2.0", "sagefleet_winrm_retries": 0},
    )
    variables = {h.name: dict(h.variables) for h in load([inventory])}
    for name in ("sage01", "sage02"):
        fleet.host(name).hang_limit_s = 1.0
    yield fleet, variables, tmp_path
    fleet.stop()


def deploy(
    sim: tuple[Fleet, dict[str, Any], Path],
    name: str,
    extra: dict[str, Any] | None = None,
    **package: Any,
) -> DeployResult:
    fleet, variables, tmp = sim
    built = inspect(build_test_package(tmp / f"Setup-{len(list(tmp.iterdir()))}.zip", **package))
    with session_for(fleet, name) as session:
        return deploy_host(session, name, {**variables[name], **(extra or {})}, built)


def install_step(result: DeployResult) -> dict[str, Any]:
    return next(s for s in result.steps if s["step"] == "install")


def rolled_back(result: DeployResult, host: WindowsHost, said: str) -> None:
    """The deploy failed saying ``said``, and the previous version (2.3.0) runs again."""
    assert result.outcome == "rolled-back", result.reason
    assert said in (result.reason or "")
    assert host.service(AGENT_SERVICE).version == "2.3.0"  # type: ignore[union-attr]


def hangs(host: WindowsHost) -> list[Any]:
    return [e for e in host.journal if e["kind"] == "hang"]


# -- item 11 ------------------------------------------------------------------------------


def test_an_upgrade_kills_a_service_stuck_stop_pending_and_says_so(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    fleet = sim[0]
    host = fleet.host("sage02")  # agent-old: 2.3.0 running
    service = host.service(AGENT_SERVICE)
    assert service is not None
    service.stuck = "StopPending"
    pid = service.process_id
    result = deploy(sim, "sage02", {"sagefleet_agent_stop_timeout_s": 5})
    assert result.outcome == "upgraded", result.reason
    assert install_step(result)["killed_pid"] == pid
    assert {"kind": "kill", "pid": pid, "service": AGENT_SERVICE} in host.journal
    assert not hangs(host)
    assert result.report is not None
    sf601 = next(f for f in result.report.findings if f.check_id == "SF601")
    assert f"its process {pid} was killed" in sf601.message
    assert service.state == "Running" and service.version == "3.2.0"


def test_a_settings_restart_of_a_service_stuck_start_pending_fails_with_the_kill(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    fleet = sim[0]
    host = fleet.host("sage02")
    service = host.service(AGENT_SERVICE)
    assert service is not None
    with session_for(fleet, "sage02") as session:
        service.stuck = "StartPending"
        answer = session.run_snippet(
            "agent_restart",
            {"service_name": AGENT_SERVICE, "stop_timeout_s": 5, "start_timeout_s": 5},
        )
    assert answer["state"] == "Stopped"
    assert "stayed StartPending for 5 s: its process" in answer["error"]
    assert not hangs(host)


# -- item 12 ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Spendesk*", "SpendeskSageAgen?", "Spendesk[SX]ageAgent"])
def test_a_wildcard_service_name_is_refused_before_the_host_is_touched(
    sim: tuple[Fleet, dict[str, Any], Path], name: str
) -> None:
    fleet = sim[0]
    with pytest.raises(InputError, match="wildcard") as refused:
        deploy(sim, "sage02", {"sagefleet_agent_service_name": name})
    assert refused.value.field == "sagefleet_agent_service_name"
    assert fleet.host("sage02").journal == []


# -- items 13, 14 ---------------------------------------------------------------------------


def test_an_installer_that_leaves_a_tray_app_running_installs(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    host = sim[0].host("sage01")
    result = deploy(sim, "sage01", metadata={"leaves_child": "SpendeskSageAgentTray.exe"})
    assert result.outcome == "installed", result.reason
    assert not hangs(host)


def test_an_installer_that_restarts_wmi_still_returns_its_result_and_upgrades(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """WMI does not answer at the end of the install command: the snippet's result (the
    backup's path in it) still comes back, and the bastion reads the service again."""
    host = sim[0].host("sage02")
    result = deploy(sim, "sage02", metadata={"restarts_wmi": True})
    assert result.outcome == "upgraded", result.reason
    lost = next(s for s in result.steps if s["step"] == "install-state")
    assert "The RPC server is unavailable" in lost["error"]
    assert install_step(result)["state"] == "Running"
    assert host.service(AGENT_SERVICE).version == "3.2.0"  # type: ignore[union-attr]


def test_an_installer_that_restarts_wmi_with_a_new_account_is_rolled_back(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """The account step's own WMI query fails: the backup comes back with the failure,
    and the previous version runs again."""
    host = sim[0].host("sage02")
    extra = {
        "sagefleet_agent_service_account": ".\\svc-agent",
        "sagefleet_agent_service_password": "Svc-Passw0rd!",
    }
    result = deploy(sim, "sage02", extra, metadata={"restarts_wmi": True})
    rolled_back(result, host, "account failed: The RPC server is unavailable")


def test_a_deploy_restarts_an_agent_that_never_read_its_settings(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """The file is as wanted, but the agent started before its last write (a settings
    run whose restart failed): the deploy restarts it and says so, not "unchanged"."""
    host = sim[0].host("sage01")
    assert deploy(sim, "sage01").outcome == "installed"
    service = host.service(AGENT_SERVICE)
    assert service is not None
    before = service.process_id
    settings = "C:\\Program Files\\Spendesk\\Sage Agent\\settings.json"
    host.fs.write(settings, host.fs.read(settings))  # written again, not read
    result = deploy(sim, "sage01")
    assert result.outcome == "restarted", result.reason
    assert result.plan.startswith("restart agent 3.2.0: the agent (SpendeskSageAgent) started at ")
    assert service.process_id != before and service.state == "Running"
    assert deploy(sim, "sage01").outcome == "unchanged"


def test_an_installer_without_exit_code_is_a_failure_rolled_back(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    host = sim[0].host("sage02")
    result = deploy(sim, "sage02", metadata={"exit_code": None})
    rolled_back(result, host, "the installer exited without an exit code")


def test_an_installer_that_never_ends_is_killed_after_its_timeout(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    host = sim[0].host("sage02")
    result = deploy(
        sim, "sage02", {"sagefleet_agent_installer_timeout_s": 60}, metadata={"never_exits": True}
    )
    assert result.outcome == "rolled-back", result.reason
    assert "did not end in 60 s: its process tree was killed" in (result.reason or "")
    assert any(e["kind"] == "kill-tree" for e in host.journal)


def test_an_msi_package_runs_through_msiexec(sim: tuple[Fleet, dict[str, Any], Path]) -> None:
    host = sim[0].host("sage01")
    result = deploy(sim, "sage01", extension=".msi")
    assert result.outcome == "installed", result.reason
    run = host.installer_runs[-1]
    assert run["installer"].endswith(".msi")
    assert run["args"][:3] == ["/qn", "/norestart", "/l*v"]
    assert host.fs.is_file(run["log_path"]) and run["log_path"] == run["args"][3]


def test_switches_for_an_msi_are_refused_before_the_host_is_touched(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    with pytest.raises(InputError, match="only properties") as refused:
        deploy(
            sim,
            "sage01",
            {"sagefleet_agent_installer_arguments": ["/VERYSILENT"]},
            extension=".msi",
        )
    assert refused.value.field == "sagefleet_agent_installer_arguments"
    assert sim[0].host("sage01").journal == []


@pytest.mark.parametrize(
    ("code", "meaning"),
    [(1618, "another installation is already in progress"), (1603, "fatal error")],
)
def test_msi_failure_codes_are_explained(
    sim: tuple[Fleet, dict[str, Any], Path], code: int, meaning: str
) -> None:
    result = deploy(sim, "sage02", extension=".msi", exit_code=code)
    assert result.outcome == "rolled-back", result.reason
    assert f"installer exit code {code}" in (result.reason or "")
    assert meaning in (result.reason or "")


def test_a_failed_fresh_install_says_what_the_installer_left_on_the_host(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """No earlier agent, so nothing to restore: the reason names what is left, which a
    next run would take as installed (an installer that installed, then exited 1603)."""
    result = deploy(sim, "sage01", exit_code=1603)
    assert result.outcome == "failed", result.reason
    reason = result.reason or ""
    assert "installer exit code 1603" in reason
    assert f"the installer left {AGENT_SERVICE} Running at 3.2.0 on the host" in reason
    assert "uninstall it" in reason


def test_a_fresh_install_whose_installer_did_nothing_says_nothing_is_left(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    sim[0].host("sage01").installer_failure = 1603
    result = deploy(sim, "sage01")
    assert result.outcome == "failed", result.reason
    assert "no earlier agent to restore, and the installer left no agent service" in (
        result.reason or ""
    )
    assert sim[0].host("sage01").service(AGENT_SERVICE) is None


def test_going_back_a_version_is_a_downgrade_never_an_upgrade(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    target = {"sagefleet_agent_target_version": "2.1.0"}
    result = deploy(sim, "sage02", target, agent_version="2.1.0")
    assert result.outcome == "downgraded", result.reason
    assert result.plan.startswith("downgrade 2.3.0 → 2.1.0")
    assert sim[0].host("sage02").service(AGENT_SERVICE).version == "2.1.0"  # type: ignore[union-attr]


def test_3010_from_an_msi_is_success_with_a_reboot_to_plan(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    result = deploy(sim, "sage01", extension=".msi", exit_code=3010)
    assert result.outcome == "installed", result.reason
    assert result.reboot_required


# -- item 15 ------------------------------------------------------------------------------


def test_a_new_service_account_is_granted_log_on_as_a_service_and_runs_the_agent(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    host = sim[0].host("sage01")
    account = "CORP\\svc-agent-new"
    assert not host.has_service_logon_right(account)
    result = deploy(
        sim,
        "sage01",
        {
            "sagefleet_agent_service_account": account,
            "sagefleet_agent_service_password": "Svc-Canary-Qz58wT!",
        },
    )
    assert result.outcome == "installed", result.reason
    assert install_step(result)["logon_right_granted"] is True
    assert host.has_service_logon_right(account)
    service = host.service(AGENT_SERVICE)
    assert service is not None
    assert service.account == account
    assert service.process_account == account  # the running process, not only the config
    assert "Svc-Canary-Qz58wT!" not in repr(result.to_dict())


# -- items 6 and 16 -----------------------------------------------------------------------


@pytest.mark.parametrize("product_version", ["3.2.0.0", "3.2.0+8c1f2ab"])
def test_a_product_version_as_windows_reports_it_is_the_target(
    sim: tuple[Fleet, dict[str, Any], Path], product_version: str
) -> None:
    host = sim[0].host("sage02")
    result = deploy(sim, "sage02", metadata={"product_version": product_version})
    assert result.outcome == "upgraded", result.reason
    assert install_step(result)["version"] == product_version
    again = deploy(sim, "sage02", metadata={"product_version": product_version})
    assert again.outcome == "unchanged", again.reason
    assert len(host.installer_runs) == 1


@pytest.mark.parametrize(
    "path_name", [f'"{AGENT_EXE}" --service', f"{AGENT_EXE} --service", f'"{AGENT_EXE}"']
)
def test_rollback_reads_the_version_whatever_the_service_path_name(
    sim: tuple[Fleet, dict[str, Any], Path], path_name: str
) -> None:
    host = sim[0].host("sage02")
    service = host.service(AGENT_SERVICE)
    assert service is not None
    service.binary_path = path_name
    result = deploy(sim, "sage02", fail_service_start=True)
    assert result.outcome == "rolled-back", result.reason
    rollback = next(s for s in result.steps if s["step"] == "rollback")
    assert rollback["version"] == "2.3.0" and rollback["state"] == "Running"
