"""preflight.yml's two modes give the same reports: fleet (one task on the bastion) and per host.

Every simulator scenario, a host whose password is refused, a vaulted password and
``--limit``, through ansible-playbook, unmodified, in both modes. Which path each
host took is read from its listener: Ansible's winrm connection signals the end of
each command (a Signal request), sagefleet's own sessions do not need to.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import ROOT, next_first_address
from tests.support.preflight import SCENARIOS
from tests.support.scenarios import write_inventory

BIN = Path(sys.executable).parent
REFUSED = "refused-password"
VAULTED = ("healthy-onprem", "two-entities")  # their WinRM password comes from the vault
VAULT_SECRET = "vault-Secret-4-tests"


def signals(fleet: Fleet) -> dict[str, int]:
    return {n: fleet.listeners[n].stats.operations.get("Signal", 0) for n in fleet.hosts}


def facts_runs(fleet: Fleet) -> dict[str, int]:
    return {
        n: sum(1 for e in fleet.host(n).journal if e["kind"] == "snippet" and e["name"] == "facts")
        for n in fleet.hosts
    }


def vault_encrypt(text: str, password_file: Path) -> str:
    process = subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file",
         str(password_file), text],
        capture_output=True,
        text=True,
        check=True,
    )
    return process.stdout.split("!vault |", 1)[1]


@pytest.fixture(scope="module")
def fleet_inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path, Path]]:
    folder = tmp_path_factory.mktemp("fleet-mode")
    names = [*SCENARIOS, REFUSED]
    specs = generate_specs(
        len(names), profiles=[*SCENARIOS, "healthy-onprem"], first_address=next_first_address(),
        port=0, prefix="fm",
    )
    for spec, name in zip(specs, names, strict=True):
        spec.name = name
    fleet = Fleet(specs, folder / "fleet").start()
    real_password = fleet.spec(REFUSED).password
    fleet.spec(REFUSED).password = "not-the-password"  # in the inventory only
    inventory = write_inventory(
        fleet, folder / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
    )
    fleet.spec(REFUSED).password = real_password
    # Two hosts take their WinRM password from the vault (host_vars beside the inventory).
    password_file = folder / "vault-password"
    password_file.write_text(VAULT_SECRET + "\n")
    data = yaml.safe_load(inventory.read_text())
    hosts = data["all"]["children"]["sage_servers"]["hosts"]
    for name in VAULTED:
        secret = hosts[name].pop("ansible_password")
        host_vars = inventory.parent / "host_vars" / f"{name}.yml"
        host_vars.parent.mkdir(exist_ok=True)
        host_vars.write_text(
            "ansible_password: !vault |" + vault_encrypt(secret, password_file), encoding="utf-8"
        )
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    yield fleet, inventory, password_file
    fleet.stop()


def run_preflight(
    inventory: Path, password_file: Path, out: Path, mode: str, *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    process = subprocess.run(
        [
            str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/preflight.yml",
            "--vault-password-file", str(password_file),
            "-e", f"sagefleet_preflight_report_dir={out}",
            "-e", f"sagefleet_preflight_mode={mode}",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return process, report


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what differs from one run to the next: when it was written, how
    long each host took, and the clock difference measured in that run (SF104)."""
    report = copy.deepcopy(report)
    report.pop("generated_at", None)
    for host in report["hosts"]:
        host.pop("duration_s", None)
        for finding in host["findings"]:
            if finding["check_id"] == "SF104":
                finding.pop("message", None)
                finding.pop("observed", None)
    return report


def recap(stdout: str) -> dict[str, dict[str, int]]:
    lines = stdout.split("PLAY RECAP", 1)[-1]
    return {
        m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
        for m in re.finditer(r"^(\S+)\s+:\s+(.*)$", lines, re.M)
    }


