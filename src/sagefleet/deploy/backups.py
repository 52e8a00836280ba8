"""The agent's backups after an install or upgrade that ended well: the newest
``sagefleet_agent_keep_backups`` stay in ``sagefleet_agent_backup_dir``, never the one
the run took; older ones go (docs/deploy.md, "Backups of the agent").

Each backup is a copy of the agent's folder, settings.json and its passwords included:
kept for ever they would pile up on the host. The bastion decides from the host's
listing (``agent_backup_prune``), as for the staged versions; the host lists and removes
only folders whose name has the form ``agent_install`` gives a backup.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sagefleet.deploy.state import DeployState
from sagefleet.remote import HostSession, RemoteError

#: A backup's name as agent_install makes it: '<version>-<yyyyMMddTHHmmssZ>', UTC, the
#: version in letters, digits and . + _ - (the prelude's Get-SfBackupStamp reads the same).
BACKUP_NAME = re.compile(r"[0-9A-Za-z.+_-]+-([0-9]{8}T[0-9]{6}Z)")
_STAMP = "%Y%m%dT%H%M%SZ"


def backup_stamp(name: str) -> str | None:
    """The UTC time in a backup's name, or None for a name agent_install never makes
    (case-sensitive, as made; the time must be one)."""
    match = BACKUP_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        dt.datetime.strptime(match.group(1), _STAMP)
    except ValueError:
        return None
    return match.group(1)


def plan_prune(
    names: Iterable[str], keep: int, current: str | None = None, *, taking: bool = False
) -> tuple[list[str], list[str]]:
    """(kept, to remove) of the backups ``names``, newest first by the time in the name.

    The newest ``keep`` stay; ``current``, the backup this run took, always stays and
    counts towards them (``keep`` 0 keeps it alone). ``taking``: the plan of a run still to
    take its backup (check mode), which will be the newest and take one of the places.
    A name of another form is neither kept nor removed: it is not a backup.
    """
    ours = [n for n in names if backup_stamp(n) is not None]
    ordered = sorted(ours, key=lambda n: (backup_stamp(n), n), reverse=True)
    places = max(keep - (1 if taking else 0), 0)
    this_run = current.lower() if current else None
    kept = [n for n in ordered if n.lower() == this_run]
    for name in ordered:
        if len(kept) >= places:
            break
        if name not in kept:
            kept.append(name)
    remove = [n for n in ordered if n not in kept]
    return kept, remove


@dataclass(frozen=True)
class PruneResult:
    """The backups kept and removed, and the folders a file held open kept (by name)."""

    backup_dir: str
    kept: tuple[str, ...]
    pruned: tuple[str, ...]
    # {folder, path, error}: a file another process holds open; its folder stays, and the
    # next deploy that ends well tries again.
    left: tuple[dict[str, str], ...] = ()


def prune_backups(
    session: HostSession,
    backup_dir: str,
    keep: int,
    current: str | None = None,
    *,
    check_mode: bool = False,
    taking: bool = False,
) -> PruneResult:
    """Remove the backups beyond the newest ``keep``, never ``current`` (see plan_prune).

    Two round trips: the host lists, the bastion decides, the host removes exactly the
    names given. In check mode only the first: ``pruned`` is what a run would remove.
    Raises RemoteError when the host cannot list or remove (the folder refused, say).
    """
    listing = session.run_snippet("agent_backup_prune", {"backup_dir": backup_dir, "remove": []})
    root = str(listing["backup_dir"])
    kept, remove = plan_prune(listing["backups"], keep, current, taking=taking)
    if check_mode or not remove:
        return PruneResult(root, tuple(kept), tuple(remove))
    done = session.run_snippet("agent_backup_prune", {"backup_dir": backup_dir, "remove": remove})
    left = tuple(
        {k: str(item.get(k) or "") for k in ("folder", "path", "error")} for item in done["left"]
    )
    stuck = {item["folder"] for item in left}
    return PruneResult(
        root,
        tuple(kept) + tuple(n for n in remove if n in stuck),
        tuple(str(n) for n in done["pruned"]),
        left,
    )


class Backups(DeployState):
    """The backups step of a deploy: after an install that ended well, or planned."""

    def _prune_backups(self, backup_path: str | None) -> None:
        """Prune after the health gate passed: never a failure of the upgrade (a folder a
        file in use keeps, or a host that does not answer, is a warning naming it)."""
        current = backup_path.rsplit("\\", 1)[-1] if backup_path else None
        folder = self.options.backup_dir
        try:
            found = prune_backups(self.session, folder, self.options.keep_backups, current)
        except RemoteError as exc:
            self._warn(f"older agent backups in {folder} not removed: {exc}")
            self.result.plan += f" — older agent backups in {folder} not removed (see warnings)"
            return
        self.result.backups_pruned = list(found.pruned)
        self.step("backups", kept=list(found.kept), pruned=list(found.pruned))
        if found.pruned:
            self.result.plan += " — older agent backups removed: " + ", ".join(found.pruned)
        for item in found.left:
            self.step("prune-left", **item)
            self._warn(
                f"agent backup {found.backup_dir}\\{item['folder']} not removed: {item['error']} "
                "(the upgrade itself went through; the next deploy tries again)"
            )
        if found.left:
            names = ", ".join(sorted({item["folder"] for item in found.left}))
            self.result.plan += f" — agent backups not removed (a file in use): {names}"

    def _planned_prune(self, taking: bool) -> None:
        """Check mode: say which backups a run would remove; nothing is removed."""
        folder = self.options.backup_dir
        try:
            found = prune_backups(
                self.session, folder, self.options.keep_backups, check_mode=True, taking=taking
            )
        except RemoteError as exc:
            self._warn(f"agent backups in {folder} not listed: {exc}")
            return
        if found.pruned:
            self.result.plan += " — would remove older agent backups: " + ", ".join(found.pruned)

    def _warn(self, text: str) -> None:
        self.result.warnings.append(text)
