"""The agent's backups after an install or upgrade that ended well: the newest
``sagefleet_agent_keep_backups`` stay in ``sagefleet_agent_backup_dir``, never the one
the run took; older ones go, and so do the incomplete copies (a backup copy stopped part
way, which no rollback restores) (docs/deploy.md, "Backups of the agent").

Each backup is a copy of the agent's folder, settings.json and its passwords included:
kept for ever they would pile up on the host. The bastion decides from the host's
listing, as for the staged versions: ``agent_install`` lists them after taking its backup,
and the staging cleanup that follows a good upgrade removes the older ones in the same
command (``stage_cleanup``, no command of their own); check mode lists with
``agent_backup_prune``. The host lists and removes only folders whose name has the form
``agent_install`` gives a backup.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sagefleet.deploy.state import DeployState
from sagefleet.remote import RemoteError
from sagefleet.transfer import CleanupResult

#: A backup's name as agent_install makes it: '<version>-<yyyyMMddTHHmmssZ>', UTC, the
#: version in letters, digits and . + _ - (the prelude's Get-SfBackupStamp reads the same).
BACKUP_NAME = re.compile(r"[0-9A-Za-z.+_-]+-([0-9]{8}T[0-9]{6}Z)")
#: The time in a backup's name (agent_install's New-SfBackupName writes it, UTC).
BACKUP_STAMP = "%Y%m%dT%H%M%SZ"


def backup_stamp(name: str) -> str | None:
    """The UTC time in a backup's name, or None for a name agent_install never makes
    (case-sensitive, as made; the time must be one)."""
    match = BACKUP_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        dt.datetime.strptime(match.group(1), BACKUP_STAMP)
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
class PrunePlan:
    """The backups to keep and to remove after an install that ended well, and the
    incomplete copies (stopped part way) that go with them."""

    kept: tuple[str, ...]
    remove: tuple[str, ...]
    incomplete: tuple[str, ...] = ()

    @property
    def removing(self) -> tuple[str, ...]:
        """Every folder the staging cleanup is asked to remove."""
        return self.remove + self.incomplete


#: What Remove-SfTree says stayed ('kind' of a 'left' entry), in words.
STAYED = {"file": "a file", "folder": "a folder", "link": "a junction or symbolic link"}


def _stayed(item: Mapping[str, str]) -> str:
    """What stayed of a backup and why, as the host said it: what it is (a file, a
    folder, a link; a host that does not say: 'something') and Windows' error."""
    what = STAYED.get(item.get("kind") or "", "something")
    return f"{what} stayed: {item['error']}"


def _names(listed: Any) -> list[str] | None:
    """A listing of backup names (PowerShell 5.1 unwraps a one-element array); None when
    it is not one."""
    if isinstance(listed, str):
        return [listed]
    if isinstance(listed, list) and all(isinstance(n, str) for n in listed):
        return list(listed)
    return None


