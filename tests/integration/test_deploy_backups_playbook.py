"""The backups' pruning through the real playbook: check mode plans it, a run does it, and a
backup a file in use keeps is Ansible's warning, never a failure (docs/deploy.md, "Backups
of the agent"). tests/integration/test_agent_backups.py holds the rules themselves."""

from __future__ import annotations

from pathlib import Path

from sagefleet.sim.commands.acl_rules import private_folder_acl
from tests.support.deploy import CANARY, deploy, outcomes, snapshot
from tests.support.fleets import FleetFactory


def test_older_agent_backups_are_planned_then_removed_and_a_locked_one_is_a_warning(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    host = fleet.host("old")
    root = "C:\\ProgramData\\sagefleet\\backup"
    host.fs.mkdir(root, acl=private_folder_acl())  # as an earlier deploy left it
    older, locked = "2.2.0-20200101T000000Z", "2.1.0-20190101T000000Z"
    for name in (older, locked):
        host.fs.mkdir(f"{root}\\{name}")
        host.fs.write(f"{root}\\{name}\\settings.json", b"{}")
    host.fs.set_attributes(f"{root}\\{locked}\\settings.json", open_by="notepad.exe")
    keep = {"sagefleet_agent_keep_backups": 1}
    before = snapshot(fleet, "old")
    planned, _ = deploy(fleet, tmp_path, package, "--check", inventory_vars=keep)
    assert outcomes(planned) == {"old": "planned"}, planned.stdout[-3000:]
    said = " ".join(planned.stdout.split())  # the output callback wraps long lines
    assert f"— would remove older agent backups: {older}, {locked}" in said
    assert snapshot(fleet, "old") == before
    process, report = deploy(fleet, tmp_path, package, inventory_vars=keep)
    assert process.returncode == 0, process.stdout[-4000:]
    assert outcomes(process) == {"old": "upgraded"}
    said = " ".join(process.stdout.split())
    assert f"— older agent backups removed: {older}" in said
    # Ansible's own warning (on stderr), naming the folder and why.
    warned = " ".join(process.stderr.split())
    assert f"[WARNING]: agent backup {root}\\{locked} not removed: " in warned
    assert "because it is being used by another process" in warned
    entry = next(h for h in report["hosts"] if h["host"] == "old")
    assert f"older agent backups removed: {older}" in entry["outcome"]["plan"]
    assert f"agent backups not removed: {locked} (a file stayed: " in entry["outcome"]["plan"]
    left = host.fs.listdir(root)
    assert older not in left and locked in left and len(left) == 2  # and this run's
    assert CANARY not in process.stdout + process.stderr
