"""Which member names a connection in a list of settings.json: candidates and key paths.

The vendor does not publish the layout of settings.json, so the list that holds
the connections, and the member that names each of them, are either declared
(``--key PATH=MEMBER``, ``sagefleet_settings_merge_keys``, the agent profile's
``settings.merge_keys``) or detected among :data:`KEY_CANDIDATES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sagefleet.agent.profile import MergeKey
from sagefleet.errors import InputError

#: Members that may name a connection, in order of preference (ASSUMPTION: spellings seen
#: in JSON configuration files, not a published vendor format). The merge keys a list it
#: has no declared key for by the only candidate that fits (several: refused, see merge.py);
#: ``sagefleet agent learn`` proposes the first that fits.
KEY_CANDIDATES: tuple[str, ...] = (
    "name",
    "Name",
    "CompanyName",
    "companyName",
    "company_name",
    "Company",
    "CompanyCode",
    "companyCode",
    "company_code",
    "Code",
    "ConnectionName",
    "connectionName",
    "ConnectionId",
    "connectionId",
    "connection_id",
    "Id",
    "id",
)
#: How a key path names the document itself (a settings.json whose top level is a list).
ROOT = "."

#: A list's place in a document: the member names from the root, list items stepped through.
KeyPath = tuple[str, ...]


def parse_key_path(text: str) -> KeyPath:
    """``Connections`` → ``("Connections",)``, ``a.b.Items`` → three steps, ``.`` → the root.

    ``[]`` after a name (``Connections[].Tables``) is allowed and means the same as
    without: list items are always stepped through. Raises ValueError when a step
    is empty.
    """
    text = text.strip()
    if text == ROOT:
        return ()
    steps = tuple(text.replace("[]", "").split("."))
    if not text or any(not step.strip() or step != step.strip() for step in steps):
        raise ValueError(
            f"{text!r} is not a key path: write member names separated by dots "
            f"(Connections, a.b.Items), or {ROOT} for a top-level list"
        )
    return steps


def key_path_text(path: KeyPath) -> str:
    """The written form of a key path, as ``parse_key_path`` reads it."""
    return ".".join(path) if path else ROOT


def parse_key_option(text: str) -> MergeKey:
    """``PATH=MEMBER`` (the CLI's ``--key``) as a MergeKey; ValueError says what is wrong."""
    path, sep, member = text.rpartition("=")
    if not sep or not member.strip() or not path.strip():
        raise ValueError(f"{text!r} is not PATH=MEMBER (e.g. Connections=CompanyName)")
    parse_key_path(path)
    return MergeKey(path.strip(), member.strip())


def declared_keys(
    keys: Iterable[MergeKey], *, host: str | None = None, field: str = "merge keys"
) -> dict[KeyPath, str]:
    """Declared keys by path; two different members for one path is an input error."""
    declared: dict[KeyPath, str] = {}
    for key in keys:
        try:
            path = parse_key_path(key.path)
        except ValueError as exc:
            raise InputError(
                str(exc), host=host, field=field, value=repr(key.path), fix="fix the key path"
            ) from None
        if not key.member:
            raise InputError(
                "a merge key needs a member",
                host=host,
                field=field,
                value=repr(key.path),
                fix="give the member that names each item, e.g. CompanyName",
            )
        if declared.setdefault(path, key.member) != key.member:
            raise InputError(
                f"two members declared for the list {key_path_text(path)}: "
                f"{declared[path]} and {key.member}",
                host=host,
                field=field,
                value=repr(key.path),
                fix="declare one member per list",
            )
    return declared


def keys_from_variable(value: Any, *, host: str | None, field: str) -> tuple[MergeKey, ...]:
    """Keys from an inventory variable: a list of ``{path, member}`` mappings."""
    fix = f"write {field} as a list of {{path: Connections, member: CompanyName}}"
    if not isinstance(value, list):
        raise InputError(
            "must be a list of {path, member} mappings",
            host=host,
            field=field,
            value=type(value).__name__,
            fix=fix,
        )
    keys = []
    for index, item in enumerate(value):
        if (
            not isinstance(item, Mapping)
            or set(item) != {"path", "member"}
            or not all(isinstance(item[name], str) and item[name].strip() for name in item)
        ):
            raise InputError(
                f"item #{index + 1} must be a mapping with exactly path and member (strings)",
                host=host,
                field=field,
                value=repr(item)[:80] if not isinstance(item, Mapping) else repr(sorted(item)),
                fix=fix,
            )
        keys.append(MergeKey(str(item["path"]).strip(), str(item["member"]).strip()))
    declared_keys(keys, host=host, field=field)
    return tuple(keys)


def unique_string_member(items: list[Any], member: str) -> bool:
    """Every item is an object whose ``member`` is a string, no two items sharing it."""
    values = [item.get(member) if isinstance(item, Mapping) else None for item in items]
    return all(isinstance(v, str) for v in values) and len(set(values)) == len(values)


def item_key(items: Any, previous: Any) -> str | None:
    """The candidate member pairing the items of two lists (for diffs), or None."""
    lists = [v for v in (items, previous) if isinstance(v, list)]
    for candidate in KEY_CANDIDATES:
        if all(unique_string_member(v, candidate) for v in lists):
            return candidate
    return None
