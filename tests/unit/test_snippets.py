"""Snippets: marker, parameter block, and proof from the parse tree that
hostile values stay data."""

from __future__ import annotations

import json
from typing import Any

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from sagefleet import snippets

PARSER = Parser(Language(tree_sitter_powershell.language()))

HOSTILE = [
    "it's",
    "'@",
    "x\n'@\nWrite-Output pwned\n@'",
    "$(Remove-Item C:\\ -Recurse)",
    "`$env:PATH`",
    "a; Stop-Computer",
    "line1\r\nline2",
    "Comptabilité 100c — Société",
    '"@\n"double"',
    "<administrateur>",
    "\u0000\u001b[31m",
    "x" * 10_000,
]


def parse(script: str) -> Node:
    return PARSER.parse(script.encode("utf-8")).root_node


def descendants(node: Node) -> list[Node]:
    found = [node]
    for child in node.children:
        found.extend(descendants(child))
    return found


def here_strings(root: Node) -> list[Node]:
    return [n for n in descendants(root) if n.type == "verbatim_here_string_characters"]


def statements(root: Node) -> list[Node]:
    (body,) = [c for c in root.children if c.type == "statement_list"]
    return [c for c in body.children if c.type != "comment"]


def param_block_data(root: Node) -> Any:
    """The JSON carried by `$P = ConvertFrom-Json @'...'@`, read from the tree."""
    first = statements(root)[0]
    assignment = first.children[0]
    assert assignment.type == "assignment_expression"
    target = [n for n in descendants(assignment.children[0]) if n.type == "variable"]
    assert [n.text for n in target] == [b"$P"]
    command = next(n for n in descendants(assignment) if n.type == "command")
    name = next(n for n in command.children if n.type == "command_name")
    assert name.text == b"ConvertFrom-Json"
    (literal,) = here_strings(command)
    text = literal.text.decode("utf-8")
    assert text.startswith("@'\n") and text.endswith("\n'@")
    return json.loads(text[3:-3])


def shape(nodes: list[Node]) -> list[tuple[str, bytes]]:
    return [(n.type, n.text or b"") for node in nodes for n in descendants(node)]


@pytest.mark.parametrize("name", snippets.available())
def test_every_snippet_parses_without_error(name: str) -> None:
    root = parse(snippets.render(name, {"probe": "value"}))
    assert not root.has_error, f"{name}.ps1 does not parse as PowerShell"


@pytest.mark.parametrize("name", snippets.available())
def test_every_snippet_carries_its_marker(name: str) -> None:
    script = snippets.render(name, {})
    root = parse(script)
    assert root.children[0].type == "comment"
    assert root.children[0].text.decode() == f"# sagefleet:{name}/{snippets.load(name).version}"


def test_prelude_parses_without_error() -> None:
    assert not parse(snippets.prelude()).has_error


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v)[:30] for v in HOSTILE])
def test_hostile_value_stays_inside_the_json_data_block(value: str) -> None:
    params = {"value": value, "nested": {"list": [value, 1, None]}}
    root = parse(snippets.render("host_info", params))
    assert not root.has_error
    assert len(here_strings(root)) == 1
    assert param_block_data(root) == params
    benign = parse(snippets.render("host_info", {"value": "x", "nested": {"list": ["x", 1, None]}}))
    assert shape(statements(root)[1:]) == shape(statements(benign)[1:])


def test_spliced_value_would_be_caught_by_the_same_proof() -> None:
    # A naive template that pastes a value into the here-string lets it out:
    # the parse-tree proof above must see that (otherwise it proves nothing).
    script = snippets.render("host_info", {"value": "x"}).replace(
        '{"value":"x"}', '{"value":"\n\'@\nWrite-Output pwned\n@\'\n"}'
    )
    root = parse(script)
    assert (
        len(here_strings(root)) != 1
        or root.has_error
        or any(n.text == b"Write-Output" for n in descendants(root))
    )


def test_parameters_are_one_line_of_ascii_json() -> None:
    text = snippets.params_json({"société": "Comptabilité\n'@"})
    assert text.isascii()
    assert "\n" not in text
    assert json.loads(text) == {"société": "Comptabilité\n'@"}


def test_parse_reads_back_name_version_and_params() -> None:
    params = {"a": [1, 2], "b": "Comptabilité"}
    parsed = snippets.parse(snippets.render("host_info", params))
    assert parsed is not None
    assert (parsed.name, parsed.version, parsed.params) == ("host_info", 1, params)


def test_parse_ignores_text_that_is_not_a_snippet() -> None:
    assert snippets.parse("Get-Service WinRM") is None


def test_parse_refuses_a_modified_body() -> None:
    script = snippets.render("host_info", {}).replace("Get-CimInstance", "Get-WmiObject")
    with pytest.raises(snippets.SnippetError, match="differs from the shipped snippet"):
        snippets.parse(script)


def test_parse_refuses_a_broken_parameter_block() -> None:
    script = snippets.render("host_info", {}).replace("$P = ConvertFrom-Json @'", "$P = @'")
    with pytest.raises(snippets.SnippetError, match="parameter block"):
        snippets.parse(script)


def test_unknown_snippet_is_a_clear_error() -> None:
    with pytest.raises(snippets.SnippetError, match="unknown snippet 'nope'"):
        snippets.load("nope")


def test_snippet_names_are_restricted() -> None:
    with pytest.raises(snippets.SnippetError, match="invalid snippet name"):
        snippets.load("../etc/passwd")


def tokens(root: Node) -> list[tuple[str, bytes]]:
    """The leaves of the parse tree, comments left out: what PowerShell runs."""
    return [
        (n.type, n.text or b"") for n in descendants(root) if not n.children and n.type != "comment"
    ]


@pytest.mark.parametrize("name", [*snippets.available(), snippets.PRELUDE_NAME])
def test_only_comments_are_left_out_of_the_script_sent(name: str) -> None:
    """The file's whole-line comments stay home; every one of them is a comment in the
    parse tree (none sits in a string), and the code left is token for token the file's."""
    text = snippets._read(name).replace("\r\n", "\n")
    original = parse(text)
    comment_lines = {n.start_point[0] for n in descendants(original) if n.type == "comment"}
    dropped = {i for i, line in enumerate(text.split("\n")) if line.lstrip().startswith("#")}
    assert dropped <= comment_lines
    sent = snippets.prelude() if name == snippets.PRELUDE_NAME else snippets.load(name).body
    assert not any(line.lstrip().startswith("#") for line in sent.split("\n"))
    body = text if name == snippets.PRELUDE_NAME else text.partition("\n")[2]
    assert tokens(parse(sent)) == tokens(parse(body))
