"""Lay a host's new settings document over its current settings.json: nothing is lost.

The new document (the entities' vendor files, merged) is not all a host's file
holds: the vendor's installer writes the wizard's answers into it (the .MAE
file and Sage user of each connection, the service account...), and where it
writes them is not published. So a write never starts from the new document
alone (docs/settings.md, "Over the current file"):

* the new document wins for every member it carries, values included (a
  regenerated vendor file rotates a password this way);
* a member only the current file has, at the top or at any depth inside a
  connection both keep, is **kept** as it is, with everything under it;
* items of a keyed list (connections) pair by their key; an item only the
  current file has is **dropped** (the caller refuses that unless told, see
  ``HostSettings.over``); an item only the new document has is added;
* any other list is a value, like a scalar: the new document's list wins
  whole. Items without a key cannot be paired, and pairing them by position
  would invent a correspondence the vendor never stated;
* a member whose type differs (object here, list there): the new one wins.

The new document's member order comes first, kept members after it in the
current file's order, so laying the result over itself changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sagefleet.agent_profile import MergeKey
from sagefleet.settings.keys import KeyPath
from sagefleet.settings.merge import (
    MergeResult,
    Path,
    format_path,
    keyed_items,
    outermost,
    plan_keys,
    shape,
)


@dataclass(frozen=True)
class Layered:
    """The document to write over the current file, and what it keeps and drops."""

    document: Any
    #: Key member of every keyed list of ``document``, by key path.
    plan: Mapping[KeyPath, str]
    #: Members kept from the current file (outermost), e.g.
    #: ``Connections[CompanyName=BIJOU].MaeFile``: names only, never values.
    kept: tuple[str, ...] = ()
    #: Connections (keyed items, outermost) of the current file the document lacks.
    dropped: tuple[str, ...] = ()


def current_plan(
    current: Any,
    new: MergeResult,
    *,
    keys: Iterable[MergeKey] = (),
    host: str | None = None,
    hints: Mapping[KeyPath, str] | None = None,
) -> dict[KeyPath, str]:
    """How the current file's lists are keyed: the declared keys, then the new document's
    keys (and ``hints``) where they fit, then detection. Raises ValidationFailed when a
    list's key cannot be told."""
    preferred = {**(hints or {}), **new.plan}
    return plan_keys([current], ["the current file"], keys=keys, hints=preferred, host=host)


def layer(
    current: Any,
    new: MergeResult,
    *,
    keys: Iterable[MergeKey] = (),
    host: str | None = None,
    hints: Mapping[KeyPath, str] | None = None,
) -> Layered:
    """``new`` laid over ``current`` (see the module's rules).

    ``dropped`` lists the current file's connections the result lacks; the
    caller decides whether that is allowed. Raises ValidationFailed when the
    current file's keys cannot be told (see :func:`current_plan`).
    """
    plan = current_plan(current, new, keys=keys, host=host, hints=hints)
    kept: list[Path] = []

    def paired(path: Path, old: Any, value: Any) -> str | None:
        member = new.plan.get(shape(path))
        if member is None or plan.get(shape(path)) != member:
            return None
        return member if isinstance(old, list) and isinstance(value, list) else None

    def lay(old: Any, value: Any, path: Path) -> Any:
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            result = {
                name: lay(old[name], item, (*path, name)) if name in old else copy.deepcopy(item)
                for name, item in value.items()
            }
            for name, item in old.items():
                if name not in value:
                    kept.append((*path, name))
                    result[name] = copy.deepcopy(item)
            return result
        member = paired(path, old, value)
        if member is None:
            return copy.deepcopy(value)
        by_key = {
            item[member]: item
            for item in old
            if isinstance(item, Mapping) and isinstance(item.get(member), str)
        }
        return [
            lay(by_key[item[member]], item, (*path, (member, item[member])))
            if item[member] in by_key
            else copy.deepcopy(item)
            for item in value
        ]

    document = lay(current, new.document, ())
    lost = keyed_items(current, plan) - keyed_items(document, plan)
    return Layered(
        document=document,
        plan=new.plan,
        kept=tuple(sorted(format_path(path) for path in kept)),
        dropped=tuple(outermost(lost)),
    )

