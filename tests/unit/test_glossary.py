"""The glossary of docs/architecture.md holds: each retired name is written only in its
deprecation shim (a ``deprecated()`` entry or a module option's deprecated alias in
variables/declarations.py, a command-line flag kept as an alias), and in the files
generated from the declaration (their drift tests keep them equal to it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagefleet.ansible import roledocs

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SEARCHED = (
    "src",
    "action_plugins",
    "callback_plugins",
    "vars_plugins",
    "library",
    "roles",
    "playbooks",
    "inventory",
    "docs",
    "bench",
    "README.md",
)
TEXT_SUFFIXES = {".py", ".ps1", ".yml", ".yaml", ".md", ".json", ".j2", ".cfg", ".toml", ".txt"}
DECLARATIONS = Path("src/sagefleet/variables/declarations.py")


def _shims(name: str) -> list[tuple[Path | None, re.Pattern[str]]]:
    """Where a retired name may be written: (file, or any file; the line's pattern)."""
    quoted = re.escape(f'"{name}"')
    return [
        (DECLARATIONS, re.compile(rf"deprecated\({quoted}")),
        (DECLARATIONS, re.compile(rf"option_aliases=\(.*{quoted}")),
        # An old command-line flag kept as an alias of the new one.
        (None, re.compile(rf"^\s*{quoted},\s*# its name until")),
    ]


#: Other concepts that happen to share a retired word (the module sagefleet.agent.service,
#: imported as agent_service, operates on the agent's service: its restart).
OTHER_MEANINGS = {
    # Windows' service controller, a domain controller, pytest-xdist's controller process.
    "controller": re.compile(r"\b(service|domain|xdist) controller\b", re.I),
    "agent_service": re.compile(
        r"sagefleet[./]agent_service\b|import .*\bagent_service\b"
        r"|\bagent_service\.(restart|options_from|RestartOptions)\b"
    ),
}


def glossary() -> tuple[str, int, int]:
    """The architecture document, and where its Glossary section starts and ends."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    start = text.index("\n## Glossary\n")
    end = text.find("\n## ", start + 1)
    return text, start, len(text) if end < 0 else end


def retired_names() -> list[str]:
    """The names of the Glossary table's "Retired names" column (its `code` spans outside
    parentheses, which say where a name was used)."""
    text, start, end = glossary()
    rows = [line for line in text[start:end].splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    column = header.index("Retired names")
    names: list[str] = []
    for row in rows[2:]:
        cell = row.strip("|").split("|")[column]
        names += re.findall(r"`([^`]+)`", re.sub(r"\([^)]*\)", "", cell))
    return names


def _generated_regions(path: Path, text: str) -> str:
    """``text`` without what ``python -m sagefleet.ansible.roledocs`` generates in it."""
    relative = path.relative_to(ROOT).as_posix()
    if relative.startswith("roles/") and relative.endswith(
        ("/meta/argument_specs.yml", "/defaults/main.yml")
    ):
        return ""
    if relative.startswith("roles/") and relative.endswith("/README.md"):
        return re.sub(
            re.escape(roledocs.BEGIN) + ".*?" + re.escape(roledocs.END), "", text, flags=re.S
        )
    if relative.startswith("library/"):
        return re.sub(r"^options:\n(?:(?: .*)?\n)*", "", text, count=1, flags=re.M)
    if relative == "docs/variables.md":
        return re.sub(
            re.escape(roledocs.VARIABLES_BEGIN) + ".*?" + re.escape(roledocs.VARIABLES_END),
            "",
            text,
            flags=re.S,
        )
    if path == ARCHITECTURE:
        whole, start, end = glossary()
        return whole[:start] + whole[end:]
    return text


def searched_files() -> Iterator[Path]:
    for entry in SEARCHED:
        top = ROOT / entry
        found = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in found:
            if (
                path.is_file()
                and path.suffix in TEXT_SUFFIXES
                and "__pycache__" not in path.parts
                and not path.name.lower().startswith("changelog")
            ):
                yield path


def test_the_glossary_lists_retired_names() -> None:
    names = retired_names()
    assert {"agent_service", "sagefleet_agent_version", "backup_root"} <= set(names)
    assert "sagefleet_preflight_lang" in names


@pytest.mark.parametrize("name", retired_names())
def test_a_retired_name_is_written_only_in_its_deprecation_shim(name: str) -> None:
    word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    other = OTHER_MEANINGS.get(name)
    shims = _shims(name)
    found: list[str] = []
    for path in searched_files():
        text = _generated_regions(path, path.read_text(encoding="utf-8", errors="replace"))
        relative = path.relative_to(ROOT)
        for number, line in enumerate(text.splitlines(), 1):
            if not word.search(line):
                continue
            if other is not None and not word.search(other.sub("", line)):
                continue
            if any((where is None or where == relative) and p.search(line) for where, p in shims):
                continue
            found.append(f"{relative}:{number}: {line.strip()}")
    assert found == [], f"{name} is retired (docs/architecture.md, Glossary):\n" + "\n".join(found)


def test_each_retired_variable_has_its_shim() -> None:
    """A retired inventory variable is still read, for one release, with a warning."""
    from sagefleet import variables

    for name in retired_names():
        if name.startswith("sagefleet_"):
            assert variables.is_retired(name), name
