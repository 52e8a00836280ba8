"""HostSession: run a named snippet on one host and get its JSON result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeAlias

from sagefleet.remote.command import parse_result, snippet_invocation

#: What a command reads on stdin, block by block (one WinRM Send each), or nothing.
Stdin: TypeAlias = Iterable[bytes] | None
#: A snippet's parameters: JSON data.
Params: TypeAlias = dict[str, Any] | None


class HostSession(ABC):
    """One host, reached over some transport; subclasses only move bytes."""

    # Whether ``execute`` sends stdin as the iterable yields it (True) or reads it all
    # before the command starts (False).
    streams_stdin = False

    def __init__(self, host: str) -> None:
        self.host = host

    def run_snippet(
        self, name: str, params: Params = None, stdin: Stdin = None, *, sensitive: bool = False
    ) -> Any:
        """Run snippet ``name`` with ``params`` (JSON data) and return its document.

        ``sensitive`` says the output may hold secrets: a transport that logs
        command output must not log this run's (``quiet``).
        """
        command, prefix = snippet_invocation(name, params)
        with self.quiet(sensitive):
            rc, stdout, stderr = self.execute(command, _prepend(prefix, stdin))
        return parse_result(self.host, name, rc, stdout, stderr)

    def quiet(self, sensitive: bool) -> AbstractContextManager[None]:
        """What holds while a run whose output may hold secrets (``sensitive``) executes:
        a transport that logs command output stops logging it. Nothing by default."""
        return nullcontext()

    @abstractmethod
    def execute(self, command: str, stdin: Stdin = None) -> tuple[int, bytes, bytes]:
        """Run one command line; map transport failures to RemoteError subclasses."""

    def sibling(self) -> HostSession | None:
        """Another session to the same host, for work in parallel (a push in pieces).

        None when the transport cannot open one (the default). Connects when
        first used; the caller closes it.
        """
        return None

    def end_commands(self) -> bool:
        """End every command this session started on the host, for sure: a command that
        never answered (``UNANSWERED``) may still run when its terminate Signal was lost
        too. True once the host confirmed it (deleting the session's shell ends its
        processes, on Windows as in the simulator: ledger row 43 of docs/simulator.md); the
        next command opens a new shell. False when the host did not confirm it, and by
        default: a transport that cannot say."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the transport; the default has nothing to release."""

    def __enter__(self) -> HostSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prepend(first: bytes, rest: Stdin) -> Iterator[bytes]:
    yield first
    if rest is not None:
        yield from rest
