"""Faults a simulated host can be told to show, per host and per operation.

A ``FaultPlan`` per host, set from its spec or at run time; the protocol layers ask it
what to do: docs/simulator.md, "Faults".
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sagefleet.errors import SagefleetError
from sagefleet.sim.protocol import wsman

ALWAYS = -1
"""A count meaning "every time" (set as the string ``always``)."""

OPERATIONS = ("Create", "Command", "Send", "Receive", "Signal", "Delete")
"""Shell operations a fault can target, named as in the WS-Management action."""

FAULT_CODES: dict[str, tuple[int, str, str]] = {
    "timeout": (
        wsman.FAULT_OPERATION_TIMEOUT,
        "w:TimedOut",
        "The WS-Management service cannot complete the operation within the time "
        "specified in OperationTimeout.",
    ),
    "quota": (
        wsman.FAULT_QUOTA_MAX_OPERATIONS,
        "w:InternalError",
        "The WS-Management service cannot process the request. This user is allowed a "
        "maximum number of operations for this shell.",
    ),
    "internal": (
        wsman.FAULT_INTERNAL,
        "w:InternalError",
        "The WS-Management service cannot process the request because of an internal error.",
    ),
}
"""Named faults: WS-Management code, SOAP subcode, reason text as Windows words it."""


class FaultError(SagefleetError):
    """A fault setting is unknown or has a value the simulator cannot apply."""


class DropConnection(Exception):
    """Close the client's TCP connection without any reply."""


@dataclass(frozen=True)
class FaultSettings:
    """What one host does wrong; every field off by default.

    Counts (``*_times``, ``fault_next``, ``auth_failures``) go down as faults
    fire; ``ALWAYS`` (-1) never runs out.
    """

    latency: float = 0.0
    powershell_startup: float = 0.0
    bandwidth: float = 0.0
    drop_after_stdin_bytes: int | None = None
    drop_at: str | None = None
    drop_times: int = 1
    fault_next: int = 0
    fault_at: str | None = None
    fault_times: int = ALWAYS
    fault_code: str = "internal"
    auth_failures: int = 0


_FIELD_NAMES = {f.name for f in fields(FaultSettings)}


@dataclass
class FaultCounters:
    """What fired, so tests can prove the fault was the cause."""

    dropped: int = 0
    faults: int = 0
    auth_failures: int = 0
    delayed_commands: int = 0
    throttled_bytes: int = 0


def _count(name: str, value: Any) -> int:
    if isinstance(value, str) and value.lower() == "always":
        return ALWAYS
    if isinstance(value, bool) or not isinstance(value, int) or value < ALWAYS:
        raise FaultError(f"fault {name!r}: expected a count or 'always', got {value!r}")
    return value


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultError(f"fault {name!r}: expected seconds >= 0, got {value!r}")
    return float(value)


def _operation(name: str, value: Any) -> str | None:
    if value is None:
        return None
    for operation in OPERATIONS:
        if str(value).lower() == operation.lower():
            return operation
    known = ", ".join(OPERATIONS)
    raise FaultError(f"fault {name!r}: unknown operation {value!r} (known: {known})")


def parse_settings(values: dict[str, Any], base: FaultSettings | None = None) -> FaultSettings:
    """Validate a ``faults:`` mapping; unknown keys are an error, never ignored."""
    unknown = set(values) - _FIELD_NAMES
    if unknown:
        known = ", ".join(sorted(_FIELD_NAMES))
        raise FaultError(f"unknown fault setting(s) {sorted(unknown)} (known: {known})")
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key in {"latency", "powershell_startup", "bandwidth"}:
            clean[key] = _seconds(key, value)
        elif key in {"drop_times", "fault_next", "fault_times", "auth_failures"}:
            clean[key] = _count(key, value)
        elif key == "drop_after_stdin_bytes":
            clean[key] = None if value is None else _count(key, value)
            if clean[key] == ALWAYS:
                raise FaultError("fault 'drop_after_stdin_bytes': expected a byte count")
        elif key in {"drop_at", "fault_at"}:
            clean[key] = _operation(key, value)
        elif key == "fault_code":
            if str(value) not in FAULT_CODES:
                raise FaultError(
                    f"fault 'fault_code': unknown {value!r} (known: {', '.join(FAULT_CODES)})"
                )
            clean[key] = str(value)
    return replace(base or FaultSettings(), **clean)


