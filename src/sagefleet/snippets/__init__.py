"""PowerShell snippets and the one way they are turned into script text.

Marker, parameters as JSON data in a here-string, the prelude, then the body; values
never enter the script as code: docs/architecture.md, "Wire contract".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from sagefleet.errors import SagefleetError

MARKER_RE = re.compile(r"^# sagefleet:(?P<name>[a-z][a-z0-9_]*)/(?P<version>[0-9]+)$")
PRELUDE_NAME = "_prelude"
PARAM_OPEN = "$P = ConvertFrom-Json @'"
PARAM_CLOSE = "'@"


class SnippetError(SagefleetError):
    """A snippet is missing or malformed (a packaging bug, not a host problem)."""


@dataclass(frozen=True)
class Snippet:
    """One snippet file: its marker name and version and its body text."""

    name: str
    version: int
    body: str

    @property
    def marker(self) -> str:
        return f"# sagefleet:{self.name}/{self.version}"


def _code(text: str) -> str:
    """The text without its whole-line comments: they stay in the file, not on the wire
    (every byte of a script crosses the network on every run). The snippets
    hold no here-string or block comment in which a line starting with '#' would be
    anything but a comment (a test checks it)."""
    return "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("#"))


def _read(name: str) -> str:
    try:
        return resources.files(__name__).joinpath(f"{name}.ps1").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SnippetError(f"unknown snippet {name!r}: no file {name}.ps1 in the package") from exc


@cache
def load(name: str) -> Snippet:
    """Load a snippet and check its marker, so a mislabelled file fails at once."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise SnippetError(f"invalid snippet name {name!r}")
    text = _read(name).replace("\r\n", "\n")
    first, _, body = text.partition("\n")
    match = MARKER_RE.match(first.strip())
    if not match or match.group("name") != name:
        raise SnippetError(f"snippet {name}.ps1 must start with '# sagefleet:{name}/<version>'")
    body = _code(body)
    return Snippet(name=name, version=int(match.group("version")), body=body.strip("\n") + "\n")


@cache
def prelude() -> str:
    """Shared helpers every snippet may use (JSON output, error handling, ACLs)."""
    return _code(_read(PRELUDE_NAME).replace("\r\n", "\n")).strip("\n") + "\n"


_FUNCTION_RE = re.compile(r"^function\s+(?P<name>[A-Za-z][\w-]*)\b")


@cache
def _prelude_parts() -> tuple[list[str], dict[str, str]]:
    """The prelude's statements that always run, and its functions by name.

    A function starts with ``function Name`` at the start of a line and ends with
    the first line that is exactly ``}`` (the prelude is written that way).
    """
    always: list[str] = []
    functions: dict[str, str] = {}
    current: list[str] | None = None
    for line in prelude().rstrip("\n").split("\n"):
        match = _FUNCTION_RE.match(line)
        if current is None and match:
            current = [line]
            functions[match.group("name")] = ""
            name = match.group("name")
            continue
        if current is not None:
            current.append(line)
            if line == "}":
                functions[name] = "\n".join(current)
                current = None
            continue
        always.append(line)
    if current is not None:
        raise SnippetError("the prelude has a function without its closing '}' line")
    return always, functions


@cache
def prelude_for(name: str) -> str:
    """The prelude a snippet carries: its statements, and the functions the snippet calls
    (directly or through another prelude function), in the prelude's order. Every byte
    of a script crosses the network on every run: unused helpers stay home."""
    always, functions = _prelude_parts()
    calls, by_word = _calls()
    wanted: set[str] = set()
    pending = [load(name).body]
    while pending:
        for word in calls.findall(pending.pop()):
            function = by_word[word.lower()]
            if function not in wanted:
                wanted.add(function)
                pending.append(functions[function])
    kept = [code for function, code in functions.items() if function in wanted]
    return "\n".join([*always, *kept]).strip("\n") + "\n"


@cache
def _calls() -> tuple[re.Pattern[str], dict[str, str]]:
    """A pattern finding every prelude function's name as a whole word (PowerShell names
    are case-insensitive, and ``-`` belongs to a word), and each function by its lowered
    name."""
    names = sorted(_prelude_parts()[1], key=len, reverse=True)  # longest first
    alternatives = "|".join(map(re.escape, names))
    pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.I)
    return pattern, {name.lower(): name for name in names}


def warm_up() -> None:
    """Load every snippet and the prelude it carries (before Ansible forks a worker per
    host and task: each worker inherits them instead of reading them again)."""
    for name in available():
        prelude_for(name)


def available() -> list[str]:
    """Names of every shipped snippet (the prelude excluded)."""
    names = []
    for entry in resources.files(__name__).iterdir():
        if entry.name.endswith(".ps1") and not entry.name.startswith("_"):
            names.append(entry.name[: -len(".ps1")])
    return sorted(names)


def params_json(params: dict[str, Any] | None) -> str:
    """Serialise parameters as one line of ASCII JSON (the only form a script carries)."""
    text = json.dumps(params or {}, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    if "\n" in text or "\r" in text:  # impossible with json.dumps, kept as a guard
        raise SnippetError("parameter JSON must be a single line")
    return text


def render(name: str, params: dict[str, Any] | None = None) -> str:
    """Build the full script text for one run of snippet ``name``."""
    snippet = load(name)
    return "\n".join(
        [
            snippet.marker,
            PARAM_OPEN,
            params_json(params),
            PARAM_CLOSE,
            prelude_for(name).rstrip("\n"),
            snippet.body.rstrip("\n"),
            "",
        ]
    )


@dataclass(frozen=True)
class ParsedScript:
    """What a host (or the simulator) can read back from a script text."""

    name: str
    version: int
    params: dict[str, Any]


def parse(script: str) -> ParsedScript | None:
    """Read back name, version and parameters from a rendered script.

    Returns None when the text is not a sagefleet snippet. Raises SnippetError
    when it claims to be one but its body differs from the shipped snippet:
    the simulator must never run a script our loader did not produce.
    """
    lines = script.replace("\r\n", "\n").split("\n")
    match = MARKER_RE.match(lines[0].strip()) if lines else None
    if not match:
        return None
    if len(lines) < 4 or lines[1] != PARAM_OPEN or lines[3] != PARAM_CLOSE:
        raise SnippetError("sagefleet script without a well-formed parameter block")
    try:
        params = json.loads(lines[2])
    except json.JSONDecodeError as exc:
        raise SnippetError(f"sagefleet script parameter block is not JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise SnippetError("sagefleet script parameters must be a JSON object")
    name = match.group("name")
    expected = render(name, params)
    if script.replace("\r\n", "\n") != expected:
        raise SnippetError(f"script text for snippet {name!r} differs from the shipped snippet")
    if int(match.group("version")) != load(name).version:
        raise SnippetError(f"snippet {name!r} version mismatch")
    return ParsedScript(name=name, version=int(match.group("version")), params=params)
