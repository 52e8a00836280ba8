"""Restart the agent so that it reads its settings.json again, and prove it runs.

The agent reads settings.json when it starts: a settings change that is not
followed by a restart is not in effect, and the next deploy would find the
file up to date while the running agent still uses the old settings. The
settings playbook therefore restarts the agent (a handler) whenever it changed
settings.json, and fails the host when the agent does not run afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sagefleet.agent import profile as agent_profile
from sagefleet.errors import SagefleetError
from sagefleet.remote import HostSession, RemoteError
from sagefleet.remote.errors import END_NOT_CONFIRMED, UNANSWERED
from sagefleet.variables import value


@dataclass(frozen=True)
class Restart:
    """What a restart did: ``state`` after it (None: the service does not exist)."""

    installed: bool
    state: str | None = None
    state_before: str | None = None
    error: str | None = None
    killed_pid: int | None = None
    planned: bool = False
    stopped: str | None = None  # a restart stopped part way: what was found (run_restart)

    @property
    def ok(self) -> bool:
        # Running after an error is the old process still running (a stop that failed).
        return not self.installed or self.planned or (self.state == "Running" and not self.error)

    @property
    def message(self) -> str:
        if not self.installed:
            return "the agent is not installed: it reads these settings when it is"
        if self.planned:
            return f"check mode: the agent ({self.state_before}) would be restarted"
        if self.state == "Running" and not self.error:
            killed = f"; its process {self.killed_pid} was killed" if self.killed_pid else ""
            stopped = f" ({self.stopped})" if self.stopped else ""
            return (
                f"agent restarted ({self.state_before} → Running){stopped}: settings in "
                f"effect{killed}"
            )
        if self.state == "Running":
            return (
                f"the agent was not restarted: {self.error}; it still runs as it started, "
                "so settings.json is not in effect"
            )
        return (
            f"the agent does not run after the settings change ({self.state}): "
            f"{self.error or 'no error reported'}; settings.json is not in effect"
        )


@dataclass(frozen=True)
class RestartOptions:
    """How to find the agent's service (the agent profile's lookup: its exact name, else
    an ImagePath or DisplayName pattern), and how long a stop and a start may take."""

    lookup: Mapping[str, str | None]
    described: str
    stop_timeout_s: int = 60
    start_timeout_s: int = 60


def options_from(host: str, variables: Mapping[str, Any]) -> RestartOptions:
    """The service lookup (the host's agent profile, the inventory's overrides on top) and
    the timeouts, checked before the host is touched."""
    profile = agent_profile.for_host(variables, host=host)
    return RestartOptions(
        profile.service_lookup,
        profile.describe_lookup(),
        value(host, variables, "sagefleet_agent_stop_timeout_s"),
        value(host, variables, "sagefleet_agent_start_timeout_s"),
    )


def restart(session: HostSession, options: RestartOptions, *, check: bool = False) -> Restart:
    """Restart (or start) the agent service and report the state it ends in."""
    answers = session.run_snippet("query", {"questions": [{"kind": "service", **options.lookup}]})[
        "answers"
    ]
    answer = answers if isinstance(answers, dict) else answers[0]
    candidates = answer.get("candidates") or []
    if isinstance(candidates, str):  # PowerShell 5.1 unwraps one-element arrays
        candidates = [candidates]
    if len(candidates) > 1:
        raise SagefleetError(
            f"several services match the agent profile ({options.described}): "
            f"{', '.join(candidates)}; set service.name in the profile or "
            "sagefleet_agent_service_name"
        )
    if not answer.get("exists"):
        return Restart(installed=False)
    name = str(answer["name"])
    before = answer.get("state")
    if check:
        return Restart(installed=True, state=before, state_before=before, planned=True)
    outcome = run_restart(session, name, answer, options.stop_timeout_s, options.start_timeout_s)
    return Restart(
        installed=True,
        state=outcome.get("state"),
        state_before=before,
        error=outcome.get("error"),
        killed_pid=outcome.get("killed_pid"),
        stopped=outcome.get("stopped"),
    )


def run_restart(
    session: HostSession,
    name: str,
    before: Mapping[str, Any],
    stop_timeout_s: int,
    start_timeout_s: int,
) -> dict[str, Any]:
    """agent_restart on service ``name`` (``before``: the query's answer for it, read
    before). A restart that never answers (its Receive failed, timed out or lost its
    connection: the session's terminate Signal kills it where it is, maybe between the stop
    and the start) is never taken as done nor as not started: once the host confirmed it
    runs no more (its shell deleted), the service is read again. Found running since
    another start than ``before``'s, it was restarted; found stopped, it is started once
    more (agent_restart again); found running as it started, it was not restarted (an
    error, as is a start time that cannot be read). ``stopped`` says what was found.
    Raises the first error when the host cannot be read again."""
    params = {
        "service_name": name,
        "stop_timeout_s": stop_timeout_s,
        "start_timeout_s": start_timeout_s,
    }
    try:
        answer: dict[str, Any] = session.run_snippet("agent_restart", params)
        return answer
    except UNANSWERED as exc:
        problem, first = f"restart stopped part way: {exc}", exc
    if not session.end_commands():
        raise type(first)(
            session.host,
            f"{problem}; {END_NOT_CONFIRMED}: it may still run, and the agent may be left "
            f"stopped: check {name}",
        )
    try:
        answers = session.run_snippet("query", {"questions": [{"kind": "service", "name": name}]})[
            "answers"
        ]
    except RemoteError as again:
        raise type(first)(
            session.host,
            f"{problem}; the agent's state could not be read ({again}): it may be left "
            f"stopped, check {name}",
        ) from None
    found = answers if isinstance(answers, dict) else answers[0]
    state = found.get("state") if found.get("exists") else None
    started, was = found.get("started_utc"), before.get("started_utc")
    said = f"{problem}; {name} found {state or 'missing'}"
    if state == "Stopped":
        answer = session.run_snippet("agent_restart", params)
        return {**answer, "stopped": f"{said}, started again"}
    if state == "Running" and started and started != was:
        return {"state": state, "error": None, "stopped": f"{said}, started {started}"}
    if state == "Running":
        why = (
            f" as it started ({started}): not restarted"
            if started
            else ", its start time unreadable: restarted or not is not known"
        )
        return {"state": state, "error": said + why, "stopped": said + why}
    return {"state": state, "error": said, "stopped": said}
