"""Redaction and diff of settings documents: what may be shown in logs and Ansible diffs."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sagefleet.errors import InputError
from sagefleet.settings.jsonio import dumps, loads_strict
from sagefleet.settings.keys import item_key

MASK = "********"
#: A key is secret when its name, lower-cased and without ``_``/``-``, holds one of these
#: (one of three letters or fewer: starts or ends with it).
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

# A connection string's password: quoted ("..." or '...', doubled quotes inside) or braced
# ({...}) values hold ';' (ODBC, SqlClient); and a URL's user:password@.
_INLINE_SECRET = re.compile(
    r"""(?i)\b(password|pwd)\s*=\s*("(?:[^"]|"")*"?|'(?:[^']|'')*'?|\{[^}]*\}?|[^;]*)"""
)
_URL_SECRET = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@")
# A JSON member inside text (a log line, a string holding JSON), its quotes plain or
# JSON-escaped: masked when its name is a secret's (is_secret_key).
_TEXT_MEMBER = re.compile(r'"([^"\\]{1,100})"(\s*:\s*)"((?:[^"\\]|\\.)*)"')
_ESCAPED_MEMBER = re.compile(r'\\"([^"\\]{1,100})\\"(\s*:\s*)\\"((?:(?!\\").)*)\\"')


def is_secret_key(key: object, secret_keys: Iterable[str] = DEFAULT_SECRET_KEYS) -> bool:
    """Tell whether a member name holds a secret.

    A name holding a secret word anywhere catches vendor spellings (``sqlPassword``,
    ``client_secret``, ``Passwords``, ``SqlPasswordEncrypted``, ``Password_Sage``) that an
    exact or suffix match would leak; masking a value that was not secret costs nothing.
    """
    if not isinstance(key, str):
        return False
    folded = key.lower().replace("_", "").replace("-", "")
    for name in secret_keys:
        word = name.lower().replace("_", "").replace("-", "")
        if word in folded if len(word) > 3 else folded.startswith(word) or folded.endswith(word):
            return True
    return False


def is_secret_path(
    steps: Iterable[object], secret_keys: Iterable[str] = DEFAULT_SECRET_KEYS
) -> bool:
    """Whether a value lies in a secret: any member name on its path is one (the value of
    ``Credentials.Value`` is as secret as ``Credentials`` is)."""
    keys = tuple(secret_keys)
    return any(is_secret_key(step, keys) for step in steps)


def _member(quote: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        if not is_secret_key(match.group(1)):
            return match.group(0)
        return f"{quote}{match.group(1)}{quote}{match.group(2)}{quote}{MASK}{quote}"

    return replace


def scrub_text(value: str) -> str:
    """``value`` with every password it writes by name masked: a connection string's
    ``Password=``/``Pwd=``, a URL's ``user:password@``, a JSON member named like a secret.

    For text whose secrets cannot be known in advance (a string of settings.json, a line
    of the agent's log): the agent may write a password the inventory never held. Give it
    one line at a time: an unquoted ``Password=`` value runs to the next ``;``.
    """
    value = _INLINE_SECRET.sub(lambda match: f"{match.group(1)}={MASK}", value)
    value = _URL_SECRET.sub(lambda match: f"{match.group(1)}:{MASK}@", value)
    value = _TEXT_MEMBER.sub(_member('"'), value)
    return _ESCAPED_MEMBER.sub(_member('\\"'), value)


def scrub_lines(text: str) -> str:
    """``text`` of several lines (a log, an error the host wrote) through scrub_text one
    line at a time, so that an unquoted ``Password=`` value never runs into the next line."""
    return "\n".join(scrub_text(line) for line in text.split("\n"))


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
        return scrub_text(value)
    return value


def _parse_or_none(text: str | bytes | None) -> tuple[bool, Any]:
    if text is None or not text.strip():
        return True, None
    try:
        return True, loads_strict(text, source="settings.json")
    except InputError:
        return False, None


def diff(
    before_text: str | bytes | None,
    after_text: str | bytes | None,
    *,
    before_name: str = "before/settings.json",
    after_name: str = "after/settings.json",
    secret_keys: Iterable[str] = DEFAULT_SECRET_KEYS,
) -> str:
    """Unified diff of the redacted documents, safe to show in an Ansible ``--diff`` run.

    Both sides are redacted and put in canonical form first, so that the diff
    shows real changes only (not key order or spacing) and never a password.
    A side that is missing or empty counts as an empty file; a side that is not
    valid JSON is not shown, only its size: its secrets cannot be told apart from
    the rest (a truncated file, one line of JSON, a connection string).
    """
    keys = tuple(secret_keys)
    before_ok, before_doc = _parse_or_none(before_text)
    after_ok, after_doc = _parse_or_none(after_text)

    def render(ok: bool, doc: Any, text: str | bytes | None, previous: Any) -> str:
        if not ok:
            size = len(text.encode("utf-8") if isinstance(text, str) else text or b"")
            return f"(not valid JSON, {size} bytes: not shown, it may hold passwords)\n"
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