@dataclass
class FaultPlan:
    """The faults of one host: thread-safe, changed at run time, resettable.

    ``initial`` is what the host spec asked for; ``reset`` goes back to it,
    ``clear`` switches every fault off.
    """

    initial: FaultSettings = field(default_factory=FaultSettings)
    settings: FaultSettings = field(default_factory=FaultSettings)
    counters: FaultCounters = field(default_factory=FaultCounters)
    _stdin_since_set: int = 0
    _busy_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> FaultPlan:
        settings = parse_settings(values or {})
        return cls(initial=settings, settings=settings)

    # -- run-time API --------------------------------------------------------
    def set(self, **values: Any) -> FaultPlan:
        """Turn faults on (or change them); other settings are kept."""
        with self._lock:
            self.settings = parse_settings(values, self.settings)
            if "drop_after_stdin_bytes" in values:
                self._stdin_since_set = 0
        return self

    def clear(self) -> FaultPlan:
        """Every fault off: the host behaves normally again."""
        with self._lock:
            self.settings = FaultSettings()
            self._stdin_since_set = 0
            self._busy_until = 0.0
        return self

    def reset(self) -> FaultPlan:
        """Back to the faults the host spec asked for, counters at zero."""
        with self._lock:
            self.settings = self.initial
            self.counters = FaultCounters()
            self._stdin_since_set = 0
            self._busy_until = 0.0
        return self

    # -- hooks called by the protocol layers ---------------------------------
    def on_request(self) -> None:
        """Every HTTP request: added latency."""
        delay = self.settings.latency
        if delay > 0:
            time.sleep(delay)

    def auth_should_fail(self) -> bool:
        """Each credential check: True to reject it as a bad password would be."""
        with self._lock:
            left = self.settings.auth_failures
            if left == 0:
                return False
            if left != ALWAYS:
                self.settings = replace(self.settings, auth_failures=left - 1)
            self.counters.auth_failures += 1
            return True

    def on_operation(self, operation: str) -> None:
        """Before a shell operation runs: drop the connection or answer a fault."""
        with self._lock:
            s = self.settings
            if s.drop_at == operation and s.drop_times != 0:
                if s.drop_times != ALWAYS:
                    left = s.drop_times - 1
                    self.settings = replace(s, drop_times=left, drop_at=operation if left else None)
                self.counters.dropped += 1
                raise DropConnection(operation)
            s = self.settings
            fire = False
            if s.fault_next > 0 or s.fault_next == ALWAYS:
                fire = True
                if s.fault_next != ALWAYS:
                    self.settings = replace(s, fault_next=s.fault_next - 1)
            elif s.fault_at == operation and s.fault_times != 0:
                fire = True
                if s.fault_times != ALWAYS:
                    left = s.fault_times - 1
                    target = operation if left else None
                    self.settings = replace(s, fault_times=left, fault_at=target)
            if not fire:
                return
            self.counters.faults += 1
            code, subcode, reason = FAULT_CODES[s.fault_code]
        raise wsman.WSManFault(code, reason, subcode)

    def on_stdin(self, count: int) -> None:
        """A Send carrying ``count`` stdin bytes: drop past the limit, else throttle."""
        with self._lock:
            s = self.settings
            if s.drop_after_stdin_bytes is not None:
                self._stdin_since_set += count
                if self._stdin_since_set >= s.drop_after_stdin_bytes:
                    # One-shot: the client's retry (or next transfer) goes through.
                    self.settings = replace(s, drop_after_stdin_bytes=None)
                    self._stdin_since_set = 0
                    self.counters.dropped += 1
                    raise DropConnection("Send")
            if s.bandwidth <= 0 or count <= 0:
                return
            # Sends from several connections share the host's link.
            now = time.monotonic()
            start = max(now, self._busy_until)
            self._busy_until = start + count / s.bandwidth
            wait = self._busy_until - now
            self.counters.throttled_bytes += count
        time.sleep(wait)

    def powershell_delay(self, killed: threading.Event | None = None) -> None:
        """A command that starts powershell.exe: its start-up time (over at once when its
        process is ``killed``)."""
        delay = self.settings.powershell_startup
        if delay > 0:
            with self._lock:
                self.counters.delayed_commands += 1
            if killed is None:
                time.sleep(delay)
            else:
                killed.wait(delay)
