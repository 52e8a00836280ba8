"""settings.json end to end: playbooks/settings.yml through ansible-playbook, over WinRM.

The agent folder is created on the simulated host by each test (as the agent
installer would): the write never creates it, a missing folder is an error.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.agent import profile as agent_profile
from sagefleet.settings import build_host_settings
from sagefleet.sim.fleet import Fleet
from sagefleet.sim.host import USERS, Service, WindowsHost
from tests.support.deployed import make_deployed
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT, FleetFactory
from tests.support.scenarios import write_inventory
from tests.support.signals import (
    at_entries,
    first_receive_fails_in_the_agent_stop,
    guarded_write,
    started,
)

CANARY = "Sql-Canary-Passw0rd!"
FOLDER = "C:\\Program Files\\Spendesk\\Sage Agent"
PATH = FOLDER + "\\settings.json"
SERVICE_ACCOUNT = "CORP\\svc-spendesk"
# Who may read settings.json, by the names the (English) host gives the SIDs granted.
READERS = ["BUILTIN\\Administrators", SERVICE_ACCOUNT, "NT AUTHORITY\\SYSTEM"]


class Play:
    """One simulated host, its inventory, and ansible-playbook runs against it."""

    def __init__(self, fleet: Fleet, inventory: Path, mkdir: bool = True) -> None:
        self.fleet = fleet
        self.inventory = inventory
        self.host: WindowsHost = fleet.host("sage01")
        if mkdir:
            self.host.fs.mkdir(FOLDER)

    def entity(self, **changes: Any) -> None:
        """Change the host's (only) entity in the inventory."""
        data = yaml.safe_load(self.inventory.read_text())
        hosts = data["all"]["children"]["sage_servers"]["hosts"]
        hosts["sage01"]["sagefleet_entities"][0].update(changes)
        self.inventory.write_text(yaml.safe_dump(data, sort_keys=False))

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(ANSIBLE_PLAYBOOK, "-i", str(self.inventory), "playbooks/settings.yml"),
                # The fleet report of each run: beside the inventory, not in the project.
                *("-e", f"sagefleet_report_dir={self.inventory.parent.parent / 'reports'}"),
                *extra,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
        )

    def readers(self) -> list[str]:
        """Names of the accounts settings.json's DACL lets read it."""
        acl = self.host.fs.acl_of(PATH)
        return sorted(self.host.account_name(sid) for sid in acl.readers)

    def files(self) -> dict[str, tuple[bytes, Any, Any]]:
        """Every file of the agent folder: bytes, modified time and ACL."""
        fs = self.host.fs
        return {
            name: (fs.read(f"{FOLDER}\\{name}"), entry.modified, entry.acl)
            for name in fs.listdir(FOLDER)
            for entry in [fs.stat(f"{FOLDER}\\{name}")]
        }

    def backups(self) -> list[str]:
        return sorted((n for n in self.host.fs.listdir(FOLDER) if n.endswith(".bak")), reverse=True)


@pytest.fixture
def play(make_fleet: FleetFactory, tmp_path: Path) -> Play:
    """The write mechanics, on sagefleet's template layout (chosen explicitly)."""
    fleet = make_fleet(1)
    extra = {"sagefleet_agent_service_account": SERVICE_ACCOUNT}
    path = tmp_path / "inventory" / "hosts.yml"
    inventory = write_inventory(fleet, path, extra, source="template")
    return Play(fleet, inventory)


def recap(process: subprocess.CompletedProcess[str]) -> dict[str, int]:
    match = re.search(
        r"^sage01\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
        process.stdout,
        re.M,
    )
    assert match, process.stdout + process.stderr
    return dict(
        zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True)
    )


def ok(process: subprocess.CompletedProcess[str]) -> dict[str, int]:
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-2000:]
    return recap(process)


def revealed(text: str) -> str:
    """The text plus every base64 run in it decoded (UTF-8 and UTF-16), twice over.

    A secret in the snippet's parameters would show at -vvvvv only inside the
    base64 of the UTF-16 command line, and file content only as base64: both
    must count as leaks.
    """
    found = [text]
    for _ in range(2):
        decoded = []
        for blob in re.findall(r"[A-Za-z0-9+/]{16,}={0,2}", found[-1]):
            try:
                raw = base64.b64decode(blob + "=" * (-len(blob) % 4))
            except (binascii.Error, ValueError):
                continue
            decoded += [raw.decode("utf-8", "ignore"), raw.decode("utf-16-le", "ignore")]
        found.append("\n".join(decoded))
    return "\n".join(found)


