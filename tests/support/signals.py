"""ansible-playbook stopped by a signal once the run has reached a given point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sagefleet.sim.fleet import Fleet
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT
from tests.support.processes import group_members

# As a job in a terminal's foreground: SIGINT raises KeyboardInterrupt even when the test
# runs where SIGINT is ignored (a background job of a script).
FOREGROUND = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv.pop(0); runpy.run_path(sys.argv[0], run_name='__main__')"
)
#: The deploy lock on a host (held from the lock step to the end of the host's deploy).
LOCK = "C:\\ProgramData\\sagefleet\\deploy.lock"


def stopped_playbook(
    arguments: Sequence[str],
    signum: signal.Signals,
    reached: Callable[[], bool],
    tmp: Path,
    timeout: float = 120.0,
) -> tuple[int, str]:
    """Run ansible-playbook ``arguments``, send ``signum`` once ``reached()`` holds, and
    return its exit code and output once every process of its group has ended.

    SIGINT goes to the process group, as Ctrl-C in a terminal; SIGTERM to ansible-playbook
    alone, as a job runner or ``kill`` sends it. Its temporary files go under ``tmp``
    (TMPDIR, ANSIBLE_LOCAL_TEMP), so that what it leaves there can be read.
    """
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "TMPDIR": str(tmp / "tmp"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "tmp" / "ansible"),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", FOREGROUND, ANSIBLE_PLAYBOOK, *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=env,
    )
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not reached():
        assert process.poll() is None, "".join(lines)[-3000:]
        assert time.monotonic() < deadline, "".join(lines)[-3000:]
        time.sleep(0.02)
    if signum == signal.SIGINT:
        os.killpg(process.pid, signum)  # what Ctrl-C does to the foreground group
    else:
        os.kill(process.pid, signum)
    code = process.wait(timeout=60)
    reader.join(timeout=10)
    deadline = time.monotonic() + 10
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_members(process.pid)
    return code, "".join(lines)


def command_running(fleet: Fleet, name: str) -> bool:
    """Whether a command runs on the host (started, not at its end yet)."""
    shells = fleet.listeners[name].shells
    return any(
        c.thread is not None and not c.done.is_set()
        for s in list(shells.shells.values())
        for c in list(s.commands.values())
    )


def commands_ended(fleet: Fleet, name: str, timeout: float = 60.0) -> None:
    """Wait until every command started on the host has run to its end: on Windows a
    command goes on when its client goes away, and so it does on the simulated host."""
    deadline = time.monotonic() + timeout
    while command_running(fleet, name):
        assert time.monotonic() < deadline, f"{name}: a command still runs"
        time.sleep(0.05)


def started(name: str, *, staging: bool = False) -> Callable[[dict[str, Any]], bool]:
    """A journal entry of snippet ``name`` (with ``staging``: writing into the staging
    folder)."""

    def match(entry: dict[str, Any]) -> bool:
        path = str((entry.get("params") or {}).get("path"))
        return entry.get("name") == name and (not staging or "staging" in path)

    return match


def guarded_write(entry: dict[str, Any]) -> bool:
    """A journal entry of settings.json's write guarded by the file it replaces (not a
    read, which is the write in check mode)."""
    params = entry.get("params") or {}
    return (
        entry.get("name") == "settings_write"
        and not params.get("check")
        and params.get("expect_previous") is not None
    )


def settings_read(entry: dict[str, Any]) -> bool:
    """A journal entry of a read of settings.json (the write in check mode)."""
    return entry.get("name") == "settings_write" and bool((entry.get("params") or {}).get("check"))


Match = Callable[[dict[str, Any]], bool]


def at_entries(fleet: Fleet, name: str, *steps: tuple[Match, Callable[[], None]]) -> None:
    """On host ``name``, run each step's action as the host records the first journal
    entry its match accepts, once the steps before it have run. Through the host's
    ``on_record`` knob: in the recording command's thread, before that command goes on,
    so nothing depends on how soon a test's thread would have seen the entry."""
    left = list(steps)
    order = threading.Lock()

    def hook(entry: dict[str, Any]) -> None:
        with order:
            if left and left[0][0](entry):
                left.pop(0)[1]()

    fleet.host(name).on_record.append(hook)


def first_receive_fails_in_the_agent_stop(
    fleet: Fleet,
    name: str,
    *,
    slow_from: Match,
    command: str,
    service: str,
    lost: bool = False,
) -> None:
    """Arrange, before a playbook runs, that once a command matching ``slow_from`` starts
    on host ``name``, every request takes 0.5 s and the agent ``service`` 60 real seconds
    to stop, so that ``command`` is in its service stop before its first Receive is
    answered; that Receive fails (HTTP 500, a WS-Management fault; with ``lost``, its
    connection is cut without a reply): ansible-core's winrm connection sends the
    terminate Signal, which meets the command there. Requests are quick again from the
    next journal entry after it."""
    host = fleet.host(name)
    faults = fleet.faults(name)

    def fired() -> int:
        return faults.counters.dropped if lost else faults.counters.faults

    before = fired()

    def slow() -> None:
        agent = host.service(service)
        assert agent is not None
        agent.stop_seconds, host.time_scale = 600.0, 0.1
        faults.set(latency=0.5)

    def fail() -> None:
        if lost:
            faults.set(drop_at="Receive", drop_times=1)
        else:
            faults.set(fault_at="Receive", fault_times=1, fault_code="internal")

    at_entries(
        fleet,
        name,
        (slow_from, slow),
        (started(command), fail),
        (lambda _entry: fired() > before, lambda: faults.set(latency=0.0)),
    )
