"""Junctions in the simulated file system, and the prelude's Remove-SfTree meeting one.

Windows: a recursive enumeration (``Directory.GetFiles`` with AllDirectories) goes through
a junction ("includes reparse points such as mounted drives and symbolic links"), while
``RemoveDirectory`` on a junction removes the link whatever its target holds, and
``Directory.Delete(path, true)`` does not recurse through it (docs/simulator.md, ledger
row 39).
"""

from __future__ import annotations

import pytest

from sagefleet import snippets
from sagefleet.remote import RemoteError
from sagefleet.sim.commands.acl_rules import private_folder_acl
from sagefleet.sim.host import ModelError, WindowsHost
from sagefleet.sim.session import SimSession, simulated

ROOT = "C:\\ProgramData\\sagefleet\\backup"
OLD = "2.2.0-20200101T000000Z"
COMPANY = "C:\\Sage\\Societes"
MAE = COMPANY + "\\BIJOU.MAE"
#: Remove-SfTree as it enumerated before: GetFiles and GetDirectories with AllDirectories.
FOLLOWING_WALK = r"""function Remove-SfTree([string] $Name, [string] $Folder) {
    $left = @()
    $all = [System.IO.SearchOption]::AllDirectories
    foreach ($file in [System.IO.Directory]::GetFiles($Folder, '*', $all)) {
        try {
            [System.IO.File]::SetAttributes($file, [System.IO.FileAttributes]::Normal)
            [System.IO.File]::Delete($file)
        } catch {
            $why = $_.Exception.GetBaseException().Message
            $left += [ordered]@{ folder = $Name; path = $file; error = $why }
        }
    }
    if ($left.Count -eq 0) { [System.IO.Directory]::Delete($Folder, $true); return @() }
    $dirs = [System.IO.Directory]::GetDirectories($Folder, '*', $all)
    foreach ($dir in @($dirs | Sort-Object -Property Length -Descending)) {
        $empty = @([System.IO.Directory]::GetFileSystemEntries($dir)).Count -eq 0
        if ($empty) { [System.IO.Directory]::Delete($dir) }
    }
    $left
}
"""


def old_walk(script: str) -> str:
    start = script.index("function Remove-SfTree")
    end = script.index("function Get-SfBackupStamp")
    return script[:start] + FOLLOWING_WALK + "\n" + script[end:]


def backup_with_junction(host: WindowsHost) -> str:
    """An older backup holding a file and a junction to the company files."""
    host.fs.mkdir(ROOT, acl=private_folder_acl())
    folder = f"{ROOT}\\{OLD}"
    host.fs.mkdir(folder + "\\data")
    host.fs.write(folder + "\\data\\settings.json", b"{}")
    host.fs.junction(folder + "\\data\\companies", COMPANY)
    return folder


def test_a_path_through_a_junction_is_the_targets_and_the_link_alone_is_deleted() -> None:
    host = simulated("agent-old").sim
    folder = backup_with_junction(host)
    link = folder + "\\data\\companies"
    assert host.fs.listdir(link) == host.fs.listdir(COMPANY)
    assert host.fs.stat(link + "\\BIJOU.MAE") is host.fs.stat(MAE)
    files, _, links = host.fs.walk(folder, follow=False)
    assert links == [link] and files == [folder + "\\data\\settings.json"]
    assert link + "\\BIJOU.MAE" in host.fs.walk(folder, follow=True)[0]
    host.fs.delete_tree(folder)  # Directory.Delete(path, true) does not recurse through it
    assert not host.fs.exists(folder) and host.fs.is_file(MAE)


def test_a_loop_of_junctions_ends_the_enumeration_at_max_path() -> None:
    host = simulated("agent-old").sim
    host.fs.mkdir(ROOT + "\\loop")
    host.fs.junction(ROOT + "\\loop\\again", ROOT + "\\loop")
    assert host.fs.walk(ROOT, follow=False)[2] == [ROOT + "\\loop\\again"]
    with pytest.raises(ModelError, match="too long"):
        host.fs.walk(ROOT, follow=True)


def test_pruning_a_backup_removes_a_junction_in_it_never_what_it_points_to() -> None:
    session = simulated("agent-old")
    host = session.sim
    folder = backup_with_junction(host)
    done = session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": [OLD]})
    assert done["pruned"] == [OLD] and done["left"] == []
    assert not host.fs.exists(folder)
    assert host.fs.is_file(MAE) and host.fs.read(MAE)


