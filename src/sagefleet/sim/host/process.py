"""The process a command runs in, as the host model's effect points see it: killed or not.

On Windows a terminate Signal (MS-WSMV 3.1.4.12), or deleting the shell, ends the
command's process with TerminateProcess wherever it is: what it changed so far stays
(no cleanup, no finally block), nothing after that point happens. A Python thread
cannot be killed, so the model stops cooperatively: the command layer runs each
command ``running(killed)``, and every effect of the host model (a file, folder,
ACL, registry or service change) first calls ``checkpoint``, which raises
``Terminated`` once the process is killed; a wait (``wait``: a service start or stop,
an installer, a hang) ends at once. docs/simulator.md, ledger row 43.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator

_KILLED: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "sagefleet_sim_killed", default=None
)


class Terminated(BaseException):
    """The command's process was killed: the model stops at this effect point.

    A BaseException, as the kill is no error a script could catch: no ``catch``,
    no ``finally`` of the script runs (TerminateProcess). Only the command layer
    (``dispatch.run_command``) takes it.
    """


@contextlib.contextmanager
def running(killed: threading.Event | None) -> Iterator[None]:
    """Run the model of one command whose process is killed when ``killed`` is set."""
    token = _KILLED.set(killed)
    try:
        yield
    finally:
        _KILLED.reset(token)


def checkpoint() -> None:
    """Before an effect on the host: stop here if the command's process was killed."""
    if killed():
        raise Terminated("the command's process was terminated")


def killed() -> bool:
    """Whether the command's process was killed (a wait just ended early)."""
    event = _KILLED.get()
    return event is not None and event.is_set()


def wait(seconds: float) -> None:
    """Wait ``seconds`` real seconds, or less: a killed process waits no more."""
    event = _KILLED.get()
    if event is None:
        time.sleep(seconds)
    else:
        event.wait(seconds)


@contextlib.contextmanager
def one_call() -> Iterator[None]:
    """One system call made of several model steps (ReplaceFile): the kill comes before
    it (``checkpoint``) or after it, never inside; TerminateProcess does not tear a call
    the kernel is carrying out."""
    checkpoint()
    token = _KILLED.set(None)
    try:
        yield
    finally:
        _KILLED.reset(token)
