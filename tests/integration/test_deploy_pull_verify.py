"""Deploy in pull mode from an HTTP server on the bastion, then the testinfra suites pass."""

from __future__ import annotations

import json
from pathlib import Path

from sagefleet.deploy import deploy_host
from sagefleet.inventory import load
from sagefleet.package import build_test_package, inspect
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import next_first_address, session_for
from tests.support.scenarios import write_inventory
from tests.support.verify import run_suites


def test_pull_mode_deploy_downloads_from_the_bastion_and_verifies(
    tmp_path: Path, http_root: tuple[str, Path]
) -> None:
    base, www = http_root
    package_path = build_test_package(www / "Setup.zip", agent_version="3.2.0")
    package = inspect(package_path)
    specs = generate_specs(
        2, profiles=("healthy-onprem", "agent-old"), first_address=next_first_address(), port=0
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet,
            tmp_path / "inventory" / "hosts.yml",
            {
                "sagefleet_agent_target_version": "3.2.0",
                "sagefleet_agent_package_url": f"{base}/Setup.zip",
            },
        )
        hosts = {h.name: h for h in load([inventory])}
        results = {}
        for name in ("sage01", "sage02"):
            with session_for(fleet, name) as session:
                results[name] = deploy_host(session, name, hosts[name].variables, package)
        assert {n: r.outcome for n, r in results.items()} == {
            "sage01": "installed",
            "sage02": "upgraded",
        }
        for result in results.values():
            stage = next(s for s in result.steps if s["step"] == "stage")
            assert stage["method"] == "pull" and stage["bytes_sent"] == 0
        for name in ("sage01", "sage02"):
            # Scripts travel on stdin; past them, nothing but the service password line.
            data = fleet.listeners[name].stats.stdin_bytes - fleet.host(name).script_bytes
            assert data < 4096  # no package on stdin
        out = tmp_path / "verify"
        process = run_suites(inventory, out)
    assert process.returncode == 0, process.stdout[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert {h["host"]: h["status"] for h in report["hosts"]} == {
        "sage01": "verified",
        "sage02": "verified",
    }
    assert all(len(h["findings"]) == 14 for h in report["hosts"])  # SF501-SF514
