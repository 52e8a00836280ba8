"""A snippet run as the bastion sends it, straight into a host model (no WinRM)."""

from __future__ import annotations

from typing import Any

from sagefleet.remote.command import snippet_invocation
from sagefleet.sim.commands.dispatch import run_command
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import WindowsHost


def run_snippet_wire(
    host: WindowsHost,
    name: str,
    params: dict[str, Any] | None,
    stdin: bytes = b"",
    *,
    abrupt: bool = False,
) -> tuple[int, bytes, bytes]:
    """The bootstrap command line, the script then ``stdin`` on stdin, through cmd.exe;
    ``abrupt``: the client went away before the end of stdin."""
    line, prefix = snippet_invocation(name, params)
    return run_command(host, line, Stdin(prefix + stdin, ended_abruptly=abrupt))