@pytest.fixture(scope="module")
def both_modes(
    fleet_inventory: tuple[Fleet, Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    fleet, inventory, password_file = fleet_inventory
    runs: dict[str, Any] = {}
    for mode in ("fleet", "per_host"):
        before_signals, before_facts = signals(fleet), facts_runs(fleet)
        process, report = run_preflight(
            inventory, password_file, tmp_path_factory.mktemp(mode), mode
        )
        after_signals, after_facts = signals(fleet), facts_runs(fleet)
        runs[mode] = {
            "process": process,
            "report": report,
            "signals": {n: after_signals[n] - before_signals[n] for n in fleet.hosts},
            "facts": {n: after_facts[n] - before_facts[n] for n in fleet.hosts},
        }
    return runs


def test_both_modes_write_the_same_report(both_modes: dict[str, Any]) -> None:
    fleet, per_host = both_modes["fleet"], both_modes["per_host"]
    for run in (fleet, per_host):
        # The refused password makes the host unreachable: ansible-playbook exits 4.
        assert run["process"].returncode == 4, run["process"].stdout[-3000:]
        assert {h["host"] for h in run["report"]["hosts"]} == {*SCENARIOS, REFUSED}
    ours, theirs = comparable(fleet["report"]), comparable(per_host["report"])
    for mine, other in zip(ours["hosts"], theirs["hosts"], strict=True):
        assert mine == other, mine["host"]
    assert ours == theirs
    refused = next(h for h in fleet["report"]["hosts"] if h["host"] == REFUSED)
    assert refused["status"] == "unreachable" and "credentials" in refused["error"]
    vaulted = [h for h in fleet["report"]["hosts"] if h["host"] in VAULTED]
    assert [h["status"] for h in vaulted] == ["ready", "ready"]


def test_the_fleet_mode_reached_every_host_from_one_task(both_modes: dict[str, Any]) -> None:
    fleet, per_host = both_modes["fleet"], both_modes["per_host"]
    # Fleet mode: sagefleet's sessions, no Signal; per host: Ansible's connection, one Signal.
    assert set(fleet["signals"].values()) == {0}, fleet["signals"]
    reached = {n: c for n, c in per_host["signals"].items() if n != REFUSED}
    assert set(reached.values()) == {1}, per_host["signals"]
    assert {n: c for n, c in fleet["facts"].items() if n != REFUSED} == dict.fromkeys(SCENARIOS, 1)
    assert fleet["facts"][REFUSED] == 0  # refused at NTLM: no command ran
    assert "Gather facts and run the checks of every host at once" in fleet["process"].stdout


def test_play_recap_is_per_host_in_both_modes(both_modes: dict[str, Any]) -> None:
    for mode in ("fleet", "per_host"):
        hosts = recap(both_modes[mode]["process"].stdout)
        assert set(hosts) == {*SCENARIOS, REFUSED}, mode
        assert hosts[REFUSED]["unreachable"] == 1, mode
        for name in SCENARIOS:
            assert hosts[name]["unreachable"] == 0 and hosts[name]["failed"] == 0, (mode, name)
            assert hosts[name]["ok"] >= 1, (mode, name)


def test_limit_keeps_the_fleet_task_to_the_chosen_hosts(
    fleet_inventory: tuple[Fleet, Path, Path], tmp_path: Path
) -> None:
    fleet, inventory, password_file = fleet_inventory
    chosen = ["sage-v6", "healthy-onprem"]
    reports = {}
    for mode in ("fleet", "per_host"):
        before = facts_runs(fleet)
        process, report = run_preflight(
            inventory, password_file, tmp_path / mode, mode, "--limit", ",".join(chosen)
        )
        after = facts_runs(fleet)
        assert process.returncode == 0, process.stdout[-3000:]
        assert {n for n in fleet.hosts if after[n] > before[n]} == set(chosen), mode
        assert sorted(h["host"] for h in report["hosts"]) == sorted(chosen)
        reports[mode] = comparable(report)
    assert reports["fleet"] == reports["per_host"]


@pytest.mark.parametrize("mode", ["fleet", "per_host"])
def test_a_transient_fault_is_retried_in_both_modes(
    fleet_inventory: tuple[Fleet, Path, Path],
    both_modes: dict[str, Any],
    tmp_path: Path,
    mode: str,
) -> None:
    """An HTTP 500 at the facts command is retried (sagefleet_winrm_retries) in both modes,
    as doctor retries it: the host's report is the one a run without the fault wrote."""
    fleet, inventory, password_file = fleet_inventory
    name = "healthy-onprem"
    before = fleet.faults(name).counters.faults  # counted since the fleet started
    fleet.faults(name).set(fault_at="Command", fault_times=1, fault_code="internal")
    try:
        process, report = run_preflight(
            inventory, password_file, tmp_path, mode, "--limit", name
        )
    finally:
        faults = fleet.faults(name).counters.faults - before
        fleet.faults(name).clear()
    assert faults == 1
    assert process.returncode == 0, process.stdout[-3000:]
    (entry,) = comparable(report)["hosts"]
    clean = comparable(both_modes[mode]["report"])["hosts"]
    assert entry == next(h for h in clean if h["host"] == name)


def test_a_host_the_fleet_task_cannot_reproduce_runs_its_own_task(
    fleet_inventory: tuple[Fleet, Path, Path], tmp_path: Path
) -> None:
    """Two transports to try in turn, or per_host asked for one host: that host's own task
    connects (a Signal); the others still come from the fleet task (none)."""
    fleet, inventory, password_file = fleet_inventory
    chosen = ["healthy-spc", "sage-i7", "dotnet-472"]
    extra = tmp_path / "extra" / "hosts.yml"
    extra.parent.mkdir()
    extra.write_text(yaml.safe_dump({"all": {"hosts": {
        "healthy-spc": {"ansible_winrm_transport": ["ntlm", "basic"]},
        "sage-i7": {"sagefleet_preflight_mode": "per_host"},
    }}}))
    before = signals(fleet)
    process = subprocess.run(
        [
            str(BIN / "ansible-playbook"), "-i", str(inventory), "-i", str(extra),
            "playbooks/preflight.yml", "--vault-password-file", str(password_file),
            "--limit", ",".join(chosen), "-e", f"sagefleet_preflight_report_dir={tmp_path}",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    after = signals(fleet)
    assert process.returncode == 0, process.stdout[-3000:]
    assert {n: after[n] - before[n] for n in chosen} == {
        "healthy-spc": 1, "sage-i7": 1, "dotnet-472": 0
    }
    report = json.loads((tmp_path / "report.json").read_text())
    assert {h["host"]: h["status"] for h in report["hosts"]} == {
        "healthy-spc": "warnings", "sage-i7": "blocked", "dotnet-472": "blocked"
    }


def fleet_processes(inventory: Path) -> list[psutil.Process]:
    """The processes of one ansible-playbook run (its own argv, inherited by forks) that
    hold the fleet task's lock: the process the fleet task started."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if str(inventory) in (process.info["cmdline"] or []) and any(
                f.path.endswith("engine.lock") for f in process.open_files()
            ):
                found.append(process)
        except psutil.Error:
            continue
    return found


@contextlib.contextmanager
def slow_fleet(tmp_path: Path, count: int, startup_s: float) -> Iterator[tuple[Fleet, Path]]:
    specs = generate_specs(count, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        for name in fleet.hosts:
            fleet.faults(name).set(powershell_startup=startup_s)
        yield fleet, write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")


def test_the_fleet_process_ends_with_ansible_playbook(tmp_path: Path) -> None:
    with slow_fleet(tmp_path, 2, 4.0) as (fleet, inventory):
        process = subprocess.Popen(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/preflight.yml",
             "-e", f"sagefleet_preflight_report_dir={tmp_path / 'out'}"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        )
        deadline = time.monotonic() + 60
        while not (found := fleet_processes(inventory)):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        folder = next(Path(f.path).parent for f in found[0].open_files()
                      if f.path.endswith("engine.lock"))
        process.kill()  # SIGKILL: ansible-playbook cannot stop anything itself
        process.wait()
        killed = time.monotonic()
        while fleet_processes(inventory) and time.monotonic() - killed < 5:
            time.sleep(0.1)
        assert fleet_processes(inventory) == []
        assert time.monotonic() - killed < 2.0  # it watches ansible-playbook twice a second
        assert not folder.exists()


def test_a_host_whose_result_never_comes_is_gathered_by_its_own_task(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with slow_fleet(tmp_path, 2, 3.0) as (fleet, inventory):
        process = subprocess.Popen(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/preflight.yml",
             "-e", f"sagefleet_preflight_report_dir={tmp_path / 'out'}"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1", "TMPDIR": str(temporary)},
        )
        deadline = time.monotonic() + 60
        while not (found := fleet_processes(inventory)):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        for engine in found:
            engine.kill()  # the fleet task's process dies before any host's result
        output, _ = process.communicate(timeout=120)
        after = signals(fleet)
    assert process.returncode == 0, output[-3000:]
    assert output.count("ended without this host's result: gathering it from this task") == 2
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    statuses = {h["host"]: h["status"] for h in report["hosts"]}
    assert statuses == {"sage01": "ready", "sage02": "ready"}
    assert after == {"sage01": 1, "sage02": 1}  # each host's own task connected (a Signal)
    # The killed process could not remove its folder: the host tasks that outlived it did.
    assert [p.name for p in temporary.iterdir() if p.name.startswith("sagefleet-preflight-")] == []
