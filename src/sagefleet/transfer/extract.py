"""Expand the staged zip into one folder: the installers find ``settings.json`` beside
them (docs/transfer.md, "Extraction")."""

from __future__ import annotations

from dataclasses import dataclass

from sagefleet.remote import HostSession
from sagefleet.transfer.staging import HostStep, TransferError, staging_dir_of

EXTRACT_MARKER = ".sagefleet-package.json"


@dataclass(frozen=True, kw_only=True)
class ExtractResult(HostStep):
    """The package's files in the extraction folder."""

    folder: str
    files: tuple[str, ...]
    skipped: bool

    @property
    def changed(self) -> bool:
        return not self.skipped


def extract(
    session: HostSession,
    staged_zip: str,
    dest_folder: str,
    *,
    sha256: str | None = None,
    check_mode: bool = False,
) -> ExtractResult:
    """Expand the staged zip into ``dest_folder``, keeping the package's files together.

    The installers look for ``settings.json`` beside them, so the package is
    expanded as is into one folder. Skipped when the folder's marker names
    the same package and every file is there; ``sha256`` re-checks the staged
    zip first. Files already in the folder that the package does not hold
    are left alone (the folder is never emptied).
    """
    doc = session.run_snippet(
        "stage_extract",
        {
            "root": staging_dir_of(staged_zip),
            "path": staged_zip,
            "dest": dest_folder,
            "sha256": sha256.lower() if sha256 else None,
            "marker": EXTRACT_MARKER,
            "check": check_mode,
        },
    )
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise TransferError(
            session.host, staged_zip, f"unexpected stage_extract answer: {doc!r:.200}"
        )
    return ExtractResult(
        host=session.host,
        folder=str(doc.get("dest") or dest_folder),
        files=tuple(str(f) for f in doc["files"]),
        skipped=bool(doc.get("skipped")),
        check_mode=check_mode,
    )
