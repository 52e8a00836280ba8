"""The verification suites (tests/infra) and verify.yml as the tests run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from sagefleet.sim.fleet import Fleet
from tests.support.deployed import make_deployed
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT
from tests.support.scenarios import write_inventory


def deployed_inventory(fleet: Fleet, folder: Path) -> Path:
    """The fleet's inventory (agent 3.2.0), every host left as a successful deploy leaves it."""
    inventory = write_inventory(
        fleet, folder / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
    )
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
    for name in hosts:
        make_deployed(fleet.host(name), name, hosts[name])
    return inventory


def run_suites(
    inventory: Path, out: Path, *extra: str, suites: str = "tests/infra"
) -> subprocess.CompletedProcess[str]:
    """pytest with sagefleet's verify plugin over ``suites``, its report in ``out``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "sagefleet.verify.plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            suites,
            "--sagefleet-inventory",
            str(inventory),
            "--sagefleet-report",
            str(out),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def verify_playbook(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """ansible-playbook playbooks/verify.yml over ``inventory``."""
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), "playbooks/verify.yml", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
