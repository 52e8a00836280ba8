"""preflight.yml terminated (SIGTERM to ansible-playbook: a CI job's timeout, a service
manager, kill) while its fleet process diagnoses the hosts."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT, FleetFactory
from tests.support.scenarios import write_inventory
from tests.support.signals import command_running, commands_ended, stopped_playbook


def test_a_terminated_preflight_leaves_nothing_and_says_it_wrote_no_report(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    """It was killed by the signal: exit code -15, no word of its report, and ansible's
    temporary folder left behind."""
    fleet = make_fleet(profiles=["healthy-onprem"] * 2, names=["a", "b"])
    inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
    arguments = ["-i", str(inventory), "playbooks/preflight.yml"]
    arguments += ["-e", f"sagefleet_report_dir={tmp_path / 'reports'}"]
    earlier = subprocess.run(
        [ANSIBLE_PLAYBOOK, *arguments], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert earlier.returncode == 0, earlier.stdout[-3000:]
    job = tmp_path / "reports" / "inventory" / "preflight"
    runs = sorted(p.name for p in job.iterdir())
    reported = (job / "latest").resolve()
    for name in fleet.hosts:
        fleet.faults(name).set(powershell_startup=3.0)

    def diagnosing() -> bool:  # the fleet process runs, and each host's facts command
        started = any((tmp_path / "tmp").glob("sagefleet-preflight-*"))
        return started and all(command_running(fleet, name) for name in fleet.hosts)

    code, output = stopped_playbook(arguments, signal.SIGTERM, diagnosing, tmp_path)
    assert code == 143, output[-3000:]
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.startswith("[sagefleet] ")]
    assert lines == [
        "[sagefleet] this run was terminated (SIGTERM) and wrote no report (reports of "
        "earlier runs, and their 'latest' links, are left as they were)"
    ], output[-3000:]
    # Nothing of the run is left on the bastion: no ansible temporary folder, no run
    # folder (latest stays on the earlier run), and no fleet process folder once that
    # process, started by a task that has ended, sees ansible-playbook gone (0.5 s).
    deadline = time.monotonic() + 5
    while any((tmp_path / "tmp").glob("sagefleet-preflight-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list((tmp_path / "tmp").rglob("*")) == [tmp_path / "tmp" / "ansible"], output
    assert sorted(p.name for p in job.iterdir()) == runs
    assert (job / "latest").resolve() == reported
    for name in fleet.hosts:  # the facts command only reads: it runs to its end
        commands_ended(fleet, name)
