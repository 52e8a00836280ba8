"""Deploy end to end: ansible-playbook playbooks/deploy.yml against simulated fleets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sagefleet.package import build_test_package
from sagefleet.report import load_schema
from sagefleet.settings import build_host_settings
from sagefleet.sim import vendor_layout
from sagefleet.sim.fleet import Fleet
from tests.support.deploy import (
    ANSIBLE_PLAYBOOK,
    CANARY,
    INSTALL_DIR,
    SERVICE,
    agent,
    deploy,
    outcomes,
    recap,
    recap_changed,
    report_folder,
    snapshot,
)
from tests.support.fleets import ROOT, FleetFactory
from tests.support.scenarios import entities_for


def test_fresh_install_then_idempotent_rerun(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(
        profiles=["healthy-onprem", "healthy-spc", "two-entities"],
        names=["onprem", "spc", "multi"],
    )
    first, report = deploy(fleet, tmp_path, package)
    assert first.returncode == 0, first.stdout[-5000:]
    assert outcomes(first) == {"onprem": "installed", "spc": "installed", "multi": "installed"}
    for name, profile in (
        ("onprem", "healthy-onprem"),
        ("spc", "healthy-spc"),
        ("multi", "two-entities"),
    ):
        assert agent(fleet, name) == ("Running", "3.2.0")
        host = fleet.host(name)
        variables = {"sagefleet_entities": entities_for(profile)}
        expected = build_host_settings(name, variables).text
        assert host.fs.read(INSTALL_DIR + "\\settings.json").decode() == expected
        assert json.loads(expected)["Connections"]  # the vendor's files, merged
        staged = [e for k, e in host.fs.entries.items() if "staging" in k and not e.is_dir]
        assert all(CANARY.encode() not in (e.data or b"") for e in staged)
    assert CANARY not in first.stdout + first.stderr
    second, _ = deploy(fleet, tmp_path, package)
    assert second.returncode == 0, second.stdout[-3000:]
    assert set(outcomes(second).values()) == {"unchanged"}
    assert set(recap_changed(second).values()) == {0}


def test_upgrade_keeps_a_backup_and_reports_versions(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    before = agent(fleet, "old")
    process, _ = deploy(fleet, tmp_path, package)
    assert process.returncode == 0, process.stdout[-4000:]
    assert outcomes(process) == {"old": "upgraded"}
    assert agent(fleet, "old") == ("Running", "3.2.0")
    assert re.search(rf"old\s+upgraded\s+{re.escape(before[1] or '')}\s+3\.2\.0", process.stdout)
    backups = [k for k in fleet.host("old").fs.entries if "\\backup\\" in k]
    assert backups


def vendor_file_on(fleet: Fleet, name: str, profile: str, *extra_connections: str) -> bytes:
    """Put the vendor's settings.json (the profile's connections, and others) in the agent
    folder, as the vendor's installer left it."""
    entities = entities_for(profile)
    entities += [{**entities[0], "company_code": code} for code in extra_connections]
    data = vendor_layout.dumps(vendor_layout.document(entities))
    fleet.host(name).fs.write(INSTALL_DIR + "\\settings.json", data)
    return data


