"""What the lint reads: what sagefleet ships (snippets, the prelude, the offline
collector, each snippet's command line) or the files given; ``main`` is the command."""

from __future__ import annotations

import argparse
import base64
import difflib
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path

from sagefleet.pslint.rules import _functions, lint_text
from sagefleet.pslint.tables import RULES, Finding
from sagefleet.pslint.tree import _PARSER
from sagefleet.remote.command import CMD_LINE_LIMIT

# -- command lines -----------------------------------------------------------------------


def encoded_script(command: str) -> str | None:
    """The script a ``powershell -EncodedCommand`` command line carries."""
    match = re.search(r"(?i)-(?:EncodedCommand|enc|e)\s+([A-Za-z0-9+/=]+)\s*$", command)
    if match is None:
        return None
    return base64.b64decode(match.group(1)).decode("utf-16-le")


def lint_command_line(path: str, command: str) -> list[Finding]:
    """The command line a snippet run sends must fit cmd.exe's 8191 characters."""
    if len(command) <= CMD_LINE_LIMIT:
        return []
    return [
        Finding(
            path,
            1,
            1,
            "command-line-length",
            f"the rendered command line is {len(command)} characters; cmd.exe refuses more than "
            f'{CMD_LINE_LIMIT} ("The command line is too long."): send the script on stdin '
            "behind a short fixed bootstrap",
        )
    ]


# -- what sagefleet ships ----------------------------------------------------------------


def template_position(template: str, rendered: str) -> Callable[[int, int], tuple[int, int]]:
    """Map a (line, column) of a ``str.format`` rendering back to its template.

    Lines the rendering kept map one to one (columns shift by the doubled braces before
    them); lines a placeholder produced map to the placeholder's line.
    """
    raw = template.split("\n")
    plain = [line.replace("{{", "{").replace("}}", "}") for line in raw]
    out = rendered.replace("\r\n", "\n").split("\n")
    lines: dict[int, tuple[int, bool]] = {}
    matcher = difflib.SequenceMatcher(None, plain, out, autojunk=False)
    for tag, i1, _i2, j1, j2 in matcher.get_opcodes():
        for j in range(j1, j2):
            lines[j] = (i1 + (j - j1), True) if tag == "equal" else (min(i1, len(raw) - 1), False)

    def position(line: int, col: int) -> tuple[int, int]:
        index, same = lines.get(line - 1, (line - 1, False))
        if not same:
            return index + 1, 1
        text, i, r = raw[index], 0, 1
        while r < col and i < len(text):
            i += 2 if text[i : i + 2] in ("{{", "}}") else 1
            r += 1
        return index + 1, i + 1

    return position


def _snippet_sources() -> Iterator[tuple[str, str, set[str]]]:
    from sagefleet import snippets

    folder = resources.files(snippets)
    prelude_text = folder.joinpath("_prelude.ps1").read_text(encoding="utf-8")
    prelude_functions = _functions(_PARSER.parse(prelude_text.encode("utf-8")).root_node)
    yield "src/sagefleet/snippets/_prelude.ps1", prelude_text, set()
    for name in snippets.available():
        text = folder.joinpath(f"{name}.ps1").read_text(encoding="utf-8")
        yield f"src/sagefleet/snippets/{name}.ps1", text, prelude_functions


def _lint_collector() -> list[Finding]:
    from sagefleet import offline

    path = "src/sagefleet/templates/facts_collector.ps1"
    template = resources.files("sagefleet").joinpath("templates/facts_collector.ps1")
    raw = template.read_text(encoding="utf-8")
    rendered = offline.facts_script(offline.default_params(mae_files=["C:\\Sage\\X.MAE"]), host="h")
    _, _, body = raw.partition("\n")
    position = template_position(body, rendered)
    mapped = []
    for finding in lint_text(rendered, path):
        line, col = position(finding.line, finding.col)
        mapped.append(Finding(path, line + 1, col, finding.rule, finding.message))  # + line 1
    return mapped


def lint_invocations() -> list[Finding]:
    from sagefleet import snippets
    from sagefleet.remote.command import snippet_invocation

    findings: list[Finding] = []
    bootstraps: set[str] = set()
    for name in snippets.available():
        path = f"src/sagefleet/snippets/{name}.ps1"
        command, _ = snippet_invocation(name, {})
        findings.extend(lint_command_line(path, command))
        script = encoded_script(command)
        if script is not None and script != snippets.render(name, {}) and script not in bootstraps:
            bootstraps.add(script)
            findings.extend(lint_text(script, "src/sagefleet/remote/command.py (stdin bootstrap)"))
    return findings


def lint_shipped() -> list[Finding]:
    """Every finding in what sagefleet ships: snippets, prelude, templates, command lines."""
    findings: list[Finding] = []
    for path, text, functions in _snippet_sources():
        findings.extend(lint_text(text, path, functions=functions))
    findings.extend(_lint_collector())
    findings.extend(lint_invocations())
    return sorted(set(findings))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sagefleet.pslint",
        description="PowerShell 5.1 lint of sagefleet's snippets and templates "
        "(or of the given files). Exit 1 on any finding.",
    )
    parser.add_argument("files", nargs="*", type=Path, help="lint these .ps1 files instead")
    parser.add_argument("--rules", action="store_true", help="list the rules and exit")
    args = parser.parse_args(argv)
    if args.rules:
        for rule, summary in RULES.items():
            print(f"{rule:22} {summary}")
        return 0
    if args.files:
        findings = [
            f for path in args.files for f in lint_text(path.read_text(encoding="utf-8"), str(path))
        ]
    else:
        findings = lint_shipped()
    for finding in findings:
        print(finding)
    if findings:
        print(f"pslint: {len(findings)} finding(s)", file=sys.stderr)
        return 1
    what = f"{len(args.files)} file(s)" if args.files else "the shipped snippets and templates"
    print(f"pslint: no finding in {what}", file=sys.stderr)
    return 0