def test_revealed_finds_a_secret_hidden_in_base64() -> None:
    hidden = base64.b64encode(f'{{"sql": "{CANARY}"}}'.encode("utf-16-le")).decode()
    assert CANARY in revealed(f"WINRM EXEC ['-EncodedCommand', '{hidden}']")
    assert CANARY in revealed(base64.b64encode(f"x {CANARY} y".encode()).decode())


def test_first_write_creates_the_file_readable_only_by_admins_system_and_the_agent(
    play: Play,
) -> None:
    assert ok(play.run())["changed"] == 1
    entry = play.host.fs.stat(PATH)
    assert entry.data is not None and b'"companyCode": "BIJOU"' in entry.data
    assert entry.acl is not None and entry.acl.protected
    assert play.host.account_name(entry.acl.owner) == "BUILTIN\\Administrators"
    assert play.readers() == READERS
    assert not play.host.fs.acl_of(PATH).allows(USERS)
    assert play.backups() == []


def test_second_run_changes_nothing_and_leaves_the_file_untouched(play: Play) -> None:
    ok(play.run())
    before = play.files()
    assert ok(play.run())["changed"] == 0
    assert play.files() == before  # same bytes, same modified time, no backup
    writes = [e for e in play.host.journal if e["kind"] == "settings_write"]
    assert len(writes) == 1


def test_changed_entity_is_written_with_one_backup_and_a_redacted_diff(play: Play) -> None:
    ok(play.run())
    first = play.host.fs.read(PATH)
    play.entity(sql_user="spendesk_rw", sql_password=CANARY + "-rotated")
    process = play.run("--diff")
    assert ok(process)["changed"] == 1
    assert '-        "user": "sagefleet_sql"' in process.stdout
    assert '+        "user": "spendesk_rw"' in process.stdout
    assert "******** (changed)" in process.stdout
    assert CANARY not in process.stdout + process.stderr
    (backup,) = play.backups()
    assert re.fullmatch(r"settings\.json\.\d{8}T\d{6}Z\.bak", backup)
    assert play.host.fs.read(f"{FOLDER}\\{backup}") == first
    assert b"spendesk_rw" in play.host.fs.read(PATH)


def test_check_mode_reports_the_change_and_touches_nothing(play: Play) -> None:
    process = play.run("--check", "--diff")
    assert ok(process)["changed"] == 1
    assert play.host.fs.listdir(FOLDER) == []
    ok(play.run())
    play.entity(analytic_plan=2)
    before = play.files()
    process = play.run("--check", "--diff")
    assert ok(process)["changed"] == 1
    assert '+      "analyticPlan": 2,' in process.stdout
    assert play.files() == before


def test_rollback_restores_the_previous_content_once(play: Play) -> None:
    ok(play.run())
    first = play.host.fs.read(PATH)
    play.entity(analytic_plan=2)
    ok(play.run())
    rollback = ("-e", "sagefleet_settings_state=rollback")
    process = play.run(*rollback, "--diff")
    assert ok(process)["changed"] == 1
    assert play.host.fs.read(PATH) == first
    assert '+      "analyticPlan": 1,' in process.stdout
    assert play.readers() == READERS
    assert ok(play.run(*rollback))["changed"] == 0


def test_only_the_configured_number_of_backups_is_kept(play: Play) -> None:
    contents = []
    for plan in (1, 2, 3, 4):
        play.entity(analytic_plan=plan)
        ok(play.run("-e", "sagefleet_settings_keep_backups=2"))
        contents.append(play.host.fs.read(PATH))
    backups = play.backups()
    assert len(backups) == 2
    assert [play.host.fs.read(f"{FOLDER}\\{b}") for b in backups] == [contents[2], contents[1]]


def test_disk_full_fails_naming_host_and_path_and_keeps_the_previous_file(play: Play) -> None:
    ok(play.run())
    before = play.files()
    play.host.fs.volume("C:").free_bytes = 0
    play.entity(analytic_plan=2)
    process = play.run()
    assert process.returncode != 0
    assert recap(process)["failed"] == 1
    assert f"sage01: settings not written to '{PATH}'" in process.stdout
    assert "not enough space on the disk" in process.stdout
    assert play.files() == before  # byte-identical, no temporary file left


