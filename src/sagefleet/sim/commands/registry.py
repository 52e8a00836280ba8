"""The registry of what the command layer can run: snippet models and line models.

Models register themselves here (``simulates``, ``simulates_lines``); this
module imports none of them, so a model and the dispatcher never import each
other. ``catalog`` is the one place that imports every model of the simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sagefleet.sim.host.errors import ModelError

if TYPE_CHECKING:
    from sagefleet.sim.commands.stdin import Stdin
    from sagefleet.sim.host import WindowsHost

#: What a command returns: exit code, stdout, stderr.
Result = tuple[int, bytes, bytes]

SnippetImpl = Callable[["WindowsHost", dict[str, Any], "Stdin"], Any]
SNIPPETS: dict[str, SnippetImpl] = {}

#: A model of plain PowerShell one-liners: its Result, or None when it does not know the line.
LineModel = Callable[["WindowsHost", str], "Result | None"]
LINE_MODELS: list[LineModel] = []


def simulates(name: str) -> Callable[[SnippetImpl], SnippetImpl]:
    """Register the model-side behaviour of a snippet."""

    def register(func: SnippetImpl) -> SnippetImpl:
        SNIPPETS[name] = func
        return func

    return register


def simulates_lines(func: LineModel) -> LineModel:
    """Register a model of plain PowerShell one-liners (tried in order, after the built-in ones)."""
    if func not in LINE_MODELS:
        LINE_MODELS.append(func)
    return func


class SnippetAbort(Exception):
    """Raised by a snippet model the way a PowerShell `throw` ends the script."""


@contextmanager
def powershell_errors() -> Iterator[None]:
    """Report a model error (disk full, path not found...) as PowerShell would: rc 1, its text.

    A model whose script stops on any error runs under ``with host.lock, powershell_errors():``.
    """
    try:
        yield
    except ModelError as exc:
        raise SnippetAbort(str(exc)) from None


def clixml_error(message: str) -> bytes:
    """The stderr a PowerShell host writes for an uncaught error."""
    escaped = (
        message.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", "")
        .replace("\n", "_x000D__x000A_")
    )
    return (
        "#< CLIXML\r\n"
        '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        f'<S S="Error">{escaped}_x000D__x000A_</S></Objs>'
    ).encode()


def failed(message: str) -> Result:
    """rc 1 with ``message`` as PowerShell's uncaught error: what a ``throw`` ends with."""
    return 1, b"", clixml_error(message)


def not_understood(what: str, text: str, powershell: bool) -> Result:
    """rc 1 naming what the simulator does not model: never a silent success."""
    preview = text if len(text) <= 200 else text[:200] + "..."
    message = f"sagefleet simulator: {what} not understood: {preview}"
    stderr = clixml_error(message) if powershell else (message + "\r\n").encode("utf-8")
    return 1, b"", stderr
