"""A HostSession onto a simulated host in this process: the wire form, without the network.

Commands go through the command layer's real dispatch (``run_command``) as a
listener would hand them over, so snippets, the stdin bootstrap and cmd.exe's
limits behave as over WinRM. For tests and tools that want a host without
ports; see docs/simulator.md, "Layers".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from sagefleet import snippets
from sagefleet.remote.session import HostSession
from sagefleet.sim.commands.dispatch import run_command, run_snippet
from sagefleet.sim.host import WindowsHost, host_from_profile, load_profile

Params = dict[str, Any] | None
Chunks = Iterable[bytes] | None
#: A scripted answer: a document, an exception to raise, or ``reply(params, stdin)``.
Reply = Any


class SimSession(HostSession):
    """A session straight onto ``host``; what it was asked is kept for tests.

    ``rewrite`` edits the script the host receives (what Windows would make of
    another construct); ``delay`` is the time each way of a round trip.
    ``replies``, when given, answer the snippets in order instead of the host
    (documents, exceptions to raise, or callables of params and stdin): for
    tests of a caller's logic against answers the model would not give.
    ``streams_stdin`` starts each command before reading its stdin (as
    WinRMSession does) instead of after. ``sibling()`` opens another session
    onto the same host that shares the scripted replies and what is kept.
    """

    def __init__(
        self,
        host: WindowsHost,
        *,
        rewrite: Callable[[str], str] | None = None,
        delay: float = 0.0,
        replies: Iterable[Reply] | None = None,
        streams_stdin: bool = False,
    ) -> None:
        super().__init__(host.name)
        self.sim = host
        self.rewrite = rewrite
        self.delay = delay
        self.replies = None if replies is None else list(replies)
        self.streams_stdin = streams_stdin
        # (snippet, params, stdin) of every run_snippet, and (command line, stdin) of every
        # command, in order; whether each run_snippet said its output is sensitive;
        # ("start" or "end", snippet, params) as each run_snippet starts and ends.
        self.calls: list[tuple[str, dict[str, Any], bytes]] = []
        self.commands: list[tuple[str, bytes]] = []
        self.sensitive: list[bool] = []
        self.timeline: list[tuple[str, str, dict[str, Any]]] = []
        self.closed = 0

    def run_snippet(
        self, name: str, params: Params = None, stdin: Chunks = None, *, sensitive: bool = False
    ) -> Any:
        kept = dict(params or {})
        if self.streams_stdin:  # the command runs while its stdin arrives
            self.timeline.append(("start", name, kept))
        data = b"".join(stdin) if stdin is not None else b""
        if not self.streams_stdin:  # the command starts once its whole stdin is read
            self.timeline.append(("start", name, kept))
        self.sensitive.append(sensitive)
        self.calls.append((name, kept, data))
        try:
            return self._answer(name, params, data, sensitive)
        finally:
            self.timeline.append(("end", name, kept))

    def _answer(self, name: str, params: Params, data: bytes, sensitive: bool) -> Any:
        if self.replies is None:
            return super().run_snippet(name, params, [data], sensitive=sensitive)
        if not self.replies:
            raise AssertionError(f"{self.host}: no scripted reply left for snippet {name!r}")
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply(params, data) if callable(reply) else reply

    def execute(
        self, command: str, stdin: Iterable[bytes] | None = None
    ) -> tuple[int, bytes, bytes]:
        data = b"".join(stdin) if stdin is not None else b""
        self.commands.append((command, data))
        time.sleep(self.delay)
        try:
            if self.rewrite is None:
                return run_command(self.sim, command, data)
            return self._rewritten(data)
        finally:
            time.sleep(self.delay)

    def _rewritten(self, data: bytes) -> tuple[int, bytes, bytes]:
        # The script travels on stdin behind its length (the stdin bootstrap's contract).
        assert self.rewrite is not None
        head, _, rest = data.partition(b"\n")
        script, data = rest[: int(head)].decode("utf-8"), rest[int(head) :]
        parsed = snippets.parse(script)
        assert parsed is not None, "rewrite applies to snippets"
        edited = self.rewrite(script)
        assert edited != script, "the rewrite changed nothing"
        return run_snippet(self.sim, parsed.name, parsed.params, data, script=edited)

    def sibling(self) -> SimSession:
        other = SimSession(
            self.sim, rewrite=self.rewrite, delay=self.delay, streams_stdin=self.streams_stdin
        )
        other.replies = self.replies
        other.calls, other.commands = self.calls, self.commands
        other.sensitive, other.timeline = self.sensitive, self.timeline
        return other

    def end_commands(self) -> bool:
        """True: a command runs within ``execute`` here, so one that raised has ended."""
        return True

    def close(self) -> None:
        self.closed += 1


def simulated(
    profile: str = "healthy-onprem",
    name: str = "sage01",
    **options: Any,
) -> SimSession:
    """A SimSession onto a new host of a shipped ``profile`` (``options``: SimSession's)."""
    host = host_from_profile(name, "127.0.0.2", "admin", "pw", load_profile(profile))
    return SimSession(host, **options)
