"""`sagefleet doctor`: preflight without one Ansible worker per host.

Reads the inventory and vault through Ansible's API, validates every host
before contacting any, then runs the hosts concurrently (bounded) over direct
WinRM sessions: the same facts, checks and reports as playbooks/preflight.yml.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TextIO

from sagefleet import preflight
from sagefleet.errors import SagefleetError
from sagefleet.findings import FleetReport, HostReport
from sagefleet.inventory import InventoryHost
from sagefleet.remote.retry import RetryingSession, WinRMRetry, retry_from
from sagefleet.remote.winrm import WinRMSession
from sagefleet.settings import ValidationFailed


class DoctorInputError(SagefleetError):
    """Every input error of the fleet, reported before any host is contacted."""

    def __init__(self, errors: Sequence[Exception]) -> None:
        self.errors = list(errors)
        lines = "\n".join(f"- {e}" for e in self.errors)
        super().__init__(f"{len(self.errors)} input error(s); no host was contacted:\n{lines}")


@dataclass
class Progress:
    """One status line, rewritten in place on a terminal, sparse lines otherwise."""

    total: int
    stream: TextIO = sys.stderr
    done: int = 0
    problems: int = 0
    started: float = 0.0
    _last: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.started = time.monotonic()

    def update(self, report: HostReport) -> None:
        with self._lock:
            self.done += 1
            if report.status in ("blocked", "unreachable"):
                self.problems += 1
            now = time.monotonic()
            tty = self.stream.isatty()
            if tty or now - self._last >= 2.0 or self.done == self.total:
                self._last = now
                line = (
                    f"doctor: {self.done}/{self.total} hosts, {self.problems} blocked or "
                    f"unreachable, {now - self.started:.1f} s"
                )
                self.stream.write(("\r" + line) if tty else line + "\n")
                if tty and self.done == self.total:
                    self.stream.write("\n")
                self.stream.flush()


def prepare_all(hosts: Sequence[InventoryHost]) -> dict[str, preflight.PreparedHost]:
    """Validate every host; raise with the full list of problems."""
    errors: list[Exception] = []
    prepared: dict[str, preflight.PreparedHost] = {}
    for host in hosts:
        if host.target is None:
            errors.append(SagefleetError(f"{host.name}: ansible_connection is not winrm"))
            continue
        try:
            prepared[host.name] = preflight.prepare(host.name, dict(host.variables))
            retry_from(host.name, host.variables)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
        except SagefleetError as exc:
            errors.append(exc)
    if errors:
        raise DoctorInputError(errors)
    return prepared


def run(
    hosts: Sequence[InventoryHost],
    *,
    forks: int = 50,
    progress: Progress | None = None,
    session_factory: Callable[[InventoryHost], WinRMSession] | None = None,
) -> FleetReport:
    """Preflight every host concurrently; never more than ``forks`` at once."""
    prepared = prepare_all(hosts)
    factory = session_factory or (lambda h: WinRMSession(h.target))  # type: ignore[arg-type]
    lang = next(iter(prepared.values())).lang if prepared else "en"
    reports: list[HostReport] = []
    if progress:
        progress.start()

    def one(host: InventoryHost) -> HostReport:
        assert host.target is not None
        policy: WinRMRetry = retry_from(host.name, host.variables)
        with RetryingSession(factory(host), policy) as session:
            report, _ = preflight.run(session, prepared[host.name], address=host.target.address)
        return report

    with ThreadPoolExecutor(max_workers=max(1, min(forks, len(hosts)))) as pool:
        futures = {pool.submit(one, h): h for h in hosts}
        for future in as_completed(futures):
            host = futures[future]
            try:
                report = future.result()
            except Exception as exc:  # noqa: BLE001 - one host's bug must not stop the fleet
                report = preflight.unreachable(host.name, f"{type(exc).__name__}: {exc}")
            reports.append(report)
            if progress:
                progress.update(report)
    return preflight.fleet_report(reports, lang=lang, title="sagefleet doctor")
