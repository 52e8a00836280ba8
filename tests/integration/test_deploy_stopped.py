"""deploy.yml through ansible-core's winrm connection, whose install command fails at its
first Receive (an HTTP 500 with a WS-Management fault): the connection's ``finally`` sends
the terminate Signal, which kills the install where it is (docs/simulator.md, ledger row
43). The deploy reads what the install left, and says it."""

from __future__ import annotations

import threading
from pathlib import Path

from sagefleet.sim.fleet import Fleet
from sagefleet.sim.host import WindowsHost
from tests.support.deploy import INSTALL_DIR, SERVICE, agent, deploy, outcomes
from tests.support.fleets import FleetFactory
from tests.support.signals import LOCK


def seen(host: WindowsHost, stop: threading.Event, name: str, staging: bool = False) -> bool:
    """Wait until snippet ``name`` starts on the host (its staged write with ``staging``)."""
    while not stop.wait(0.01):
        for entry in list(host.journal):
            path = str((entry.get("params") or {}).get("path"))
            if entry.get("name") == name and (not staging or "staging" in path):
                return True
    return False


def fail_the_install_receive(fleet: Fleet, name: str, stop: threading.Event) -> None:
    """Once settings.json is staged beside the installer, every request takes 0.5 s, so
    that the install is under way before its first Receive is answered; that Receive
    fails. The agent takes 60 real seconds to stop: the Signal meets the install there."""
    host = fleet.host(name)
    faults = fleet.faults(name)
    if not seen(host, stop, "settings_write", staging=True):
        return
    agent_service = host.service(SERVICE)
    assert agent_service is not None
    agent_service.stop_seconds, host.time_scale = 600.0, 0.1
    faults.set(latency=0.5)
    if not seen(host, stop, "agent_install"):
        return
    faults.set(fault_at="Receive", fault_times=1, fault_code="internal")
    while not stop.wait(0.01):
        if faults.counters.faults:
            faults.set(latency=0.0)
            return


def test_an_install_killed_by_the_connections_signal_starts_the_previous_agent_again(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """The agent stopped (the SCM finished the stop asked for), no backup, nothing
    installed: the run starts 2.3.0 again, reports it rolled back with what it found,
    exits non-zero, removes the staged settings.json and releases its lock."""
    fleet = make_fleet(profiles=["agent-old"], names=["old"])
    host = fleet.host("old")
    stop = threading.Event()
    watcher = threading.Thread(target=fail_the_install_receive, args=(fleet, "old", stop))
    watcher.start()
    try:
        process, report = deploy(fleet, tmp_path, package)
    finally:
        stop.set()
        watcher.join()
    assert fleet.faults("old").counters.faults == 1, process.stdout[-3000:]
    assert any(e["kind"] == "terminated" for e in host.journal), process.stdout[-3000:]
    assert process.returncode != 0
    assert outcomes(process) == {"old": "rolled-back"}, process.stdout[-3000:]
    (entry,) = report["hosts"]
    reason = entry["outcome"]["reason"]
    assert reason.startswith("install stopped part way: "), reason
    assert f"{SERVICE} found Stopped at 2.3.0, started again, running 2.3.0" in reason
    assert agent(fleet, "old") == ("Running", "2.3.0")
    assert host.installer_runs == []
    assert not host.fs.exists(LOCK)
    staged = [k for k, e in host.fs.entries.items() if "staging" in k and not e.is_dir]
    assert not [k for k in staged if k.endswith("\\settings.json")], staged
    assert host.fs.read(INSTALL_DIR + "\\settings.json")
