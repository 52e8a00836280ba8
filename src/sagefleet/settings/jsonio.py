"""Strict JSON reading and canonical, atomic JSON writing for settings.json."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sagefleet.errors import InputError, unreadable

# settings.json is written private (0600) and only when it changes: the defaults.
from sagefleet.files import write_atomic as write_atomic

#: Vendor files bigger than this are refused: a real settings.json is a few kilobytes.
MAX_JSON_BYTES = 1_000_000
#: Deeper nesting is refused before parsing, so hostile input cannot exhaust the stack.
MAX_JSON_DEPTH = 32


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _nesting_depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def loads_strict(
    text: str | bytes,
    *,
    source: str,
    max_bytes: int = MAX_JSON_BYTES,
    max_depth: int = MAX_JSON_DEPTH,
) -> Any:
    """Parse JSON refusing what ``json.loads`` lets through silently.

    Duplicate keys would make one of two values vanish (last one wins), NaN and
    Infinity are not JSON, and size and depth are bounded so that a vendor file
    cannot exhaust memory or the stack. Errors name ``source`` and say what to do.
    """
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > max_bytes:
        raise InputError(
            f"JSON document is {len(raw)} bytes, more than the {max_bytes} allowed",
            value=source,
            fix="check that this is the agent's settings.json and not another file",
        )
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"JSON document is not UTF-8 ({exc.reason} at byte {exc.start})",
            value=source,
            fix="save the file as UTF-8",
        ) from None
    depth = _nesting_depth(decoded)
    if depth > max_depth:
        raise InputError(
            f"JSON nesting depth {depth} exceeds the limit of {max_depth}",
            value=source,
            fix="flatten the document; a settings.json never nests this deep",
        )
    try:
        return json.loads(
            decoded, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except _DuplicateKey as exc:
        raise InputError(
            f"duplicate key {exc.key!r} in one JSON object",
            value=source,
            fix=f"keep a single {exc.key!r} member per object; JSON readers disagree on which wins",
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            value=source,
            fix="fix the syntax, or take the settings.json from a fresh Setup.zip",
        ) from None
    except ValueError as exc:
        raise InputError(
            f"not valid JSON: {exc}", value=source, fix="replace the value by a number or a string"
        ) from None


def load_json_file(path: str | os.PathLike[str], **limits: int) -> Any:
    """Read a JSON file with :func:`loads_strict`; unreadable files become input errors."""
    file_path = Path(path)
    try:
        size = file_path.stat().st_size
        max_bytes = limits.get("max_bytes", MAX_JSON_BYTES)
        if size > max_bytes:
            raise InputError(
                f"JSON document is {size} bytes, more than the {max_bytes} allowed",
                value=str(file_path),
                fix="check that this is the agent's settings.json and not another file",
            )
        raw = file_path.read_bytes()
    except OSError as exc:
        raise unreadable("JSON file", file_path, exc) from None
    return loads_strict(raw, source=str(file_path), **limits)


def dumps(settings: Any, *, sort_keys: bool = True) -> str:
    """Deterministic settings.json text, so that equal documents give equal bytes and hashes.

    UTF-8 without escaping (names keep their accents), two-space indent and a
    final newline. Keys are sorted for sagefleet's own (template) layout; a
    vendor document is written with ``sort_keys=False``, in the member order the
    vendor wrote, which the merge keeps.
    """
    return json.dumps(settings, ensure_ascii=False, indent=2, sort_keys=sort_keys) + "\n"


def settings_sha256(text: str | bytes) -> str:
    """Hex SHA-256 of the exact bytes written, to compare with the file on a host cheaply."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(raw).hexdigest()
