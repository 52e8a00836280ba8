"""What Windows does with the constructs a script uses, on a given host.

A rule sees the script the host received and the host's state, and returns the error
Windows would print, or None: docs/simulator.md, "Rules: what Windows refuses in a script".
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sagefleet.sim.host import WindowsHost


@dataclass(frozen=True)
class Script:
    """The script a host is running: its snippet name, parameters and full text."""

    name: str
    params: dict[str, Any]
    text: str

    def uses(self, pattern: str, flags: int = re.I) -> bool:
        """Whether the script's code matches ``pattern`` (PowerShell is case-insensitive)."""
        return re.search(pattern, self.text, flags) is not None


Rule = Callable[["WindowsHost", Script], "str | None"]
RULES: list[Rule] = []

_CURRENT: contextvars.ContextVar[Script | None] = contextvars.ContextVar(
    "sagefleet_current_script", default=None
)


def rule(func: Rule) -> Rule:
    """Register a rule; every script a host runs passes every rule first."""
    RULES.append(func)
    return func


def refusal(host: WindowsHost, script: Script) -> str | None:
    """The first error Windows would raise for this script on this host, or None."""
    for check in RULES:
        message = check(host, script)
        if message is not None:
            return message
    return None


def current() -> Script | None:
    """The script the model is running in this thread (None outside a snippet run)."""
    return _CURRENT.get()


def uses(*patterns: str) -> bool:
    """Whether a script is running in this thread and its code matches every pattern."""
    script = _CURRENT.get()
    return script is not None and all(script.uses(p) for p in patterns)


def running(script: Script) -> contextvars.Token[Script | None]:
    return _CURRENT.set(script)


def done(token: contextvars.Token[Script | None]) -> None:
    _CURRENT.reset(token)
