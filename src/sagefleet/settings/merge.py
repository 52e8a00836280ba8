"""Structural merge of settings documents: the "true JSON merge" the vendor asks for.

Rules (see docs/settings.md):

* objects merge member by member, output keys sorted;
* a list whose items are all objects with a string ``name`` (``connections``)
  is keyed by that name: items with the same name merge, the output is sorted
  by name;
* any other list, and any scalar, must be identical in every source that has it;
* identical duplicates collapse; a different value for the same key path is a
  :class:`MergeConflict` naming both sources and the path. Nothing is ever
  decided by the order of the sources.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sagefleet.settings.errors import MergeConflict, MergeFailed
from sagefleet.settings.redact import DEFAULT_SECRET_KEYS, MASK, is_secret_key

#: One step of a key path: a member name, or the name of an item in a keyed list.
PathStep = str | tuple[str, str]
Path = tuple[PathStep, ...]

KEY_FIELD = "name"


def format_path(path: Path) -> str:
    """Human-readable key path, e.g. ``connections[name=BIJOU].sql.user``."""
    text = ""
    for step in path:
        if isinstance(step, tuple):
            text += f"[{step[0]}={step[1]}]"
        else:
            text += f".{step}" if text else step
    return text or "(document root)"


def _is_keyed_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, Mapping) and isinstance(item.get(KEY_FIELD), str) for item in value
    )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class _Merger:
    def __init__(self, secret_keys: Iterable[str], host: str | None) -> None:
        self.secret_keys = tuple(secret_keys)
        self.host = host
        self.origins: dict[Path, str] = {}
        self.conflicts: dict[Path, MergeConflict] = {}

    def origin(self, path: Path) -> str:
        for end in range(len(path), -1, -1):
            found = self.origins.get(path[:end])
            if found is not None:
                return found
        return "(unknown source)"

    def show(self, path: Path, value: Any) -> str:
        last = next((step for step in reversed(path) if isinstance(step, str)), None)
        if last is not None and is_secret_key(last, self.secret_keys):
            return MASK
        if isinstance(value, Mapping):
            return "an object"
        if isinstance(value, list):
            return f"a list of {len(value)} item(s)"
        text = _canonical(value)
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

    def adopt(self, path: Path, value: Any, source: str) -> Any:
        """Take a value nobody set yet, normalising it (and its inner lists) on the way."""
        self.origins[path] = source
        if isinstance(value, Mapping):
            return {
                key: self.adopt((*path, key), value[key], source) for key in sorted(value)
            }
        if _is_keyed_list(value):
            return self.merge_keyed([], value, path, source)
        if isinstance(value, list):
            return [
                self.adopt((*path, str(index)), item, source) for index, item in enumerate(value)
            ]
        return value

    def merge(self, old: Any, new: Any, path: Path, source: str) -> Any:
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            merged: dict[str, Any] = {}
            for key in sorted(set(old) | set(new)):
                if key not in new:
                    merged[key] = old[key]
                elif key not in old:
                    merged[key] = self.adopt((*path, key), new[key], source)
                else:
                    merged[key] = self.merge(old[key], new[key], (*path, key), source)
            return merged
        if _is_keyed_list(old) and _is_keyed_list(new):
            return self.merge_keyed(old, new, path, source)
        normalised = self.adopt_copy(new)
        if _canonical(old) != _canonical(normalised):
            self.conflict(path, old, new, source)
        return old

    def adopt_copy(self, value: Any) -> Any:
        # Normalise without recording origins (the value is only compared).
        scratch = _Merger(self.secret_keys, self.host)
        return scratch.adopt((), value, "")

    def merge_keyed(self, old: list[Any], new: list[Any], path: Path, source: str) -> list[Any]:
        by_name: dict[str, Any] = {item[KEY_FIELD]: item for item in old}
        for item in new:
            name = item[KEY_FIELD]
            step: Path = (*path, (KEY_FIELD, name))
            if name in by_name:
                by_name[name] = self.merge(by_name[name], item, step, source)
            else:
                by_name[name] = self.adopt(step, item, source)
        return [by_name[name] for name in sorted(by_name)]


def merge_settings(
    documents: Sequence[Mapping[str, Any]],
    sources: Sequence[str] | None = None,
    *,
    secret_keys: Iterable[str] = DEFAULT_SECRET_KEYS,
    host: str | None = None,
) -> dict[str, Any]:
    """Merge settings documents into one, or raise :class:`MergeFailed` listing every conflict.

    The result does not depend on the order of ``documents`` (keys and keyed
    lists are sorted), merging a document with itself changes nothing, and a
    conflict is always an error, so that two entities can never overwrite each
    other's connection silently. ``sources`` (file names, entity names) are used
    in error messages; secret values in messages are masked.
    """
    if sources is None:
        sources = [f"document #{index + 1}" for index in range(len(documents))]
    if len(sources) != len(documents):
        raise ValueError("sources and documents must have the same length")
    merger = _Merger(secret_keys, host)
    result: dict[str, Any] = {}
    for document, source in zip(documents, sources, strict=True):
        if not isinstance(document, Mapping):
            raise MergeFailed(
                [
                    MergeConflict(
                        path="(document root)",
                        first_source="the settings layout (an object)",
                        first_value="an object",
                        second_source=source,
                        second_value=type(document).__name__,
                        host=host,
                    )
                ]
            )
        result = merger.merge(result, document, (), source)
    if merger.conflicts:
        raise MergeFailed([merger.conflicts[path] for path in sorted(merger.conflicts, key=str)])
    return result
