"""Which agent backups a deploy keeps, and what the host's listing and removal accept."""

from __future__ import annotations

import pytest

from sagefleet import snippets
from sagefleet.deploy.backups import BACKUP_NAME, backup_stamp, plan_prune
from sagefleet.remote import RemoteError
from sagefleet.sim.commands.acl_rules import private_folder_acl
from sagefleet.sim.host import WindowsHost
from sagefleet.sim.session import SimSession, simulated

ROOT = "C:\\ProgramData\\sagefleet\\backup"
A, B, C = "2.3.0-20240101T000000Z", "3.2.0-20240201T000000Z", "3.3.0-20240301T000000Z"


def test_the_newest_stay_by_the_time_in_the_name_not_by_the_version() -> None:
    older_version_newer_time = "1.0.0-20250101T000000Z"
    kept, remove = plan_prune([A, C, older_version_newer_time, B], keep=2)
    assert kept == [older_version_newer_time, C] and remove == [B, A]


def test_this_runs_backup_is_never_removed_and_counts_towards_keep() -> None:
    assert plan_prune([A, B, C], keep=2, current=A) == ([A, C], [B])
    assert plan_prune([A, B, C], keep=0, current=C) == ([C], [B, A])
    assert plan_prune([A, B, C], keep=0) == ([], [C, B, A])  # a fresh install took none


def test_a_run_still_to_take_its_backup_leaves_it_a_place() -> None:
    assert plan_prune([A, B, C], keep=2, taking=True) == ([C], [B, A])
    assert plan_prune([A, B, C], keep=0, taking=True) == ([], [C, B, A])


@pytest.mark.parametrize(
    "name",
    [
        "manual-copy",
        "2.3.0-20240101t000000z",
        "2.3.0-20241399T000000Z",
        "old 2.3.0-20240101T000000Z",
        "-20240101T000000Z",
        "2.3.0-20240101T000000Z.bak",
    ],
)
def test_a_name_agent_install_never_makes_is_not_a_backup(name: str) -> None:
    assert backup_stamp(name) is None
    assert plan_prune([name, A], keep=0) == ([], [A])


def test_the_prelude_reads_a_backups_name_as_the_bastion_does() -> None:
    assert f"-cmatch '^{BACKUP_NAME.pattern}$'" in snippets.prelude()


def backup_root(host: WindowsHost, *names: str) -> None:
    host.fs.mkdir(ROOT, acl=private_folder_acl())
    for name in names:
        host.fs.mkdir(f"{ROOT}\\{name}")
        host.fs.write(f"{ROOT}\\{name}\\settings.json", b"{}")


def test_the_host_lists_backups_only_and_refuses_to_remove_anything_else() -> None:
    session = simulated("agent-old")
    backup_root(session.sim, A, "manual-copy")
    session.sim.fs.write(ROOT + "\\notes.txt", b"")
    listing = session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": []})
    assert listing["backups"] == [A] and listing["exists"]
    with pytest.raises(RemoteError, match="refusing to remove 'manual-copy'.*not the name of"):
        session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": ["manual-copy"]})
    with pytest.raises(RemoteError, match="not the name of an agent backup"):
        session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": [f"..\\{A}"]})
    assert session.sim.fs.listdir(ROOT) == [A, "manual-copy", "notes.txt"]


def test_a_copy_stopped_part_way_is_listed_apart_and_an_earlier_sagefleets_backup_is_not() -> None:
    """agent_install's marker still in a folder (its copy was killed), or a folder with
    nothing in it (killed before the marker was written): incomplete, never counted. A
    backup of a sagefleet before the marker has none, and is a backup as it was."""
    session = simulated("agent-old")
    backup_root(session.sim, A, B)  # A: an earlier sagefleet's, whole, no marker
    session.sim.fs.write(f"{ROOT}\\{B}\\.sagefleet-copying", b"")
    session.sim.fs.mkdir(f"{ROOT}\\{C}")
    listing = session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": []})
    assert listing["backups"] == [A]
    assert listing["backup_incomplete"] == [B, C]


def test_a_missing_backup_folder_stays_missing() -> None:
    session = simulated("agent-old")
    listing = session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": []})
    assert listing == {
        "backup_dir": ROOT, "exists": False, "backups": [], "backup_links": [],
        "backup_incomplete": [], "pruned": [], "left": [],
    }  # fmt: skip
    assert not session.sim.fs.exists(ROOT)


def test_a_script_that_does_not_check_the_backup_folder_is_not_simulated() -> None:
    host = simulated("agent-old").sim
    backup_root(host, A)

    def unchecked(script: str) -> str:
        return script.replace("function Confirm-SfPrivateFolder", "function Confirm-SfAnyFolder")

    with pytest.raises(RemoteError, match="does not check its backup folder"):
        SimSession(host, rewrite=unchecked).run_snippet(
            "agent_backup_prune", {"backup_dir": ROOT, "remove": [A]}
        )
    assert host.fs.listdir(ROOT) == [A]


STAGE = "C:\\ProgramData\\sagefleet\\staging"
CLEANUP = {"root": STAGE, "remove": [], "remove_parts": [], "backup_dir": ROOT}


def test_the_staging_cleanup_removes_the_backups_named_and_nothing_else() -> None:
    """After a good upgrade the older backups go in the staging cleanup's command: the
    same rules as agent_backup_prune's, a refusal said in its answer, not its failure."""
    session = simulated("agent-old")
    backup_root(session.sim, A, B, "manual-copy")
    refused = session.run_snippet("stage_cleanup", {**CLEANUP, "remove_backups": [A, "x"]})
    assert refused["backups"]["pruned"] == [] and refused["exists"] is False
    assert "refusing to remove 'x' under" in refused["backups"]["error"]
    assert session.sim.fs.listdir(ROOT) == [A, B, "manual-copy"]  # every name, or none
    done = session.run_snippet("stage_cleanup", {**CLEANUP, "remove_backups": [A]})
    assert done["backups"] == {"pruned": [A], "left": [], "error": None}
    assert session.sim.fs.listdir(ROOT) == [B, "manual-copy"]
    assert session.run_snippet("stage_cleanup", CLEANUP)["backups"] is None


def test_the_staging_cleanup_refuses_a_backup_folder_users_may_write() -> None:
    session = simulated("agent-old")
    session.sim.fs.mkdir(ROOT)  # inherits ProgramData's DACL
    session.sim.fs.mkdir(f"{ROOT}\\{A}")
    done = session.run_snippet("stage_cleanup", {**CLEANUP, "remove_backups": [A]})
    assert "refusing to use the folder" in done["backups"]["error"]
    assert session.sim.fs.is_dir(f"{ROOT}\\{A}")


def test_a_cleanup_that_removes_backups_another_way_is_not_simulated() -> None:
    host = simulated("agent-old").sim
    backup_root(host, A)

    def other(script: str) -> str:
        return script.replace("function Remove-SfBackups", "function Remove-SfAnything")

    with pytest.raises(RemoteError, match="only through the prelude's Remove-SfBackups"):
        SimSession(host, rewrite=other).run_snippet(
            "stage_cleanup", {**CLEANUP, "remove_backups": [A]}
        )
    assert host.fs.listdir(ROOT) == [A]
