"""`sagefleet doctor`: preflight without one Ansible worker per host.

The same facts, checks and reports as playbooks/preflight.yml over direct WinRM sessions,
split over processes on a large fleet: docs/performance.md, docs/scale-out.md.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, TextIO

from sagefleet import preflight
from sagefleet.errors import SagefleetError, refusal
from sagefleet.findings import FleetReport, HostReport
from sagefleet.inventory import InventoryHost
from sagefleet.outcomes import Outcome
from sagefleet.remote.retry import Backoff, RetryingSession, retry_from
from sagefleet.remote.winrm import WinRMSession
from sagefleet.settings import ValidationFailed
from sagefleet.variables.jobs import FACTS_TIMEOUT


class DoctorInputError(SagefleetError):
    """Every input error of the fleet, reported before any host is contacted."""

    def __init__(self, errors: Sequence[Exception]) -> None:
        self.errors = list(errors)
        super().__init__(refusal(self.errors))


@dataclass
class Progress:
    """One status line, rewritten in place on a terminal, sparse lines otherwise."""

    total: int
    # sys.stderr when the line is made, not when this module was imported (a test's capture).
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    label: str = "doctor"
    done: int = 0
    blocked: int = 0
    unreachable: int = 0
    started: float = 0.0
    _last: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.started = time.monotonic()

    def update(self, report: HostReport) -> None:
        with self._lock:
            self.done += 1
            if report.status == Outcome.BLOCKED:
                self.blocked += 1
            elif report.status == Outcome.UNREACHABLE:
                self.unreachable += 1
            now = time.monotonic()
            tty = self.stream.isatty()
            if tty or now - self._last >= 2.0 or self.done == self.total:
                self._last = now
                line = (
                    f"{self.label}: {self.done}/{self.total} hosts, {self.blocked} blocked, "
                    f"{self.unreachable} unreachable, {now - self.started:.1f} s"
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
            prepared[host.name] = preflight.prepare(host.name, host.variables)
            retry_from(host.name, host.variables)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
        except SagefleetError as exc:
            errors.append(exc)
    if errors:
        raise DoctorInputError(errors)
    return prepared


# Below this many hosts per process, a second process costs more than it saves.
HOSTS_PER_PROCESS = 50
# Processes per core: with fewer threads per process, a thread whose answer has
# arrived waits less for its process's interpreter lock (500 hosts, 2 cores: 4
# processes finished about 0.5 s sooner than 2, docs/performance.md).
PROCESSES_PER_CORE = 2


def default_processes(hosts: int) -> int:
    """One process per HOSTS_PER_PROCESS hosts, at most PROCESSES_PER_CORE per core."""
    cores = os.cpu_count() or 1
    return max(1, min(PROCESSES_PER_CORE * cores, hosts // HOSTS_PER_PROCESS))


SessionFactory = Callable[[InventoryHost], WinRMSession]


def deal(total: int, parts: int) -> list[int]:
    """``total`` split over ``parts`` as evenly as can be (the forks over the processes:
    never more than ``forks`` hosts at once in all)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _preflight_all(
    hosts: Sequence[InventoryHost],
    prepared: dict[str, preflight.PreparedHost],
    threads: int,
    factory: SessionFactory,
) -> Iterator[HostReport]:
    """Each host's report as it completes, ``threads`` hosts at a time."""

    def one(host: InventoryHost) -> HostReport:
        assert host.target is not None
        policy: Backoff = retry_from(host.name, host.variables)
        session = factory(host)
        # A facts command that never ends (a hung WMI query) is stopped, not waited for.
        session.command_timeout_s = prepared[host.name].facts_timeout_s
        session.command_timeout_name = FACTS_TIMEOUT.name
        with RetryingSession(session, policy) as retrying:
            report, _ = preflight.run(retrying, prepared[host.name], address=host.target.address)
        return report

    pool = ThreadPoolExecutor(max_workers=max(1, min(threads, len(hosts))))
    try:
        futures = {pool.submit(one, h): h for h in hosts}
        for future in as_completed(futures):
            host = futures[future]
            try:
                yield future.result()
            except Exception as exc:  # noqa: BLE001 - one host's bug must not stop the fleet
                yield preflight.unreachable(host.name, f"{type(exc).__name__}: {exc}")
    except BaseException:
        # Stopped (Ctrl-C, TERM): never wait for a host's command still running.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _end_with(parent: int) -> None:
    """Have the kernel TERM this process when ``parent`` dies, even by SIGKILL (when it
    cannot stop its workers itself). Linux only; elsewhere the workers finish their share."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(143)


def _child(
    hosts: Sequence[InventoryHost],
    prepared: dict[str, preflight.PreparedHost],
    threads: int,
    factory: SessionFactory,
    results: Any,
    parent: int,
) -> None:
    # Ctrl-C reaches the whole process group: the parent alone decides, and stops us with
    # a TERM that ends this process at once (not a handler inherited from the parent).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with(parent)
    for report in _preflight_all(hosts, prepared, threads, factory):
        results.put(report)


def _in_processes(
    hosts: Sequence[InventoryHost],
    prepared: dict[str, preflight.PreparedHost],
    forks: int,
    processes: int,
    factory: SessionFactory,
) -> Iterator[HostReport]:
    """The hosts dealt over ``processes`` forked processes sharing ``forks`` threads."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    shares = [list(hosts[i::processes]) for i in range(processes)]
    threads = deal(forks, processes)
    children = [
        context.Process(
            target=_child,
            args=(share, prepared, threads[i], factory, results, os.getpid()),
            name=f"sagefleet-doctor-{i + 1}",
            daemon=True,
        )
        for i, share in enumerate(shares)
    ]
    for child in children:
        child.start()
    pending = {h.name for h in hosts}
    try:
        while pending:
            try:
                report = results.get(timeout=0.5)
            except queue.Empty:
                if all(c.exitcode is not None for c in children):
                    # A process died before reporting all its hosts: say so for each.
                    codes = sorted({c.exitcode for c in children if c.exitcode})
                    for name in sorted(pending):
                        yield preflight.unreachable(
                            name, f"doctor worker process exited with code {codes} first"
                        )
                    pending.clear()
                continue
            pending.discard(report.host)
            yield report
    finally:
        # Interrupted (Ctrl-C, an error): stop the workers now, their work is read-only.
        for child in children:
            if pending:
                child.terminate()
            child.join(timeout=5)
            if child.is_alive():
                child.kill()
                child.join()
        results.close()