def test_the_walk_through_getfiles_alldirectories_deletes_the_junctions_target() -> None:
    """What the earlier Remove-SfTree did on Windows: the model is not kinder."""
    host = simulated("agent-old").sim
    folder = backup_with_junction(host)
    done = SimSession(host, rewrite=old_walk).run_snippet(
        "agent_backup_prune", {"backup_dir": ROOT, "remove": [OLD]}
    )
    assert done["pruned"] == [OLD] and not host.fs.exists(folder)
    assert not host.fs.exists(MAE)  # the company file went with the backup


def test_a_backup_name_that_is_a_junction_is_listed_apart_and_never_removed() -> None:
    """GetDirectories lists a junction as a folder: Get-SfBackups tells it apart
    (backup_links), never a backup, and Remove-SfBackups refuses it by name."""
    session = simulated("agent-old")
    host = session.sim
    host.fs.mkdir(ROOT, acl=private_folder_acl())
    host.fs.junction(f"{ROOT}\\{OLD}", COMPANY)
    listing = session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": []})
    assert listing["backups"] == [] and listing["backup_links"] == [OLD]
    with pytest.raises(RemoteError, match="a junction or symbolic link, not an agent backup"):
        session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": [OLD]})
    assert host.fs.listdir(ROOT) == [OLD] and host.fs.is_file(MAE)


#: Get-SfBackups and Remove-SfBackups as they were: every directory of a backup's name.
LISTING_LINKS = r"""function Get-SfBackups([string] $Root) {
    if ([System.IO.Directory]::Exists($Root)) {
        foreach ($dir in [System.IO.Directory]::GetDirectories($Root)) {
            $leaf = [System.IO.Path]::GetFileName($dir)
            if ($null -ne (Get-SfBackupStamp $leaf)) { $leaf }
        }
    }
}
"""


def test_the_earlier_listing_counted_a_junction_as_a_backup_and_removed_the_link() -> None:
    """What the earlier Get-SfBackups did on Windows: the model is not kinder."""
    host = simulated("agent-old").sim
    host.fs.mkdir(ROOT, acl=private_folder_acl())
    host.fs.junction(f"{ROOT}\\{OLD}", COMPANY)

    def earlier(script: str) -> str:
        start, end = (
            script.index("function Get-SfBackups"),
            script.index("function Remove-SfBackups"),
        )
        script = script[:start] + LISTING_LINKS + script[end:]
        script = script.replace(
            "$found = Get-SfBackups $root", "$found = @{ names = @(Get-SfBackups $root) }"
        )
        refusal = script.index("        $folder = Join-Path $Root ([string]$name)\n        if (")
        return script[:refusal] + script[script.index("        }\n", refusal) + 10 :]

    session = SimSession(host, rewrite=earlier)
    listing = session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": []})
    assert listing["backups"] == [OLD] and "backup_links" not in listing
    done = session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": [OLD]})
    assert done["pruned"] == [OLD] and host.fs.listdir(ROOT) == []
    assert host.fs.is_file(MAE)


def test_a_walk_the_simulator_does_not_model_fails_loudly() -> None:
    host = simulated("agent-old").sim
    backup_with_junction(host)

    def other(script: str) -> str:
        return script.replace(".GetFileSystemInfos()", ".GetDirectories()")

    with pytest.raises(RemoteError, match="models Remove-SfTree's walk"):
        SimSession(host, rewrite=other).run_snippet(
            "agent_backup_prune", {"backup_dir": ROOT, "remove": [OLD]}
        )
    assert host.fs.is_file(MAE)


def test_the_prelude_never_enumerates_a_tree_through_its_links() -> None:
    assert "AllDirectories" not in snippets.prelude()


def test_a_backup_folder_that_is_a_junction_is_refused() -> None:
    session = simulated("agent-old")
    host = session.sim
    host.fs.mkdir("C:\\Elsewhere", acl=private_folder_acl())
    host.fs.mkdir("C:\\ProgramData\\sagefleet", acl=private_folder_acl())
    host.fs.junction(ROOT, "C:\\Elsewhere")
    with pytest.raises(RemoteError, match="it is a junction or a symbolic link"):
        session.run_snippet("agent_backup_prune", {"backup_dir": ROOT, "remove": []})
