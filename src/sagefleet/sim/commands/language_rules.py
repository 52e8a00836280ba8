"""Constrained Language Mode (AppLocker/WDAC): what a session in it refuses.

A snippet sent on the command line (not behind the stdin bootstrap, which
names the mode itself) still ends with ``[Console]::Out.Write`` from the
prelude: a method call on a type Constrained Language Mode does not allow
("about_Language_Modes"). Every snippet is refused there, with Windows' text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sagefleet.sim.commands import semantics

if TYPE_CHECKING:
    from sagefleet.sim.host import WindowsHost

CLM_METHOD_REFUSED = (
    "Cannot invoke method. Method invocation is supported only on core types in this "
    "language mode."
)


@semantics.rule
def constrained_language(host: WindowsHost, script: semantics.Script) -> str | None:
    if host.language_mode == "FullLanguage":
        return None
    return CLM_METHOD_REFUSED
