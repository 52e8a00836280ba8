"""settings.yml's fleet report: each host's outcome in its own word, in every format.

playbooks/settings.yml through ansible-playbook against a small simulated fleet, over
WinRM: report.json (schema-checked), JUnit and the console table say, for every host,
what the run did (written, unchanged, failed, unreachable, planned in check mode) and
which entities it wrote, and the run exits with Ansible's codes (2 failed, 4 unreachable).
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sagefleet.report import load_schema
from sagefleet.sim.fleet import Fleet
from tests.support.deploy import outcomes, recap, report_folder
from tests.support.deployed import make_deployed
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT, FleetFactory
from tests.support.scenarios import write_inventory

CANARY = "Sql-Canary-Passw0rd!"
FOLDER = "C:\\Program Files\\Spendesk\\Sage Agent"
PATH = FOLDER + "\\settings.json"
SERVICE = "SpendeskSageAgent"


class Fleetwide:
    """A simulated fleet, its inventory (template layout), and settings.yml runs."""

    def __init__(self, fleet: Fleet, tmp: Path, *, folders: tuple[str, ...]) -> None:
        self.fleet = fleet
        self.tmp = tmp
        self.inventory = write_inventory(fleet, tmp / "inventory" / "hosts.yml", source="template")
        for name in folders:  # the agent folder, as the installer leaves it
            fleet.host(name).fs.mkdir(FOLDER)

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(ANSIBLE_PLAYBOOK, "-i", str(self.inventory), "playbooks/settings.yml"),
                *("-e", f"sagefleet_report_dir={self.tmp / 'reports'}"),
                *extra,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
        )

    def variables(self, host: str) -> dict[str, Any]:
        data = yaml.safe_load(self.inventory.read_text())
        return {**data["all"]["vars"], **data["all"]["children"]["sage_servers"]["hosts"][host]}

    def entity(self, host: str, **changes: Any) -> None:
        """Change the host's first entity in the inventory."""
        data = yaml.safe_load(self.inventory.read_text())
        hosts = data["all"]["children"]["sage_servers"]["hosts"]
        hosts[host]["sagefleet_entities"][0].update(changes)
        self.inventory.write_text(yaml.safe_dump(data, sort_keys=False))

    def entities(self, host: str) -> list[str]:
        return [e["name"] for e in self.variables(host)["sagefleet_entities"]]

    @property
    def job(self) -> Path:
        """Where every run's report folder goes: reports/<inventory name>/settings/."""
        return self.tmp / "reports" / "inventory" / "settings"


def report_of(process: subprocess.CompletedProcess[str]) -> tuple[Path, dict[str, Any]]:
    """The run's report folder and its report.json, checked against the schema."""
    folder = report_folder(process)
    assert folder is not None, process.stdout[-3000:] + process.stderr[-2000:]
    document = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, load_schema())
    return folder, document


def hosts_of(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["host"]: h for h in document["hosts"]}


def junit_outcomes(folder: Path) -> dict[str, tuple[str, str]]:
    """Host → (how its ``outcome`` test case ends: failure, error, skipped or passed, and
    the text it carries)."""
    root = ET.parse(folder / "report.junit.xml").getroot()
    found = {}
    for case in root.iter("testcase"):
        if case.get("name") != "outcome":
            continue
        ending = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        if ending is None:
            out = case.find("system-out")
            found[str(case.get("classname"))] = ("passed", "" if out is None else out.text or "")
        else:
            found[str(case.get("classname"))] = (ending.tag, ending.get("message") or "")
    return found


def every_report_file(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()))


@pytest.fixture
def three(make_fleet: FleetFactory, tmp_path: Path) -> Fleetwide:
    """written gets its first settings.json, same already has it, broken has no agent
    folder (the write fails there, naming it)."""
    fleet = make_fleet(profiles=["healthy-onprem"] * 3, names=["written", "same", "broken"])
    fleetwide = Fleetwide(fleet, tmp_path, folders=("written", "same"))
    fleetwide.entity("written", sql_password=CANARY)
    return fleetwide


