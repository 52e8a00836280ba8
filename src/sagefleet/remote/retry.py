"""One backoff for transient WinRM failures: of a snippet run, and of a file transfer.

``Backoff`` counts ``retries`` after the first attempt and doubles its wait;
``RetryingSession`` applies it to idempotent snippets, ``sagefleet.transfer``
to a whole push or pull (which resumes). What is never retried, and why:
docs/reliability.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sagefleet.remote.errors import ConnectionLost, RemoteError, RemoteTimeout, TransportError
from sagefleet.remote.session import HostSession, Params, Stdin
from sagefleet.variables import value

log = logging.getLogger(__name__)

NOT_RETRIED = frozenset(
    {"agent_install", "agent_rollback", "agent_restart", "stage_push", "stage_pull"}
)
"""Snippets whose second run is not the same as one run."""


def replayable(name: str, params: Params = None) -> bool:
    """Whether running snippet ``name`` a second time leaves the host as one run does.

    Not settings_write's write guarded by the file it replaces (``expect_previous``), nor
    its rollback: after a first run that swapped the file, a second finds it changed since
    it was read and refuses, or finds it restored and calls it up to date, never restored.
    sagefleet.settings.host reads the file again after a guarded write that never
    answered; a rollback that never answered fails its host, saying so. Nor the diagnose
    snippet asked to restart the agent: a second run would restart it again. Its protect
    (the private ACL set again on the file, its content untouched) is replayed."""
    given = params or {}
    if name in NOT_RETRIED or (name == "diagnose" and given.get("restart")):
        return False
    if name == "settings_write" and not given.get("check"):
        action = given.get("action")
        return action == "protect" or (action == "write" and given.get("expect_previous") is None)
    return True


T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """How many times a transient failure is retried after the first attempt, and how long
    to wait before each retry: ``backoff_s``, doubled each time, capped at ``max_backoff_s``."""

    retries: int = 2
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"Backoff.retries must be at least 0, not {self.retries}")

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` failures (1, 2, ...): doubling, capped."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (failed_attempts - 1)))

    def run(
        self,
        call: Callable[[int], T],
        *,
        host: str,
        what: str,
        retried: tuple[type[RemoteError], ...],
        reset: Callable[[], None],
        sleep: Callable[[float], None] = time.sleep,
        retries: int | None = None,
    ) -> T:
        """``call(attempt)`` until it returns, retrying the ``retried`` failures.

        Before each retry ``reset()`` drops the connection's shell (on Windows, deleting
        it ends the interrupted command) and ``sleep`` waits. ``retries`` overrides the
        policy's count (0: one attempt); the last failure is raised as is.
        """
        retries = self.retries if retries is None else retries
        for attempt in range(1, retries + 2):
            try:
                return call(attempt)
            except retried as exc:
                if attempt > retries:
                    raise
                delay = self.delay(attempt)
                log.info(
                    "%s: %s attempt %d/%d failed (%s); retrying in %.1f s",
                    host,
                    what,
                    attempt,
                    retries + 1,
                    exc.message,
                    delay,
                )
                reset()
                sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


#: The inventory variables of the policy.
VARIABLES = ("sagefleet_winrm_retries", "sagefleet_winrm_retry_backoff_s")


def retry_from(host: str, variables: Mapping[str, Any]) -> Backoff:
    """The policy from inventory variables, refused before any host is touched."""
    retries, backoff = (value(host, variables, name) for name in VARIABLES)
    return Backoff(retries=retries, backoff_s=float(backoff))


class RetryingSession(HostSession):
    """A HostSession that retries transient transport failures of idempotent snippets."""

    def __init__(
        self,
        inner: HostSession,
        policy: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(inner.host)
        self.inner = inner
        self.policy = policy or Backoff()
        self.sleep = sleep
        self.retried = 0
        self.streams_stdin = inner.streams_stdin

    def run_snippet(
        self, name: str, params: Params = None, stdin: Stdin = None, *, sensitive: bool = False
    ) -> Any:
        whole = stdin is None or isinstance(stdin, list | tuple)  # can be sent again

        def once(_attempt: int) -> Any:
            return self.inner.run_snippet(name, params, stdin, sensitive=sensitive)

        def reset() -> None:
            self.retried += 1
            self.inner.close()  # a new shell for the next attempt

        return self.policy.run(
            once,
            host=self.host,
            what=name,
            retried=(TransportError, RemoteTimeout, ConnectionLost),
            reset=reset,
            sleep=self.sleep,
            retries=self.policy.retries if whole and replayable(name, params) else 0,
        )

    def execute(self, command: str, stdin: Stdin = None) -> tuple[int, bytes, bytes]:
        return self.inner.execute(command, stdin)

    def sibling(self) -> RetryingSession | None:
        other = self.inner.sibling()
        return None if other is None else RetryingSession(other, self.policy, self.sleep)

    def end_commands(self) -> bool:
        return self.inner.end_commands()

    def close(self) -> None:
        self.inner.close()
