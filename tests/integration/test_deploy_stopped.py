"""deploy.yml through ansible-core's winrm connection, whose install command fails at its
first Receive (an HTTP 500 with a WS-Management fault, or its connection cut): the
connection's ``finally`` sends the terminate Signal, which kills the install where it is
(docs/simulator.md, ledger row 43). The deploy deletes the command's shell, reads what the
install left, and says it. A snippet a second run leaves the same (the settings write) whose
connection is cut is run again instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.deploy import INSTALL_DIR, SERVICE, agent, deploy, outcomes
from tests.support.fleets import FleetFactory
from tests.support.signals import (
    LOCK,
    at_entries,
    first_receive_fails_in_the_agent_stop,
    started,
)


@pytest.mark.parametrize("lost", [False, True], ids=["fault", "connection-lost"])
def test_an_install_killed_by_the_connections_signal_starts_the_previous_agent_again(
    tmp_path: Path, package: Path, make_fleet: FleetFactory, lost: bool
) -> None:
    """The agent stopped (the SCM finished the stop asked for), no backup, nothing
    installed: the run starts 2.3.0 again, reports it rolled back with what it found (a
    connection cut is no host never reached), exits non-zero, removes the staged
    settings.json and releases its lock."""
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    host = fleet.host("old")
    # Once settings.json is staged beside the installer, the install is slowed into its
    # service stop and its first Receive fails there.
    first_receive_fails_in_the_agent_stop(
        fleet,
        "old",
        slow_from=started("settings_write", staging=True),
        command="agent_install",
        service=SERVICE,
        lost=lost,
    )
    process, report = deploy(fleet, tmp_path, package)
    counters = fleet.faults("old").counters
    assert (counters.dropped if lost else counters.faults) == 1, process.stdout[-3000:]
    assert any(e["kind"] == "terminated" for e in host.journal), process.stdout[-3000:]
    assert process.returncode != 0
    assert outcomes(process) == {"old": "rolled-back"}, process.stdout[-3000:]
    (entry,) = report["hosts"]
    reason = entry["outcome"]["reason"]
    assert reason.startswith("install stopped part way: "), reason
    assert f"{SERVICE} found Stopped at 2.3.0, started again, running 2.3.0" in reason
    if lost:
        assert reason.startswith(
            "install stopped part way: old: connection lost before the answer: "
        ), reason
    assert "unreachable=0" in process.stdout, process.stdout[-3000:]
    assert agent(fleet, "old") == ("Running", "2.3.0")
    assert host.installer_runs == []
    assert not host.fs.exists(LOCK)
    staged = [k for k, e in host.fs.entries.items() if "staging" in k and not e.is_dir]
    assert not [k for k in staged if k.endswith("\\settings.json")], staged
    assert host.fs.read(INSTALL_DIR + "\\settings.json")


def test_a_settings_write_whose_connection_is_cut_is_written_again_and_the_host_upgraded(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """Through ansible-core's winrm connection: the staged settings write's Receive finds
    its connection closed without a reply. The write is run again on the same connection
    (a new TCP connection under it), and the host is upgraded, not ended unreachable."""
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    host = fleet.host("old")

    faults = fleet.faults("old")
    # Requests take 0.3 s from the extract on, so that the write's command has started
    # when its first Receive comes; quick again once that Receive was cut.
    at_entries(
        fleet,
        "old",
        (started("stage_extract"), lambda: faults.set(latency=0.3)),
        (
            started("settings_write", staging=True),
            lambda: faults.set(drop_at="Receive", drop_times=1),
        ),
        (lambda _entry: faults.counters.dropped > 0, lambda: faults.set(latency=0.0)),
    )
    process, _ = deploy(fleet, tmp_path, package)
    assert fleet.faults("old").counters.dropped == 1, process.stdout[-3000:]
    assert process.returncode == 0, process.stdout[-3000:]
    assert outcomes(process) == {"old": "upgraded"}, process.stdout[-3000:]
    writes = [e for e in host.journal if started("settings_write", staging=True)(e)]
    assert len(writes) == 2, writes
    assert agent(fleet, "old") == ("Running", "3.2.0")