class Backups(DeployState):
    """The backups step of a deploy: after an install that ended well, or planned."""

    def _prune_plan(self, outcome: Mapping[str, Any]) -> PrunePlan | None:
        """After the health gate passed, from the backups agent_install listed in its
        result: which go, never the one this run took, and the incomplete copies it listed
        apart (each may hold settings.json and its passwords). None when they were not
        listed (a folder refused): a warning, never a failure of the upgrade."""
        folder = self.options.backup_dir
        listed = _names(outcome.get("backups"))
        if outcome.get("backups_error") or listed is None:
            why = outcome.get("backups_error") or "the install did not list them"
            self._not_pruned(f"older agent backups in {folder} not removed: {why}")
            return None
        self._not_backups(outcome.get("backup_links"))
        backup_path = outcome.get("backup_path")
        current = str(backup_path).rsplit("\\", 1)[-1] if backup_path else None
        kept, remove = plan_prune(listed, self.options.keep_backups, current)
        incomplete = [n for n in _names(outcome.get("backup_incomplete")) or [] if n != current]
        return PrunePlan(tuple(kept), tuple(remove), tuple(incomplete))

    def _pruned(self, plan: PrunePlan | None, cleaned: CleanupResult | None) -> None:
        """What the staging cleanup removed of ``plan.removing`` (its ``backups`` answer): a
        backup something in it keeps (a file or folder held open, a read-only link), or a
        refusal, is a warning naming it and what the host said. A backup the answer names
        neither removed nor left was not there when the command ran: when it was sent again
        (its first answer lost), what the first attempt did is not known, and said so."""
        if plan is None:
            return
        done = cleaned.backups if cleaned else None
        folder = self.options.backup_dir
        root = folder.rstrip("\\")
        removing = plan.removing
        if removing and done is None:
            # No answer (the cleanup failed, or said nothing of them): some may have gone.
            self._warn(
                f"older agent backups in {folder} ({', '.join(removing)}) may not be "
                "removed: the staging cleanup did not say (the next deploy that ends well "
                "removes what is left)"
            )
            self.result.plan += f" — older agent backups in {folder}: not known to be removed"
            return
        if removing and done is not None and done.get("error"):
            self._not_pruned(f"older agent backups in {folder} not removed: {done['error']}")
            return
        answer = done or {}
        left = tuple(
            {k: str(item.get(k) or "") for k in ("folder", "path", "kind", "error")}
            for item in answer.get("left") or []
            if isinstance(item, Mapping)
        )
        stuck = {item["folder"] for item in left}
        pruned = [str(n) for n in _names(answer.get("pruned")) or []]
        kept = list(plan.kept) + [n for n in plan.remove if n in stuck]
        absent = [n for n in removing if n not in pruned and n not in stuck]
        self.result.backups_pruned = pruned
        self.step("backups", kept=kept, pruned=pruned, absent=absent)
        older = [n for n in pruned if n not in plan.incomplete]
        partial = [n for n in pruned if n in plan.incomplete]
        if older:
            self.result.plan += " — older agent backups removed: " + ", ".join(older)
        if partial:
            self.result.plan += (
                " — incomplete agent backups (copies stopped part way) removed: "
                + ", ".join(partial)
            )
        if absent:
            self._absent(absent, bool(cleaned and cleaned.backups_sent_again))
        for item in left:
            self.step("prune-left", **item)
            self._warn(
                f"agent backup {root}\\{item['folder']} not removed: "
                f"{_stayed(item)} (the upgrade itself went through; the next deploy tries again)"
            )
        if left:
            said = "; ".join(f"{item['folder']} ({_stayed(item)})" for item in left)
            self.result.plan += f" — agent backups not removed: {said}"

    def _absent(self, names: list[str], sent_again: bool) -> None:
        """Older backups to remove that the answering command did not find."""
        folder, listed = self.options.backup_dir, ", ".join(names)
        if not sent_again:
            self.result.plan += (
                f" — older agent backups already gone when the staging cleanup ran: {listed}"
            )
            return
        self._warn(
            f"older agent backups in {folder} ({listed}): not known whether the staging "
            "cleanup removed them; its first answer was lost and the command sent again, "
            "which did not find them"
        )
        self.result.plan += (
            " — older agent backups not there when the staging cleanup was sent again (what "
            f"its first attempt did is not known): {listed}"
        )

    def _planned_prune(self, taking: bool) -> None:
        """Check mode: say which backups a run would remove (agent_backup_prune lists);
        nothing is removed."""
        folder = self.options.backup_dir
        try:
            listing = self.session.run_snippet(
                "agent_backup_prune", {"backup_dir": folder, "remove": []}
            )
        except RemoteError as exc:
            self._warn(f"agent backups in {folder} not listed: {exc}")
            return
        self._not_backups(listing.get("backup_links"))
        _, remove = plan_prune(
            _names(listing.get("backups")) or [], self.options.keep_backups, taking=taking
        )
        if remove:
            self.result.plan += " — would remove older agent backups: " + ", ".join(remove)
        partial = _names(listing.get("backup_incomplete")) or []
        if partial:
            self.result.plan += (
                " — would remove incomplete agent backups (copies stopped part way): "
                + ", ".join(partial)
            )

    def _not_backups(self, links: Any) -> None:
        """Junctions or symbolic links of a backup's name, which the host listed apart: no
        backup, so never counted (one would take a real backup's place among those kept)
        nor removed (removing it removes the link only). Each is a warning."""
        names = _names(links) or []
        root = self.options.backup_dir.rstrip("\\")
        for name in names:
            self._warn(
                f"{root}\\{name} is a junction or symbolic link named as an agent backup: not "
                "counted as a backup nor removed (see where it points and who made it; delete "
                "the link if nothing needs it)"
            )
        if names:
            self.result.plan += (
                " — not agent backups (junctions or symbolic links), left as they are: "
                + ", ".join(names)
            )

    def _not_pruned(self, warning: str) -> None:
        self._warn(warning)
        self.result.plan += (
            f" — older agent backups in {self.options.backup_dir} not removed (see warnings)"
        )

    def _warn(self, text: str) -> None:
        self.result.warnings.append(text)
