"""A failed fresh install is remembered on the host: deploy.yml against a simulated host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagefleet.package import build_test_package
from tests.support.deploy import agent, deploy, outcomes, recap, snapshot
from tests.support.fleets import FleetFactory

RECORD = "C:\\ProgramData\\sagefleet\\backup\\failed-install.json"


@pytest.fixture
def packages(tmp_path: Path) -> tuple[Path, Path]:
    """An installer that installs the agent, then exits 1603; and one that works."""
    failing = build_test_package(tmp_path / "failing" / "Setup.zip", exit_code=1603)
    working = build_test_package(tmp_path / "working" / "Setup.zip")
    return failing, working


def test_a_failed_fresh_install_fails_every_next_run_until_the_agent_is_uninstalled(
    tmp_path: Path, packages: tuple[Path, Path], make_fleet: FleetFactory
) -> None:
    failing, working = packages
    fleet = make_fleet(profiles=["healthy-onprem"], names=["fresh"])
    host = fleet.host("fresh")

    # Run 1: the installer leaves the agent running at the target, then exits 1603.
    first, _ = deploy(fleet, tmp_path, failing)
    assert first.returncode == 2, first.stdout[-3000:]
    assert outcomes(first) == {"fresh": "failed"}
    assert agent(fleet, "fresh") == ("Running", "3.2.0")
    record = json.loads(host.fs.read(RECORD))
    assert record["target_version"] == "3.2.0"
    assert record["left"] == {"service": "SpendeskSageAgent", "state": "Running",
                              "version": "3.2.0"}  # fmt: skip
    assert "installer exit code 1603" in record["reason"]
    # Only SYSTEM and Administrators may change it (the backup root's DACL).
    acl = host.fs.acl_of(RECORD)
    assert not acl.may_write("S-1-5-32-545") and not acl.may_read("S-1-5-32-545")

    # Run 2: the agent the failed install left is not taken as installed.
    runs = len(host.installer_runs)
    before = snapshot(fleet, "fresh")
    second, report = deploy(fleet, tmp_path, working)
    assert second.returncode == 2, second.stdout[-3000:]
    assert outcomes(second) == {"fresh": "failed"}
    assert recap(second)["fresh"]["failed"] == 1
    (entry,) = report["hosts"]
    reason = entry["outcome"]["reason"]
    assert record["run"] in reason and record["recorded_utc"] in reason
    assert "left SpendeskSageAgent Running at 3.2.0" in reason
    assert "Uninstall it" in reason and "sagefleet_agent_accept_failed_install: true" in reason
    assert len(host.installer_runs) == runs
    assert snapshot(fleet, "fresh") == before  # the record is kept, nothing else changed

    # Check mode reads the record, and fails the host the same way.
    checked, _ = deploy(fleet, tmp_path, working, "--check")
    assert outcomes(checked) == {"fresh": "failed"}
    assert snapshot(fleet, "fresh") == before

    # The operator uninstalls the agent: run 3 installs it, and the record is gone.
    host.uninstall_agent()
    third, _ = deploy(fleet, tmp_path, working)
    assert third.returncode == 0, third.stdout[-3000:]
    assert outcomes(third) == {"fresh": "installed"}
    assert agent(fleet, "fresh") == ("Running", "3.2.0")
    assert not host.fs.exists(RECORD)
    again, _ = deploy(fleet, tmp_path, working)
    assert outcomes(again) == {"fresh": "unchanged"}


def test_an_agent_left_by_a_failed_install_can_be_accepted_explicitly(
    tmp_path: Path, packages: tuple[Path, Path], make_fleet: FleetFactory
) -> None:
    failing, working = packages
    fleet = make_fleet(profiles=["healthy-onprem"], names=["fresh"])
    host = fleet.host("fresh")
    deploy(fleet, tmp_path, failing)
    assert host.fs.exists(RECORD)
    accepted, _ = deploy(
        fleet, tmp_path, working, inventory_vars={"sagefleet_agent_accept_failed_install": True}
    )
    assert accepted.returncode == 0, accepted.stdout[-3000:]
    assert outcomes(accepted) == {"fresh": "unchanged"}
    assert "accepted (sagefleet_agent_accept_failed_install)" in " ".join(accepted.stdout.split())
    assert not host.fs.exists(RECORD)
    after, _ = deploy(fleet, tmp_path, working)
    assert outcomes(after) == {"fresh": "unchanged"}


def test_a_record_that_cannot_be_read_fails_the_host_and_says_so(
    tmp_path: Path, packages: tuple[Path, Path], make_fleet: FleetFactory
) -> None:
    failing, working = packages
    fleet = make_fleet(profiles=["healthy-onprem"], names=["fresh"])
    host = fleet.host("fresh")
    deploy(fleet, tmp_path, failing)
    host.fs.write(RECORD, b'{"run": "cut sho')
    process, report = deploy(fleet, tmp_path, working)
    assert outcomes(process) == {"fresh": "failed"}
    reason = report["hosts"][0]["outcome"]["reason"]
    assert f"the failed-install record {RECORD} cannot be read" in reason
    assert host.fs.read(RECORD) == b'{"run": "cut sho'


def test_preflight_reports_the_record_and_the_deploy_fails_the_host_even_if_blocked_may_pass(
    tmp_path: Path, packages: tuple[Path, Path], make_fleet: FleetFactory
) -> None:
    """SF406 blocks the host in preflight; the deploy still fails it with its own reason,
    so that sagefleet_deploy_fail_on_blocked: false cannot let it pass."""
    failing, working = packages
    fleet = make_fleet(profiles=["healthy-onprem"], names=["fresh"])
    host = fleet.host("fresh")
    deploy(fleet, tmp_path, failing)
    runs = len(host.installer_runs)
    del host.journal[:]
    process, report = deploy(
        fleet, tmp_path, working, inventory_vars={"sagefleet_deploy_fail_on_blocked": False}
    )
    assert process.returncode == 2, process.stdout[-3000:]
    assert outcomes(process) == {"fresh": "failed"}
    (entry,) = report["hosts"]
    found = {f["check_id"]: f for f in entry["findings"]}["SF406"]
    assert found["status"] == "fail" and found["severity"] == "error"
    assert "is not taken as installed" in found["message"]
    assert "sagefleet_agent_accept_failed_install: true" in found["remediation"]
    reason = entry["outcome"]["reason"]
    assert found["message"] in reason and "Uninstall it" in reason
    assert len(host.installer_runs) == runs
    # The facts read the record: the host ran them and nothing else.
    assert [e.get("name") for e in host.journal if e.get("kind") == "snippet"] == ["facts"]