def run(
    hosts: Sequence[InventoryHost],
    *,
    forks: int = 50,
    processes: int | None = None,
    progress: Progress | None = None,
    session_factory: SessionFactory | None = None,
    prepared: Mapping[str, preflight.PreparedHost] | None = None,
    on_report: Callable[[HostReport], None] | None = None,
) -> FleetReport:
    """Preflight every host concurrently; never more than ``forks`` at once.

    ``processes``: how many processes share the work (default: one per
    HOSTS_PER_PROCESS hosts, at most two per core). More than one forks this
    process: its other threads, if any, must not hold what the hosts' sessions
    need (the CLI passes 1 when its SSH jump forwards are running).
    ``prepared``: every host's inputs, already validated (preflight.yml's fleet task).
    ``on_report``: called with each host's report as soon as it is known.
    """
    prepared = dict(prepared) if prepared is not None else prepare_all(hosts)
    preflight.warm_up()  # before the worker processes fork: each inherits it
    factory = session_factory or (lambda h: WinRMSession(h.target))  # type: ignore[arg-type]
    lang = next(iter(prepared.values())).lang if prepared else "en"
    count = default_processes(len(hosts)) if processes is None else processes
    if count < 1:
        raise SagefleetError(f"processes must be at least 1 (got {count})")
    count = min(count, forks, max(1, len(hosts)))
    reports: list[HostReport] = []
    if progress:
        progress.start()
    stream = (
        _preflight_all(hosts, prepared, forks, factory)
        if count == 1
        else _in_processes(hosts, prepared, forks, count, factory)
    )
    for report in stream:
        reports.append(report)
        if progress:
            progress.update(report)
        if on_report:
            on_report(report)
    return preflight.fleet_report(reports, lang=lang, title="sagefleet doctor")