def test_each_host_is_reported_written_unchanged_or_failed_and_the_run_exits_2(
    three: Fleetwide,
) -> None:
    first = three.run("--limit", "same")
    assert first.returncode == 0, first.stdout[-3000:]
    process = three.run()
    assert process.returncode == 2, process.stdout[-3000:]
    # PLAY RECAP names the host that failed, and only it.
    counts = recap(process)
    assert {h: (c["failed"], c["unreachable"]) for h, c in counts.items()} == {
        "written": (0, 0),
        "same": (0, 0),
        "broken": (1, 0),
    }
    # The console table, each host in its own word.
    assert outcomes(process) == {
        "written": "settings-updated",
        "same": "unchanged",
        "broken": "failed",
    }
    folder, document = report_of(process)
    hosts = hosts_of(document)
    assert document["title"] == "sagefleet settings"
    assert document["host_status_counts"] == {"failed": 1, "settings-updated": 1, "unchanged": 1}
    assert {h: (v["status"], v["recap"]) for h, v in hosts.items()} == {
        "written": ("settings-updated", "ok"),
        "same": ("unchanged", "ok"),
        "broken": ("failed", "failed"),
    }
    written = hosts["written"]["outcome"]
    assert written["entities"] == three.entities("written") != []
    assert written["plan"].startswith(f"{PATH} was created")
    assert "; entities: " + ", ".join(three.entities("written")) + ";" in written["plan"]
    # What the restart that follows a change said: no agent here to restart.
    assert written["plan"].endswith(
        "; the agent is not installed: it reads these settings when it is"
    )
    assert hosts["same"]["outcome"]["plan"].startswith(f"{PATH} already up to date")
    assert hosts["same"]["outcome"]["entities"] == three.entities("same")
    broken = hosts["broken"]["outcome"]
    assert broken["reason"].startswith(f"broken: the folder '{FOLDER}' of '{PATH}' does not exist")
    assert broken["entities"] == []
    # JUnit: the failed host is a failure naming why; the others pass, saying what was done.
    junit = junit_outcomes(folder)
    assert junit["broken"][0] == "failure" and "does not exist" in junit["broken"][1]
    assert junit["written"][0] == junit["same"][0] == "passed"
    # This run's folder under reports/<inventory>/settings/, and latest points at it.
    assert folder.parent == three.job
    assert (three.job / "latest").resolve() == folder.resolve()
    assert len([p for p in three.job.iterdir() if p.name != "latest"]) == 2  # one per run
    assert CANARY not in every_report_file(folder)
    assert CANARY not in process.stdout + process.stderr
    # One heading each, though ansible-core starts the meta task that runs the restart
    # (flush_handlers) once per host: twice here, for written and same.
    for heading in (
        "TASK [sagefleet_settings : Restart the agents whose settings changed]",
        "RUNNING HANDLER [sagefleet_settings : Restart the agent so it reads its settings]",
    ):
        assert process.stdout.count(heading) == 1, process.stdout[-3000:]


