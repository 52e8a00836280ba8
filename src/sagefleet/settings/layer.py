"""Lay a host's new settings document over its current settings.json: nothing is lost.

The new document wins for every member it carries; what only the current file
holds is kept, except keyed items (connections), which are reported as dropped.
The rules: docs/settings.md, "Over the current file: nothing is lost".
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sagefleet.agent.profile import MergeKey
from sagefleet.errors import InputError
from sagefleet.settings.errors import ValidationFailed
from sagefleet.settings.keys import KeyPath
from sagefleet.settings.merge import (
    MERGE_TITLE,
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


def layer(
    current: Any,
    new: MergeResult,
    *,
    keys: Iterable[MergeKey] = (),
    host: str | None = None,
    hints: Mapping[KeyPath, str] | None = None,
    keep: bool = True,
) -> Layered:
    """``new`` laid over ``current`` (docs/settings.md), or with ``keep=False`` ``new`` alone,
    with what of ``current`` it drops.

    The current file's lists are keyed by the declared keys, then the new document's (and
    ``hints``) where they fit, then detection; raises ValidationFailed when a list's key
    cannot be told. ``dropped`` lists the current file's connections the result lacks; the
    caller decides whether that is allowed.
    """
    preferred = {**(hints or {}), **new.plan}
    plan = plan_keys([current], ["the current file"], keys=keys, hints=preferred, host=host)
    if not keep:
        lost = keyed_items(current, plan) - keyed_items(new.document, new.plan)
        return Layered(copy.deepcopy(new.document), new.plan, dropped=tuple(outermost(lost)))
    kept: list[Path] = []
    untold: list[tuple[Path, str]] = []

    def paired(path: Path, old: Any, value: Any) -> str | None:
        member = new.plan.get(shape(path))
        if member is None or not (isinstance(old, list) and isinstance(value, list)):
            return None
        if plan.get(shape(path)) != member:
            if old:  # replacing it whole would lose its items unseen
                untold.append((path, member))
            return None
        return member

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
    if untold:
        raise ValidationFailed(
            [
                InputError(
                    f"the list at {format_path(path)} cannot be keyed by {member}: an item "
                    f"lacks it or two items share it, so its connections cannot be told",
                    host=host,
                    field=f"merge key {format_path(path)}={member}",
                    value="the current file",
                    fix="repair the file on the host, or declare the member that names each "
                    "item of this list",
                )
                for path, member in untold
            ],
            title=MERGE_TITLE,
        )
    lost = keyed_items(current, plan) - keyed_items(document, plan)
    return Layered(
        document=document,
        plan=new.plan,
        kept=tuple(sorted(format_path(path) for path in kept)),
        dropped=tuple(outermost(lost)),
    )
