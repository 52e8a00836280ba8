"""Every command line that reaches cmd.exe fits in its 8191 characters, on every client path.

WinRS starts commands through cmd.exe (neither ansible-core nor pywinrm sets
WINRS_SKIP_CMD_SHELL), and cmd.exe refuses a longer line. Each snippet is
rendered with the largest parameters the bastion sends, then the command
line is built the way each client builds it: pywinrm (sagefleet's direct
sessions and its testinfra backend), ansible-core 2.19+ (passes the line
through), ansible-core 2.18 (encodes it once more), and the offline collector
(a child process started by its full path).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from ansible.plugins.shell.powershell import ShellModule

from sagefleet import offline, snippets
from sagefleet.remote.command import (
    CMD_LINE_LIMIT,
    POWERSHELL_PREFIX,
    encode_script,
    snippet_invocation,
)

# Larger than anything an inventory produces: 40 MAE files and endpoints, paths of
# 260 characters, a question list of 200 entries, 64 pieces of a package...
LONG_PATH = "C:\\" + "\\".join(["Société d'exploitation $(x) '@"] * 8)
WORST: dict[str, Any] = {
    "path": LONG_PATH,
    "paths": [LONG_PATH] * 40,
    "mae_files": [LONG_PATH + f"\\E{i}.MAE" for i in range(40)],
    "endpoints": [
        {"name": f"srv{i:02d}abcdefghij.database.windows.net", "port": 1433, "tls": True}
        for i in range(40)
    ],
    "questions": [{"kind": "file", "path": LONG_PATH, "hash": True, "acl": True}] * 200,
    "segments": [{"start": 2**31, "end": 2**31}] * 64,
    "service_name": "S" * 256,
    "acl": {"owner": "S-1-5-32-544", "full_control": ["S-1-5-18"] * 20, "read": ["x"] * 20},
    "text": "x" * 100_000,
}


def worst_params(name: str) -> dict[str, Any]:
    return {"snippet": name, **WORST}


def pywinrm_line(line: str) -> str:
    # WinRMSession and the testinfra backend send the line as rsp:Command, unchanged.
    return line


def ansible_219_line(line: str) -> str:
    shell = ShellModule()
    prefix = shell._encode_script("", as_list=False, strict_mode=False, preserve_rc=False)
    # exec_command passes a line that starts with its own prefix through, split on spaces;
    # WinRS joins Command and Arguments back with one space.
    assert line.startswith(prefix)
    return " ".join(line.split(" "))


def ansible_218_line(line: str) -> str:
    # 2.18's exec_command encodes every command (strict mode and rc propagation off).
    return POWERSHELL_PREFIX + encode_script(line)


def offline_collector_line() -> str:
    script = offline.facts_script(
        offline.default_params(mae_files=WORST["mae_files"], service_name="S" * 256)
    )
    (arguments,) = re.findall(r"\$info\.Arguments = '([^']*)'", script)
    return r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe " + arguments


CLIENTS = {
    "pywinrm": pywinrm_line,
    "ansible-2.19": ansible_219_line,
    "ansible-2.18": ansible_218_line,
}


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("name", snippets.available())
def test_every_snippet_fits_cmd_exe_on_every_client_path(name: str, client: str) -> None:
    line, stdin = snippet_invocation(name, worst_params(name))
    sent = CLIENTS[client](line)
    assert len(sent) <= CMD_LINE_LIMIT, f"{name} over {client}: {len(sent)} characters"
    # The script, whatever its size, is on stdin.
    assert snippets.render(name, worst_params(name)).encode("utf-8") in stdin


@pytest.mark.parametrize("name", ["facts", "query", "settings_write", "agent_install"])
def test_the_large_scripts_could_never_travel_on_the_command_line(name: str) -> None:
    # What the previous transport sent for these: their own text, encoded.
    inline = POWERSHELL_PREFIX + encode_script(snippets.render(name, {}))
    assert len(inline) > CMD_LINE_LIMIT


def test_the_offline_collector_starts_its_child_within_the_limit() -> None:
    assert len(offline_collector_line()) <= CMD_LINE_LIMIT
