"""Where a YAML variables file is wrong: the file, the line and the field.

Ansible reports a YAML syntax error in ``host_vars``/``group_vars``, or an
unquoted date that does not exist (``expires: 2026-02-30``, which YAML reads as
a date and Python refuses), without naming the file: "YAML parsing failed:
day is out of range for month". sagefleet reads the file again when that
happens and names what to fix. Nothing here runs on the happy path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from sagefleet.errors import InputError

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_VAULT_HEADER = b"$ANSIBLE_VAULT;"


class _Loader(yaml.SafeLoader):
    """A SafeLoader that only composes (tags such as !vault stay unconstructed)."""


def _field(path: Sequence[str | int]) -> str | None:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or None


def _syntax_path(text: str) -> list[str | int]:
    """The keys leading to where the parser stopped (the field being written)."""
    stack: list[list[Any]] = []  # [kind, key or index, expecting a key]
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                _node_starts(stack)
                kind = "map" if isinstance(event, yaml.MappingStartEvent) else "seq"
                stack.append([kind, None if kind == "map" else -1, True])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                _node_ends(stack)
            elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                if stack and stack[-1][0] == "map" and stack[-1][2]:
                    stack[-1][1] = getattr(event, "value", None)
                    stack[-1][2] = False
                else:
                    _node_starts(stack)
                    _node_ends(stack)
    except yaml.YAMLError:
        pass
    return [entry[1] for entry in stack if entry[1] is not None and entry[1] != -1]


def _node_starts(stack: list[list[Any]]) -> None:
    if stack and stack[-1][0] == "seq":
        stack[-1][1] += 1
    elif stack and stack[-1][0] == "map" and stack[-1][2]:
        stack[-1][1] = "?"  # a complex key
        stack[-1][2] = False


def _node_ends(stack: list[list[Any]]) -> None:
    if stack and stack[-1][0] == "map" and not stack[-1][2]:
        stack[-1][2] = True


def _bad_dates(
    node: yaml.Node, path: list[str | int]
) -> Iterable[tuple[yaml.Node, list[str | int], str]]:
    """Each scalar YAML resolves as a timestamp and Python refuses, with its path."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            yield from _bad_dates(value, [*path, name])
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _bad_dates(item, [*path, index])
    elif isinstance(node, yaml.ScalarNode) and node.tag == _TIMESTAMP:
        try:
            yaml.SafeLoader.construct_yaml_timestamp(_Loader(""), node)
        except ValueError as exc:
            yield node, path, str(exc)


def is_vault_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file is encrypted as a whole with ansible-vault."""
    try:
        with open(path, "rb") as handle:
            return handle.read(64).lstrip().startswith(_VAULT_HEADER)
    except OSError:
        return False


def problem(path: str | os.PathLike[str], host: str | None = None) -> InputError | None:
    """The first thing Ansible cannot read in this YAML file (of ``host``), or None."""
    file = Path(path)
    if is_vault_file(file):
        return None  # a whole-file vault: Ansible says what is wrong with it
    try:
        text = file.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = str(exc.problem or "not YAML") + (f" ({exc.context})" if exc.context else "")
        return InputError(
            f"{file}{line}: YAML syntax error: {what}",
            host=host,
            field=_field(_syntax_path(text)),
            fix="correct the YAML (a missing quote, bracket or indentation) at that line",
        )
    except yaml.YAMLError as exc:
        return InputError(f"{file}: not YAML: {str(exc).splitlines()[0]}", host=host)
    if root is None:
        return None
    for node, where, reason in _bad_dates(root, []):
        return InputError(
            f"{file}, line {node.start_mark.line + 1}: YAML reads an unquoted "
            f"YYYY-MM-DD as a date, and this one does not exist ({reason})",
            host=host,
            field=_field(where),
            value=str(node.value),
            fix="write a real date (e.g. 2027-03-31), or quote it to keep it as text",
        )
    return None


def first_problem(
    paths: Iterable[str | os.PathLike[str]], host: str | None = None
) -> InputError | None:
    """The problem of the first file of ``paths`` that has one."""
    for path in paths:
        found = problem(path, host)
        if found is not None:
            return found
    return None
