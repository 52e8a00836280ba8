"""How the package travels on a push's stdin: the encodings, the blocks and lines of one
Send each, and the pieces a push over several connections cuts it into
(docs/transfer.md, "Stdin encoding" and "Several connections at once")."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from sagefleet.errors import InputError

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
# Connections a push may use at once, and the smallest piece worth one: a connection costs
# an NTLM handshake, a shell and a PowerShell start-up.
DEFAULT_STREAMS = 4
MAX_STREAMS = 16
DEFAULT_MIN_PIECE_BYTES = 8 * 1024 * 1024
# Pieces the host may hold at most for a resume to use them (they travel in the stage_push
# command line); more (only a corrupt folder would have them) and the push starts afresh.
MAX_PIECES = 32


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


def check_chunk(chunk_bytes: int | None, encoding: str) -> int:
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
    return _blocks(stream, check_chunk(chunk_bytes, BINARY))


def encode_lines(
    stream: BinaryIO, chunk_bytes: int = DEFAULT_BASE64_CHUNK_BYTES
) -> Iterator[bytes]:
    """Base64 lines of ``chunk_bytes`` raw bytes each, from the stream's current position.

    One line per stdin Send: the host appends and flushes each line as it
    arrives, so what a cut connection delivered is whole lines on disk.
    """
    chunk = check_chunk(chunk_bytes, BASE64)
    return (base64.b64encode(block) + b"\r\n" for block in _blocks(stream, chunk))


def encode(
    stream: BinaryIO, encoding: str = DEFAULT_ENCODING, chunk_bytes: int | None = None
) -> Iterator[bytes]:
    """The stdin of a push in ``encoding``: raw blocks or base64 lines."""
    chunk = check_chunk(chunk_bytes, encoding)
    if encoding == BINARY:
        return encode_blocks(stream, chunk)
    return encode_lines(stream, chunk)


def wire_bytes(raw: int, chunk_bytes: int | None = None, encoding: str = DEFAULT_ENCODING) -> int:
    """Stdin bytes that ``raw`` package bytes take on the wire in ``encoding``.

    Binary: exactly ``raw``. Base64: 4 characters per 3 bytes (padded per
    line) and a CRLF per line of ``chunk_bytes`` raw bytes.
    """
    chunk = check_chunk(chunk_bytes, encoding)
    if encoding == BINARY:
        return raw
    full, rest = divmod(raw, chunk)
    size = full * (4 * chunk // 3 + 2)
    if rest:
        size += 4 * ((rest + 2) // 3) + 2
    return size


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
