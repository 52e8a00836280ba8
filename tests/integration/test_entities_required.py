"""A host whose inventory has no entities is never ready, and never deployed.

Tried as a new user would: the inventory ``sim up --hosts`` writes has no
``sagefleet_entities``. Preflight must block such a host (SF903, naming it),
SF203 must not call an SPC host "not an SPC server", and deploy.yml must refuse
it in its first play, before any host is touched.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.package import build_test_package
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT, next_first_address
from tests.support.scenarios import write_inventory

pytestmark = pytest.mark.integration



def playbook(name: str, inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), f"playbooks/{name}", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )


def without_entities(inventory: Path, *names: str) -> None:
    data = yaml.safe_load(inventory.read_text())
    hosts = data["all"]["children"]["sage_servers"]["hosts"]
    for name in names:
        del hosts[name]["sagefleet_entities"]
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))


def test_preflight_blocks_a_host_without_entities_and_names_it(tmp_path: Path) -> None:
    specs = generate_specs(
        2,
        profiles=("healthy-onprem", "spc-with-onprem-om"),
        first_address=next_first_address(),
        port=0,
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        without_entities(inventory, "sage01", "sage02")
        out = tmp_path / "out"
        process = playbook(
            "preflight.yml", inventory, "-e", f"sagefleet_preflight_report_dir={out}"
        )
    assert process.returncode == 0, process.stdout[-3000:]
    report = json.loads((out / "report.json").read_text())
    hosts: dict[str, Any] = {h["host"]: h for h in report["hosts"]}
    for name in ("sage01", "sage02"):
        assert hosts[name]["status"] == "blocked"
        (sf903,) = [f for f in hosts[name]["findings"] if f["check_id"] == "SF903"]
        assert sf903["status"] == "fail" and name in sf903["message"]
        assert "sagefleet_entities" in sf903["remediation"]
    # The SPC VM with the on-premise package: never "pass: not an SPC server".
    (sf203,) = [f for f in hosts["sage02"]["findings"] if f["check_id"] == "SF203"]
    assert (sf203["status"], sf203["severity"]) == ("fail", "warning")


def test_deploy_refuses_a_host_without_entities_in_its_first_play(tmp_path: Path) -> None:
    package = build_test_package(tmp_path / "Setup.zip", agent_version="3.2.0")
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet, tmp_path / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
        )
        without_entities(inventory, "sage02")
        process = playbook(
            "deploy.yml",
            inventory,
            "-e",
            f"sagefleet_agent_package={package}",
            "-e",
            f"sagefleet_deploy_report_dir={tmp_path / 'out'}",
        )
        journals = {name: list(fleet.host(name).journal) for name in ("sage01", "sage02")}
    assert process.returncode != 0
    assert "no host was contacted" in process.stdout, process.stdout[-3000:]
    line = next(ln for ln in process.stdout.splitlines() if "sage02" in ln and "entit" in ln)
    assert "sagefleet_entities" in line
    assert journals == {"sage01": [], "sage02": []}
