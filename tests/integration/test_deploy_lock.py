"""The host-side deploy lock: one run per host at a time, stale locks recovered."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from sagefleet.deploy import DeployResult, deploy_host
from sagefleet.inventory import load
from sagefleet.package import PackageInfo, build_test_package, inspect
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import next_first_address, session_for
from tests.support.scenarios import write_inventory

LOCK = "C:\\ProgramData\\sagefleet\\deploy.lock"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Fleet, dict[str, object], PackageInfo]:
    package = inspect(build_test_package(tmp_path / "Setup.zip", agent_version="3.2.0"))
    fleet = Fleet(
        generate_specs(1, first_address=next_first_address(), port=0), tmp_path / "fleet"
    ).start()
    inventory = write_inventory(
        fleet, tmp_path / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
    )
    variables = dict(load([inventory])[0].variables)
    yield fleet, variables, package
    fleet.stop()


def put_lock(fleet: Fleet, owner: str, expires: dt.datetime) -> None:
    host = fleet.host("sage01")
    host.fs.mkdir("C:\\ProgramData\\sagefleet")
    host.fs.write(
        LOCK,
        json.dumps(
            {
                "owner": owner,
                "acquired": "2026-11-28T09:00:00Z",
                "expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ).encode(),
    )


def test_live_lock_fails_the_host_with_its_owner(
    setup: tuple[Fleet, dict[str, object], PackageInfo],
) -> None:
    fleet, variables, package = setup
    put_lock(fleet, "other-bastion:4242:cafe", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    with session_for(fleet, "sage01") as session:
        result = deploy_host(session, "sage01", variables, package)
    assert result.outcome == "failed"
    assert "another deploy holds the lock" in (result.reason or "")
    assert "other-bastion:4242:cafe" in (result.reason or "")
    assert fleet.host("sage01").installer_runs == []
    assert fleet.host("sage01").fs.is_file(LOCK)  # not ours: left alone


def test_stale_lock_of_a_killed_run_is_recovered(
    setup: tuple[Fleet, dict[str, object], PackageInfo],
) -> None:
    fleet, variables, package = setup
    put_lock(fleet, "killed-run:1:dead", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    with session_for(fleet, "sage01") as session:
        result = deploy_host(session, "sage01", variables, package)
    assert result.outcome == "installed", result.reason
    lock_step = next(s for s in result.steps if s["step"] == "lock")
    assert lock_step["recovered_from"] == "killed-run:1:dead"
    assert not fleet.host("sage01").fs.is_file(LOCK)  # released at the end


def test_two_runs_at_once_never_both_work_on_the_host(
    setup: tuple[Fleet, dict[str, object], PackageInfo],
) -> None:
    fleet, variables, package = setup
    fleet.faults("sage01").set(powershell_startup=0.2)  # widen the window
    results: list[DeployResult] = []

    def run() -> None:
        with session_for(fleet, "sage01") as session:
            results.append(deploy_host(session, "sage01", variables, package))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    outcomes = sorted(r.outcome for r in results)
    assert outcomes in (["failed", "installed"], ["installed", "unchanged"]), [
        (r.outcome, r.reason) for r in results
    ]
    assert len(fleet.host("sage01").installer_runs) == 1
