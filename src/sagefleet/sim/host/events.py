"""Windows event log records of a simulated host (the part the diagnose snippet reads).

Only what sagefleet reads is modelled: records of the System and Application
logs with their provider, id, level, time, rendered message and insertion
strings (``$event.Properties``). The Service Control Manager names a service
by its DISPLAY name in both its message and its insertion strings ("The
Spendesk Sage Agent service terminated unexpectedly."), never by its service
name: a filter on the service name alone finds nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

SCM_PROVIDER = "Service Control Manager"

#: Message templates of the SCM events about one service (English UI), with their
#: insertion strings in order. ``{name}`` is the service's display name.
SCM_TEMPLATES: dict[int, tuple[str, str, tuple[str, ...]]] = {
    7000: (
        "Error",
        "The {name} service failed to start due to the following error: \r\n{error}",
        ("name", "error"),
    ),
    7009: (
        "Error",
        "A timeout was reached ({ms} milliseconds) while waiting for the {name} service to "
        "connect.",
        ("ms", "name"),
    ),
    7011: (
        "Error",
        "A timeout ({ms} milliseconds) was reached while waiting for a transaction response "
        "from the {name} service.",
        ("ms", "name"),
    ),
    7022: ("Error", "The {name} service hung on starting.", ("name",)),
    7023: (
        "Error",
        "The {name} service terminated with the following error: \r\n{error}",
        ("name", "error"),
    ),
    7024: (
        "Error",
        "The {name} service terminated with the following service-specific error: \r\n{error}",
        ("name", "error"),
    ),
    7031: (
        "Error",
        "The {name} service terminated unexpectedly.  It has done this {count} time(s).  The "
        "following corrective action will be taken in {ms} milliseconds: Restart the service.",
        ("name", "count", "ms", "action", "action_text"),
    ),
    7034: (
        "Error",
        "The {name} service terminated unexpectedly.  It has done this {count} time(s).",
        ("name", "count"),
    ),
    7036: ("Information", "The {name} service entered the {state} state.", ("name", "state")),
}


@dataclass(frozen=True)
class EventRecord:
    """One record as Get-WinEvent returns it (the fields sagefleet reads)."""

    log: str
    provider: str
    event_id: int
    level: str
    message: str
    properties: tuple[str, ...] = ()
    time: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def scm_event(
    event_id: int,
    display_name: str,
    *,
    when: dt.datetime | None = None,
    error: str = "The service did not respond to the start or control request in a timely fashion.",
    count: int = 1,
    ms: int = 30000,
    state: str = "stopped",
) -> EventRecord:
    """A Service Control Manager record about the service shown as ``display_name``."""
    if event_id not in SCM_TEMPLATES:
        raise ValueError(f"no template for SCM event {event_id} (known: {sorted(SCM_TEMPLATES)})")
    level, template, inserts = SCM_TEMPLATES[event_id]
    values = {
        "name": display_name,
        "error": error,
        "count": str(count),
        "ms": str(ms),
        "action": "1",
        "action_text": "Restart the service",
        "state": state,
    }
    return EventRecord(
        log="System",
        provider=SCM_PROVIDER,
        event_id=event_id,
        level=level,
        message=template.format(**values),
        properties=tuple(values[i] for i in inserts),
        time=when or dt.datetime.now(dt.UTC),
    )
