"""A command that never ends (a hung WMI query, a script waiting for input) is stopped at
its time limit, and doctor ends when told to: pywinrm polls such a command for ever."""

from __future__ import annotations

import dataclasses
import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagefleet import doctor
from sagefleet.inventory import load
from sagefleet.remote import CommandTimeout
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import ROOT, next_first_address, session_for
from tests.support.processes import group_members
from tests.support.scenarios import write_inventory

#: Every Receive answers the service's OperationTimeout: the command runs on, quiet.
NEVER_ENDS = {"fault_at": "Receive", "fault_code": "timeout", "fault_times": "always"}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Fleet, Path]]:
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as running:
        running.faults("sage02").set(**NEVER_ENDS)
        yield running, write_inventory(running, tmp_path / "inventory" / "hosts.yml")


def test_a_command_still_running_at_its_limit_is_stopped(fleet: tuple[Fleet, Path]) -> None:
    running, _ = fleet
    with session_for(running, "sage02") as session:
        session.command_timeout_s = 1
        session.command_timeout_name = "the test's limit"
        started = time.monotonic()
        with pytest.raises(CommandTimeout) as stopped:
            session.run_snippet("host_info", {})
        assert time.monotonic() - started < 10
    assert "still running after 1 s (the test's limit): stopped" in str(stopped.value)
    # Stopped on the host too: a terminate Signal for that command.
    assert running.listeners["sage02"].stats.operations.get("Signal") == 1


def test_doctor_reports_a_host_whose_facts_never_end_and_diagnoses_the_others(
    fleet: tuple[Fleet, Path],
) -> None:
    _, inventory = fleet
    hosts = load([inventory])
    prepared = {
        name: dataclasses.replace(one, facts_timeout_s=1)
        for name, one in doctor.prepare_all(hosts).items()
    }
    progress = doctor.Progress(total=len(hosts), stream=io.StringIO())
    report = doctor.run(hosts, forks=2, processes=1, prepared=prepared, progress=progress)
    by_name = {h.host: h for h in report.hosts}
    assert by_name["sage01"].reachable and by_name["sage01"].error is None
    stuck = by_name["sage02"]
    assert stuck.status == "unreachable"
    assert (
        "facts could not be gathered: the command was still running after 1 s "
        "(sagefleet_preflight_facts_timeout_s): stopped"
    ) in (stuck.error or "")


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_doctor_told_to_stop_does_not_wait_for_a_command_that_never_ends(
    fleet: tuple[Fleet, Path], tmp_path: Path, stop: signal.Signals, code: int
) -> None:
    """Hosts in threads of doctor's own process (--processes 1): a thread still waiting
    for its host's command held the process after a TERM until that command ended."""
    _, inventory = fleet
    foreground = (
        "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "runpy.run_module('sagefleet', run_name='__main__', alter_sys=True)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", foreground, "doctor", "-i", str(inventory), "--processes", "1"]
        + ["--out", str(tmp_path / "out")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    time.sleep(3)  # sage01 diagnosed, sage02's command running on
    assert process.poll() is None
    told = time.monotonic()
    process.send_signal(stop)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == code, output
    assert time.monotonic() - told < 5, output
    assert group_members(process.pid) == []
    assert "Traceback" not in output, output
