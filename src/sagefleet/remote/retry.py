"""Bounded retries with backoff for transient WinRM failures of a snippet run.

A WinRM listener under load answers HTTP 500 with a WS-Management fault, or
does not answer in time; a new shell a second later usually works.
``RetryingSession`` wraps any HostSession and runs a snippet again after a
``TransportError`` or ``RemoteTimeout``, on a new shell, waiting a doubling
backoff. It never retries ``AuthenticationFailed`` (each attempt counts
towards the domain's account lockout threshold), ``HostUnreachable`` (the
deploy reports the host and moves on) or a ``SnippetFailed`` (the snippet ran
and said no). Snippets that change the host in ways that must not happen
twice (installer, rollback, restart, file transfers, which have their own
resume logic) are never retried, nor is a run whose stdin cannot be replayed.

Inventory variables: ``sagefleet_winrm_retries`` (retries after the first
attempt, 0-10, default 2) and ``sagefleet_winrm_retry_backoff_s`` (first
wait in seconds, 0-60, default 1; doubled each time, capped at 30).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sagefleet.errors import InputError
from sagefleet.remote.errors import RemoteTimeout, TransportError
from sagefleet.remote.session import HostSession

log = logging.getLogger(__name__)

NOT_RETRIED = frozenset(
    {"agent_install", "agent_rollback", "agent_restart", "stage_push", "stage_pull"}
)
"""Snippets whose second run is not the same as one run."""


@dataclass(frozen=True)
class WinRMRetry:
    """How many times a transient failure is retried, and how long to wait."""

    retries: int = 2
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    def delay(self, failed_attempts: int) -> float:
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (failed_attempts - 1)))


def retry_from(host: str, variables: Mapping[str, Any]) -> WinRMRetry:
    """The policy from inventory variables, refused before any host is touched."""
    retries = variables.get("sagefleet_winrm_retries", 2)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise InputError(
            "must be a whole number of retries from 0 to 10",
            host=host,
            field="sagefleet_winrm_retries",
            value=repr(retries),
        )
    backoff = variables.get("sagefleet_winrm_retry_backoff_s", 1.0)
    if isinstance(backoff, bool) or not isinstance(backoff, int | float) or not 0 <= backoff <= 60:
        raise InputError(
            "must be a number of seconds from 0 to 60",
            host=host,
            field="sagefleet_winrm_retry_backoff_s",
            value=repr(backoff),
        )
    return WinRMRetry(retries=retries, backoff_s=float(backoff))


class RetryingSession(HostSession):
    """A HostSession that retries transient transport failures of idempotent snippets."""

    def __init__(
        self,
        inner: HostSession,
        policy: WinRMRetry | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(inner.host)
        self.inner = inner
        self.policy = policy or WinRMRetry()
        self.sleep = sleep
        self.retried = 0
        self.streams_stdin = inner.streams_stdin

    def run_snippet(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        stdin: Iterable[bytes] | None = None,
        *,
        sensitive: bool = False,
    ) -> Any:
        replayable = stdin is None or isinstance(stdin, list | tuple)
        attempts = 1 + (self.policy.retries if replayable and name not in NOT_RETRIED else 0)
        for attempt in range(1, attempts + 1):
            try:
                return self.inner.run_snippet(name, params, stdin, sensitive=sensitive)
            except (TransportError, RemoteTimeout) as exc:
                if attempt >= attempts:
                    raise
                delay = self.policy.delay(attempt)
                log.info(
                    "%s: %s attempt %d/%d failed (%s); retrying in %.1f s",
                    self.host,
                    name,
                    attempt,
                    attempts,
                    exc.message,
                    delay,
                )
                self.retried += 1
                self.inner.close()  # a new shell for the next attempt
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def execute(
        self, command: str, stdin: Iterable[bytes] | None = None
    ) -> tuple[int, bytes, bytes]:
        return self.inner.execute(command, stdin)

    def sibling(self) -> RetryingSession | None:
        other = self.inner.sibling()
        return None if other is None else RetryingSession(other, self.policy, self.sleep)

    def close(self) -> None:
        self.inner.close()
