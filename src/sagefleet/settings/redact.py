"""Redaction and diff of settings documents: what may be shown in logs and Ansible diffs."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sagefleet.errors import InputError
from sagefleet.settings.jsonio import dumps, loads_strict
from sagefleet.settings.keys import item_key

MASK = "********"
#: A key is secret when its name, lower-cased and without ``_``/``-``, ends with one of these.
DEFAULT_SECRET_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    # Vendor files may name secrets otherwise (their layout is not published).
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "credentials",
    "motdepasse",
    "mdp",
)

_INLINE_SECRET = re.compile(r"(?i)\b(password|pwd)\s*=\s*[^;]*")


def is_secret_key(key: object, secret_keys: Iterable[str] = DEFAULT_SECRET_KEYS) -> bool:
    """Tell whether a member name holds a secret.

    Suffix matching catches vendor spellings (``sqlPassword``, ``client_secret``)
    that an exact match would leak.
    """
    if not isinstance(key, str):
        return False
    folded = key.lower().replace("_", "").replace("-", "")
    return any(folded.endswith(name.lower().replace("_", "")) for name in secret_keys)


def _scrub_text(value: str) -> str:
    # Connection strings embed passwords ("...;Password=x;"): mask them too.
    return _INLINE_SECRET.sub(lambda match: f"{match.group(1)}={MASK}", value)


def redact(
    settings: Any,
    secret_keys: Iterable[str] = DEFAULT_SECRET_KEYS,
    *,
    changed_from: Any = None,
) -> Any:
    """Copy of ``settings`` with every secret value replaced by ``********``.

    The structure is kept so that a redacted document can still be diffed and
    logged. With ``changed_from`` (the previous document), a secret that differs
    from its previous value is shown as ``******** (changed)``: the diff then
    says that a password changed without saying what it is.
    """
    keys = tuple(secret_keys)
    return _redact(settings, keys, changed_from, compare=changed_from is not None)


_ABSENT: Any = object()


def _secret_mask(value: Any, previous: Any, compare: bool) -> str:
    if compare and previous is not _ABSENT and previous != value:
        return f"{MASK} (changed)"
    return MASK


def _named_items(items: Any, previous: Any) -> tuple[str, dict[str, Any]] | None:
    """The previous items by key, when both lists are keyed by the same candidate member."""
    if not isinstance(previous, list) or not isinstance(items, list):
        return None
    member = item_key(items, previous)
    if member is None:
        return None
    return member, {item[member]: item for item in previous}


def _redact(value: Any, keys: tuple[str, ...], previous: Any, *, compare: bool) -> Any:
    if isinstance(value, Mapping):
        before: Mapping[Any, Any] = previous if isinstance(previous, Mapping) else {}
        result: dict[str, Any] = {}
        for key, item in value.items():
            if is_secret_key(key, keys):
                result[key] = _secret_mask(item, before.get(key, _ABSENT), compare)
            else:
                result[key] = _redact(item, keys, before.get(key, _ABSENT), compare=compare)
        return result
    if isinstance(value, list):
        named = _named_items(value, previous)
        result_list = []
        for index, item in enumerate(value):
            if named is not None and isinstance(item, Mapping):
                prior = named[1].get(str(item.get(named[0])), _ABSENT)
            elif isinstance(previous, list) and index < len(previous):
                prior = previous[index]
            else:
                prior = _ABSENT
            result_list.append(_redact(item, keys, prior, compare=compare))
        return result_list
    if isinstance(value, str):
        return _scrub_text(value)
    return value


_SECRET_LINE = re.compile(r'^(\s*"([^"\\]*)"\s*:\s*)(".*?(?<!\\)"|[^,\s]+)(\s*,?\s*)$')


def _redact_text(text: str, keys: tuple[str, ...]) -> str:
    """Best-effort line redaction for a document that does not parse (e.g. hand-edited)."""
    lines = []
    for line in text.splitlines():
        match = _SECRET_LINE.match(line)
        if match and is_secret_key(match.group(2), keys):
            line = f'{match.group(1)}"{MASK}"{match.group(4)}'
        lines.append(_scrub_text(line))
    return "\n".join(lines) + ("\n" if lines else "")


def _parse_or_none(text: str | None) -> tuple[bool, Any]:
    if text is None or not text.strip():
        return True, None
    try:
        return True, loads_strict(text, source="settings.json")
    except InputError:
        return False, None


def diff(
    before_text: str | None,
    after_text: str | None,
    *,
    before_name: str = "before/settings.json",
    after_name: str = "after/settings.json",
    secret_keys: Iterable[str] = DEFAULT_SECRET_KEYS,
) -> str:
    """Unified diff of the redacted documents, safe to show in an Ansible ``--diff`` run.

    Both sides are redacted and put in canonical form first, so that the diff
    shows real changes only (not key order or spacing) and never a password.
    A side that is missing or empty counts as an empty file; a side that is not
    valid JSON is redacted line by line instead.
    """
    keys = tuple(secret_keys)
    before_ok, before_doc = _parse_or_none(before_text)
    after_ok, after_doc = _parse_or_none(after_text)

    def render(ok: bool, doc: Any, text: str | None, previous: Any) -> str:
        if not ok:
            return _redact_text(text or "", keys)
        if doc is None:
            return ""
        redacted = redact(doc, keys, changed_from=previous)
        if isinstance(redacted, Mapping):
            return dumps(redacted)
        return json.dumps(redacted, ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    old = render(before_ok, before_doc, before_text, None)
    new = render(after_ok, after_doc, after_text, before_doc if before_ok else None)
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=before_name,
            tofile=after_name,
        )
    )