def test_a_restart_that_fails_after_the_write_fails_the_host_in_the_report(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    """The write succeeded, the agent did not start again: settings.json is not in
    effect, so the host failed, and the report says why (the plan says what was written)."""
    fleet = make_fleet(profiles=["healthy-onprem"] * 2, names=["stuck", "fine"])
    fleetwide = Fleetwide(fleet, tmp_path, folders=("fine",))
    host = fleet.host("stuck")
    make_deployed(host, "stuck", fleetwide.variables("stuck"))
    host.start_service(SERVICE)
    service = host.service(SERVICE)
    assert service is not None
    service.start_failure = "The service did not respond to the start or control request."
    fleetwide.entity("stuck", analytic_plan=2)
    process = fleetwide.run()
    assert process.returncode == 2, process.stdout[-3000:]
    assert recap(process)["stuck"]["failed"] == 1 and recap(process)["fine"]["failed"] == 0
    assert outcomes(process) == {"stuck": "failed", "fine": "settings-updated"}
    folder, document = report_of(process)
    stuck = hosts_of(document)["stuck"]["outcome"]
    assert stuck["reason"].startswith("the agent does not run after the settings change")
    assert stuck["reason"].endswith("settings.json is not in effect")
    assert stuck["plan"].startswith(f"{PATH} was updated")
    junit = junit_outcomes(folder)
    assert junit["stuck"][0] == "failure" and "not in effect" in junit["stuck"][1]


def test_a_restart_still_owed_is_reported_restarted(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    """The agent's stop failed after a write: failed. The next run finds the file up to
    date and restarts the agent all the same: restarted, not unchanged."""
    fleet = make_fleet(profiles=["healthy-onprem"], names=["owed"])
    fleetwide = Fleetwide(fleet, tmp_path, folders=())
    host = fleet.host("owed")
    make_deployed(host, "owed", fleetwide.variables("owed"))
    host.start_service(SERVICE)
    service = host.service(SERVICE)
    assert service is not None
    service.stop_failure = "The service cannot accept control messages at this time."
    fleetwide.entity("owed", analytic_plan=2)
    process = fleetwide.run()
    assert process.returncode == 2, process.stdout[-3000:]
    outcome = hosts_of(report_of(process)[1])["owed"]["outcome"]
    assert outcome["status"] == "failed"
    assert outcome["reason"].startswith("the agent was not restarted: ")
    service.stop_failure = None
    process = fleetwide.run()
    assert process.returncode == 0, process.stdout[-3000:]
    assert outcomes(process) == {"owed": "restarted"}
    outcome = hosts_of(report_of(process)[1])["owed"]["outcome"]
    assert outcome["plan"].startswith(f"{PATH} already up to date; the agent ({SERVICE}) started")
    assert "agent restarted (Running → Running): settings in effect" in outcome["plan"]


def test_check_mode_reports_what_would_be_written_and_writes_nothing(three: Fleetwide) -> None:
    process = three.run("--check")
    assert process.returncode == 2, process.stdout[-3000:]  # broken still fails
    folder, document = report_of(process)
    assert document["title"] == "sagefleet settings (check mode: nothing changed)"
    hosts = hosts_of(document)
    assert {h: v["status"] for h, v in hosts.items()} == {
        "written": "planned",
        "same": "planned",
        "broken": "failed",
    }
    plan = hosts["written"]["outcome"]["plan"]
    would = f"{PATH} would be created; entities: " + ", ".join(three.entities("written"))
    assert plan.startswith(would + ";")
    assert "would be created" in (folder / "report.txt").read_text(encoding="utf-8")
    assert three.fleet.host("written").fs.listdir(FOLDER) == []


def test_an_unreachable_host_is_reported_and_the_run_exits_4(three: Fleetwide) -> None:
    three.fleet.host_down("same")
    process = three.run("--limit", "written,same")
    assert process.returncode == 4, process.stdout[-3000:]
    assert recap(process)["same"]["unreachable"] == 1
    _, document = report_of(process)
    hosts = hosts_of(document)
    assert {h: v["status"] for h, v in hosts.items()} == {
        "written": "settings-updated",
        "same": "unreachable",
    }
    assert hosts["same"]["recap"] == "unreachable"


def test_a_run_that_reaches_no_host_still_reports_them_unreachable(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    """Once every host is unreachable Ansible runs nothing more: the play's first host
    stays for the report, and is ended unreachable after it."""
    fleet = make_fleet(profiles=["healthy-onprem"] * 2, names=["down1", "down2"])
    fleetwide = Fleetwide(fleet, tmp_path, folders=("down1", "down2"))
    fleet.host_down("down1")
    fleet.host_down("down2")
    process = fleetwide.run()
    assert process.returncode == 4, process.stdout[-3000:]
    counts = recap(process)
    assert counts["down1"]["unreachable"] == counts["down2"]["unreachable"] == 1
    _, document = report_of(process)
    assert {h: v["status"] for h, v in hosts_of(document).items()} == {
        "down1": "unreachable",
        "down2": "unreachable",
    }
    reason = hosts_of(document)["down1"]["outcome"]["reason"]
    assert reason and "unreachable" not in reason.split(":")[0]  # the cause, not the word


def test_skip_tags_report_writes_no_report_and_still_fails_the_host(three: Fleetwide) -> None:
    process = three.run("--skip-tags", "report")
    assert process.returncode == 2, process.stdout[-3000:]
    assert recap(process)["broken"]["failed"] == 1
    assert report_folder(process) is None
    assert not three.job.exists()


def test_a_rollback_is_reported_as_the_file_restored(three: Fleetwide) -> None:
    limit = ("--limit", "written")
    assert three.run(*limit).returncode == 0
    three.entity("written", sql_password=CANARY + "-rotated")
    assert three.run(*limit).returncode == 0
    process = three.run(*limit, "-e", "sagefleet_settings_state=rollback")
    assert process.returncode == 0, process.stdout[-3000:]
    folder, document = report_of(process)
    outcome = hosts_of(document)["written"]["outcome"]
    assert outcome["status"] == "settings-updated"
    assert outcome["plan"].startswith(f"{PATH} was restored from settings.json.")
    assert outcome["entities"] == []  # a backup's content, not the inventory's entities
    assert CANARY not in every_report_file(folder)
