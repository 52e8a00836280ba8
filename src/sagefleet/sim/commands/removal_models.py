"""Model side of the prelude's removals: ``Remove-SfTree`` (a staged version, an agent
backup, a partial backup) and the agent backups' ``Get-SfBackups`` and ``Remove-SfBackups``
(stage_cleanup, agent_backup_prune, agent_install), against the host model.
"""

from __future__ import annotations

from typing import Any

from sagefleet.deploy.backups import backup_stamp
from sagefleet.sim.commands import acl_rules, semantics
from sagefleet.sim.commands.registry import SnippetAbort
from sagefleet.sim.host import FileSystem, ModelError, WindowsHost

#: Remove-SfTree enumerating with GetFiles(..., AllDirectories): it enters junctions.
_FOLLOWS_LINKS = (r"GetFiles\(\s*\$Folder\b", r"SearchOption\]::AllDirectories\b")
#: Remove-SfTree's own walk, which removes a junction as a link and never enters it.
_SKIPS_LINKS = r"\.GetFileSystemInfos\(\)[\s\S]*-band\s+\$link\b"
#: Remove-SfTree reporting a folder it cannot remove (held open) in 'left', not throwing.
_CATCHES_FOLDERS = (
    r"try \{ \[System\.IO\.Directory\]::Delete\(\$Folder, \$true\) \} catch",
    r"try \{\s*if \(@\(\[System\.IO\.Directory\]::GetFileSystemEntries\(\$dirs",
)
#: Remove-SfTree saying what stayed (file, folder or link), and catching a link it cannot
#: remove (read-only) when the folder is itself one.
_SAYS_KIND = r"kind = \$kind;"
_CATCHES_LINK = r"try \{ \[System\.IO\.Directory\]::Delete\(\$Folder\) \} catch"
#: Remove-SfTree clearing the attributes of the folder and of each folder in it.
_CLEARS_FOLDERS = (
    r"SetAttributes\(\$Folder,",
    r"elseif \(\$isDir\) \{\s*\[System\.IO\.File\]::SetAttributes\(",
)


def remove_tree(fs: FileSystem, name: str, folder: str) -> list[dict[str, str]]:
    """The prelude's Remove-SfTree (stage_cleanup, agent_backup_prune, agent_install): clear
    ReadOnly (of the folders too when the script does: RemoveDirectory refuses a read-only
    one), delete file by file, report what stays locked; the folder goes when nothing stayed.

    A script enumerating with GetFiles(AllDirectories) goes through a junction and deletes
    its target's files (SearchOption.AllDirectories includes reparse points); the walk
    that skips links removes the link alone (RemoveDirectory). Any other walk: not modelled.
    """
    follow = semantics.uses(*_FOLLOWS_LINKS)
    if not follow and not semantics.uses(_SKIPS_LINKS):
        raise SnippetAbort(
            "the simulator models Remove-SfTree's walk through GetFiles(AllDirectories) or "
            "GetFileSystemInfos() with its links removed only: this script walks another way"
        )
    left: list[dict[str, str]] = []
    kinds = semantics.uses(_SAYS_KIND)

    def stays(path: str, kind: str, exc: ModelError) -> None:
        item = {"folder": name, "path": path, "error": str(exc)}
        left.append({**item, "kind": kind} if kinds else item)

    if fs.stat(folder).target is not None and not follow:
        try:
            fs.delete(folder)  # [IO.Directory]::Delete(link): the link, never its target
        except ModelError as exc:  # a read-only link
            if not semantics.uses(_CATCHES_LINK):
                raise
            stays(folder, "link", exc)
        return left
    files, dirs, links = fs.walk(folder, follow=follow)
    if semantics.uses(*_CLEARS_FOLDERS):  # SetAttributes(folder, Normal), each folder too
        for path in [folder, *dirs]:
            fs.stat(path).readonly = False
    for path in links + files:
        entry = fs.stat(path)
        if entry.target is None:
            entry.readonly = False  # SetAttributes(file, Normal)
        try:
            fs.delete(path)
        except ModelError as exc:
            stays(path, "file" if entry.target is None else "link", exc)
    catches, whole = semantics.uses(*_CATCHES_FOLDERS), not left
    # Directory.Delete(folder, true) when nothing stayed; else each empty folder, deepest
    # first (breadth first, reversed: a folder comes after its parent).
    for path in [folder] if whole else list(reversed(dirs)):
        try:
            if whole:
                fs.delete_tree(path)
            elif not fs.listdir(path):
                fs.delete(path)
        except ModelError as exc:  # held open (or read-only, when not cleared)
            if not catches:
                raise
            stays(path, "folder", exc)
    return left


