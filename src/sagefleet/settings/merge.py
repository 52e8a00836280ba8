"""Structural merge of settings documents: the "true JSON merge" the vendor asks for.

Works on any JSON document; keyed lists merge by their key, anything else must be
identical, and the result never depends on the order of the sources. A keyed list keeps
the order its documents all give it (one vendor file's own order), else it is sorted by
key. The rules: docs/settings.md, "Merge rules".
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sagefleet.agent.profile import MergeKey
from sagefleet.errors import InputError
from sagefleet.settings.errors import MergeConflict, MergeFailed, ValidationFailed
from sagefleet.settings.keys import (
    KEY_CANDIDATES,
    KeyPath,
    declared_keys,
    key_path_text,
    unique_string_member,
)
from sagefleet.settings.redact import (
    DEFAULT_SECRET_KEYS,
    MASK,
    is_secret_key,
    is_secret_path,
    redact,
)

#: One step of a key path: a member name, or (member, key) of an item in a keyed list.
PathStep = str | tuple[str, str]
Path = tuple[PathStep, ...]

MERGE_TITLE = "settings merge failed"


def format_path(path: Path) -> str:
    """Human-readable key path, e.g. ``Connections[CompanyName=BIJOU].Sql.User``."""
    text = ""
    for step in path:
        if isinstance(step, tuple):
            key = MASK if is_secret_key(step[0]) else step[1]
            text += f"[{step[0]}={key}]"
        else:
            text += f".{step}" if text else step
    return text or "(document root)"


def shape(path: Path) -> KeyPath:
    """The key path of a place: its member names, keyed items stepped through."""
    return tuple(step for step in path if isinstance(step, str))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class _Planner:
    """Decides, for every list reachable through objects and keyed lists, its key member."""

    def __init__(
        self,
        declared: Mapping[KeyPath, str],
        hints: Mapping[KeyPath, str],
        host: str | None,
    ) -> None:
        self.declared = declared
        self.hints = hints
        self.host = host
        self.plan: dict[KeyPath, str] = {}
        self.errors: list[InputError] = []

    def walk(self, values: list[tuple[Any, str]], path: KeyPath) -> None:
        maps = [(v, s) for v, s in values if isinstance(v, Mapping)]
        names: dict[str, None] = {}
        for value, _ in maps:
            names.update(dict.fromkeys(value))
        for name in names:
            self.walk([(v[name], s) for v, s in maps if name in v], (*path, name))
        lists = [(v, s) for v, s in values if isinstance(v, list)]
        if not lists:
            return
        member = self.decide(lists, path)
        if member is not None:
            self.plan[path] = member
            self.walk([(item, s) for v, s in lists for item in v], path)

    def decide(self, lists: list[tuple[list[Any], str]], path: KeyPath) -> str | None:
        text = key_path_text(path)
        member = self.declared.get(path)
        if member is not None:
            for value, source in lists:
                self.check_declared(value, source, text, member)
            return member
        if not all(isinstance(i, Mapping) for v, _ in lists for i in v) or not any(
            v for v, _ in lists
        ):
            return None
        hint = self.hints.get(path)
        if hint is not None and all(unique_string_member(v, hint) for v, _ in lists):
            return hint
        found = [c for c in KEY_CANDIDATES if all(unique_string_member(v, c) for v, _ in lists)]
        if len(found) > 1:
            sources = sorted({s for _, s in lists})
            self.errors.append(
                InputError(
                    f"the list at {text} can be keyed by {' or '.join(found)}: sagefleet does "
                    "not guess which member names a connection",
                    host=self.host,
                    field=f"merge key {text}",
                    value=", ".join(sources),
                    fix=f"declare it: --key {text}={found[0]} (CLI), "
                    f"sagefleet_settings_merge_keys: [{{path: '{text}', member: {found[0]}}}] "
                    "(inventory) or settings.merge_keys in the agent profile",
                )
            )
            return None
        return found[0] if found else None

    def check_declared(self, value: list[Any], source: str, text: str, member: str) -> None:
        seen: set[str] = set()
        for index, item in enumerate(value):
            key = item.get(member) if isinstance(item, Mapping) else None
            if not isinstance(key, str):
                problem = f"item #{index + 1} of the list has no string member {member}"
            elif key in seen:
                problem = f"two items of the list have {member}={key}"
            else:
                seen.add(key)
                continue
            self.errors.append(
                InputError(
                    problem,
                    host=self.host,
                    field=f"merge key {text}={member}",
                    value=source,
                    fix="declare the member that names each item of this list, or take the "
                    "file unchanged from the vendor",
                )
            )
            return


def plan_keys(
    documents: Sequence[Any],
    sources: Sequence[str],
    *,
    keys: Iterable[MergeKey] = (),
    hints: Mapping[KeyPath, str] | None = None,
    host: str | None = None,
) -> dict[KeyPath, str]:
    """The key member of every keyed list of ``documents``, by key path.

    ``keys`` are declared (and win); ``hints`` are preferred over detection when
    they fit (used to read a host's current file with the keys of the new one).
    Raises :class:`ValidationFailed` when a declared key does not fit or a list
    could be keyed by several candidates.
    """
    planner = _Planner(declared_keys(keys, host=host), dict(hints or {}), host)
    planner.walk(list(zip(documents, sources, strict=True)), ())
    if planner.errors:
        raise ValidationFailed(planner.errors, title=MERGE_TITLE)
    return planner.plan


class _Merger:
    def __init__(
        self,
        plan: Mapping[KeyPath, str],
        secret_keys: Iterable[str],
        host: str | None,
        orders: Mapping[Path, tuple[str, ...] | None],
    ):
        self.plan = plan
        self.secret_keys = tuple(secret_keys)
        self.host = host
        self.orders = orders
        self.origins: dict[Path, str] = {}
        self.conflicts: dict[Path, MergeConflict] = {}

    def ordered(self, path: Path, keys: Iterable[str]) -> list[str]:
        """The keys of the keyed list at ``path`` in the order every document gives it, or
        sorted when the documents give it different items or orders (see list_orders)."""
        keys = list(keys)
        order = self.orders.get(path)
        if order is not None and sorted(order) == sorted(keys):
            return list(order)
        return sorted(keys)

    def origin(self, path: Path) -> str:
        for end in range(len(path), -1, -1):
            found = self.origins.get(path[:end])
            if found is not None:
                return found
        return "(unknown source)"

    def show(self, path: Path, value: Any) -> str:
        if is_secret_path(path, self.secret_keys):
            return MASK
        if isinstance(value, Mapping):
            return "an object"
        if isinstance(value, list):
            return f"a list of {len(value)} item(s)"
        # A connection string ("...;Password=x;") keeps its secret out of the message too.
        text = _canonical(redact(value, self.secret_keys))
        return text if len(text) <= 80 else text[:77] + "..."

    def conflict(self, path: Path, old: Any, new: Any, source: str) -> None:
        if path in self.conflicts:
            return
        self.conflicts[path] = MergeConflict(
            path=format_path(path),
            first_source=self.origin(path),
            first_value=self.show(path, old),
            second_source=source,
            second_value=self.show(path, new),
            host=self.host,
        )

    def keyed(self, path: Path, *values: Any) -> str | None:
        member = self.plan.get(shape(path))
        if member is not None and all(isinstance(v, list) for v in values):
            return member
        return None

    def adopt(self, value: Any, path: Path, source: str) -> Any:
        """Take a value nobody set yet: member order kept, keyed lists in their order."""
        self.origins[path] = source
        if isinstance(value, Mapping):
            return {key: self.adopt(item, (*path, key), source) for key, item in value.items()}
        member = self.keyed(path, value)
        if member is not None:
            by_key = {item[member]: item for item in value}
            return [
                self.adopt(by_key[key], (*path, (member, key)), source)
                for key in self.ordered(path, by_key)
            ]
        return copy.deepcopy(value)

    def merge(self, old: Any, new: Any, path: Path, source: str) -> Any:
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            merged = dict(old)
            for key, value in new.items():
                step = (*path, key)
                merged[key] = (
                    self.merge(merged[key], value, step, source)
                    if key in merged
                    else self.adopt(value, step, source)
                )
            return merged
        member = self.keyed(path, old, new)
        if member is not None:
            by_key = {item[member]: item for item in old}
            for item in new:
                key = item[member]
                step = (*path, (member, key))
                by_key[key] = (
                    self.merge(by_key[key], item, step, source)
                    if key in by_key
                    else self.adopt(item, step, source)
                )
            return [by_key[key] for key in self.ordered(path, by_key)]
        if _canonical(old) != _canonical(new):
            self.conflict(path, old, new, source)
        return old


@dataclass(frozen=True)
class MergeResult:
    """The merged document and the key member of each keyed list, by key path."""

    document: Any
    plan: Mapping[KeyPath, str]


def _root_errors(
    documents: Sequence[Any], sources: Sequence[str], host: str | None
) -> list[InputError]:
    return [
        InputError(
            f"the top level is {type(document).__name__}, not a JSON object or list",
            host=host,
            field="settings",
            value=source,
            fix="merge settings.json files only",
        )
        for document, source in zip(documents, sources, strict=True)
        if not isinstance(document, Mapping | list)
    ]


def merge_documents(
    documents: Sequence[Any],
    sources: Sequence[str] | None = None,
    *,
    keys: Iterable[MergeKey] = (),
    secret_keys: Iterable[str] = DEFAULT_SECRET_KEYS,
    host: str | None = None,
) -> MergeResult:
    """Merge settings documents into one (see the module's rules), with the keys it used.

    Raises :class:`MergeFailed` listing every conflict, or :class:`ValidationFailed`
    when a list's key is ambiguous, a declared key does not fit, or a document is
    neither an object nor a list. Secret values in messages are masked.
    """
    if sources is None:
        sources = [f"document #{index + 1}" for index in range(len(documents))]
    if len(sources) != len(documents):
        raise ValueError("sources and documents must have the same length")
    errors = _root_errors(documents, sources, host)
    if errors:
        raise ValidationFailed(errors, title=MERGE_TITLE)
    plan = plan_keys(documents, sources, keys=keys, host=host)
    merger = _Merger(plan, secret_keys, host, list_orders(documents, plan))
    # A canonical order: the bytes of the result never depend on the order of the sources.
    order = sorted(range(len(documents)), key=lambda index: _canonical(documents[index]))
    result: Any = None
    for position, index in enumerate(order):
        if position == 0:
            result = merger.adopt(documents[index], (), sources[index])
        else:
            result = merger.merge(result, documents[index], (), sources[index])
    if merger.conflicts:
        raise MergeFailed([merger.conflicts[path] for path in sorted(merger.conflicts, key=str)])
    return MergeResult(result if documents else {}, plan)


def merge_settings(documents: Sequence[Any], *args: Any, **options: Any) -> Any:
    """The merged document of :func:`merge_documents` (same arguments).

    Merging a document with itself changes nothing, the order of ``documents``
    does not matter, and a conflict is always an error, so that two entities can
    never overwrite each other's connection silently.
    """
    return merge_documents(documents, *args, **options).document


def keyed_lists(
    document: Any, plan: Mapping[KeyPath, str]
) -> Iterator[tuple[Path, str, list[Mapping[str, Any]]]]:
    """Every keyed list of ``document``, outer ones first: its place, its key member and
    its items that hold the key as a string (the lists inside them follow)."""

    def walk(value: Any, path: Path) -> Iterator[tuple[Path, str, list[Mapping[str, Any]]]]:
        if isinstance(value, Mapping):
            for key, item in value.items():
                yield from walk(item, (*path, key))
            return
        member = plan.get(shape(path))
        if member is None or not isinstance(value, list):
            return
        items = [i for i in value if isinstance(i, Mapping) and isinstance(i.get(member), str)]
        yield path, member, items
        for item in items:
            yield from walk(item, (*path, (member, item[member])))

    return walk(document, ())


def list_orders(
    documents: Iterable[Any], plan: Mapping[KeyPath, str]
) -> dict[Path, tuple[str, ...] | None]:
    """The order of every keyed list of ``documents``, by its place: the keys in the order
    every document holding that list gives them, or None when two documents give it
    different items or orders (the merge then sorts it by key).

    So one vendor file keeps its connections' order, and the order never depends on the
    order of the documents: it is the one they all give, or the keys' own.
    """
    orders: dict[Path, tuple[str, ...] | None] = {}
    for document in documents:
        for path, member, items in keyed_lists(document, plan):
            order = tuple(item[member] for item in items)
            orders[path] = order if orders.get(path, order) == order else None
    return orders


def keyed_items(document: Any, plan: Mapping[KeyPath, str]) -> set[Path]:
    """The place of every item of a keyed list, e.g. ``("Connections", ("CompanyName", "A"))``."""
    return {
        (*path, (member, item[member]))
        for path, member, items in keyed_lists(document, plan)
        for item in items
    }


def outermost(paths: set[Path]) -> list[str]:
    """The paths no other path of ``paths`` contains, written out and sorted."""
    found: list[Path] = []
    for path in sorted(paths, key=len):
        if not any(path[: len(outer)] == outer for outer in found):
            found.append(path)
    return sorted(format_path(path) for path in found)


def connections(document: Any, plan: Mapping[KeyPath, str]) -> list[str]:
    """The outermost keyed items (the connections) of a document, e.g.
    ``Connections[CompanyName=BIJOU]``, sorted."""
    return outermost(keyed_items(document, plan))