def test_an_upgrade_never_puts_rendered_settings_over_the_vendors_file(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    vendor_file_on(fleet, "old", "agent-old")
    before = snapshot(fleet, "old")
    process, _ = deploy(fleet, tmp_path, package, source="template")
    assert process.returncode != 0
    assert outcomes(process) == {"old": "failed"}
    assert f"refusing to overwrite {INSTALL_DIR}\\settings.json" in process.stdout
    assert snapshot(fleet, "old") == before


def test_an_upgrade_never_drops_a_connection_unless_told(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    vendor_file_on(fleet, "old", "agent-old", "OLDCO")
    before = snapshot(fleet, "old")
    process, _ = deploy(fleet, tmp_path, package)
    assert outcomes(process) == {"old": "failed"}
    assert "Connections[CompanyName=OLDCO]" in process.stdout
    assert snapshot(fleet, "old") == before
    allowed = {"sagefleet_settings_drop_connections": True}
    process, _ = deploy(fleet, tmp_path, package, inventory_vars=allowed)
    assert outcomes(process) == {"old": "upgraded"}, process.stdout[-3000:]
    written = json.loads(fleet.host("old").fs.read(INSTALL_DIR + "\\settings.json"))
    assert [c["CompanyName"] for c in written["Connections"]] == ["BIJOU"]


INSTALLER_ANSWERS = ("MaeFile", "SageUser")


def kept_members(document: Any) -> dict[str, Any]:
    """What the stand-in installer added to a settings.json: the wizard's answers."""
    answers = {
        f"{c['CompanyName']}.{m}": c[m]
        for c in document["Connections"]
        for m in INSTALLER_ANSWERS
        if m in c
    }
    if vendor_layout.SERVICE_ACCOUNT_MEMBER in document:
        answers["ServiceAccount"] = document[vendor_layout.SERVICE_ACCOUNT_MEMBER]
    return answers


def test_an_upgrade_keeps_what_the_installer_added_to_settings_json(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    host = fleet.host("old")
    installed = json.loads(host.fs.read(INSTALL_DIR + "\\settings.json"))
    answers = kept_members(installed)
    assert answers == {
        "BIJOU.MaeFile": "C:\\Sage\\Societes\\BIJOU.MAE",
        "BIJOU.SageUser": "<Administrateur>",
        "ServiceAccount": "CORP\\svc-spendesk",
    }
    process, _ = deploy(fleet, tmp_path, package, "--diff")
    assert outcomes(process) == {"old": "upgraded"}, process.stdout[-4000:]
    written = json.loads(host.fs.read(INSTALL_DIR + "\\settings.json"))
    assert kept_members(written) == answers
    # The vendor file wins for what it carries: the inventory's SQL login and password.
    assert written["Connections"][0]["SqlPassword"] == CANARY
    shown = " ".join(process.stdout.split())  # the output callback wraps long messages
    assert (
        "3 member(s) only the current file had, kept: Connections[CompanyName=BIJOU]"
        ".MaeFile, Connections[CompanyName=BIJOU].SageUser, ServiceAccount" in shown
    )
    assert '"SqlPassword": "******** (changed)"' in process.stdout
    assert CANARY not in process.stdout + process.stderr
    assert vendor_layout.SQL_PASSWORD not in process.stdout + process.stderr
    # settings.yml builds the same file through the same function: nothing to change.
    before = snapshot(fleet, "old")
    again = subprocess.run(
        [
            ANSIBLE_PLAYBOOK,
            "-i",
            str(tmp_path / "inventory" / "hosts.yml"),
            "playbooks/settings.yml",
            *("-e", f"sagefleet_settings_report_dir={tmp_path / 'settings-report'}"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert again.returncode == 0, again.stdout[-3000:]
    assert recap_changed(again) == {"old": 0}
    assert snapshot(fleet, "old") == before


def test_a_fresh_install_reads_the_settings_json_left_in_the_agent_folder(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["healthy-onprem"], names=["fresh"])
    host = fleet.host("fresh")
    host.fs.mkdir(INSTALL_DIR)
    entities = entities_for("healthy-onprem")
    leftover = vendor_layout.installed_document(
        entities + [{**entities[0], "company_code": "OLDCO", "mae_path": "C:\\Old.MAE"}],
        service_account="LocalSystem",
    )
    host.fs.write(INSTALL_DIR + "\\settings.json", vendor_layout.dumps(leftover))
    before = snapshot(fleet, "fresh")
    process, _ = deploy(fleet, tmp_path, package)
    assert outcomes(process) == {"fresh": "failed"}, process.stdout[-4000:]
    assert f"refusing to overwrite {INSTALL_DIR}\\settings.json" in process.stdout
    assert "Connections[CompanyName=OLDCO]" in process.stdout
    assert snapshot(fleet, "fresh") == before and host.service(SERVICE) is None
    leftover["Connections"] = leftover["Connections"][:1]
    host.fs.write(INSTALL_DIR + "\\settings.json", vendor_layout.dumps(leftover))
    process, _ = deploy(fleet, tmp_path, package)
    assert outcomes(process) == {"fresh": "installed"}, process.stdout[-4000:]
    written = json.loads(host.fs.read(INSTALL_DIR + "\\settings.json"))
    assert kept_members(written) == kept_members(leftover)
    assert "3 member(s) only the current file had, kept" in " ".join(process.stdout.split())


def test_the_hosts_settings_replace_the_packages_own_beside_the_installer(
    tmp_path: Path,
    make_fleet: FleetFactory,
) -> None:
    nested = build_test_package(
        tmp_path / "pkg" / "Setup.zip", agent_version="3.2.0", folder="Spendesk Setup"
    )
    fleet = make_fleet(profiles=["healthy-onprem"], names=["fresh"])
    process, _ = deploy(fleet, tmp_path, nested)
    assert outcomes(process) == {"fresh": "installed"}, process.stdout[-4000:]
    host = fleet.host("fresh")
    variables = {"sagefleet_entities": entities_for("healthy-onprem")}
    expected = build_host_settings("fresh", variables).text
    run = host.installer_runs[-1]
    assert run["installer"].endswith("\\Spendesk Setup\\Spendesk Sage Agent Setup v11.0.exe")
    assert run["settings"] == json.loads(expected)  # not the package's sample connection
    assert host.fs.read(INSTALL_DIR + "\\settings.json").decode() == expected


def test_check_mode_plans_and_touches_nothing(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["healthy-onprem", "agent-old"], names=["fresh", "old"])
    before = {n: snapshot(fleet, n) for n in ("fresh", "old")}
    process, report = deploy(fleet, tmp_path, package, "--check", "--diff")
    assert process.returncode == 0, process.stdout[-4000:]
    assert outcomes(process) == {"fresh": "planned", "old": "planned"}
    assert "install 3.2.0 (v11.0)" in process.stdout
    assert re.search(r"upgrade 2\.3\.0 → 3\.2\.0 \(v11\.0\)", process.stdout)
    # The table's versions are the plan's: from the version found to the target.
    assert re.search(r"^old\s+planned\s+2\.3\.0\s+3\.2\.0\s", process.stdout, re.M)
    assert re.search(r"^fresh\s+planned\s+-\s+3\.2\.0\s", process.stdout, re.M)
    entry = next(h for h in report["hosts"] if h["host"] == "old")
    assert (entry["outcome"]["previous_version"], entry["outcome"]["target_version"]) == (
        "2.3.0",
        "3.2.0",
    )
    assert {n: snapshot(fleet, n) for n in ("fresh", "old")} == before
    assert CANARY not in process.stdout


def test_installer_failure_rolls_back_to_the_running_previous_version(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    _, previous = agent(fleet, "old")
    fleet.host("old").installer_failure = 1603
    process, report = deploy(fleet, tmp_path, package)
    assert process.returncode == 2
    assert outcomes(process) == {"old": "rolled-back"}
    assert recap(process)["old"]["failed"] == 1
    assert agent(fleet, "old") == ("Running", previous)
    # The rollback's reason on the host's own line, not "changed: [old]".
    assert re.search(
        r"^rolled-back: \[old\] installer failed: installer exit code 1603 .*; previous "
        rf"version {re.escape(previous or '')} restored, running$",
        process.stdout,
        re.M,
    )
    assert "changed: [old]" not in process.stdout
    entry = next(h for h in report["hosts"] if h["host"] == "old")
    assert {f["check_id"]: f["status"] for f in entry["findings"]}["SF604"] == "pass"
    # Every format carries the outcome: status, versions, reason, duration.
    jsonschema.validate(report, load_schema())
    assert entry["status"] == "rolled-back"
    assert entry["outcome"]["status"] == "rolled-back"
    assert (entry["outcome"]["previous_version"], entry["outcome"]["target_version"]) == (
        previous,
        "3.2.0",
    )
    assert entry["outcome"]["version"] == previous
    assert "installer exit code 1603" in entry["outcome"]["reason"]
    assert entry["duration_s"] > 0
    folder = report_folder(process)
    assert folder is not None
    junit = ET.parse(folder / "report.junit.xml").getroot()
    case = next(c for c in junit.iter("testcase") if c.get("name") == "outcome")
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "rolled-back"
    assert "installer exit code 1603" in (failure.get("message") or "")
    html = (folder / "report.html").read_text()
    assert "rolled back" in html and "installer exit code 1603" in html
    text = (folder / "report.txt").read_text()
    row = rf"^old\s+rolled back\s+{re.escape(previous or '')}\s+3\.2\.0\s"
    assert re.search(row, text, re.M)


def test_service_that_will_not_start_rolls_back(tmp_path: Path, make_fleet: FleetFactory) -> None:
    broken = build_test_package(
        tmp_path / "broken.zip", agent_version="3.2.0", fail_service_start=True
    )
    fleet = make_fleet(profiles=["agent-old", "healthy-onprem"], names=["old", "fresh"])
    _, previous = agent(fleet, "old")
    process, _ = deploy(
        fleet,
        tmp_path,
        broken,
        "-e",
        '{"sagefleet_deploy_waves": ["100%"]}',
        "-e",
        "sagefleet_deploy_max_fail_percentage=100",
    )
    assert process.returncode == 2
    assert outcomes(process) == {"old": "rolled-back", "fresh": "failed"}
    assert {h: r["failed"] for h, r in recap(process).items()} == {"old": 1, "fresh": 1}
    assert agent(fleet, "old") == ("Running", previous)


def test_failed_canary_stops_the_rollout(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(
        profiles=["agent-old", "healthy-onprem", "healthy-onprem", "healthy-onprem"],
        names=["a-canary", "b", "c", "d"],
    )
    fleet.host("a-canary").installer_failure = 1
    process, _ = deploy(fleet, tmp_path, package)
    assert process.returncode != 0
    found = outcomes(process)
    assert found["a-canary"] == "rolled-back"
    assert {found[n] for n in ("b", "c", "d")} == {"not-run"}
    # Each host left behind fails in PLAY RECAP (AWX shows the recap).
    assert process.returncode == 2
    assert {h: r["failed"] for h, r in recap(process).items()} == dict.fromkeys("bcd", 1) | {
        "a-canary": 1
    }
    assert "not-run: [b] not deployed: the rollout stopped before this host's wave" in (
        process.stdout
    )
    assert all(agent(fleet, n) == (None, None) for n in ("b", "c", "d"))


@pytest.mark.parametrize(
    "name", ["sagefleet_deploy_max_fail_percentage", "sagefleet_agent_max_fail_percentage"]
)
def test_the_share_of_failures_that_stops_the_rollout_has_one_name(
    tmp_path: Path, package: Path, make_fleet: FleetFactory, name: str
) -> None:
    """A failed canary is 100 % of its wave: with the share at 100 the rollout goes on. The
    share has one name, from the inventory to the wave gate; its retired name (the role's
    own, once) is still read, with a deprecation warning naming the new one."""
    fleet = make_fleet(profiles=["agent-old", "healthy-onprem"], names=["a-canary", "b"])
    fleet.host("a-canary").installer_failure = 1
    process, _ = deploy(fleet, tmp_path, package, inventory_vars={name: 100})
    assert outcomes(process) == {"a-canary": "rolled-back", "b": "installed"}, (
        process.stdout[-3000:]
    )
    retired = "sagefleet_agent_max_fail_percentage is deprecated"
    assert (retired in process.stdout + process.stderr) == name.startswith("sagefleet_agent_")


def test_unreachable_host_does_not_stop_the_others_and_next_run_converges(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["healthy-onprem"] * 3, names=["a", "b", "c"])
    fleet.host_down("b")
    first, _ = deploy(fleet, tmp_path, package)
    assert outcomes(first) == {"a": "installed", "b": "unreachable", "c": "installed"}
    # Ansible's own code for an unreachable host, and the recap names it.
    assert first.returncode == 4
    counts = recap(first)
    assert counts["b"]["unreachable"] == 1
    assert counts["a"]["unreachable"] == counts["c"]["unreachable"] == 0
    assert counts["a"]["failed"] == counts["c"]["failed"] == 0
    assert "localhost" not in counts
    fleet.host_up("b")
    second, _ = deploy(fleet, tmp_path, package)
    assert second.returncode == 0, second.stdout[-3000:]
    assert outcomes(second) == {"a": "unchanged", "b": "installed", "c": "unchanged"}


def junit_outcome(process: subprocess.CompletedProcess[str], host: str) -> ET.Element:
    """The ``outcome`` test case of ``host`` in the JUnit file this run wrote."""
    folder = report_folder(process)
    assert folder is not None, process.stdout[-3000:]
    root = ET.parse(folder / "report.junit.xml").getroot()
    (case,) = [
        c for c in root.iter("testcase") if (c.get("classname"), c.get("name")) == (host, "outcome")
    ]
    return case


def test_blocked_host_is_never_deployed_and_fails_the_run_in_every_report(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["dotnet-472", "healthy-onprem"], names=["net472", "ok"])
    # The server went without the agent: the run fails, and PLAY RECAP names the blocked
    # host (not the one deployed).
    process, report = deploy(fleet, tmp_path, package)
    assert process.returncode == 2, process.stdout[-3000:]
    assert outcomes(process) == {"net472": "blocked", "ok": "installed"}
    counts = recap(process)
    assert (counts["net472"]["failed"], counts["ok"]["failed"]) == (1, 0)
    # The reason names the checks preflight's report lists as failed for the host.
    assert re.search(r"^blocked: \[net472\] preflight: SF101 failed$", process.stdout, re.M)
    assert agent(fleet, "net472") == (None, None)
    assert fleet.host("net472").installer_runs == []
    # The JUnit file fails the blocked host too (it said <skipped>: a green CI dashboard
    # for a failed run); the JSON report says how the run ended it.
    failure = junit_outcome(process, "net472").find("failure")
    assert failure is not None and failure.get("type") == "blocked"
    assert failure.get("message") == "blocked: preflight: SF101 failed"
    assert {h["host"]: h["recap"] for h in report["hosts"]} == {"net472": "failed", "ok": "ok"}
    assert "Blocked hosts fail this run (PLAY RECAP: failed)" in process.stdout
    # sagefleet_deploy_fail_on_blocked false: reported, and the run passes.
    allowed, report = deploy(
        fleet, tmp_path, package, "-e", "sagefleet_deploy_fail_on_blocked=false"
    )
    assert allowed.returncode == 0, allowed.stdout[-3000:]
    assert outcomes(allowed) == {"net472": "blocked", "ok": "unchanged"}
    counts = recap(allowed)
    assert (counts["net472"]["failed"], counts["ok"]["failed"]) == (0, 0)
    assert re.search(r"^blocked: \[net472\] preflight: SF101 failed$", allowed.stdout, re.M)
    case = junit_outcome(allowed, "net472")
    assert case.find("failure") is None and case.find("skipped") is not None
    assert report["fail_on_blocked"] is False and report["hosts"][0]["recap"] == "ok"
    assert "Blocked hosts do not fail this run" in allowed.stdout


def test_progress_never_counts_a_skipped_task_as_done(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """One wave of two hosts, one blocked: the rollout goes on, so its end is skipped; the
    progress said "End the rollout, no new wave starts: 1/2 hosts done"."""
    fleet = make_fleet(profiles=["dotnet-472", "healthy-onprem"], names=["net472", "ok"])
    process, _ = deploy(
        fleet,
        tmp_path,
        package,
        "-e",
        '{"sagefleet_deploy_waves": [2]}',
        "-e",
        "sagefleet_deploy_fail_on_blocked=false",
    )
    assert process.returncode == 0, process.stdout[-3000:]
    assert "skipping: [net472]" in process.stdout  # the tasks ran for no host
    lines = [line for line in process.stdout.splitlines() if line.startswith("[sagefleet] ")]
    assert not [line for line in lines if "End the rollout" in line or "Verify the wave" in line]
    assert [line for line in lines if ": 2/2 hosts done, 0 failed" in line and "Install" in line]


def test_bad_package_stops_before_any_host_is_touched(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["healthy-onprem"], names=["a"])
    bad = tmp_path / "Setup.zip"
    bad.write_bytes(b"not a zip")
    process, _ = deploy(fleet, tmp_path, bad)
    assert process.returncode != 0
    assert "package refused, no host was contacted" in process.stdout
    assert fleet.host("a").journal == []
    # No report: the run says so, and shows no other run's report as its own.
    assert report_folder(process) is None
    assert "[sagefleet] this run wrote no report" in process.stdout


def test_testinfra_wave_gate_passes_then_stops_a_rollout_it_fails(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["healthy-onprem"] * 3, names=["a", "b", "c"])
    waves = [
        "-e",
        '{"sagefleet_deploy_waves": [1, 1, 1]}',
        "-e",
        "sagefleet_agent_verify_waves=true",
    ]
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_version.py").write_text(
        "import pytest\n\n\n"
        "@pytest.mark.sagefleet_check('SF590', 'Agent is the expected build')\n"
        "def test_agent_is_the_expected_build(windows, expected):\n"
        "    service = windows.service(expected.service_name)\n"
        "    assert service.version == '9.9.9', f'{windows.name}: {service.version}'\n"
    )
    failing, _ = deploy(
        fleet, tmp_path, package, *waves, "-e", f"sagefleet_agent_verify_suites={suites}"
    )
    assert failing.returncode != 0
    found = outcomes(failing)
    assert found["a"] == "verify-failed" and found["b"] == "not-run"
    assert agent(fleet, "b") == (None, None)
    passing, _ = deploy(fleet, tmp_path, package, *waves)
    assert passing.returncode == 0, passing.stdout[-3000:]
    assert outcomes(passing) == {"a": "unchanged", "b": "installed", "c": "installed"}


def test_wave_verification_expects_the_version_the_deploy_targeted(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """No sagefleet_agent_target_version in the inventory: the deploy targets the package's
    version, and the wave's suites (which read the inventory) are handed that version,
    so SF505 checks it instead of failing every wave for a variable not set."""
    fleet = make_fleet(profiles=["healthy-onprem"] * 2, names=["a", "b"])
    process, _ = deploy(
        fleet, tmp_path, package,
        "-e", '{"sagefleet_deploy_waves": [1, 1]}', "-e", "sagefleet_agent_verify_waves=true",
        inventory_vars={"sagefleet_agent_target_version": None},
    )
    assert process.returncode == 0, process.stdout[-3000:]
    assert outcomes(process) == {"a": "installed", "b": "installed"}
    folder = report_folder(process)
    assert folder is not None
    for host in ("a", "b"):
        report = json.loads((folder / f"verify-{host}" / "report.json").read_text())
        (entry,) = report["hosts"]
        sf505 = [f for f in entry["findings"] if f["check_id"] == "SF505"]
        assert [(f["status"], entry["host"]) for f in sf505] == [("pass", host)]


def test_a_report_folder_named_twice_holds_only_the_last_runs_verification(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """sagefleet_deploy_report_dir used by two runs: the second kept the first's
    verify-a folder beside its own, and host a, not in it, looked verified. What sagefleet
    wrote there goes; the operator's own file stays."""
    fleet = make_fleet(profiles=["healthy-onprem"] * 2, names=["a", "b"])
    out = tmp_path / "out"
    given = ["-e", f"sagefleet_deploy_report_dir={out}", "-e", "sagefleet_agent_verify_waves=true"]
    first, _ = deploy(fleet, tmp_path, package, *given, "-e", '{"sagefleet_deploy_waves": [1, 1]}')
    assert first.returncode == 0, first.stdout[-3000:]
    assert {p.name for p in out.iterdir()} >= {"verify-a", "verify-b", "report.json"}
    (out / "notes.txt").write_text("the operator's own")
    second, report = deploy(fleet, tmp_path, package, *given, "--limit", "b")
    assert second.returncode == 0, second.stdout[-3000:]
    assert [h["host"] for h in report["hosts"]] == ["b"]
    assert sorted(p.name for p in out.iterdir()) == [
        "notes.txt",
        "report.html",
        "report.json",
        "report.junit.xml",
        "report.txt",
        "verify-b",
    ]
    assert (out / "notes.txt").read_text() == "the operator's own"


def test_a_large_package_travels_over_several_ansible_connections(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    """deploy.yml pushes a package of 24 MiB or more in three pieces of at least 8 MiB,
    each on a connection of its own (copies of the task's winrm connection), then
    installs from the assembled file."""
    big = build_test_package(
        tmp_path / "Setup.zip",
        agent_version="3.2.0",
        installer_bytes=64 * 1024,
        payload_bytes=24 * 1024 * 1024,
    )
    fleet = make_fleet(profiles=["healthy-onprem"], names=["onprem"])
    process, _ = deploy(
        fleet, tmp_path, big, inventory_vars={"sagefleet_agent_transfer_streams": 3}
    )
    assert process.returncode == 0, process.stdout[-5000:]
    assert outcomes(process) == {"onprem": "installed"}
    assert agent(fleet, "onprem") == ("Running", "3.2.0")
    journal = fleet.host("onprem").journal
    pushes = [e["params"] for e in journal if e.get("name") == "stage_push"]
    assert sum(1 for p in pushes if p.get("piece")) == 3  # the .part's range and two more
    assert len(pushes[-1]["segments"]) == 2
    # Each byte once; over one connection the .part's range would travel with the
    # assembling command instead of as a piece of its own.
    sent = [e["stdin_bytes"] for e in journal if e.get("name") == "stage_push"]
    assert sent[-1] == 0 and sum(sent) == big.stat().st_size
    staged = fleet.host("onprem").fs.read(r"C:\ProgramData\sagefleet\staging\3.2.0\Setup.zip")
    assert staged == big.read_bytes()


def test_a_push_in_pieces_cut_halfway_is_resumed_by_the_deploy(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    """A connection dropped in the middle of a push over three connections: the stage
    step retries on its own, sends only what did not arrive, and the install goes on."""
    big = build_test_package(
        tmp_path / "Setup.zip",
        agent_version="3.2.0",
        installer_bytes=64 * 1024,
        payload_bytes=24 * 1024 * 1024,
    )
    size = big.stat().st_size
    fleet = make_fleet(profiles=["healthy-onprem"], names=["onprem"])
    fleet.faults("onprem").set(drop_after_stdin_bytes=size // 2)
    process, _ = deploy(
        fleet, tmp_path, big, inventory_vars={"sagefleet_agent_transfer_streams": 3}
    )
    assert process.returncode == 0, process.stdout[-5000:]
    assert outcomes(process) == {"onprem": "installed"}
    assert fleet.faults("onprem").counters.dropped == 1
    journal = fleet.host("onprem").journal
    pushes = [e for e in journal if e.get("name") == "stage_push"]
    # Each byte arrived once, but for the Send that was cut.
    assert size <= sum(e["stdin_bytes"] for e in pushes) < size + 300_000
    assert any(e["params"]["offset"] > 0 for e in pushes)  # a file resumed
    staged = fleet.host("onprem").fs.read(r"C:\ProgramData\sagefleet\staging\3.2.0\Setup.zip")
    assert staged == big.read_bytes()


def test_a_limited_run_whose_host_failed_fails_and_names_the_host(
    tmp_path: Path,
    make_fleet: FleetFactory,
) -> None:
    """The canary of the operator guide (waves [1], --limit HOST) with an installer that
    fails: the run exits 2 and PLAY RECAP fails that host, not localhost (the report
    play runs on the Sage servers, which --limit keeps)."""
    failing = build_test_package(tmp_path / "failing.zip", agent_version="3.2.0", exit_code=1603)
    fleet = make_fleet(profiles=["agent-old", "healthy-onprem"], names=["canary", "other"])
    process, report = deploy(
        fleet, tmp_path, failing, "-e", '{"sagefleet_deploy_waves": [1]}', "--limit", "canary"
    )
    assert process.returncode == 2, process.stdout[-3000:]
    assert outcomes(process) == {"canary": "rolled-back"}
    assert recap(process) == {"canary": recap(process)["canary"] | {"failed": 1, "unreachable": 0}}
    assert "1 host, 1 failed, 0 unreachable" in process.stdout
    assert [h["host"] for h in report["hosts"]] == ["canary"]
    assert fleet.host("other").journal == []


def test_a_run_filtered_by_tags_still_fails_the_failed_host(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """The report and each host's outcome are tagged always: --tags waves (which leaves
    out the report play's own tags) still fails a rolled-back host; the validation
    alone (--tags validate) touches no host, writes no report and fails none."""
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    fleet.host("old").installer_failure = 1603
    process, report = deploy(fleet, tmp_path, package, "--tags", "waves")
    assert process.returncode == 2, process.stdout[-3000:]
    assert outcomes(process) == {"old": "rolled-back"}
    assert recap(process)["old"]["failed"] == 1
    assert report["hosts"][0]["status"] == "rolled-back"
    job = tmp_path / "reports" / "inventory" / "deploy"
    runs = sorted(job.iterdir())
    journal = len(fleet.host("old").journal)
    validated, _ = deploy(fleet, tmp_path, package, "--tags", "validate")
    assert validated.returncode == 0, validated.stdout[-3000:]
    assert report_folder(validated) is None and outcomes(validated) == {}
    assert sorted(job.iterdir()) == runs
    assert len(fleet.host("old").journal) == journal
    assert recap(validated)["old"]["failed"] == 0


def test_waves_ansible_would_misread_stop_the_run_before_any_host(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """-e sagefleet_deploy_waves=[1] gives deploy.yml's serial a string: Ansible stopped
    with "Unexpected Exception, this is probably a bug"; a wave of 0 deployed every host
    at once. The input check refuses both, naming host, field and value."""
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    for given, value in (("sagefleet_deploy_waves=[1]", "'[1]'"),
                         ('{"sagefleet_deploy_waves": [0]}', "0")):
        process, _ = deploy(fleet, tmp_path, package, "-e", given)
        assert process.returncode == 2, process.stdout[-3000:]
        said = " ".join(process.stdout.split())
        assert "host old, field sagefleet_deploy_waves: " in said and f"(value: {value})" in said
        assert "no host was contacted" in said and "probably a bug" not in process.stdout
        assert fleet.host("old").journal == []


@pytest.mark.parametrize("tags", [(), ("--tags", "validate")])
def test_a_report_folder_the_bastion_cannot_write_stops_the_run_before_any_host(
    tmp_path: Path, package: Path, make_fleet: FleetFactory, tags: tuple[str, ...]
) -> None:
    """A folder named explicitly is made only when the report is written: one the bastion
    could not write failed the report play, after every wave, with a bare errno."""
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    process, _ = deploy(
        fleet, tmp_path, package, "-e", f"sagefleet_deploy_report_dir={a_file / 'out'}", *tags
    )
    assert process.returncode == 2, process.stdout[-3000:]
    said = " ".join(process.stdout.split())
    assert (
        f"field sagefleet_deploy_report_dir: the bastion cannot write there ({a_file} is "
        "not a folder)" in said
    )
    assert fleet.host("old").journal == []


def test_reports_go_to_a_folder_per_run_with_a_latest_link(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """reports/<inventory>/deploy/<UTC time>/ per run, latest → the newest that wrote one;
    a run that writes none says so and leaves latest alone."""
    fleet = make_fleet(profiles=["healthy-onprem"], names=["a"])
    first, _ = deploy(fleet, tmp_path, package, "--check")
    second, _ = deploy(fleet, tmp_path, package)
    job = tmp_path / "reports" / "inventory" / "deploy"
    runs = sorted(p.name for p in job.iterdir() if p.name != "latest")
    assert len(runs) == 2 and all(re.fullmatch(r"\d{8}T\d{6}Z(-\d+)?", r) for r in runs)
    assert report_folder(first) != report_folder(second)
    assert os.readlink(job / "latest") == report_folder(second).name  # relative
    latest = json.loads((job / "latest" / "report.json").read_text())
    assert latest["title"] == "sagefleet deploy"  # not the check-mode run's
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    third, _ = deploy(fleet, tmp_path, bad)
    assert third.returncode != 0
    assert "[sagefleet] this run wrote no report" in third.stdout
    assert os.readlink(job / "latest") == report_folder(second).name
    assert sorted(p.name for p in job.iterdir() if p.name != "latest") == runs


def test_the_console_stays_readable_on_a_larger_fleet(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """No per-host loop lines, one line per unreachable host with its cause, no pause
    after the last wave, and unreachable and rolled-back hosts counted as they happen."""
    count = 16
    names = [f"h{i:02d}" for i in range(count)]
    fleet = make_fleet(profiles=["healthy-onprem"] * count, names=names)
    fleet.host_down("h05")
    fleet.faults("h09").set(auth_failures="always")
    process, _ = deploy(
        fleet,
        tmp_path,
        package,
        "-e",
        '{"sagefleet_deploy_waves": [1, 5, "100%"]}',
        "-e",
        "sagefleet_agent_pause_s=1",
    )
    out = process.stdout
    assert process.returncode == 4, out[-3000:]
    assert "(item=" not in out
    assert "HTTPSConnectionPool" not in out and "Max retries" not in out
    down = [line for line in out.splitlines() if "[h05]" in line]
    assert down == [
        line
        for line in down
        if re.fullmatch(
            r"unreachable: \[h05\] cannot connect "
            r"to 127\.[\d.]+:\d+: connection refused",
            line,
        )
    ]
    assert len(down) == 2  # the deploy task and the host's outcome, one line each
    # Two pauses between three waves, none after the last one.
    assert out.count("Pausing for 1 seconds") == 2
    counts = recap(process)
    assert {h for h, r in counts.items() if r["unreachable"]} == {"h05", "h09"}
    assert not any(r["failed"] for r in counts.values())
    assert re.search(
        r"batch 3\) \| sagefleet_agent : Install or upgrade the agent: "
        r"\d+/10 hosts done, 0 failed, 2 unreachable so far",
        out,
    )


def test_health_gate_stops_a_wave_whose_agent_runs_but_never_connects(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """The canary's new agent starts and runs, but its account has no proxy where only the
    proxy leads out: past the window the gate fails SF513, the upgrade is rolled back and
    no new wave starts, as after a failed start."""
    fleet = make_fleet(
        profiles=["agent-proxy-admin-only", "healthy-onprem"],
        names=["a-canary", "b"],
    )
    _, previous = agent(fleet, "a-canary")
    process, report = deploy(
        fleet, tmp_path, package, inventory_vars={"sagefleet_agent_connect_window_s": 3}
    )
    assert process.returncode != 0
    assert outcomes(process) == {"a-canary": "rolled-back", "b": "not-run"}
    assert agent(fleet, "a-canary") == ("Running", previous)
    assert agent(fleet, "b") == (None, None)
    entry = next(h for h in report["hosts"] if h["host"] == "a-canary")
    sf513 = next(f for f in entry["findings"] if f["check_id"] == "SF513")
    assert sf513["status"] == "fail"
    assert "no connection to " in sf513["message"] and "(window 3 s" in sf513["message"]
    assert "a proxy is set for" in sf513["message"]
    assert "netsh winhttp set proxy proxy.corp.local:8080" in sf513["remediation"]
    # The gate looked more than once: it waited for the window, it did not fail at once.
    looks = [e for e in fleet.host("a-canary").journal if e.get("name") == "agent_connections"]
    assert len(looks) >= 2


def test_health_gate_waits_for_an_agent_that_connects_after_a_few_seconds(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """An agent that takes 2 seconds to connect passes the gate: it is polled until then."""
    fleet = make_fleet(profiles=["healthy-onprem"], names=["slow"])
    host = fleet.host("slow")
    host.time_scale = 1.0  # simulated seconds are real ones on this host
    host.agent_behaviour.connect_after_s = 2.0
    process, report = deploy(fleet, tmp_path, package)
    assert process.returncode == 0, process.stdout[-5000:]
    assert outcomes(process) == {"slow": "installed"}
    entry = next(h for h in report["hosts"] if h["host"] == "slow")
    statuses = {f["check_id"]: f["status"] for f in entry["findings"]}
    assert statuses["SF513"] == "pass" and statuses["SF603"] == "pass"
    looks = [e for e in host.journal if e.get("name") == "agent_connections"]
    assert len(looks) >= 2  # not connected at the first look, connected later
