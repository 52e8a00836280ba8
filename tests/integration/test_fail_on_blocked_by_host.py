"""fail_on_blocked set per host (host_vars): PLAY RECAP, report.json and the JUnit file
end each blocked host by its own value, not by the value of the play's first host, which
the fleet report (a task run once) read."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.deploy import deploy, outcomes, recap, report_folder
from tests.support.fleets import FleetFactory, next_first_address
from tests.support.preflight import run_preflight
from tests.support.scenarios import write_inventory


def cases_named(path: Path, name: str) -> dict[str, list[str]]:
    """Each host's test case ``name``: the tags of its verdict (failure, skipped...)."""
    root = ET.parse(path).getroot()
    return {
        c.get("classname") or "": [e.tag for e in c]
        for c in root.iter("testcase")
        if c.get("name") == name
    }


def test_preflight_ends_each_blocked_host_by_its_own_value(tmp_path: Path) -> None:
    """sagefleet_preflight_fail_on_blocked true for the fleet (sage01, healthy, is the
    first host), false for sage02: sage02 ended ok in PLAY RECAP, but the report, run for
    sage01, said failed."""
    specs = generate_specs(
        3,
        profiles=("healthy-onprem", "dotnet-472", "dotnet-472"),
        first_address=next_first_address(),
        port=0,
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet,
            tmp_path / "inventory" / "hosts.yml",
            {"sagefleet_preflight_fail_on_blocked": True},
            host_vars={"sage02": {"sagefleet_preflight_fail_on_blocked": False}},
        )
        process = run_preflight(inventory, tmp_path / "out")
    assert process.returncode == 2, process.stdout[-3000:]
    failed = dict(re.findall(r"^(sage0\d)\s+:.*failed=(\d+)", process.stdout, re.M))
    assert failed == {"sage01": "0", "sage02": "0", "sage03": "1"}, process.stdout[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {h["host"]: (h["status"], h["recap"]) for h in report["hosts"]} == {
        "sage01": ("ready", "ok"),
        "sage02": ("blocked", "ok"),
        "sage03": ("blocked", "failed"),
    }
    assert report["fail_on_blocked"] == ["sage03"]
    # preflight's JUnit file gives each host's diagnosis (docs/operations.md, "Reports"):
    # a blocked host is a failure of its status case whatever the run does with it.
    statuses = cases_named(tmp_path / "out" / "report.junit.xml", "status")
    assert statuses == {"sage01": ["system-out"], "sage02": ["failure"], "sage03": ["failure"]}


def test_preflight_reports_a_value_set_in_the_play_as_play_recap_ends_the_host(
    tmp_path: Path,
) -> None:
    """A play that imports the role with sagefleet_preflight_fail_on_blocked: true in its
    vars (the inventory sets none): the checks task, which sees play variables, fails the
    blocked host; the report, reading the inventory's value (false by default), said ok.
    It now says what the checks task did."""
    specs = generate_specs(
        2, profiles=("healthy-onprem", "dotnet-472"), first_address=next_first_address(), port=0
    )
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: sage_servers\n"
        "  gather_facts: false\n"
        "  vars:\n"
        "    sagefleet_preflight_fail_on_blocked: true\n"
        "  tasks:\n"
        "    - ansible.builtin.import_role:\n"
        "        name: sagefleet_preflight\n"
        "        rolespec_validate: false\n"
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml", {})
        process = run_preflight(inventory, tmp_path / "out", playbook=str(playbook))
    assert process.returncode == 2, process.stdout[-3000:]
    failed = dict(re.findall(r"^(sage0\d)\s+:.*failed=(\d+)", process.stdout, re.M))
    assert failed == {"sage01": "0", "sage02": "1"}, process.stdout[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {h["host"]: h["recap"] for h in report["hosts"]} == {"sage01": "ok", "sage02": "failed"}
    assert report["fail_on_blocked"] is True


def test_deploy_ends_each_blocked_host_by_its_own_value(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """sagefleet_deploy_fail_on_blocked false for net472a only (the play's first host):
    the report, run for it, let net472b pass too, and so did PLAY RECAP and the exit code,
    although net472b's own value is true (the default)."""
    fleet = make_fleet(
        profiles=["dotnet-472", "healthy-onprem", "dotnet-472"],
        names=["net472a", "ok", "net472b"],
    )
    process, report = deploy(
        fleet,
        tmp_path,
        package,
        host_vars={"net472a": {"sagefleet_deploy_fail_on_blocked": False}},
    )
    assert process.returncode == 2, process.stdout[-3000:]
    assert outcomes(process) == {"net472a": "blocked", "ok": "installed", "net472b": "blocked"}
    counts = {host: c["failed"] for host, c in recap(process).items()}
    assert counts == {"net472a": 0, "ok": 0, "net472b": 1}, process.stdout[-3000:]
    assert {h["host"]: h["recap"] for h in report["hosts"]} == {
        "net472a": "ok",
        "ok": "ok",
        "net472b": "failed",
    }
    assert report["fail_on_blocked"] == ["net472b"]
    folder = report_folder(process)
    assert folder is not None
    verdicts = cases_named(folder / "report.junit.xml", "outcome")
    assert verdicts == {"net472a": ["skipped"], "ok": ["system-out"], "net472b": ["failure"]}
    said = (
        "Blocked hosts fail this run (PLAY RECAP: failed) except net472a "
        "(sagefleet_deploy_fail_on_blocked: false): the agent was not deployed on them."
    )
    assert said in " ".join(process.stdout.split())