# -- the agent's backups: the prelude's Get-SfBackups and Remove-SfBackups ------------------

LISTS_BACKUPS = r"function\s+Get-SfBackups\b"
_REMOVES_BACKUPS = r"function\s+Remove-SfBackups\b"


def backup_folder(host: WindowsHost, given: Any, snippet: str) -> str:
    """Confirm-SfPrivateFolder read-only on the backup folder (a missing one stays missing).
    A script without it would trust a folder anyone may have planted: not simulated."""
    if not semantics.uses(acl_rules.FOLDER_CHECK):
        raise SnippetAbort(f"{snippet}: the script does not check its backup folder")
    return str(acl_rules.private_folder(host, given, create=False))


#: Get-SfBackups listing a junction or symbolic link of a backup's name apart (links),
#: and Remove-SfBackups refusing one: GetDirectories lists links with the folders.
_LISTS_LINKS_APART = r"\$found\.links \+= \$leaf"
_REFUSES_LINKS = r"a junction or symbolic link, not an agent backup"


#: The file agent_install writes into a backup before its copy and deletes after it
#: (Get-SfBackupCopying), and Get-SfBackups listing a folder holding it, or nothing, apart.
COPYING = ".sagefleet-copying"
MARKS_COPYING = r"Join-Path \$Backup '\.sagefleet-copying'"
_LISTS_INCOMPLETE_APART = r"\$found\.incomplete \+= \$leaf"


def list_backups(
    host: WindowsHost, root: str
) -> tuple[list[str], list[str] | None, list[str] | None]:
    """Get-SfBackups: the folders of a backup's form in ``root`` (none when it is missing),
    the links of a backup's name, apart when the script tells them apart (else None, and a
    link is listed as a backup, as GetDirectories lists it), and the incomplete ones (a
    folder holding Get-SfBackupCopying's file, or empty), apart when the script tells them
    apart (else None, and they are listed as backups)."""
    fs = host.fs
    apart = semantics.uses(_LISTS_INCOMPLETE_APART) and semantics.uses(MARKS_COPYING)
    if not fs.is_dir(root):
        return [], [] if semantics.uses(_LISTS_LINKS_APART) else None, [] if apart else None
    named = [n for n in fs.listdir(root) if backup_stamp(n) is not None]
    found = [n for n in named if fs.is_dir(f"{root}\\{n}")]
    links: list[str] | None = None
    if semantics.uses(_LISTS_LINKS_APART):
        links = [n for n in found if fs.stat(f"{root}\\{n}").target is not None]
        found = [n for n in found if n not in links]
    if not apart:
        return found, links, None
    incomplete = [
        n for n in found if fs.exists(f"{root}\\{n}\\{COPYING}") or not fs.listdir(f"{root}\\{n}")
    ]
    return [n for n in found if n not in incomplete], links, incomplete


def removes_backups(snippet: str) -> None:
    """A script that removes agent backups does it through the prelude's Remove-SfBackups."""
    if not semantics.uses(_REMOVES_BACKUPS):
        raise SnippetAbort(
            f"{snippet}: the simulator models the removal of agent backups only through the "
            "prelude's Remove-SfBackups: this script does it another way"
        )


def remove_backups(
    host: WindowsHost, root: str, names: list[Any]
) -> tuple[list[str], list[dict[str, str]]]:
    """Remove-SfBackups: every name of a backup's form (and no link, when the script
    refuses them) or nothing goes; then Remove-SfTree on each that exists. (pruned, left)."""
    for name in names:
        if name is not None and backup_stamp(str(name)) is None:
            raise SnippetAbort(
                f"refusing to remove '{name}' under '{root}': not the name of an agent backup "
                "(<version>-<yyyyMMddTHHmmssZ>)"
            )
        folder = f"{root}\\{name}"
        linked = name is not None and host.fs.is_dir(folder) and host.fs.stat(folder).target
        if linked and semantics.uses(_REFUSES_LINKS):
            raise SnippetAbort(
                f"refusing to remove '{name}' under '{root}': a junction or symbolic link, "
                "not an agent backup"
            )
    pruned: list[str] = []
    left: list[dict[str, str]] = []
    for name in names:
        folder = f"{root}\\{name}"
        if name is not None and host.fs.is_dir(folder):
            stuck = remove_tree(host.fs, str(name), folder)
            if stuck:
                left.extend(stuck)
            else:
                pruned.append(str(name))
    return pruned, left
