"""The parse tree tree-sitter-powershell builds, and the helpers the rules read it with."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from sagefleet.pslint.tables import ALIASES, COMMON_PARAMETERS

_PARSER = Parser(Language(tree_sitter_powershell.language()))


# -- tree helpers ---------------------------------------------------------------------


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _unquote(text: str) -> str:
    text = text.strip()
    if text.startswith("@") and len(text) >= 5 and text[1] in "'\"":
        return text[3:-3]  # here-string: @'<newline> ... <newline>'@
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _word(node: Node | None) -> str:
    """A parameter value as one lower-case word: 'Stop', Stop, ([ActionPreference]::Stop)."""
    if node is None:
        return ""
    text = _unquote(_text(node).strip().strip("()").strip())
    if "::" in text:
        text = text.rsplit("::", 1)[1]
    return text.lower()


def command_name(command: Node) -> str | None:
    """The lower-case cmdlet name a command calls (aliases and module qualifiers resolved),
    None when the name is computed at run time (``& $exe``)."""
    for child in command.children:
        if child.type == "command_name":
            name = _text(child)
            break
        if child.type == "command_name_expr":
            literals = [c for c in child.children if c.type == "string_literal"]
            if len(literals) != 1:
                return None
            name = _unquote(_text(literals[0]))
            break
    else:
        return None
    name = name.rsplit("\\", 1)[-1].lower()
    return ALIASES.get(name, name)


def _elements(command: Node) -> list[Node]:
    for child in command.children:
        if child.type == "command_elements":
            return [c for c in child.children if c.type != "command_argument_sep"]
    return []


def _parameter_name(parameter: Node) -> str:
    return _text(parameter).split(":", 1)[0].lstrip("-").strip().lower()


def _is_parameter(written: str, full: str, aliases: Sequence[str] = ()) -> bool:
    """PowerShell binds a unique prefix of a parameter name: ``-Wai`` is ``-Wait``."""
    if written == full or written in aliases:
        return True
    if len(written) < 3 or not full.startswith(written):
        return False
    return not any(common.startswith(written) for common in COMMON_PARAMETERS if common != full)


@dataclass
class _Parameter:
    node: Node
    value: Node | None
    has_value: bool


def _parameters(command: Node) -> dict[str, list[_Parameter]]:
    """The command's ``-Name [value]`` pairs, keyed by lower-case written name.

    The grammar puts the ``:`` of ``-Name:value`` either inside the parameter node (with
    the value) or in the separator that follows it (the value then comes next)."""
    found: dict[str, list[_Parameter]] = {}
    raw: list[Node] = []
    for child in command.children:
        if child.type == "command_elements":
            raw = list(child.children)
    for index, element in enumerate(raw):
        if element.type != "command_parameter":
            continue
        inline = [c for c in element.children if c.type != ":"]
        has_colon = any(c.type == ":" for c in element.children)
        rest = raw[index + 1 :]
        if rest and rest[0].type == "command_argument_sep" and ":" in _text(rest[0]):
            has_colon = True
        following = [c for c in rest if c.type != "command_argument_sep"]
        value: Node | None = None
        if inline:
            value = inline[-1]
        elif following and following[0].type != "command_parameter":
            value = following[0]
        found.setdefault(_parameter_name(element), []).append(
            _Parameter(element, value, has_colon or bool(inline))
        )
    return found


def _find_parameter(command: Node, full: str, aliases: Sequence[str] = ()) -> list[_Parameter]:
    return [
        p
        for written, params in _parameters(command).items()
        if _is_parameter(written, full, aliases)
        for p in params
    ]


def _splats(command: Node) -> list[str]:
    return [
        _text(n)[1:].lower()
        for e in _elements(command)
        if _text(e).startswith("@")
        for n in _walk(e)
        if n.type == "variable" and _text(n).startswith("@")
    ]


class _Splats:
    """Hashtables assigned to variables in a script: ``$h = @{ Key = value }``,
    ``$h.Key = value``, ``$h['Key'] = value``, keyed by variable and key (lower case)."""

    def __init__(self, root: Node) -> None:
        self.tables: dict[str, dict[str, Node]] = {}
        for node in _walk(root):
            if node.type != "assignment_expression" or len(node.children) < 3:
                continue
            target, value = node.children[0], node.children[-1]
            variables = [n for n in _walk(target) if n.type == "variable"]
            if not variables:
                continue
            name = _text(variables[0]).lstrip("$").lower()
            access = next(
                (n for n in _walk(target) if n.type in ("member_access", "element_access")), None
            )
            if access is None:
                tables = [n for n in _walk(value) if n.type == "hash_literal_expression"]
                if tables and _text(value).lstrip().startswith("@{"):
                    self.tables[name] = self._entries(tables[0])
                continue
            keys = [
                n
                for n in access.children
                if n.type == "member_name" or (n.is_named and n.type != "variable")
            ]
            if keys and name in self.tables:
                self.tables[name][_unquote(_text(keys[-1])).lower()] = value

    @staticmethod
    def _entries(table: Node) -> dict[str, Node]:
        entries: dict[str, Node] = {}
        for entry in _walk(table):
            if entry.type != "hash_entry" or len(entry.children) < 3:
                continue
            key = _unquote(_text(entry.children[0])).lower()
            entries[key] = entry.children[2]
        return entries

    def lookup(self, command: Node, full: str, aliases: Sequence[str] = ()) -> list[Node] | None:
        """Values given to parameter ``full`` through splats; None if a splat is unknown."""
        values: list[Node] = []
        for splat in _splats(command):
            table = self.tables.get(splat)
            if table is None:
                return None
            values.extend(v for k, v in table.items() if _is_parameter(k, full, aliases))
        return values


def _point(source: bytes, node: Node) -> tuple[int, int]:
    """1-based line and character column of a node's first non-blank character."""
    start = node.start_byte
    while start < node.end_byte and source[start : start + 1] in (b" ", b"\t", b"\r", b"\n"):
        start += 1
    line_start = source.rfind(b"\n", 0, start) + 1
    line = source.count(b"\n", 0, start) + 1
    col = len(source[line_start:start].decode("utf-8", errors="replace")) + 1
    return line, col
