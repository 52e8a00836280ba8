"""A deploy interrupted by Ctrl-C: ansible-playbook against the simulated fleet, stopped by
SIGINT to its process group as a terminal sends it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sagefleet.package import build_test_package
from sagefleet.sim.fleet import Fleet
from tests.support.deploy import deploy, report_folder
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT, FleetFactory
from tests.support.processes import group_members
from tests.support.scenarios import write_inventory

# As a job in a terminal's foreground: SIGINT raises KeyboardInterrupt even when the test
# runs where SIGINT is ignored (a background job of a script).
FOREGROUND = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv.pop(0); runpy.run_path(sys.argv[0], run_name='__main__')"
)
DEPLOYING = "TASK [sagefleet_agent : Install or upgrade the agent]"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_package(
        tmp_path_factory.mktemp("pkg") / "Setup.zip", agent_version="3.2.0", installer_bytes=4096
    )


def interrupted_deploy(fleet: Fleet, tmp: Path, package: Path, *extra: str) -> tuple[int, str]:
    """deploy.yml, Ctrl-C once its hosts are being deployed (each command takes 3 s)."""
    for name in fleet.hosts:
        fleet.faults(name).set(powershell_startup=3.0)
    inventory = write_inventory(
        fleet, tmp / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
    )
    process = subprocess.Popen(
        [sys.executable, "-c", FOREGROUND, ANSIBLE_PLAYBOOK, "-i", str(inventory)]
        + ["playbooks/deploy.yml", "-e", f"sagefleet_agent_package={package}"]
        + ["-e", f"sagefleet_report_dir={tmp / 'reports'}", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(DEPLOYING):
            time.sleep(1.0)  # the hosts' first command is running
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does to the foreground group
            break
    rest, _ = process.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return process.returncode, "".join(seen) + rest


def test_an_interrupted_deploy_leaves_no_run_folder_and_says_it_wrote_no_report(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """It left reports/<inventory>/deploy/<time>/ empty, and said nothing of a report."""
    fleet = make_fleet(profiles=["healthy-onprem"] * 2, names=["a", "b"])
    earlier, _ = deploy(fleet, tmp_path, package, "--limit", "a")
    assert earlier.returncode == 0, earlier.stdout[-3000:]
    reported = report_folder(earlier)
    assert reported is not None
    job = reported.parent
    code, output = interrupted_deploy(fleet, tmp_path, package)
    assert code == 99, output[-3000:]  # ansible-playbook's "User interrupted execution"
    assert DEPLOYING in output and "Traceback" not in output
    lines = [line for line in output.splitlines() if line.startswith("[sagefleet] ")]
    assert len(lines) == 1, output[-3000:]
    prefix = "[sagefleet] this run was interrupted and wrote no report: its report folder "
    assert lines[0].startswith(prefix), lines
    opened = Path(lines[0].removeprefix(prefix).split(" was removed ", 1)[0])
    assert opened.parent == job and opened != reported
    assert not opened.exists()
    # latest stays on the earlier run, the only run folder left.
    assert sorted(p.name for p in job.iterdir()) == sorted([reported.name, "latest"])
    assert (job / "latest").resolve() == reported.resolve()


def test_an_interrupted_deploy_keeps_an_earlier_report_in_a_folder_named_explicitly(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["healthy-onprem"] * 2, names=["a", "b"])
    out = tmp_path / "out"
    given = ("-e", f"sagefleet_deploy_report_dir={out}")
    earlier, _ = deploy(fleet, tmp_path, package, *given, "--limit", "a")
    assert earlier.returncode == 0, earlier.stdout[-3000:]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "report.json" in before
    code, output = interrupted_deploy(fleet, tmp_path, package, *given)
    assert code == 99, output[-3000:]
    assert (
        f"[sagefleet] this run was interrupted and wrote no report: what it wrote in {out} "
        "was removed (any report there is from an earlier run)"
    ) in output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
