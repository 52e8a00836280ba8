"""Push the package to a host over WinRM stdin: skipped when there, resumed when cut,
over several connections at once when large (docs/transfer.md, "How a push goes")."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sagefleet.errors import InputError
from sagefleet.package import PackageInfo
from sagefleet.remote import HostSession, SnippetFailed
from sagefleet.remote.retry import Backoff
from sagefleet.transfer.staging import (
    DEFAULT_FREE_MARGIN_BYTES,
    DEFAULT_STAGING_DIR,
    StageResult,
    TransferError,
    check_space,
    part_path,
    read_status,
    staged_path,
    staging_dir_of,
    with_retries,
)
from sagefleet.transfer.wire import (
    DEFAULT_ENCODING,
    DEFAULT_MIN_PIECE_BYTES,
    DEFAULT_STREAMS,
    MAX_STREAMS,
    Piece,
    check_chunk,
    encode,
    plan_pieces,
)

log = logging.getLogger(__name__)

# The message stage_push and stage_pull give when the content does not verify.
_MISMATCH_TEXT = "does not match the expected SHA-256"


def piece_path(path: str, start: int) -> str:
    """The file of the piece of the package that starts at ``start`` (0: the ``.part``)."""
    return part_path(path) if start == 0 else f"{part_path(path)}.{start}"


def push_params(
    path: str,
    package: PackageInfo,
    offset: int,
    encoding: str = DEFAULT_ENCODING,
    segments: list[Piece] | None = None,
) -> dict[str, Any]:
    """The stage_push of the ``.part``: from ``offset``, then the ``segments`` appended."""
    params: dict[str, Any] = {
        "root": staging_dir_of(path),
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
        "root": staging_dir_of(path),
        "path": path,
        "part": piece_path(path, piece.start),
        "offset": piece.have,
        "size": piece.end - piece.start,
        "sha256": None,
        "encoding": encoding,
        "piece": True,
    }


def stage(
    session: HostSession,
    package: PackageInfo,
    *,
    staging_dir: str = DEFAULT_STAGING_DIR,
    encoding: str = DEFAULT_ENCODING,
    chunk_bytes: int | None = None,
    check_mode: bool = False,
    resume: bool = True,
    version: str | None = None,
    free_margin_bytes: int = DEFAULT_FREE_MARGIN_BYTES,
    retry: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    streams: int = DEFAULT_STREAMS,
    min_piece_bytes: int = DEFAULT_MIN_PIECE_BYTES,
) -> StageResult:
    r"""Put ``package`` at ``<staging_dir>\<version>\Setup.zip`` on the host, verified.

    Skipped (nothing sent) when the host already holds the same SHA-256;
    resumed from the ``.part`` (and pieces) an interrupted transfer left
    unless ``resume`` is False; refused before sending when the volume lacks
    room; retried with backoff after transport failures (``retry``, default 2
    retries). ``version`` names the folder (default: the package's agent
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
    chunk = check_chunk(chunk_bytes, encoding)
    path = staged_path(package.sha256, version or package.agent_version, staging_dir)
    source = Path(package.path)
    _open(source).close()  # unreadable: refused before the host is contacted
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

    return with_retries(session, retry, sleep, f"staging {path}", attempt_once)


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
    status = read_status(session, path)

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
