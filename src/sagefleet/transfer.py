"""Get the agent package onto a host: stage, pull, extract, clean up.

WinRM has no file copy: a file travels on the stdin of one PowerShell command.
``stage`` sends the package to the ``stage_push`` snippet, which appends what
arrives to ``<file>.part`` at once and renames the ``.part`` into place only
after checking the SHA-256 of the whole file. Two stdin encodings:

- ``binary`` (the default): the raw bytes, in blocks of 256 KiB (one Send
  each over WinRMSession; ansible's winrm connection cuts its own Sends of
  200,000 bytes). WinRM already carries stdin as base64 inside its SOAP
  messages, so stdin costs exactly the package's size. The snippet reads them through
  ``[Console]::OpenStandardInput()``, after the stdin bootstrap has read exactly
  the script's bytes from the same raw stream (no read-ahead).
- ``base64``: base64 text lines (4/3 of the payload, one line per Send), read
  with ``[Console]::In.ReadLine()``: the fallback, should the binary read not
  behave on some host (it has not been confirmed on a real Windows host).

Either way:

- a host that already holds the package (same SHA-256) gets nothing: one
  ``stage_status`` round trip, zero bytes sent;
- a transfer cut halfway leaves a prefix of the package in the ``.part``
  (every byte that arrived, or every whole line): the next attempt asks
  ``stage_status`` for its size and sends only the rest;
- over a session that can open more connections to its host (``WinRMSession``),
  a large package travels on several at once (``streams``, default 4): each
  WinRM Send waits for its answer, so one connection leaves the link idle for
  a round trip per Send. The package is cut into pieces: the first goes to the
  ``.part``, each other one into ``<part>.<start>`` (the package's bytes from
  ``<start>``), all pushed at the same time; the ``.part``'s command ends its
  stdin only once every piece arrived, then appends them in order and
  verifies the whole. A cut piece is resumed like the ``.part``;
- a host without room for the package is refused before a byte is sent;
- the final file is complete and verified, or absent.

``stage_pull`` has the host download the package itself (an HTTP server on
the bastion, an internal repository) when that is faster than WinRM.
``extract`` expands the staged zip into one folder (the installers find
``settings.json`` beside them), ``cleanup`` keeps the newest staged versions.

Every decision (skip, resume offset, free-space margin, what to remove) is
taken here; the snippets only report and perform (docs/transfer.md).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from sagefleet.errors import InputError
from sagefleet.package import PackageInfo
from sagefleet.remote import (
    AuthenticationFailed,
    HostSession,
    HostUnreachable,
    RemoteError,
    RemoteTimeout,
    SnippetFailed,
    TransportError,
)

log = logging.getLogger(__name__)

DEFAULT_STAGING_ROOT = r"C:\ProgramData\sagefleet\staging"
STAGED_NAME = "Setup.zip"
PART_SUFFIX = ".part"
EXTRACT_MARKER = ".sagefleet-package.json"
# How the package travels on stdin: raw bytes (the default) or base64 text lines.
BINARY = "binary"
BASE64 = "base64"
ENCODINGS = (BINARY, BASE64)
DEFAULT_ENCODING = BINARY
# Raw bytes per Send. Either way a Send envelope is about 350 KB (stdin is base64 inside
# the SOAP body), under what Windows' default MaxEnvelopeSizekb accepts from ansible-core
# (which sends ~450 KB envelopes). 256 KiB raw: 349,528 base64 characters in the envelope.
DEFAULT_BINARY_CHUNK_BYTES = 256 * 1024
# A base64 line: a multiple of 3 (no padding inside the stream); 192 KiB raw make a line
# of 262,146 bytes (CRLF included), the same envelope.
DEFAULT_BASE64_CHUNK_BYTES = 192 * 1024
# The longest staging root: the deepest file under it, <root>\<version: up to 64>\package\
# <a file of the package>, must stay under Windows' 260-character path limit (MAX_PATH,
# which Windows PowerShell 5.1 keeps unless long paths are enabled).
MAX_STAGING_ROOT_CHARS = 120
# Room left on the volume once the package is there: the server keeps running.
DEFAULT_FREE_MARGIN_BYTES = 64 * 1024 * 1024
# The message stage_push and stage_pull give when the content does not verify.
_MISMATCH_TEXT = "does not match the expected SHA-256"
_PART_FILE = re.compile(r"\.part(\.[0-9]{1,18})?$", re.I)
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LOCAL_PATH = re.compile(r"^[A-Za-z]:\\")
_RETRIED = (HostUnreachable, TransportError, RemoteTimeout)
# Connections a push may use at once, and the smallest piece worth one: a connection costs
# an NTLM handshake, a shell and a PowerShell start-up.
DEFAULT_STREAMS = 4
MAX_STREAMS = 16
DEFAULT_MIN_PIECE_BYTES = 8 * 1024 * 1024
# Pieces the host may hold at most for a resume to use them (they travel in the stage_push
# command line); more (only a corrupt folder would have them) and the push starts afresh.
MAX_PIECES = 32


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
            "another staging root",
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and backoff for transport failures in the middle of a transfer.

    Only failures that a new connection may cure are retried (unreachable,
    WinRM fault, timeout); rejected credentials never are, since each retry
    counts towards the account lockout threshold.
    """

    attempts: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, not {self.attempts}")

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` failures (1, 2, ...): doubling, capped."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (failed_attempts - 1)))


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


@dataclass(frozen=True)
class Piece:
    """One file of a push: the package's bytes ``[start, end)``, of which it keeps ``have``.

    ``start`` 0 is the ``.part``; any other is the file ``<part>.<start>``.
    """

    start: int
    have: int
    end: int

    @property
    def offset(self) -> int:
        """Where in the package its next byte goes."""
        return self.start + self.have

    @property
    def missing(self) -> int:
        return self.end - self.offset


@dataclass(frozen=True)
class StageResult:
    """The outcome of staging one package on one host."""

    host: str
    path: str
    sha256: str
    size: int
    bytes_sent: int
    skipped: bool
    resumed_from: int
    duration_s: float
    attempts: int = 1
    method: str = "push"
    check_mode: bool = False
    # The stdin encoding of a push (None for a pull).
    encoding: str | None = None
    # Connections the push used at once.
    streams: int = 1

    @property
    def changed(self) -> bool:
        """Whether the host got (or, in check mode, would get) the file."""
        return not self.skipped


@dataclass(frozen=True)
class ExtractResult:
    """The package's files in the extraction folder."""

    host: str
    folder: str
    files: tuple[str, ...]
    skipped: bool
    check_mode: bool = False

    @property
    def changed(self) -> bool:
        return not self.skipped


@dataclass(frozen=True)
class CleanupResult:
    """Staged versions kept and removed under the staging root."""

    host: str
    root: str
    kept: tuple[str, ...]
    removed: tuple[str, ...]
    removed_parts: tuple[str, ...]
    check_mode: bool = False
    # Files a version folder kept because another process holds them open (a log):
    # {folder, path, error}. The folder stays; the next cleanup tries again.
    left: tuple[dict[str, str], ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.removed_parts)


# -- paths -------------------------------------------------------------------------------


def check_staging_root(root: str) -> str:
    """The staging root must be a local absolute path (free space is read from its drive)
    of at most MAX_STAGING_ROOT_CHARS characters; returned without a trailing backslash."""
    text = root.rstrip("\\")
    if not _LOCAL_PATH.match(text + "\\") or ".." in text.split("\\"):
        raise InputError(
            "the staging root must be an absolute path on a local drive",
            field="staging_root",
            value=root,
            fix=r"use a folder such as C:\ProgramData\sagefleet\staging",
        )
    # Windows counts UTF-16 code units: a character outside the BMP takes two.
    length = len(text.encode("utf-16-le", "surrogatepass")) // 2
    if length > MAX_STAGING_ROOT_CHARS:
        raise InputError(
            f"the staging root is {length} characters long, more than the "
            f"{MAX_STAGING_ROOT_CHARS} that keep every staged file under Windows' "
            "260-character path limit",
            field="staging_root",
            value=text[:40] + "...",
            fix=r"use a shorter folder such as C:\ProgramData\sagefleet\staging",
        )
    return text


def check_encoding(encoding: Any, *, host: str | None = None, field: str = "encoding") -> str:
    """The stdin encoding of a push: 'binary' or 'base64' (``field``: how the caller names it)."""
    if not isinstance(encoding, str) or encoding not in ENCODINGS:
        raise InputError(
            "unknown transfer encoding: must be 'binary' or 'base64'",
            host=host,
            field=field,
            value=repr(encoding),
            fix="leave it unset for 'binary' (raw bytes on stdin, the default); set 'base64' "
            "(text lines, the fallback) only for a host where the binary transfer fails",
        )
    return encoding


def default_chunk_bytes(encoding: str = DEFAULT_ENCODING) -> int:
    """Raw bytes per Send for ``encoding``."""
    if check_encoding(encoding) == BASE64:
        return DEFAULT_BASE64_CHUNK_BYTES
    return DEFAULT_BINARY_CHUNK_BYTES


def _check_chunk(chunk_bytes: int | None, encoding: str) -> int:
    """Raw bytes per Send (None: the encoding's default): positive; for base64 lines, a
    multiple of 3 (no inner padding)."""
    if chunk_bytes is None:
        return default_chunk_bytes(encoding)
    positive = not isinstance(chunk_bytes, bool) and isinstance(chunk_bytes, int)
    positive = positive and chunk_bytes > 0
    if check_encoding(encoding) == BASE64 and (not positive or chunk_bytes % 3):
        raise ValueError(f"chunk_bytes must be a positive multiple of 3, not {chunk_bytes}")
    if not positive:
        raise ValueError(f"chunk_bytes must be a positive number of bytes, not {chunk_bytes}")
    return chunk_bytes


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
    sha256: str, version: str | None = None, staging_root: str = DEFAULT_STAGING_ROOT
) -> str:
    r"""Where a package is staged on the host: ``<root>\<version or sha[:12]>\Setup.zip``."""
    return f"{check_staging_root(staging_root)}\\{version_folder(sha256, version)}\\{STAGED_NAME}"


def part_path(path: str) -> str:
    return path + PART_SUFFIX


def staging_root_of(path: str) -> str:
    r"""The staging root of a staged file (``<root>\<version>\Setup.zip``) or of what is
    extracted beside it (``<root>\<version>\package``): the folder every staging snippet
    checks is private (SYSTEM and Administrators only) before it touches anything."""
    return path.replace("/", "\\").rsplit("\\", 2)[0]


def piece_path(path: str, start: int) -> str:
    """The file of the piece of the package that starts at ``start`` (0: the ``.part``)."""
    return part_path(path) if start == 0 else f"{part_path(path)}.{start}"


# -- wire pieces -------------------------------------------------------------------------


def _blocks(stream: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    while block := stream.read(chunk_bytes):
        yield block


def encode_blocks(
    stream: BinaryIO, chunk_bytes: int = DEFAULT_BINARY_CHUNK_BYTES
) -> Iterator[bytes]:
    """Raw blocks of ``chunk_bytes`` bytes each, from the stream's current position.

    One block per stdin Send; the host appends and flushes every byte as it
    reads it, so what a cut connection delivered is a prefix of the package.
    """
    return _blocks(stream, _check_chunk(chunk_bytes, BINARY))


def encode_lines(
    stream: BinaryIO, chunk_bytes: int = DEFAULT_BASE64_CHUNK_BYTES
) -> Iterator[bytes]:
    """Base64 lines of ``chunk_bytes`` raw bytes each, from the stream's current position.

    One line per stdin Send: the host appends and flushes each line as it
    arrives, so what a cut connection delivered is whole lines on disk.
    """
    chunk = _check_chunk(chunk_bytes, BASE64)
    return (base64.b64encode(block) + b"\r\n" for block in _blocks(stream, chunk))


def encode(
    stream: BinaryIO, encoding: str = DEFAULT_ENCODING, chunk_bytes: int | None = None
) -> Iterator[bytes]:
    """The stdin of a push in ``encoding``: raw blocks or base64 lines."""
    chunk = _check_chunk(chunk_bytes, encoding)
    if encoding == BINARY:
        return encode_blocks(stream, chunk)
    return encode_lines(stream, chunk)


def wire_bytes(raw: int, chunk_bytes: int | None = None, encoding: str = DEFAULT_ENCODING) -> int:
    """Stdin bytes that ``raw`` package bytes take on the wire in ``encoding``.

    Binary: exactly ``raw``. Base64: 4 characters per 3 bytes (padded per
    line) and a CRLF per line of ``chunk_bytes`` raw bytes.
    """
    chunk = _check_chunk(chunk_bytes, encoding)
    if encoding == BINARY:
        return raw
    full, rest = divmod(raw, chunk)
    size = full * (4 * chunk // 3 + 2)
    if rest:
        size += 4 * ((rest + 2) // 3) + 2
    return size


def status_params(path: str, *, hash_file: bool = True) -> dict[str, Any]:
    return {"root": staging_root_of(path), "path": path, "part": part_path(path), "hash": hash_file}


def push_params(
    path: str,
    package: PackageInfo,
    offset: int,
    encoding: str = DEFAULT_ENCODING,
    segments: list[Piece] | None = None,
) -> dict[str, Any]:
    """The stage_push of the ``.part``: from ``offset``, then the ``segments`` appended."""
    params: dict[str, Any] = {
        "root": staging_root_of(path),
        "path": path,
        "part": part_path(path),
        "offset": offset,
        "size": package.size,
        "sha256": package.sha256.lower(),
        "encoding": encoding,
    }
    if segments:
        params["segments"] = [{"start": p.start, "end": p.end} for p in segments]
    return params


def piece_params(path: str, piece: Piece, encoding: str = DEFAULT_ENCODING) -> dict[str, Any]:
    """The stage_push of one piece into its own file: nothing verified, nothing renamed."""
    return {
        "root": staging_root_of(path),
        "path": path,
        "part": piece_path(path, piece.start),
        "offset": piece.have,
        "size": piece.end - piece.start,
        "sha256": None,
        "encoding": encoding,
        "piece": True,
    }


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


def plan_pieces(
    size: int,
    part_size: int,
    segments: dict[int, int] | None = None,
    *,
    streams: int = 1,
    min_piece_bytes: int = DEFAULT_MIN_PIECE_BYTES,
) -> list[Piece]:
    """What to send, and into which file: the ``.part`` first, then the pieces in order.

    What the host holds is kept: the ``.part`` when it is not larger than the
    package, and each piece that starts at or past its end, up to the next
    kept start (a piece that starts inside the ``.part`` is stale: the final
    stage_push deletes it). What is missing is then cut so that ``streams``
    commands can send it at once, in pieces of at least ``min_piece_bytes``,
    as even as possible.
    """
    part = part_size if 0 <= part_size <= size else 0
    held = segments or {}
    starts = sorted(s for s in held if 0 < s < size and s >= part)
    if len(starts) > MAX_PIECES:
        starts = []
    bounds = [0, *starts, size]
    files = [
        Piece(start, part if start == 0 else min(held[start], end - start), end)
        for start, end in zip(bounds, bounds[1:], strict=False)
    ]
    missing = sum(f.missing for f in files)
    if streams <= 1 or missing < 2 * min_piece_bytes:
        return files
    share = max(min_piece_bytes, missing // streams)
    pieces: list[Piece] = []
    for f in files:
        count = f.missing // share  # pieces of at least ``share`` bytes
        if count <= 1:
            pieces.append(f)
            continue
        step = _ceil_div(f.missing, count)
        ends = [*range(f.offset + step, f.end, step), f.end]
        pieces.append(Piece(f.start, f.have, ends[0]))
        pieces.extend(Piece(a, 0, b) for a, b in zip(ends, ends[1:], strict=False))
    return pieces


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def check_space(
    host: str, status: StageStatus, needed: int, margin: int = DEFAULT_FREE_MARGIN_BYTES
) -> None:
    """Refuse before sending when the bytes still to write plus the margin do not fit."""
    if needed + margin > status.free_bytes:
        raise InsufficientSpace(
            host, status.path, status.volume, needed + margin, status.free_bytes
        )


# -- stage (push) ------------------------------------------------------------------------


def _with_retries(
    session: HostSession,
    retry: RetryPolicy,
    sleep: Callable[[float], None],
    what: str,
    attempt_once: Callable[[int], StageResult],
) -> StageResult:
    for attempt in range(1, retry.attempts + 1):
        try:
            return attempt_once(attempt)
        except AuthenticationFailed:
            raise
        except _RETRIED as exc:
            if attempt >= retry.attempts:
                raise
            delay = retry.delay(attempt)
            log.info(
                "%s: %s attempt %d/%d failed (%s); retrying in %.1f s",
                session.host,
                what,
                attempt,
                retry.attempts,
                exc.message,
                delay,
            )
            # A new shell: on Windows, deleting the old one ends the interrupted
            # command, which would otherwise keep the .part open.
            session.close()
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def stage(
    session: HostSession,
    package: PackageInfo,
    *,
    staging_root: str = DEFAULT_STAGING_ROOT,
    encoding: str = DEFAULT_ENCODING,
    chunk_bytes: int | None = None,
    check_mode: bool = False,
    resume: bool = True,
    version: str | None = None,
    free_margin_bytes: int = DEFAULT_FREE_MARGIN_BYTES,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    streams: int = DEFAULT_STREAMS,
    min_piece_bytes: int = DEFAULT_MIN_PIECE_BYTES,
) -> StageResult:
    r"""Put ``package`` at ``<staging_root>\<version>\Setup.zip`` on the host, verified.

    Skipped (nothing sent) when the host already holds the same SHA-256;
    resumed from the ``.part`` (and pieces) an interrupted transfer left
    unless ``resume`` is False; refused before sending when the volume lacks
    room; retried with backoff after transport failures (``retry``, default 3
    attempts). ``version`` names the folder (default: the package's agent
    version, else the start of its SHA-256). In check mode only the status is
    read. ``encoding`` is how the package travels on stdin: ``binary`` (raw
    bytes, the default) or ``base64`` (text lines, the fallback);
    ``chunk_bytes`` the raw bytes per Send (default: 256 KiB binary, 192 KiB
    base64). ``streams`` is how many connections may carry the package at once
    when the session can open more (``HostSession.sibling``), in pieces of at
    least ``min_piece_bytes``.
    """
    if free_margin_bytes < 0:
        raise ValueError("free_margin_bytes must be >= 0")
    if not 1 <= streams <= MAX_STREAMS:
        raise InputError(
            f"must be between 1 and {MAX_STREAMS}", field="streams", value=str(streams)
        )
    if min_piece_bytes < 1:
        raise ValueError("min_piece_bytes must be >= 1")
    chunk = _check_chunk(chunk_bytes, encoding)
    path = staged_path(package.sha256, version or package.agent_version, staging_root)
    source = Path(package.path)
    _open(source).close()  # unreadable: refused before the host is contacted
    policy = retry or RetryPolicy()
    started = time.monotonic()

    def attempt_once(attempt: int) -> StageResult:
        return _stage_once(
            session,
            package,
            source,
            path,
            _Wire(encoding, chunk, streams, min_piece_bytes),
            check_mode=check_mode,
            resume=resume,
            margin=free_margin_bytes,
            attempt=attempt,
            started=started,
        )

    return _with_retries(session, policy, sleep, f"staging {path}", attempt_once)


@dataclass(frozen=True)
class _Wire:
    """How a push travels: stdin encoding, raw bytes per Send, connections, piece size."""

    encoding: str
    chunk_bytes: int
    streams: int
    min_piece_bytes: int


def _stage_once(
    session: HostSession,
    package: PackageInfo,
    source: Path,
    path: str,
    wire: _Wire,
    *,
    check_mode: bool,
    resume: bool,
    margin: int,
    attempt: int,
    started: float,
) -> StageResult:
    host = session.host
    expected = package.sha256.lower()
    status = parse_status(host, session.run_snippet("stage_status", status_params(path)))

    def result(sent: int, skipped: bool, held: int, streams: int = 1) -> StageResult:
        return StageResult(
            host=host,
            path=status.path,
            sha256=expected,
            size=package.size,
            bytes_sent=sent,
            skipped=skipped,
            resumed_from=held,
            duration_s=time.monotonic() - started,
            attempts=attempt,
            check_mode=check_mode,
            encoding=wire.encoding,
            streams=streams,
        )

    if status.exists and status.sha256 == expected:
        return result(0, True, 0)
    if resume:
        pieces = _plan(package.size, status.part_size, status.segments, wire)
    else:
        pieces = _plan(package.size, 0, {}, wire)
    held = sum(p.have for p in pieces)
    # Each file is truncated to what it keeps; appending a piece holds it twice for a moment.
    largest = max((p.end - p.start for p in pieces[1:]), default=0)
    check_space(host, status, sum(p.missing for p in pieces) + largest, margin)
    if check_mode:
        return result(0, False, held)
    try:
        sent, streams = _push(session, package, source, path, pieces, wire)
        return result(sent, False, held, streams)
    except SnippetFailed as exc:
        if held == 0 or _MISMATCH_TEXT not in exc.error:
            raise
        # The kept files may hold another package's bytes (same folder name, new build);
        # the snippet removed them, so one fresh transfer settles it.
        log.info("%s: resumed transfer of %s did not verify; sending it whole", host, path)
        sent, streams = _push(
            session, package, source, path, _plan(package.size, 0, {}, wire), wire
        )
        return result(sent, False, 0, streams)


def _plan(size: int, part_size: int, segments: dict[int, int], wire: _Wire) -> list[Piece]:
    return plan_pieces(
        size,
        part_size,
        segments,
        streams=wire.streams,
        min_piece_bytes=wire.min_piece_bytes,
    )


class _Window:
    """A file read from ``start`` for ``length`` bytes, as a stream."""

    def __init__(self, stream: BinaryIO, start: int, length: int) -> None:
        stream.seek(start)
        self._stream = stream
        self._left = length

    def read(self, size: int = -1) -> bytes:
        size = self._left if size < 0 else min(size, self._left)
        data = self._stream.read(size) if size > 0 else b""
        self._left -= len(data)
        return data


def _open(source: Path) -> BinaryIO:
    try:
        return source.open("rb")
    except OSError as exc:
        raise InputError(
            f"cannot read the package ({exc})",
            field="sagefleet_agent_package",
            value=str(source),
        ) from exc


def _blocks_of(source: Path, piece: Piece, wire: _Wire) -> Iterator[bytes]:
    """The stdin of a piece: its missing bytes, encoded, read as they are sent."""
    with _open(source) as stream:
        window: Any = _Window(stream, piece.offset, piece.missing)
        yield from encode(window, wire.encoding, wire.chunk_bytes)


class _PieceFailed(Exception):
    """Another connection's piece failed: the .part's command must not end its stdin."""


class _Helpers:
    """Pieces pushed by other connections to the host, in threads, while the caller
    pushes the .part; ``wait`` blocks until they are all there or one failed."""

    def __init__(
        self, sessions: list[HostSession], pieces: list[Piece], push: Callable[..., int]
    ) -> None:
        self._queue = list(reversed(pieces))
        self._lock = threading.Lock()
        self._push = push
        self.sent = 0
        self.error: BaseException | None = None
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._work, args=(s,), name=f"push-{i}", daemon=True)
            for i, s in enumerate(sessions, 1)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self, session: HostSession) -> None:
        while True:
            with self._lock:
                if self._stopped or self.error is not None or not self._queue:
                    return
                piece = self._queue.pop()
            try:
                sent = self._push(session, piece)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                with self._lock:
                    self.error = self.error or exc
                return
            with self._lock:
                self.sent += sent

    def wait(self) -> None:
        for thread in self._threads:
            thread.join()
        if self.error is not None:
            raise _PieceFailed from self.error

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        for thread in self._threads:
            thread.join()


def _push(
    session: HostSession,
    package: PackageInfo,
    source: Path,
    path: str,
    pieces: list[Piece],
    wire: _Wire,
) -> tuple[int, int]:
    """Send what ``pieces`` lack and have the host assemble and verify the package.

    Returns the raw bytes sent and the connections used at once.
    """
    main, rest = pieces[0], pieces[1:]
    todo = [p for p in rest if p.missing > 0]
    extra = [s for s in (session.sibling() for _ in range(min(wire.streams - 1, len(todo)))) if s]
    log.debug(
        "%s: sending %d bytes of %s in %d piece(s) over %d connection(s) (%s stdin)",
        session.host,
        sum(p.missing for p in pieces),
        path,
        len([main, *todo]),
        1 + len(extra),
        wire.encoding,
    )

    def push_piece(on: HostSession, piece: Piece) -> int:
        doc = on.run_snippet(
            "stage_push", piece_params(path, piece, wire.encoding), _blocks_of(source, piece, wire)
        )
        if not isinstance(doc, dict) or int(doc.get("size", -1)) != piece.end - piece.start:
            raise TransferError(
                on.host,
                path,
                f"stage_push did not confirm the piece at {piece.start}: {doc!r:.200}",
            )
        return int(doc.get("received_bytes", piece.missing))

    sent = 0
    helpers = _Helpers(extra, todo, push_piece) if extra else None
    try:
        stdin: Iterator[bytes] = _blocks_of(source, main, wire)
        if helpers is None:
            sent += sum(push_piece(session, piece) for piece in todo)
        elif session.streams_stdin and main.missing:
            # Its command reads its bytes, then waits for the end of stdin: that end goes
            # once every piece is there.
            stdin = _then(stdin, helpers.wait)
        else:
            # A session that reads a command's whole stdin before starting it (ansible's
            # exec_command) pushes the .part's range as a piece too, while the others push
            # theirs. A command with nothing to read would not wait for the end of its
            # stdin: the one that assembles starts once every piece is there.
            sent += push_piece(session, main) if main.missing else 0
            main = Piece(0, main.end, main.end)
            helpers.wait()
            stdin = iter(())
        doc = session.run_snippet(
            "stage_push", push_params(path, package, main.have, wire.encoding, rest), stdin
        )
    except _PieceFailed as exc:
        raise exc.__cause__ from None  # type: ignore[misc]
    finally:
        if helpers is not None:
            helpers.stop()
            sent += helpers.sent
        for other in extra:
            other.close()
    if not isinstance(doc, dict) or str(doc.get("sha256", "")).lower() != package.sha256.lower():
        raise TransferError(
            session.host, path, f"stage_push did not confirm the SHA-256: {doc!r:.200}"
        )
    return sent + int(doc.get("received_bytes", main.missing)), 1 + len(extra)


def _then(blocks: Iterator[bytes], wait: Callable[[], None]) -> Iterator[bytes]:
    """``blocks``, then ``wait()`` before the end: the stdin stays open until it returns."""
    yield from blocks
    wait()


# -- pull ---------------------------------------------------------------------------------


def stage_pull(
    session: HostSession,
    url: str,
    sha256: str,
    *,
    size: int | None = None,
    version: str | None = None,
    staging_root: str = DEFAULT_STAGING_ROOT,
    check_mode: bool = False,
    use_default_credentials: bool = False,
    free_margin_bytes: int = DEFAULT_FREE_MARGIN_BYTES,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> StageResult:
    """Have the host download the package from ``url`` and verify it against ``sha256``.

    Same folder, skip rule and result as ``stage``; nothing goes over stdin.
    With ``size`` known, a volume without room is refused before the
    download. ``use_default_credentials`` lets an internal repository that
    wants Windows authentication see the WinRM account.
    """
    if not re.fullmatch(r"[0-9A-Fa-f]{64}", sha256 or ""):
        raise InputError("not a SHA-256 (64 hex digits)", field="sha256", value=repr(sha256))
    if not re.match(r"^https?://", url, re.I):
        raise InputError(
            "the package URL must be http:// or https://",
            field="url",
            value=url,
            fix="serve the package over HTTP(S) from the bastion or the internal repository",
        )
    expected = sha256.lower()
    path = staged_path(expected, version, staging_root)
    policy = retry or RetryPolicy()
    started = time.monotonic()
    host = session.host

    def attempt_once(attempt: int) -> StageResult:
        status = parse_status(host, session.run_snippet("stage_status", status_params(path)))

        def result(skipped: bool) -> StageResult:
            return StageResult(
                host=host,
                path=status.path,
                sha256=expected,
                size=size if size is not None else (status.size or 0),
                bytes_sent=0,
                skipped=skipped,
                resumed_from=0,
                duration_s=time.monotonic() - started,
                attempts=attempt,
                method="pull",
                check_mode=check_mode,
            )

        if status.exists and status.sha256 == expected:
            return result(True)
        if size is not None:
            check_space(host, status, size - status.part_size, free_margin_bytes)
        if check_mode:
            return result(False)
        doc = session.run_snippet(
            "stage_pull",
            {
                "root": staging_root_of(path),
                "url": url,
                "path": path,
                "part": part_path(path),
                "sha256": expected,
                "use_default_credentials": use_default_credentials,
            },
        )
        if not isinstance(doc, dict) or str(doc.get("sha256", "")).lower() != expected:
            raise TransferError(host, path, f"stage_pull did not confirm the SHA-256: {doc!r:.200}")
        if size is None:
            return replace(result(False), size=int(doc.get("size") or 0))
        return result(False)

    return _with_retries(session, policy, sleep, f"downloading {url} to {path}", attempt_once)


# -- extract -------------------------------------------------------------------------------


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
            "root": staging_root_of(staged_zip),
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


# -- cleanup -------------------------------------------------------------------------------


def _current_folder(root: str, current: str | None) -> str | None:
    r"""The version folder name from a name, a folder path or a staged file path under root."""
    if not current:
        return None
    text = current.rstrip("\\")
    prefix = root.lower() + "\\"
    if text.lower().startswith(prefix):
        return text[len(prefix) :].split("\\", 1)[0]
    if "\\" not in text:
        return text
    raise InputError(
        "the current staged version is not under the staging root",
        field="current",
        value=current,
        fix=f"give a folder name or a path under {root}",
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
    staging_root: str = DEFAULT_STAGING_ROOT,
    keep: int = 2,
    current: str | None = None,
    *,
    check_mode: bool = False,
) -> CleanupResult:
    """Remove staged versions beyond the newest ``keep``, never the ``current`` one.

    ``current`` is a version folder name, or any path inside it (the staged
    zip). Two round trips: the host lists, the controller decides, the host
    removes exactly the names given. Stray ``.part`` files of the other kept
    versions go too.
    """
    root = check_staging_root(staging_root)
    current_name = _current_folder(root, current)
    listing = session.run_snippet("stage_cleanup", {"root": root, "remove": [], "remove_parts": []})
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
        root=root,
        kept=tuple(kept),
        removed=tuple(removed),
        removed_parts=tuple(removed_parts),
        check_mode=check_mode,
        left=tuple(left),
    )
