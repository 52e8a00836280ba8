"""What every transfer step shares: the staging folder's layout, the host's status, the
results and errors (docs/transfer.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sagefleet.errors import InputError
from sagefleet.remote import (
    HostSession,
    HostUnreachable,
    RemoteError,
    RemoteTimeout,
    TransportError,
)
from sagefleet.remote.retry import Backoff
from sagefleet.variables.declarations import STAGING_DIR

#: The declared default of sagefleet_agent_staging_dir.
DEFAULT_STAGING_DIR: str = STAGING_DIR.default
STAGED_NAME = "Setup.zip"
PART_SUFFIX = ".part"
# The longest staging folder: the deepest file under it, <dir>\<version: up to 64>\package\
# <a file of the package>, must stay under Windows' 260-character path limit (MAX_PATH,
# which Windows PowerShell 5.1 keeps unless long paths are enabled).
MAX_STAGING_DIR_CHARS = 120
# Room left on the volume once the package is there: the server keeps running.
DEFAULT_FREE_MARGIN_BYTES = 64 * 1024 * 1024
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LOCAL_PATH = re.compile(r"^[A-Za-z]:\\")
# What a new connection may cure; rejected credentials never are retried, since each retry
# counts towards the account lockout threshold.
_RETRIED = (HostUnreachable, TransportError, RemoteTimeout)

T = TypeVar("T")


class TransferError(RemoteError):
    """The package could not be staged, extracted or cleaned up on one host."""

    kind = "transfer"

    def __init__(self, host: str, path: str, message: str) -> None:
        self.path = path
        super().__init__(host, message)


class InsufficientSpace(TransferError):
    """The volume lacks room for the package plus the margin; nothing was sent."""

    def __init__(self, host: str, path: str, volume: str, needed: int, free: int) -> None:
        self.volume = volume
        self.needed = needed
        self.free = free
        super().__init__(
            host,
            path,
            f"not enough free space to stage '{path}': {needed} bytes needed (package and "
            f"margin), {free} bytes free on {volume}; free some space on {volume} or choose "
            "another staging folder",
        )


@dataclass(frozen=True, kw_only=True)
class HostStep:
    """What one transfer step did on one host (in check mode: would do)."""

    host: str
    check_mode: bool = False

    @property
    def changed(self) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class StageResult(HostStep):
    """The outcome of staging one package on one host."""

    path: str
    sha256: str
    size: int
    bytes_sent: int
    skipped: bool
    resumed_from: int
    duration_s: float
    attempts: int = 1
    method: str = "push"
    # The stdin encoding of a push (None for a pull).
    encoding: str | None = None
    # Connections the push used at once.
    streams: int = 1

    @property
    def changed(self) -> bool:
        """Whether the host got (or, in check mode, would get) the file."""
        return not self.skipped


@dataclass(frozen=True)
class StageStatus:
    """What ``stage_status`` saw on the host."""

    path: str
    exists: bool
    size: int | None
    sha256: str | None
    part: str
    part_size: int
    volume: str
    free_bytes: int
    # The pieces a push over several connections left: start -> bytes held.
    segments: dict[int, int] = field(default_factory=dict)


# -- paths -------------------------------------------------------------------------------


def check_staging_dir(staging_dir: str) -> str:
    """The staging folder must be a local absolute path (free space is read from its drive)
    of at most MAX_STAGING_DIR_CHARS characters; returned without a trailing backslash."""
    text = staging_dir.rstrip("\\")
    if not _LOCAL_PATH.match(text + "\\") or ".." in text.split("\\"):
        raise InputError(
            "the staging folder must be an absolute path on a local drive",
            field="staging_dir",
            value=staging_dir,
            fix=f"use a folder such as {DEFAULT_STAGING_DIR}",
        )
    # Windows counts UTF-16 code units: a character outside the BMP takes two.
    length = len(text.encode("utf-16-le", "surrogatepass")) // 2
    if length > MAX_STAGING_DIR_CHARS:
        raise InputError(
            f"the staging folder is {length} characters long, more than the "
            f"{MAX_STAGING_DIR_CHARS} that keep every staged file under Windows' "
            "260-character path limit",
            field="staging_dir",
            value=text[:40] + "...",
            fix=f"use a shorter folder such as {DEFAULT_STAGING_DIR}",
        )
    return text


def version_folder(sha256: str, version: str | None = None) -> str:
    """Folder name of one staged package: its agent version, else the start of its SHA-256."""
    name = version if version else sha256.lower()[:12]
    if not _FOLDER_NAME.match(name):
        raise InputError(
            "unusable staging folder name",
            field="version",
            value=repr(name),
            fix="use letters, digits, dots, dashes or underscores",
        )
    return name


def staged_path(
    sha256: str, version: str | None = None, staging_dir: str = DEFAULT_STAGING_DIR
) -> str:
    r"""Where a package is staged on the host: ``<staging_dir>\<version or sha[:12]>\Setup.zip``."""
    return f"{check_staging_dir(staging_dir)}\\{version_folder(sha256, version)}\\{STAGED_NAME}"


def part_path(path: str) -> str:
    return path + PART_SUFFIX


def staging_dir_of(path: str) -> str:
    r"""The staging folder of a staged file (``<staging_dir>\<version>\Setup.zip``) or of
    what is extracted beside it (``<staging_dir>\<version>\package``): the folder every
    staging snippet checks is private (SYSTEM and Administrators only) before it touches
    anything."""
    return path.replace("/", "\\").rsplit("\\", 2)[0]


# -- the host's status ---------------------------------------------------------------------


def status_params(path: str, *, hash_file: bool = True) -> dict[str, Any]:
    return {"root": staging_dir_of(path), "path": path, "part": part_path(path), "hash": hash_file}


def _int(doc: dict[str, Any], key: str, default: int = 0) -> int:
    value = doc.get(key)
    return default if value is None else int(value)


def parse_status(host: str, doc: Any) -> StageStatus:
    """Read a ``stage_status`` document; a malformed one is a clear error, not a guess."""
    if not isinstance(doc, dict) or "path" not in doc or "free_bytes" not in doc:
        raise TransferError(host, "?", f"unexpected stage_status answer: {doc!r:.200}")
    sha = doc.get("sha256")
    size = doc.get("size")
    return StageStatus(
        path=str(doc["path"]),
        exists=bool(doc.get("exists")),
        size=None if size is None else int(size),
        sha256=str(sha).lower() if sha else None,
        part=str(doc.get("part") or part_path(str(doc["path"]))),
        part_size=_int(doc, "part_size") if doc.get("part_exists") else 0,
        volume=str(doc.get("volume") or str(doc["path"])[:3]),
        free_bytes=_int(doc, "free_bytes"),
        segments=_segments(host, doc.get("segments")),
    )


def read_status(session: HostSession, path: str) -> StageStatus:
    """One ``stage_status`` round trip for the staged file ``path``."""
    return parse_status(session.host, session.run_snippet("stage_status", status_params(path)))


def _segments(host: str, value: Any) -> dict[int, int]:
    if isinstance(value, dict) and "value" in value:
        value = value["value"]  # Windows PowerShell 5.1 may wrap an array so
    if value is None:
        return {}
    if isinstance(value, dict):
        value = [value]
    try:
        return {int(item["start"]): int(item["size"]) for item in value}
    except (TypeError, KeyError, ValueError):
        raise TransferError(
            host, "?", f"unexpected stage_status segments: {value!r:.200}"
        ) from None


def check_space(
    host: str, status: StageStatus, needed: int, margin: int = DEFAULT_FREE_MARGIN_BYTES
) -> None:
    """Refuse before sending when the bytes still to write plus the margin do not fit."""
    if needed + margin > status.free_bytes:
        raise InsufficientSpace(
            host, status.path, status.volume, needed + margin, status.free_bytes
        )


def with_retries(
    session: HostSession,
    retry: Backoff | None,
    sleep: Callable[[float], None],
    what: str,
    attempt_once: Callable[[int], T],
) -> T:
    """``attempt_once(attempt)`` under the transfer's backoff (default: 2 retries), each
    retry on a new shell: on Windows, deleting the old one ends the interrupted command,
    which would otherwise keep the .part open."""
    return (retry or Backoff()).run(
        attempt_once,
        host=session.host,
        what=what,
        retried=_RETRIED,
        reset=session.close,
        sleep=sleep,
    )