def test_missing_agent_folder_fails_naming_host_and_path(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(1)
    inventory = write_inventory(fleet, tmp_path / "inv" / "hosts.yml", source="template")
    play = Play(fleet, inventory, mkdir=False)
    process = play.run()
    assert process.returncode != 0 and recap(process)["failed"] == 1
    assert f"sage01: the folder '{FOLDER}' of '{PATH}' does not exist" in process.stdout
    assert not play.host.fs.exists(FOLDER)


@pytest.mark.parametrize("verbosity", ["-vvvv", "-vvvvv"])
def test_the_secret_never_appears_even_at_the_highest_verbosity(play: Play, verbosity: str) -> None:
    outputs = [play.run(verbosity, "--diff")]
    play.entity(sql_password=CANARY + "-2", analytic_plan=2)
    outputs.append(play.run(verbosity, "--check", "--diff"))
    outputs.append(play.run(verbosity, "--diff"))
    outputs.append(play.run(verbosity, "--diff", "-e", "sagefleet_settings_state=rollback"))
    for process in outputs:
        assert recap(process)["changed"] == 1
        assert CANARY not in revealed(process.stdout + process.stderr)
    if verbosity == "-vvvvv":
        assert any("censored due to no log" in p.stdout for p in outputs)


SERVICE = "SpendeskSageAgent"


def deployed(play: Play) -> int:
    """The agent installed and running, as a deploy leaves it: its process id."""
    data = yaml.safe_load(play.inventory.read_text())
    hosts = data["all"]["children"]["sage_servers"]["hosts"]
    variables = {**data["all"]["vars"], **hosts["sage01"]}
    make_deployed(play.host, "sage01", variables)
    play.host.start_service(SERVICE)
    service = play.host.service(SERVICE)
    assert service is not None and service.state == "Running"
    return service.process_id


def restarts(play: Play) -> int:
    return sum(1 for e in play.host.journal if e.get("name") == "agent_restart")


def test_a_restart_killed_by_the_connections_signal_reads_the_agent_again_and_starts_it(
    play: Play,
) -> None:
    """The handler's restart is killed in its service stop (the SCM finishes the stop, the
    start never comes): the restart reads the service again, finds it stopped, starts it,
    and says so; the run ends well, the new settings in effect."""
    before = deployed(play)
    play.entity(analytic_plan=2)
    # Once settings.json is being written, the restart is slowed into its service stop and
    # its first Receive fails there.
    first_receive_fails_in_the_agent_stop(
        play.fleet,
        "sage01",
        slow_from=started("settings_write"),
        command="agent_restart",
        service=SERVICE,
    )
    process = play.run()
    assert play.fleet.faults("sage01").counters.faults == 1, process.stdout[-3000:]
    assert any(e["kind"] == "terminated" for e in play.host.journal), process.stdout[-3000:]
    assert process.returncode == 0, process.stdout[-3000:]
    assert "agent restarted (Running → Running) (restart stopped part way: " in process.stdout
    assert f"; {SERVICE} found Stopped, started again): settings in effect" in process.stdout
    service = play.host.service(SERVICE)
    assert service is not None and service.state == "Running" and service.process_id != before


@pytest.mark.parametrize("lost", [False, True], ids=["fault", "connection-lost"])
def test_a_write_whose_answer_is_lost_after_its_swap_is_read_again_and_the_agent_restarted(
    play: Play, lost: bool
) -> None:
    """The write swaps the file, then its first Receive (0.5 s late) fails: an HTTP 500,
    or its connection cut. Running it again would find the file changed since it was read
    and refuse; the run ends the command, reads the file again, finds the one it sent,
    reports it written (its one new backup named) and restarts the agent, as after any
    write; not a host ended unreachable or failed with the new file in place."""
    before = deployed(play)
    backups = play.backups()
    play.entity(analytic_plan=2)
    faults = play.fleet.faults("sage01")
    fail = {"drop_at": "Receive", "drop_times": 1} if lost else {"fault_at": "Receive"}

    def fired() -> int:
        return faults.counters.dropped if lost else faults.counters.faults

    at_entries(
        play.fleet,
        "sage01",
        (guarded_write, lambda: faults.set(latency=0.5, fault_times=1, **fail)),
        (lambda _entry: fired() > 0, lambda: faults.set(latency=0.0)),
    )
    process = play.run()
    assert fired() == 1, process.stdout[-3000:]
    assert not any(e["kind"] == "terminated" for e in play.host.journal), "killed before its end"
    assert ok(process)["changed"] == 2, process.stdout[-3000:]  # the write and the restart
    assert sum(1 for e in play.host.journal if guarded_write(e)) == 1  # never run again
    (new,) = set(play.backups()) - set(backups)
    assert f"{PATH} was updated, previous file kept as {new} (its answer lost: " in (
        process.stdout
    ), process.stdout[-3000:]
    assert "; the file read again is the one sent)" in process.stdout
    assert re.search(r"^sage01\s+settings updated\s", process.stdout, re.M), process.stdout[-3000:]
    assert b'"analyticPlan": 2' in play.host.fs.read(PATH)
    assert restarts(play) == 1
    service = play.host.service(SERVICE)
    assert service is not None and service.state == "Running" and service.process_id != before


def test_a_write_stopped_before_its_swap_is_read_again_and_written_once_more(
    play: Play,
) -> None:
    """Each file write takes a second (an antivirus scanning it): the write's first
    Receive fails while it fills its temporary file, and the Signal kills it before its
    swap. The run reads the file again, finds the one it read before, writes once more
    (removing the temporary copy the stopped write left: it holds the settings) and
    restarts the agent."""
    deployed(play)
    play.entity(analytic_plan=2)
    faults, host = play.fleet.faults("sage01"), play.host

    def slow_writes() -> None:
        host.fs.write_delay_s = 1.0
        faults.set(latency=0.3, fault_at="Receive", fault_times=1)

    def quick() -> None:
        host.fs.write_delay_s = 0.0
        faults.set(latency=0.0)

    at_entries(
        play.fleet,
        "sage01",
        (guarded_write, slow_writes),
        (lambda entry: entry["kind"] == "terminated", quick),
    )
    process = play.run()
    assert faults.counters.faults == 1, process.stdout[-3000:]
    assert any(e["kind"] == "terminated" for e in host.journal), "the write ran to its end"
    assert ok(process)["changed"] == 2, process.stdout[-3000:]
    assert sum(1 for e in host.journal if guarded_write(e)) == 2
    assert "removed 1 temporary file(s) a stopped write had left" in process.stdout
    assert b'"analyticPlan": 2' in host.fs.read(PATH)
    assert restarts(play) == 1


def test_a_fault_at_the_read_before_the_write_is_retried(play: Play) -> None:
    """settings.yml retries a transient WinRM failure (sagefleet_winrm_retries) as a
    deploy does: an HTTP 500 at the read of the current file runs that read again."""
    deployed(play)
    play.entity(analytic_plan=2)
    faults = play.fleet.faults("sage01")
    at_entries(
        play.fleet,
        "sage01",
        (
            lambda entry: entry.get("name") == "settings_write",
            lambda: faults.set(latency=0.3, fault_at="Receive", fault_times=1),
        ),
        (lambda _entry: faults.counters.faults > 0, lambda: faults.set(latency=0.0)),
    )
    process = play.run()
    assert faults.counters.faults == 1, process.stdout[-3000:]
    assert ok(process)["changed"] == 2, process.stdout[-3000:]
    assert b'"analyticPlan": 2' in play.host.fs.read(PATH)


def test_changed_settings_restart_the_agent_and_prove_it_runs(play: Play) -> None:
    """The agent reads settings.json when it starts: a change is in effect only once it
    restarted (the next deploy would otherwise find the file up to date and do nothing)."""
    before = deployed(play)
    play.entity(analytic_plan=2)
    process = play.run()
    assert ok(process)["changed"] == 2  # the write and the restart
    assert restarts(play) == 1
    service = play.host.service(SERVICE)
    assert service is not None and service.state == "Running"
    assert service.process_id != before  # a new process, started after the write
    assert "agent restarted (Running → Running): settings in effect" in process.stdout
    assert ok(play.run())["changed"] == 0  # nothing changed: no restart
    assert restarts(play) == 1
    process = play.run("--check")
    assert ok(process)["changed"] == 0 and restarts(play) == 1
    # A change in check mode: the write and the restart it would bring, as a real run
    # reports them (Ansible's convention); neither is done.
    play.entity(analytic_plan=3)
    process = play.run("--check")
    assert ok(process)["changed"] == 2 and restarts(play) == 1


def test_an_agent_that_does_not_run_after_the_settings_change_fails_the_host(
    play: Play,
) -> None:
    deployed(play)
    service = play.host.service(SERVICE)
    assert service is not None
    service.start_failure = "The service did not respond to the start or control request."
    play.entity(analytic_plan=2)
    process = play.run()
    assert process.returncode == 2
    assert recap(process)["failed"] == 1
    assert "the agent does not run after the settings change (Stopped)" in process.stdout
    assert "settings.json is not in effect" in process.stdout


def test_a_restart_that_failed_after_a_write_is_done_by_the_next_run(play: Play) -> None:
    """The write succeeded, the agent's stop failed: it still runs without the new
    settings. The next run finds the file up to date, and restarts the agent all the
    same, saying why; the run after that has nothing to do."""
    before = deployed(play)
    service = play.host.service(SERVICE)
    assert service is not None
    service.stop_failure = "The service cannot accept control messages at this time."
    play.entity(analytic_plan=2)
    process = play.run()
    assert process.returncode == 2 and recap(process)["failed"] == 1
    assert "the agent was not restarted: " in process.stdout
    assert "so settings.json is not in effect" in process.stdout
    assert service.process_id == before
    service.stop_failure = None
    process = play.run("--check")
    assert ok(process)["changed"] == 2 and service.process_id == before
    process = play.run()
    assert ok(process)["changed"] == 2  # the restart owed, and the handler doing it
    said = " ".join(process.stdout.split())  # the console wraps long messages
    assert "already up to date; the agent (SpendeskSageAgent) started at " in said
    assert "it runs without these settings; restarting it" in said
    assert "agent restarted (Running → Running): settings in effect" in process.stdout
    assert service.state == "Running" and service.process_id != before
    assert ok(play.run())["changed"] == 0


def test_the_restart_finds_the_agent_as_its_profile_says(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    """A profile that gives only a pattern (a release that renamed its service): the
    restart acts on the service the pattern finds, and never guesses between two."""
    profile = agent_profile.default().to_dict()
    profile["service"].update(name=None, image_path_pattern=r"\\SpendeskSageAgent\.exe")
    profile_file = tmp_path / "profile.yml"
    profile_file.write_text(yaml.safe_dump(profile), encoding="utf-8")
    fleet = make_fleet(1)
    extra = {
        "sagefleet_agent_service_account": SERVICE_ACCOUNT,
        "sagefleet_agent_profile": str(profile_file),
    }
    path = tmp_path / "inventory" / "hosts.yml"
    play = Play(fleet, write_inventory(fleet, path, extra, source="template"))
    deployed(play)
    with play.host.lock:  # the release's service has another name than the shipped one
        renamed = play.host.services.pop(SERVICE.lower())
        renamed.name = "SpendeskSageAgentV4"
        play.host.install_service(renamed)
    before = renamed.process_id
    play.entity(analytic_plan=2)
    process = play.run()
    assert ok(process)["changed"] == 2 and restarts(play) == 1, process.stdout[-3000:]
    service = play.host.service("SpendeskSageAgentV4")
    assert service is not None and service.state == "Running"
    assert service.process_id != before
    old = Service(name="SpendeskSageAgentOld", binary_path='"D:\\Old\\SpendeskSageAgent.exe"')
    play.host.install_service(old)
    play.entity(analytic_plan=3)
    process = play.run()
    assert process.returncode == 2 and recap(process)["failed"] == 1
    assert "several services match the agent profile" in process.stdout
    assert "SpendeskSageAgentOld, SpendeskSageAgentV4" in process.stdout
    assert restarts(play) == 1


# -- the vendor's files (the default source) ------------------------------------------

VENDOR = ROOT / "tests" / "fixtures" / "vendor_settings"


@pytest.fixture
def multi(make_fleet: FleetFactory, tmp_path: Path) -> Play:
    """A two-entity host whose entities name their vendor files (BIJOU and CHOCO)."""
    fleet = make_fleet(1, profiles=("two-entities",))
    inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
    data = yaml.safe_load(inventory.read_text())
    for entity in data["all"]["children"]["sage_servers"]["hosts"]["sage01"]["sagefleet_entities"]:
        entity["vendor_settings"] = str(VENDOR / f"{entity['company_code'].lower()}.settings.json")
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    return Play(fleet, inventory)


def host_variables(play: Play) -> dict[str, Any]:
    data = yaml.safe_load(play.inventory.read_text())
    return {**data["all"]["vars"], **data["all"]["children"]["sage_servers"]["hosts"]["sage01"]}


def test_vendor_files_of_a_multi_entity_host_are_merged_written_then_left_unchanged(
    multi: Play,
) -> None:
    first = multi.run("--diff")
    assert ok(first)["changed"] == 1
    written = multi.host.fs.read(PATH).decode("utf-8")
    assert written == build_host_settings("sage01", host_variables(multi)).text
    document = json.loads(written)
    assert [c["CompanyName"] for c in document["Connections"]] == ["BIJOU", "CHOCO"]
    assert list(document) == ["FormatVersion", "Environment", "Connections"]  # nothing added
    assert "Vendor-" not in first.stdout + first.stderr and "vendor-apikey" not in first.stdout
    before = multi.files()
    assert ok(multi.run())["changed"] == 0
    assert multi.files() == before


def test_template_content_over_the_vendors_file_is_refused_naming_host_and_file(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(1)
    inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml", source="template")
    play = Play(fleet, inventory)
    play.host.fs.write(PATH, (VENDOR / "bijou.settings.json").read_bytes())
    before = play.files()
    process = play.run("--diff")
    assert process.returncode != 0 and recap(process)["failed"] == 1
    refusal = f"sage01: refusing to overwrite {PATH}: it is not in sagefleet's template"
    assert refusal in process.stdout
    assert "Vendor-" not in process.stdout + process.stderr
    assert play.files() == before
    assert not [e for e in play.host.journal if e["kind"] == "settings_write"]


def test_an_entity_without_its_vendor_file_stops_the_play_before_any_host_is_contacted(
    multi: Play,
) -> None:
    data = yaml.safe_load(multi.inventory.read_text())
    del data["all"]["children"]["sage_servers"]["hosts"]["sage01"]["sagefleet_entities"][1][
        "vendor_settings"
    ]
    multi.inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    process = multi.run()
    assert process.returncode != 0
    assert "no host was contacted" in process.stdout
    assert "host sage01, entity CHOCO, field vendor_settings: no vendor settings.json" in (
        process.stdout
    )
    assert multi.host.fs.listdir(FOLDER) == []


def test_no_vendor_secret_appears_even_at_the_highest_verbosity(multi: Play) -> None:
    process = multi.run("-vvvvv", "--diff")
    assert recap(process)["changed"] == 1
    shown = revealed(process.stdout + process.stderr)
    for secret in ("Vendor-Sql-Secret-Choco", "Vendor-Sage-Secret-Choco", "vendor-apikey-bijou"):
        assert secret not in shown
    assert "censored due to no log" in process.stdout


def test_a_write_over_an_installed_agents_file_keeps_what_its_installer_added(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    """agent-old's settings.json is the vendor's file plus the wizard's answers (the
    simulator's stand-in installer adds MaeFile, SageUser, ServiceAccount): none of it is
    in the inventory's vendor files, and none of it is lost."""
    fleet = make_fleet(1, profiles=("agent-old",))
    inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
    play = Play(fleet, inventory, mkdir=False)
    before = json.loads(play.host.fs.read(PATH))
    answers = {m: before["Connections"][0][m] for m in ("MaeFile", "SageUser")}
    assert answers and before["ServiceAccount"]
    process = play.run("--diff")
    assert ok(process)["changed"] == 2  # the write, and the agent's restart to read it
    assert restarts(play) == 1
    written = json.loads(play.host.fs.read(PATH))
    assert {m: written["Connections"][0][m] for m in answers} == answers
    assert written["ServiceAccount"] == before["ServiceAccount"]
    assert written["Connections"][0]["SqlPassword"] == CANARY  # the vendor file's, rotated
    shown = " ".join(process.stdout.split())  # the output callback wraps long messages
    assert (
        "3 member(s) only the current file had, kept: Connections[CompanyName=BIJOU].MaeFile"
        ", Connections[CompanyName=BIJOU].SageUser, ServiceAccount" in shown
    )
    assert '"SqlPassword": "******** (changed)"' in process.stdout
    assert CANARY not in revealed(process.stdout + process.stderr)
    entry = play.host.fs.stat(PATH)
    untouched = (entry.data, entry.modified, play.backups())
    assert ok(play.run())["changed"] == 0
    entry = play.host.fs.stat(PATH)
    assert (entry.data, entry.modified, play.backups()) == untouched


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        # The handler's restart, reached only after the write.
        ("sagefleet_agent_start_timeout_s", "0", "sagefleet_agent_start_timeout_s"),
        # The task's own options, named by the inventory variable the role reads.
        ("sagefleet_settings_keep_backups", "500", "field sagefleet_settings_keep_backups: must"),
    ],
)
def test_the_write_and_restart_options_are_checked_before_any_host_is_written(
    play: Play, variable: str, value: str, said: str
) -> None:
    process = play.run("-e", f'{{"{variable}": {value}}}')
    assert process.returncode == 2, process.stdout[-3000:]
    assert "no host was contacted" in process.stdout
    assert said in process.stdout, process.stdout[-3000:]
    assert play.host.fs.listdir(FOLDER) == []  # nothing written


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("sagefleet_settings_backup", '"..\\\\..\\\\Windows\\\\win.ini"'),
        ("sagefleet_settings_keep_backups", "500"),
    ],
)
def test_a_rollbacks_bad_input_names_the_variable_the_operator_set(
    play: Play, variable: str, value: str
) -> None:
    ok(play.run())
    before = play.files()
    given = f'{{"{variable}": {value}}}'
    process = play.run("-e", "sagefleet_settings_state=rollback", "-e", given)
    assert process.returncode == 2, process.stdout[-3000:]
    said = " ".join(process.stdout.split())  # the output callback wraps long messages
    assert f"host sage01, field {variable}: must be " in said, said[-3000:]
    option = variable.removeprefix("sagefleet_settings_")
    assert f"field {option}:" not in said  # the module's option: not what the operator set
    assert play.files() == before


