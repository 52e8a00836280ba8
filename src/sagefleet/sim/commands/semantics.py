"""What Windows does with the constructs a script uses, on a given host.

A snippet model computes a snippet's result from the host model; it cannot see
how the script text reaches that result. Windows can: the same script that
works on one server is refused on another because of the constructs it uses
(a FIPS policy refuses ``SHA256Managed``, a French UI cannot translate
``BUILTIN\\Administrators``, a service stuck in StopPending makes
``Stop-Service`` wait forever). Rules here look at the script text the host
received and at the host's state, and say what Windows would answer, so a
snippet that relies on a construct Windows refuses fails here too.

A rule returns the error text Windows would print (the script then fails as a
PowerShell ``throw`` would: rc 1, CLIXML on stderr), or None when the script
may run. Models that need the script text mid-run (a hang, say) ask
``current()``.
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
