"""What a command's process gets on its standard input, handed down by the protocol.

The WS-Management layer knows how the input arrived; the command layer's models
read it from this object (docs/simulator.md, "Layers"), never from the thread.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Stdin:
    """The bytes a command read, and how its input stream ended.

    ``ended_abruptly``: the client went away (connection cut, shell deleted,
    command signalled) before the end of stdin. On Windows the process has
    already acted on every line it received, then it is killed without seeing
    the end of its input; a model that writes as it reads keeps only what such
    a process would have done (complete lines, no end-of-input step).

    ``never_comes``: the command was started with ``WINRS_CONSOLEMODE_STDIN=TRUE``
    and no Send fed it. Its stdin is a console that nothing writes to: a read
    waits until the command is killed, so a model that would read fails loudly
    instead of pretending to see an end of input.
    """

    data: bytes = b""
    ended_abruptly: bool = False
    never_comes: bool = False

    @classmethod
    def of(cls, stdin: bytes | Stdin) -> Stdin:
        """``stdin`` as a Stdin: plain bytes are a whole input that ended normally."""
        return stdin if isinstance(stdin, Stdin) else cls(bytes(stdin))

    def rest(self, start: int) -> Stdin:
        """What is left for the script after its first ``start`` bytes were read."""
        return dataclasses.replace(self, data=self.data[start:])

    def __len__(self) -> int:
        return len(self.data)