@pytest.mark.parametrize(
    ("given", "said"),
    [
        # The report folder, which the report after every host would have found out.
        ("sagefleet_settings_report_dir={a_file}/out", "field sagefleet_settings_report_dir: "),
        # A misspelt variable (a rollback reads sagefleet_settings_backup, not this one).
        ("sagefleet_settings_bakup=x", "field sagefleet_settings_bakup: not a sagefleet variable"),
        # The restart that follows the rollback, and the rollback's own target.
        ('{{"sagefleet_agent_start_timeout_s": 0}}', "field sagefleet_agent_start_timeout_s"),
        ("sagefleet_settings_path=settings.json", "field sagefleet_settings_path: "),
    ],
)
def test_a_rollbacks_bad_input_stops_the_play_before_any_host_is_contacted(
    play: Play, tmp_path: Path, given: str, said: str
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    process = play.run("-e", "sagefleet_settings_state=rollback", "-e", given.format(a_file=a_file))
    assert process.returncode == 2, process.stdout[-3000:]
    shown = " ".join(process.stdout.split())  # the output callback wraps long messages
    assert "no host was contacted" in shown and said in shown, shown[-3000:]
    assert play.host.journal == []  # no command reached the host


def test_a_rollback_goes_on_when_an_entity_is_invalid(play: Play) -> None:
    """A rollback restores a backup and reads no entity: the way back from a bad write is
    not closed by a bad entity, which the write still refuses before any host."""
    ok(play.run())
    first = play.host.fs.read(PATH)
    play.entity(analytic_plan=2)
    ok(play.run())
    play.entity(analytic_plan="abc")
    refused = play.run()
    assert refused.returncode == 2 and "field analytic_plan" in refused.stdout
    process = play.run("-e", "sagefleet_settings_state=rollback")
    assert ok(process)["changed"] == 1, process.stdout[-3000:]
    assert play.host.fs.read(PATH) == first
