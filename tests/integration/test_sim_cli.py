"""`sagefleet sim up/down` and `sagefleet demo`: processes start, serve and stop exactly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sagefleet.remote.winrm import WinRMSession, WinRMTarget
from tests.conftest import ROOT, next_first_address

SAGEFLEET = [sys.executable, "-m", "sagefleet"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1].split()[0] != "Z"


def port_open(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address, port)) == 0


def test_sim_up_serves_the_inventory_it_writes_and_down_stops_it(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    up = subprocess.run(
        [
            *SAGEFLEET,
            "sim",
            "up",
            "--hosts",
            "3",
            "--out",
            str(out),
            "--port",
            "0",
            "--first-address",
            next_first_address(),
            "--profile",
            "healthy-spc",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert up.returncode == 0, up.stderr
    state = json.loads((out / ".sim" / "state.json").read_text())
    pid = state["pid"]
    try:
        assert alive(pid) and len(state["hosts"]) == 3
        assert "password" not in json.dumps(state)
        inventory = yaml.safe_load((out / "hosts.yml").read_text())
        hosts = inventory["all"]["children"]["sage_servers"]["hosts"]
        settings = inventory["all"]["vars"]
        assert settings["ansible_connection"] == "winrm"
        name, hv = sorted(hosts.items())[1]
        target = WinRMTarget(
            host=name,
            address=hv["ansible_host"],
            port=hv["ansible_port"],
            username=hv["ansible_user"],
            password=hv["ansible_password"],
            ca_trust_path=settings["ansible_winrm_ca_trust_path"],
        )
        with WinRMSession(target) as session:
            assert session.run_snippet("host_info")["hostname"] == "SPC-VM"
    finally:
        down = subprocess.run(
            [*SAGEFLEET, "sim", "down", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert not alive(pid)
    assert not (out / ".sim" / "state.json").exists()
    assert not port_open(hv["ansible_host"], hv["ansible_port"])


def test_sim_up_refuses_an_address_outside_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *SAGEFLEET,
            "sim",
            "up",
            "--hosts",
            "1",
            "--out",
            str(tmp_path),
            "--first-address",
            "10.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "only listen on loopback" in result.stdout + result.stderr
    assert not (tmp_path / ".sim" / "state.json").exists()


def test_sim_down_without_a_fleet_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SAGEFLEET, "sim", "down", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    assert "no simulated fleet running" in result.stdout


def demo_inventory(tmp_path: Path) -> Path:
    """The demo inventory with addresses moved so the test cannot collide with a user's demo."""
    folder = tmp_path / "demo"
    shutil.copytree(ROOT / "inventory/demo", folder, ignore=shutil.ignore_patterns(".sim"))
    source = yaml.safe_load((folder / "hosts.yml").read_text())
    hosts = source["all"]["children"]["sage_servers"]["hosts"]
    first = next_first_address().rsplit(".", 1)[0]
    for index, hv in enumerate(hosts.values(), start=1):
        hv["ansible_host"] = f"{first}.{index}"
    (folder / "hosts.yml").write_text(yaml.safe_dump(source))
    return folder / "hosts.yml"


def test_demo_runs_the_playbook_on_every_demo_host_and_leaves_nothing(tmp_path: Path) -> None:
    inventory = demo_inventory(tmp_path)
    result = subprocess.run(
        [*SAGEFLEET, "demo", "--project", str(ROOT), "--inventory", str(inventory)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name, hostname in [
        ("bijou-onprem", "SAGE-ONPREM"),
        ("atelier-spc", "SPC-VM"),
        ("garage-skew", "SAGE-SKEW"),
        ("fromagerie-fr", "SAGE-FR"),
    ]:
        assert any(
            line.strip().startswith(f"- {name}") and " OK " in line and hostname in line
            for line in result.stdout.splitlines()
        ), result.stdout
    assert "Totals: Hosts 9 (blocked 4, unreachable 0, warnings 0, ready 5)" in result.stdout
    assert "Totals: Hosts 9 (blocked 4, installed 4, upgraded 1)" in result.stdout
    # Where its reports are (this run's, in their folder per inventory), and what next.
    epilogue = result.stdout.split("reports of this demo", 1)[-1]
    for job in ("preflight", "deploy"):
        assert f"reports/demo/{job}/latest/report.html" in epilogue
        assert (ROOT / "reports" / "demo" / job / "latest" / "report.html").exists()
    assert "docs/operator-guide.md" in epilogue
    assert result.stdout.rstrip().endswith("simulated fleet stopped")
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
    assert not any(port_open(hv["ansible_host"], 5986) for hv in hosts.values())


def test_demo_interrupted_stops_the_fleet_and_the_playbook(tmp_path: Path) -> None:
    inventory = demo_inventory(tmp_path)
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
    address = next(iter(hosts.values()))["ansible_host"]
    process = subprocess.Popen(
        [*SAGEFLEET, "demo", "--project", str(ROOT), "--inventory", str(inventory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not port_open(address, 5986):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does to the foreground group
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "simulated fleet stopped" in output
    assert not port_open(address, 5986)
    assert group_members(process.pid) == []


def test_demo_interrupted_while_the_fleet_starts_stops_what_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sagefleet import cli
    from sagefleet.sim.fleet import Fleet

    inventory = demo_inventory(tmp_path)
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
    listen = Fleet._listen
    opened: list[str] = []

    def listen_then_ctrl_c(self: Fleet, spec: object) -> object:
        if len(opened) == 2:
            raise KeyboardInterrupt  # Ctrl-C with two hosts listening
        listener = listen(self, spec)  # type: ignore[arg-type]
        opened.append(spec.name)  # type: ignore[attr-defined]
        return listener

    monkeypatch.setattr(Fleet, "_listen", listen_then_ctrl_c)
    rc = cli.main(["demo", "--project", str(ROOT), "--inventory", str(inventory)])
    assert rc == 130
    assert capsys.readouterr().out.rstrip().endswith("simulated fleet stopped")
    for name in opened:
        assert not port_open(hosts[name]["ansible_host"], 5986), name


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members
