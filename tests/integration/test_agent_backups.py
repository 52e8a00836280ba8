"""The agent's backups after upgrades: the newest sagefleet_agent_keep_backups stay, older
ones go once an upgrade ended well, and nothing else in the backup folder is touched
(docs/deploy.md, "Backups of the agent"). Each deploy runs over WinRM as the bastion does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sagefleet.deploy import DeployResult, deploy_host
from sagefleet.inventory import load
from sagefleet.package import build_test_package, inspect
from sagefleet.sim.commands.acl_rules import private_folder_acl
from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.host import WindowsHost
from sagefleet.sim.host.products import AGENT_SERVICE
from tests.support.fleets import next_first_address, session_for
from tests.support.reliability import OnSnippet
from tests.support.scenarios import write_inventory

ROOT = "C:\\ProgramData\\sagefleet\\backup"
INSTALL_DIR = "C:\\Program Files\\Spendesk\\Sage Agent"
#: What an administrator (or anything else) left in the backup folder: never touched.
NOT_OURS = (
    "manual-copy",  # no time
    "2.3.0-20240101t000000z",  # another case than agent_install writes
    "2.3.0-20241399T000000Z",  # no such time
    "old 2.3.0-20240101T000000Z",  # a space: never in a name agent_install makes
)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[Fleet, dict[str, Any], Path]]:
    specs = generate_specs(1, profiles=("agent-old",), first_address=next_first_address(), port=0)
    fleet = Fleet(specs, tmp_path / "fleet").start()
    inventory = write_inventory(
        fleet,
        tmp_path / "inventory" / "hosts.yml",
        {"sagefleet_agent_target_version": "3.2.0", "sagefleet_winrm_retries": 0},
    )
    variables = {h.name: dict(h.variables) for h in load([inventory])}
    yield fleet, variables, tmp_path
    fleet.stop()


def upgrade(
    sim: tuple[Fleet, dict[str, Any], Path],
    version: str,
    keep: int,
    *,
    check_mode: bool = False,
    before_install: Callable[[], None] | None = None,
    before_cleanup: Callable[[], None] | None = None,
    retries: int = 0,
) -> DeployResult:
    """Upgrade sage01 to ``version`` (``before_install`` runs just before agent_install,
    ``before_cleanup`` just before the staging cleanup)."""
    fleet, variables, tmp = sim
    built = inspect(build_test_package(tmp / f"Setup-{version}.zip", agent_version=version))
    extra = {
        "sagefleet_agent_target_version": version,
        "sagefleet_agent_keep_backups": keep,
        "sagefleet_winrm_retries": retries,
        "sagefleet_winrm_retry_backoff_s": 0,
    }
    with session_for(fleet, "sage01") as direct:
        session: Any = direct
        if before_install is not None:
            session = OnSnippet(direct, "agent_install", before_install)
        if before_cleanup is not None:
            session = OnSnippet(session, "stage_cleanup", before_cleanup)
        return deploy_host(
            session, "sage01", {**variables["sage01"], **extra}, built, check_mode=check_mode
        )


def backups(host: WindowsHost) -> list[str]:
    """The folders in the backup folder, by name."""
    return host.fs.listdir(ROOT) if host.fs.is_dir(ROOT) else []


def plant(host: WindowsHost, name: str, **attributes: Any) -> str:
    """A folder in the backup folder with one file in it (its DACL the folder's)."""
    folder = f"{ROOT}\\{name}"
    host.fs.mkdir(folder)
    host.fs.write(folder + "\\settings.json", b"{}")
    if attributes:
        host.fs.set_attributes(folder + "\\settings.json", **attributes)
    return folder


def test_older_backups_go_after_each_good_upgrade_and_the_newest_stay(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    host = sim[0].host("sage01")  # agent-old: 2.3.0 running
    first = upgrade(sim, "3.2.0", keep=2)
    assert first.outcome == "upgraded", first.reason
    [taken] = backups(host)
    assert taken.startswith("2.3.0-") and first.backups_pruned == []
    for name in NOT_OURS:
        plant(host, name)
    host.fs.write(ROOT + "\\notes.txt", b"kept by hand")
    results = [upgrade(sim, version, keep=2) for version in ("3.3.0", "3.4.0", "3.5.0")]
    assert [r.outcome for r in results] == ["upgraded"] * 3
    ours = sorted(n for n in backups(host) if n not in NOT_OURS and n != "notes.txt")
    # Each run's backup is named after the version it replaced, the newest two stay.
    assert [n.split("-")[0] for n in ours] == ["3.3.0", "3.4.0"]
    assert results[1].backups_pruned == [taken]
    assert [n.split("-")[0] for n in results[2].backups_pruned] == ["3.2.0"]
    assert "older agent backups removed: " + taken in results[1].plan
    assert results[0].backups_pruned == [] and "backups removed" not in results[0].plan
    # Nothing else in the folder is touched.
    assert set(NOT_OURS) | {"notes.txt"} <= set(backups(host))
    assert host.fs.read(ROOT + "\\notes.txt") == b"kept by hand"
    # A run rolled back removes nothing: its backup adds to the kept ones.
    host.installer_failure = 1603
    failed = upgrade(sim, "3.6.0", keep=2)
    assert failed.outcome == "rolled-back", failed.reason
    assert failed.backups_pruned == []
    after = sorted(n for n in backups(host) if n not in NOT_OURS and n != "notes.txt")
    assert [n.split("-")[0] for n in after] == ["3.3.0", "3.4.0", "3.5.0"]
    service = host.service(AGENT_SERVICE)
    assert service is not None and service.version == "3.5.0"


def test_keep_zero_keeps_only_the_backup_this_run_took(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    host = sim[0].host("sage01")
    upgrade(sim, "3.2.0", keep=5)
    result = upgrade(sim, "3.3.0", keep=0)
    assert result.outcome == "upgraded", result.reason
    [left] = backups(host)
    assert left.startswith("3.2.0-")
    assert [n.split("-")[0] for n in result.backups_pruned] == ["2.3.0"]


def test_a_backup_a_file_in_use_keeps_is_a_warning_and_the_upgrade_stands(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    host = sim[0].host("sage01")
    # A read-only file in the agent's folder: its copy in the backup is read-only too.
    host.fs.write(INSTALL_DIR + "\\licence.txt", b"licence")
    host.fs.set_attributes(INSTALL_DIR + "\\licence.txt", readonly=True)
    first = upgrade(sim, "3.2.0", keep=1)
    assert first.outcome == "upgraded", first.reason
    [read_only] = backups(host)
    assert host.fs.stat(f"{ROOT}\\{read_only}\\licence.txt").readonly
    locked = plant(host, "2.2.0-20200101T000000Z", open_by="notepad.exe")
    host.fs.write(locked + "\\agent.log", b"old log")
    result = upgrade(sim, "3.3.0", keep=1)
    assert result.outcome == "upgraded", result.reason
    assert result.backups_pruned == [read_only]
    assert not host.fs.exists(f"{ROOT}\\{read_only}")
    # The folder a file in use keeps stays, with that file only; said, never a failure.
    assert host.fs.listdir(locked) == ["settings.json"]
    [warning] = result.warnings
    assert f"agent backup {ROOT}\\2.2.0-20200101T000000Z not removed: " in warning
    assert "being used by another process" in warning
    assert "agent backups not removed: 2.2.0-20200101T000000Z (a file stayed: " in result.plan
    left = [s for s in result.steps if s["step"] == "prune-left"]
    assert [(s["folder"], s["kind"]) for s in left] == [("2.2.0-20200101T000000Z", "file")]
    # Closed, it goes with the next upgrade that ends well.
    host.fs.set_attributes(locked + "\\settings.json", open_by=None)
    again = upgrade(sim, "3.4.0", keep=1)
    assert "2.2.0-20200101T000000Z" in again.backups_pruned and not again.warnings
    assert not host.fs.exists(locked)


def test_a_junction_in_an_older_backup_goes_as_a_link_and_its_target_stays(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """The staging cleanup after a good upgrade removes the older backup; a junction in it
    to the company files is removed as a link, never walked (docs/simulator.md, row 39)."""
    host = sim[0].host("sage01")
    host.fs.mkdir(ROOT, acl=private_folder_acl())  # as an earlier deploy left it
    old = plant(host, "2.2.0-20200101T000000Z")
    host.fs.junction(old + "\\companies", "C:\\Sage\\Societes")
    result = upgrade(sim, "3.2.0", keep=1)
    assert result.outcome == "upgraded", result.reason
    assert result.backups_pruned == ["2.2.0-20200101T000000Z"] and not result.warnings
    assert not host.fs.exists(old)
    assert host.fs.read("C:\\Sage\\Societes\\BIJOU.MAE")


def test_a_junction_named_as_a_backup_is_not_counted_nor_removed_and_is_said(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """A junction in the backup folder with a backup's name (and the newest time) is no
    backup: it would take the second place kept, and the real backup would go. It is left
    as it is, counted nowhere, and said, in check mode too."""
    host = sim[0].host("sage01")
    host.fs.mkdir(ROOT, acl=private_folder_acl())  # as an earlier deploy left it
    real, link = "2.2.0-20200101T000000Z", "9.9.9-20991231T000000Z"
    plant(host, real)
    host.fs.junction(f"{ROOT}\\{link}", "C:\\Sage\\Societes")
    said = f"{ROOT}\\{link} is a junction or symbolic link named as an agent backup: not counted"
    planned = upgrade(sim, "3.2.0", keep=1, check_mode=True)
    assert planned.plan.endswith(
        " — not agent backups (junctions or symbolic links), left as they are: "
        + link
        + " — would remove older agent backups: "
        + real
    ), planned.plan
    assert [w for w in planned.warnings if w.startswith(said)]
    result = upgrade(sim, "3.2.0", keep=2)
    assert result.outcome == "upgraded", result.reason
    assert result.backups_pruned == [] and real in backups(host)
    assert host.fs.stat(f"{ROOT}\\{link}").target is not None
    assert host.fs.read("C:\\Sage\\Societes\\BIJOU.MAE")
    [warning] = result.warnings
    assert warning.startswith(said)
    assert " — not agent backups (junctions or symbolic links), left as they are: " + link in (
        result.plan
    )
    # Kept: this run's and the real one; neither the link nor its target is removed later.
    again = upgrade(sim, "3.3.0", keep=1)
    assert again.backups_pruned[-1] == real and link in backups(host)


def test_a_read_only_folder_in_an_older_backup_is_cleared_and_goes(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """RemoveDirectory refuses a read-only folder (Explorer marks a customised one so): the
    staging cleanup clears it as it clears read-only files (docs/simulator.md, row 8)."""
    host = sim[0].host("sage01")
    host.fs.mkdir(ROOT, acl=private_folder_acl())  # as an earlier deploy left it
    old = plant(host, "2.2.0-20200101T000000Z")
    host.fs.mkdir(old + "\\logs")
    host.fs.set_attributes(old + "\\logs", readonly=True)
    host.fs.set_attributes(old, readonly=True)
    result = upgrade(sim, "3.2.0", keep=1)
    assert result.outcome == "upgraded", result.reason
    assert result.backups_pruned == ["2.2.0-20200101T000000Z"] and not result.warnings
    assert not host.fs.exists(old)


def test_a_backup_folder_held_open_stays_and_the_others_removed_are_said(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """A prompt whose current folder is an older backup: that folder stays (a warning
    naming it), and the older backup removed before it in the same command is said removed,
    not lost in an error (docs/simulator.md, row 8)."""
    host = sim[0].host("sage01")
    host.fs.mkdir(ROOT, acl=private_folder_acl())  # as an earlier deploy left it
    newer, older = "2.2.0-20200201T000000Z", "2.1.0-20200101T000000Z"
    plant(host, newer)
    held = plant(host, older)
    host.fs.set_attributes(held, open_by="cmd.exe")
    result = upgrade(sim, "3.2.0", keep=1)
    assert result.outcome == "upgraded", result.reason
    assert result.backups_pruned == [newer]
    [warning] = result.warnings
    assert f"agent backup {held} not removed: a folder stayed: " in warning
    assert "being used by another process" in warning
    # What stayed is said as the host said it: a folder, not 'a file in use'.
    assert f" — agent backups not removed: {older} (a folder stayed: The process " in result.plan
    assert backups(host)[0] == older and host.fs.listdir(held) == []


def test_a_read_only_junction_in_an_older_backup_is_said_as_a_link_that_stayed(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """RemoveDirectory refuses a read-only junction (Remove-SfTree clears the attributes of
    what it enters, never of a link): the link stays, its target untouched, and the plan
    says a link stayed with Windows' error (docs/simulator.md, rows 8 and 39)."""
    host = sim[0].host("sage01")
    host.fs.mkdir(ROOT, acl=private_folder_acl())  # as an earlier deploy left it
    old = plant(host, "2.2.0-20200101T000000Z")
    host.fs.junction(old + "\\companies", "C:\\Sage\\Societes")
    host.fs.set_attributes(old + "\\companies", readonly=True)
    result = upgrade(sim, "3.2.0", keep=1)
    assert result.outcome == "upgraded", result.reason
    assert result.backups_pruned == [] and host.fs.listdir(old) == ["companies"]
    said = f"2.2.0-20200101T000000Z (a junction or symbolic link stayed: Access to the path '{old}"
    assert " — agent backups not removed: " + said in result.plan
    [warning] = result.warnings
    assert "not removed: a junction or symbolic link stayed: Access to the path" in warning
    assert host.fs.read("C:\\Sage\\Societes\\BIJOU.MAE")


def test_a_backup_the_disk_stopped_half_way_is_removed_not_kept_in_place_of_a_whole_one(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """The disk fills up during the backup: settings.json is copied, the program is not.
    That copy is no backup: it goes, and the next good upgrade keeps the whole one."""
    host = sim[0].host("sage01")
    host.fs.mkdir(ROOT, acl=private_folder_acl())  # as an earlier deploy left it
    whole = "2.2.0-20200101T000000Z"
    plant(host, whole)
    volume = host.fs.volume("C:\\")
    free = volume.free_bytes

    def fill() -> None:
        volume.free_bytes = 1024 * 1024  # settings.json fits, SpendeskSageAgent.exe does not

    failed = upgrade(sim, "3.2.0", keep=2, before_install=fill)
    assert failed.outcome == "failed"
    reason = failed.reason or ""
    assert reason.startswith("backup failed: There is not enough space"), reason
    assert backups(host) == [whole]
    assert "; the partial copy " + ROOT + "\\2.3.0-" in reason and reason.endswith(" was removed")
    volume.free_bytes = free
    result = upgrade(sim, "3.2.0", keep=2)
    assert result.outcome == "upgraded", result.reason
    assert result.backups_pruned == [] and whole in backups(host)


def test_a_file_whose_backup_path_passes_max_path_fails_the_backup_not_the_agent(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """The backup's path is longer than the agent folder's: a file 250 characters from the
    root there is over 260 in the backup, where powershell.exe (.NET's legacy MAX_PATH)
    cannot copy it. The backup fails, its copy goes, nothing is installed (row 41)."""
    host = sim[0].host("sage01")
    deep = INSTALL_DIR + "\\cache\\" + "x" * (250 - len(INSTALL_DIR) - 11) + ".bin"
    assert len(deep) == 250
    host.fs.mkdir(INSTALL_DIR + "\\cache")
    host.fs.write(deep, b"cache")
    result = upgrade(sim, "3.2.0", keep=2)
    assert result.outcome == "failed"
    reason = result.reason or ""
    assert reason.startswith("backup failed: The specified path, file name, or both are too long")
    assert reason.endswith(" was removed") and backups(host) == []
    service = host.service(AGENT_SERVICE)
    assert service is not None and (service.state, service.version) == ("Running", "2.3.0")


def test_a_staging_cleanup_that_fails_leaves_the_upgrade_standing_and_says_so(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """The cleanup after the health gate fails (here its script throws; a connection lost
    alike): the agent is upgraded and stays so, the report says the cleanup was not done and
    that the older backups it was to remove may still be there, never that it failed."""
    host = sim[0].host("sage01")
    host.fs.mkdir(ROOT, acl=private_folder_acl())  # as an earlier deploy left it
    plant(host, "2.2.0-20200101T000000Z")
    host.snippet_failures["stage_cleanup"] = "The network path was not found."
    result = upgrade(sim, "3.2.0", keep=1)
    assert result.outcome == "upgraded", result.reason
    service = host.service(AGENT_SERVICE)
    assert service is not None and service.version == "3.2.0"
    cleanup, backups_unknown = result.warnings
    assert cleanup.startswith("staging cleanup in ") and "not done: " in cleanup
    assert "The network path was not found." in cleanup
    assert "(2.2.0-20200101T000000Z) may not be removed" in backups_unknown
    assert result.plan.endswith(": not known to be removed") and result.backups_pruned == []


def test_a_staging_cleanup_sent_again_says_what_its_lost_attempt_removed_is_not_known(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """The cleanup's answer is lost (a WS-Management fault at Receive, after the command
    ran): the command is sent again, and finds the older backup gone. What the first attempt
    did is not known, and the report says so and what the second one saw; never silence."""
    fleet = sim[0]
    host = fleet.host("sage01")
    host.fs.mkdir(ROOT, acl=private_folder_acl())  # as an earlier deploy left it
    plant(host, "2.2.0-20200101T000000Z")

    def lose_the_answer() -> None:
        fleet.faults("sage01").set(fault_at="Receive", fault_times=1, fault_code="internal")

    result = upgrade(sim, "3.2.0", keep=1, before_cleanup=lose_the_answer, retries=1)
    assert result.outcome == "upgraded", result.reason
    assert fleet.faults("sage01").counters.faults == 1
    assert not host.fs.exists(ROOT + "\\2.2.0-20200101T000000Z")
    assert result.backups_pruned == []  # not known removed by this run's answer
    assert result.plan.endswith(
        " — older agent backups not there when the staging cleanup was sent again (what its "
        "first attempt did is not known): 2.2.0-20200101T000000Z"
    ), result.plan
    [warning] = result.warnings
    assert "2.2.0-20200101T000000Z" in warning and "not known" in warning
    [step] = [s for s in result.steps if s["step"] == "backups"]
    assert step["absent"] == ["2.2.0-20200101T000000Z"] and step["pruned"] == []


def test_an_older_backup_gone_before_the_cleanup_is_said_gone_not_removed(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    """Removed by someone between the install's listing and the cleanup: the one command
    sent finds it gone, and says so (this run did not remove it)."""
    host = sim[0].host("sage01")
    host.fs.mkdir(ROOT, acl=private_folder_acl())  # as an earlier deploy left it
    old = plant(host, "2.2.0-20200101T000000Z")
    result = upgrade(sim, "3.2.0", keep=1, before_cleanup=lambda: host.fs.delete(old))
    assert result.outcome == "upgraded", result.reason
    assert result.backups_pruned == [] and not result.warnings
    assert result.plan.endswith(
        " — older agent backups already gone when the staging cleanup ran: 2.2.0-20200101T000000Z"
    ), result.plan


def test_check_mode_says_which_backups_would_go_and_removes_none(
    sim: tuple[Fleet, dict[str, Any], Path],
) -> None:
    host = sim[0].host("sage01")
    upgrade(sim, "3.2.0", keep=5)
    upgrade(sim, "3.3.0", keep=5)
    before = dict(host.fs.entries)
    oldest, newer = sorted(backups(host))
    planned = upgrade(sim, "3.4.0", keep=2, check_mode=True)
    assert planned.outcome == "planned"
    # The run would take a backup, the newest: one place is left for the older ones.
    assert planned.plan.endswith(" — would remove older agent backups: " + oldest)
    assert planned.backups_pruned == []
    assert dict(host.fs.entries) == before
    assert newer.startswith("3.2.0-")


#: The commands of one host's upgrade that ends well and removes an older backup, in order
#: (docs/performance.md, "The upgrade at fleet speed"): each costs a PowerShell start-up
#: and four requests, so a feature that adds one to every upgrade shows here.
UPGRADE_COMMANDS = [
    "facts",  # preflight, with the failed-install record
    "settings_write",  # the agent's settings.json read before anything is planned
    "deploy_lock",
    "stage_status",
    "stage_push",
    "stage_extract",
    "settings_write",  # staged beside the installer
    "agent_install",  # with the backups it sees
    "query",  # the health gate's service
    "agent_connections",  # the health gate (SF513)
    "stage_cleanup",  # with the older backups' removal
    "deploy_lock",
]


def test_one_upgrade_runs_twelve_commands(sim: tuple[Fleet, dict[str, Any], Path]) -> None:
    host = sim[0].host("sage01")
    host.fs.mkdir(ROOT, acl=private_folder_acl())  # as an earlier deploy left it
    plant(host, "2.2.0-20200101T000000Z")
    del host.journal[:]
    result = upgrade(sim, "3.2.0", keep=1)
    assert result.outcome == "upgraded", result.reason
    assert result.backups_pruned == ["2.2.0-20200101T000000Z"]
    ran = [e["name"] for e in host.journal if e.get("kind") == "snippet"]
    assert ran == UPGRADE_COMMANDS, " ".join(ran)
