"""Keep the newest staged versions, never the current one, and remove stray ``.part``
files (docs/transfer.md, "Cleanup")."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sagefleet.errors import InputError
from sagefleet.remote import HostSession
from sagefleet.transfer.staging import (
    DEFAULT_STAGING_DIR,
    HostStep,
    TransferError,
    check_staging_dir,
)

_PART_FILE = re.compile(r"\.part(\.[0-9]{1,18})?$", re.I)


@dataclass(frozen=True, kw_only=True)
class CleanupResult(HostStep):
    """Staged versions kept and removed under the staging folder."""

    staging_dir: str
    kept: tuple[str, ...]
    removed: tuple[str, ...]
    removed_parts: tuple[str, ...]
    # Files a version folder kept because another process holds them open (a log):
    # {folder, path, error}. The folder stays; the next cleanup tries again.
    left: tuple[dict[str, str], ...] = ()
    # The agent backups removed in the same command (remove_backups given): stage_cleanup's
    # 'backups' answer, {pruned, left, error}; None when none were given.
    backups: Mapping[str, Any] | None = None
    # Times the command removing the backups was sent again, its answer lost (a timeout, a
    # WinRM fault: RetryingSession): what the attempts before the last did is not known.
    backups_sent_again: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.removed_parts)


def _current_folder(staging_dir: str, current: str | None) -> str | None:
    r"""The version folder name from a name, a folder path or a staged file path under
    ``staging_dir``."""
    if not current:
        return None
    text = current.rstrip("\\")
    prefix = staging_dir.lower() + "\\"
    if text.lower().startswith(prefix):
        return text[len(prefix) :].split("\\", 1)[0]
    if "\\" not in text:
        return text
    raise InputError(
        "the current staged version is not under the staging folder",
        field="current",
        value=current,
        fix=f"give a folder name or a path under {staging_dir}",
    )


def plan_cleanup(
    folders: list[dict[str, Any]], keep: int, current: str | None
) -> tuple[list[str], list[str], list[str]]:
    """(kept, folders to remove, .part files to remove) from a stage_cleanup listing.

    Newest first by the folder's modified time; the current version is always
    kept and counts towards ``keep``. Every ``.part`` (and piece of one)
    outside the current version is stray (its transfer is over or abandoned)
    and goes.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the current version), not {keep}")
    ordered = sorted(folders, key=lambda f: str(f.get("modified") or ""), reverse=True)
    names = [str(f["name"]) for f in ordered]
    current_key = current.lower() if current else None
    kept: list[str] = [n for n in names if n.lower() == current_key]
    for name in names:
        if len(kept) >= keep:
            break
        if name not in kept:
            kept.append(name)
    kept_keys = {n.lower() for n in kept}
    remove = [n for n in names if n.lower() not in kept_keys]
    parts = [
        f"{f['name']}\\{file['name']}"
        for f in ordered
        if str(f["name"]).lower() in kept_keys and str(f["name"]).lower() != current_key
        for file in f.get("files") or []
        if _PART_FILE.search(str(file.get("name", "")))
    ]
    return kept, remove, parts


def cleanup(
    session: HostSession,
    staging_dir: str = DEFAULT_STAGING_DIR,
    keep: int = 2,
    current: str | None = None,
    *,
    check_mode: bool = False,
    backup_dir: str | None = None,
    remove_backups: Sequence[str] = (),
) -> CleanupResult:
    """Remove staged versions beyond the newest ``keep``, never the ``current`` one.

    ``current`` is a version folder name, or any path inside it (the staged
    zip). Two round trips at most: the host lists, the bastion decides, the host
    removes exactly the names given. Stray ``.part`` files of the other kept
    versions go too.

    ``remove_backups``: agent backups in ``backup_dir`` to remove in the listing command,
    after an upgrade that ended well (sagefleet.deploy.backups decides which): one command
    less per upgrade. Never in check mode.
    """
    root = check_staging_dir(staging_dir)
    current_name = _current_folder(root, current)
    first: dict[str, Any] = {"root": root, "remove": [], "remove_parts": []}
    if remove_backups and not check_mode:
        first.update(backup_dir=backup_dir, remove_backups=list(remove_backups))
    retried = getattr(session, "retried", 0)  # a RetryingSession counts what it sends again
    listing = session.run_snippet("stage_cleanup", first)
    sent_again = getattr(session, "retried", 0) - retried
    if not isinstance(listing, dict) or not isinstance(listing.get("folders"), list):
        raise TransferError(
            session.host, root, f"unexpected stage_cleanup answer: {listing!r:.200}"
        )
    kept, remove, parts = plan_cleanup(listing["folders"], keep, current_name)
    removed: list[str] = remove
    removed_parts: list[str] = parts
    left: list[dict[str, str]] = []
    if not check_mode and (remove or parts):
        done = session.run_snippet(
            "stage_cleanup", {"root": root, "remove": remove, "remove_parts": parts}
        )
        removed = [str(n) for n in done.get("removed") or []]
        removed_parts = [str(n) for n in done.get("removed_parts") or []]
        left = [
            {k: str(item.get(k) or "") for k in ("folder", "path", "error")}
            for item in done.get("left") or []
            if isinstance(item, dict)
        ]
    return CleanupResult(
        host=session.host,
        staging_dir=root,
        kept=tuple(kept),
        removed=tuple(removed),
        removed_parts=tuple(removed_parts),
        check_mode=check_mode,
        left=tuple(left),
        backups=listing.get("backups") if isinstance(listing.get("backups"), dict) else None,
        backups_sent_again=sent_again if "remove_backups" in first else 0,
    )
