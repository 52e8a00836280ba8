"""Preflight end to end: every simulator scenario through ansible-playbook and doctor."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet import doctor
from sagefleet.checks import all_checks
from sagefleet.inventory import InventoryHost, load
from sagefleet.remote.winrm import WinRMSession
from sagefleet.report.runs import inventory_name
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import ROOT, next_first_address
from tests.support.preflight import EXPECTED, SCENARIOS, run_preflight
from tests.support.processes import group_members
from tests.support.scenarios import write_inventory


def run_doctor(inventory: Path, cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`sagefleet doctor -i inventory *options` as an operator runs it, from ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "sagefleet", "doctor", "-i", str(inventory), *options],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def scenario_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    folder = tmp_path_factory.mktemp("preflight")
    specs = generate_specs(
        len(SCENARIOS), profiles=SCENARIOS, first_address=next_first_address(), port=0, prefix="pf"
    )
    for spec in specs:
        spec.name = spec.profile
    fleet = Fleet(specs, folder / "fleet").start()
    inventory = write_inventory(
        fleet, folder / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
    )
    yield fleet, inventory
    fleet.stop()


@pytest.fixture(scope="module")
def playbook_report(
    scenario_fleet: tuple[Fleet, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    fleet, inventory = scenario_fleet
    out = tmp_path_factory.mktemp("reports")
    process = run_preflight(inventory, out)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    report["_stdout"] = process.stdout
    report["_junit"] = (out / "report.junit.xml").read_text()
    report["_html"] = (out / "report.html").read_text()
    return report


def host_entry(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(h for h in report["hosts"] if h["host"] == name)


def failing(entry: dict[str, Any]) -> set[str]:
    return {
        f["check_id"]
        for f in entry["findings"]
        if f["status"] == "fail" and f["severity"] != "info"
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_playbook_finds_what_makes_each_scenario(
    playbook_report: dict[str, Any], scenario: str
) -> None:
    status, must_fail, must_pass = EXPECTED[scenario]
    entry = host_entry(playbook_report, scenario)
    assert entry["status"] == status, (scenario, sorted(failing(entry)))
    assert must_fail <= failing(entry), (scenario, sorted(failing(entry)))
    assert not (must_pass & failing(entry)), (scenario, sorted(failing(entry)))


def test_every_scenario_was_gathered_in_one_round_trip(
    scenario_fleet: tuple[Fleet, Path], playbook_report: dict[str, Any]
) -> None:
    fleet, _ = scenario_fleet
    for name in SCENARIOS:
        snippets_run = [e["name"] for e in fleet.host(name).journal if e["kind"] == "snippet"]
        assert snippets_run.count("facts") >= 1
        assert set(snippets_run) == {"facts"}


def test_report_formats_agree(playbook_report: dict[str, Any]) -> None:
    suite = ET.fromstring(playbook_report["_junit"])
    cases = suite.findall(".//testcase")
    failures = suite.findall(".//testcase/failure")
    assert len(cases) >= len(SCENARIOS) * 20
    assert failures, "blocked hosts must show as JUnit failures"
    html = playbook_report["_html"]
    assert "dotnet-472" in html and "ndp48" in html
    stdout = playbook_report["_stdout"]
    assert "Failures by check" in stdout


@pytest.mark.parametrize("processes", [1, 3])
def test_doctor_gives_the_same_findings_as_the_playbook(
    scenario_fleet: tuple[Fleet, Path], playbook_report: dict[str, Any], processes: int
) -> None:
    _, inventory = scenario_fleet
    report = doctor.run(load([inventory]), forks=8, processes=processes)
    assert [h.host for h in report.hosts].count("healthy-onprem") == 1
    assert {h.host for h in report.hosts} == set(SCENARIOS)
    for host in report.hosts:
        entry = host_entry(playbook_report, host.host)
        assert host.status == entry["status"], host.host
        ours = {
            (f.check_id, f.status.value, f.entity) for f in host.findings if f.check_id != "SF104"
        }
        theirs = {
            (f["check_id"], f["status"], f["entity"])
            for f in entry["findings"]
            if f["check_id"] != "SF104"
        }
        assert ours == theirs, host.host


def test_doctor_reports_the_hosts_of_a_dead_process_without_waiting(
    scenario_fleet: tuple[Fleet, Path],
) -> None:
    _, inventory = scenario_fleet
    hosts = load([inventory])
    parent = os.getpid()

    def factory(host: InventoryHost) -> WinRMSession:
        # Runs in the worker processes: the one holding sage-v6 dies on it.
        assert os.getpid() != parent
        if host.name == "sage-v6":
            os._exit(3)
        assert host.target is not None
        return WinRMSession(host.target)

    progress = doctor.Progress(total=len(hosts), stream=io.StringIO())
    report = doctor.run(hosts, forks=2, processes=2, session_factory=factory, progress=progress)
    by_name = {h.host: h for h in report.hosts}
    assert set(by_name) == set(SCENARIOS) and progress.done == len(SCENARIOS)
    dead = by_name["sage-v6"]
    assert not dead.reachable and "exited with code [3]" in (dead.error or "")
    # The other process finished its share normally.
    assert sum(1 for h in report.hosts if h.reachable) >= len(SCENARIOS) // 2


@pytest.mark.parametrize(
    ("how", "code"),
    [("ctrl-c", 130), ("term", 143), ("kill", -9)],
)
def test_doctor_interrupted_stops_its_worker_processes_at_once(
    tmp_path: Path, how: str, code: int
) -> None:
    specs = generate_specs(4, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        for name in fleet.hosts:
            fleet.faults(name).set(powershell_startup=3.0)  # every host busy for 3 s
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        # As a job in a terminal's foreground: SIGINT raises KeyboardInterrupt even when
        # this test runs where SIGINT is ignored (a background job of a script).
        foreground = (
            "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "runpy.run_module('sagefleet', run_name='__main__', alter_sys=True)"
        )
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                foreground,
                "doctor",
                "-i",
                str(inventory),
                "--processes",
                "2",
                "--forks",
                "4",
                "--out",
                str(tmp_path / "out"),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while len(group_members(process.pid)) < 3:  # the CLI and its two workers
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        time.sleep(0.5)
        interrupted = time.monotonic()
        if how == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does to the foreground group
        elif how == "term":
            process.terminate()  # SIGTERM to the CLI alone, as a job runner sends it
        else:
            process.kill()  # SIGKILL to the CLI alone: it cannot stop its workers itself
        output, _ = process.communicate(timeout=30)
        while group_members(process.pid) and time.monotonic() - interrupted < 10:
            time.sleep(0.05)  # a killed CLI does not wait for its workers to end
        elapsed = time.monotonic() - interrupted
    assert process.returncode == code, output
    assert elapsed < 2.0, (elapsed, output)  # not after the hosts' 3 s commands
    assert group_members(process.pid) == []
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert not (tmp_path / "out").exists()


def test_doctor_writes_each_run_in_its_own_folder(
    scenario_fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """Without --out, a run never leaves an earlier run's files beside its own: a second
    run asking for the JSON report only has no HTML page of the first one's hosts."""
    _, inventory = scenario_fleet
    job_dir = tmp_path / "reports" / inventory_name([str(inventory)]) / "preflight"

    def doctor_cli(*options: str) -> str:
        process = run_doctor(inventory, tmp_path, *options)
        assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-2000:]
        return process.stdout

    first = doctor_cli("--limit", "healthy-onprem,dotnet-472")
    (first_run,) = [p for p in job_dir.iterdir() if p.name != "latest"]
    assert sorted(p.name for p in first_run.iterdir()) == [
        "report.html",
        "report.json",
        "report.junit.xml",
        "report.txt",
    ]
    assert f"reports: {first_run.relative_to(tmp_path)}/report.txt" in first
    assert f"(also {(job_dir / 'latest').relative_to(tmp_path)}/)" in first

    second = doctor_cli("--limit", "healthy-onprem", "--format", "json")
    (second_run,) = [p for p in job_dir.iterdir() if p.name not in ("latest", first_run.name)]
    assert [p.name for p in second_run.iterdir()] == ["report.json"]
    assert (job_dir / "latest").resolve() == second_run.resolve()
    assert f"reports: {second_run.relative_to(tmp_path)}/report.json (also " in second
    hosts = [h["host"] for h in json.loads((second_run / "report.json").read_text())["hosts"]]
    assert hosts == ["healthy-onprem"]
    # The first run's reports are its own, untouched.
    first_hosts = json.loads((first_run / "report.json").read_text())["hosts"]
    assert sorted(h["host"] for h in first_hosts) == ["dotnet-472", "healthy-onprem"]
    assert "dotnet-472" in (first_run / "report.html").read_text()


def test_bad_input_stops_the_play_before_any_host_is_contacted(tmp_path: Path) -> None:
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        # The second host's entity: PLAY RECAP counts the refusal on the first.
        head, sep, tail = inventory.read_text().rpartition("analytic_plan: 1")
        assert sep and "sage02" in head.rpartition("sage01")[2]
        inventory.write_text(head + "analytic_plan: 0" + tail)
        process = run_preflight(inventory, tmp_path / "out")
        assert process.returncode == 2, process.stdout[-3000:]
        said = " ".join(process.stdout.split())
        assert "no host was contacted" in said
        assert "host sage02, entity " in said and "analytic_plan" in said
        assert (
            "[sagefleet] input refused for 1 of 2 host(s) checked: sage02 (the errors above "
            "name each field); no host was contacted or changed; PLAY RECAP counts it on "
            "sage01, the host the check ran once for" in said
        )
        assert "Sql-Canary-Passw0rd!" not in process.stdout + process.stderr
        for name in ("sage01", "sage02"):
            assert fleet.host(name).journal == []


def test_a_misspelt_variable_stops_the_play_before_any_host_is_contacted(
    tmp_path: Path,
) -> None:
    """sagefleet_preflight_fail_on_block would leave fail_on_blocked false, unseen."""
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet, tmp_path / "inventory" / "hosts.yml", {"sagefleet_preflight_fail_on_block": True}
        )
        process = run_preflight(inventory, tmp_path / "out")
        assert process.returncode == 2, process.stdout[-3000:]
        said = " ".join(process.stdout.split())
        assert "no host was contacted" in said
        assert (
            "host sage01, field sagefleet_preflight_fail_on_block: not a sagefleet variable, so "
            "not read (a slip of sagefleet_preflight_fail_on_blocked?)" in said
        )
        for name in ("sage01", "sage02"):
            assert fleet.host(name).journal == []


@pytest.mark.parametrize("case", ["format", "folder"])
def test_a_report_it_could_not_write_stops_the_play_before_any_host(
    tmp_path: Path, case: str
) -> None:
    """A report format it does not know (-e sagefleet_preflight_report_formats=[html] gives
    the string '[html]') or a report folder the bastion cannot write failed the report
    task, after every host had been reached, and no report was written."""
    specs = generate_specs(1, first_address=next_first_address(), port=0)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    out, extra, said_of = {
        "format": (
            tmp_path / "out",
            ("-e", "sagefleet_preflight_report_formats=[html]"),
            "host sage01, field sagefleet_preflight_report_formats: ",
        ),
        "folder": (a_file / "out", (), "field sagefleet_preflight_report_dir: the bastion "),
    }[case]
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        process = run_preflight(inventory, out, *extra)
        assert process.returncode == 2, process.stdout[-3000:]
        said = " ".join(process.stdout.split())
        assert "no host was contacted" in said and said_of in said
        assert fleet.host("sage01").journal == []


def test_waiver_turns_the_block_into_waived(tmp_path: Path) -> None:
    specs = generate_specs(1, profiles=("dotnet-472",), first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet,
            tmp_path / "inventory" / "hosts.yml",
            {
                "sagefleet_waivers": [
                    {"id": "SF101", "reason": "upgrade booked", "expires": "2099-01-01"}
                ],
                "sagefleet_lang": "fr",
            },
        )
        report = doctor.run(load([inventory]), forks=1)
    (host,) = report.hosts
    waived = [f for f in host.findings if f.check_id == "SF101"]
    assert waived[0].status.value == "waived" and waived[0].waiver_reason == "upgrade booked"
    assert host.status == "ready"
    assert report.lang == "fr"


def test_the_roles_variables_win_over_the_inventory_names_in_the_playbook(
    tmp_path: Path,
) -> None:
    # The action reads the host's variables itself: the inventory names (sagefleet_lang,
    # sagefleet_waivers) apply, and the role's aliases win over them when set.
    specs = generate_specs(2, profiles=("dotnet-472",), first_address=next_first_address(), port=0)
    waiver = [{"id": "SF101", "reason": "upgrade booked", "expires": "2099-01-01"}]
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        data = yaml.safe_load(inventory.read_text())
        hosts = data["all"]["children"]["sage_servers"]["hosts"]
        hosts["sage01"].update(sagefleet_lang="fr", sagefleet_waivers=waiver)
        hosts["sage02"].update(
            sagefleet_lang="fr", sagefleet_preflight_lang="en", sagefleet_preflight_waivers=waiver
        )
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        out = tmp_path / "out"
        process = run_preflight(inventory, out)
        direct = doctor.run(load([inventory]), forks=2).to_dict()  # the same for doctor
    assert process.returncode == 0, process.stdout[-3000:]
    report = json.loads((out / "report.json").read_text())
    sf101 = next(c for c in all_checks() if c.check_id == "SF101")
    for name, lang in (("sage01", "fr"), ("sage02", "en")):
        for entry in (host_entry(report, name), host_entry(direct, name)):
            (finding,) = [f for f in entry["findings"] if f["check_id"] == "SF101"]
            assert finding["status"] == "waived" and finding["waiver_reason"] == "upgrade booked"
            assert finding["title"] == sf101.title(lang), (name, finding["title"])
            assert entry["status"] == "ready"


def test_unreachable_host_is_reported_with_its_cause(tmp_path: Path) -> None:
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        fleet.spec("sage02").password = "wrong-password"
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        out = tmp_path / "out"
        process = run_preflight(inventory, out)
    assert process.returncode != 0  # unreachable hosts make ansible-playbook exit non-zero
    report = json.loads((out / "report.json").read_text())
    entry = host_entry(report, "sage02")
    assert entry["status"] == "unreachable"
    assert "credentials" in (entry["error"] or "")
    assert host_entry(report, "sage01")["status"] == "ready"


@pytest.mark.parametrize("mode", ["fleet", "per_host"])
def test_a_run_that_reached_no_host_still_writes_its_report(tmp_path: Path, mode: str) -> None:
    """Every host refused the credentials: Ansible runs nothing more once every host is
    unreachable, yet the report says why of each (a CI reading report.junit.xml would
    read an earlier run's otherwise), and PLAY RECAP marks each host unreachable."""
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        for name in ("sage01", "sage02"):
            fleet.spec(name).password = "wrong-password"
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        out = tmp_path / "out"
        process = run_preflight(inventory, out, "-e", f"sagefleet_preflight_mode={mode}")
    assert process.returncode == 4, process.stdout[-3000:]
    counts = dict(re.findall(r"^(sage0\d)\s+:.*unreachable=(\d+)", process.stdout, re.M))
    assert counts == {"sage01": "1", "sage02": "1"}, process.stdout[-3000:]
    for name in ("sage01", "sage02"):
        assert re.search(rf"^unreachable: \[{name}\] .*credentials", process.stdout, re.M)
    report = json.loads((out / "report.json").read_text())
    for name in ("sage01", "sage02"):
        entry = host_entry(report, name)
        assert entry["status"] == "unreachable" and "credentials" in (entry["error"] or "")
    junit = ET.parse(out / "report.junit.xml").getroot()
    assert junit.get("errors") == "2"  # one errored testcase per unreachable host
    assert "this run wrote no report" not in process.stdout


def test_fail_on_blocked_fails_the_blocked_host_itself_in_the_recap(tmp_path: Path) -> None:
    """fail_on_blocked: exit code 2, and PLAY RECAP fails the blocked host (not the first
    host of the play, which ran the report), with the checks that block it."""
    specs = generate_specs(
        3,
        profiles=("healthy-onprem", "healthy-onprem", "dotnet-472"),
        first_address=next_first_address(),
        port=0,
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        process = run_preflight(
            inventory, tmp_path / "out", "-e", "sagefleet_preflight_fail_on_blocked=true"
        )
        limited = run_preflight(
            inventory,
            tmp_path / "out",
            "-e",
            "sagefleet_preflight_fail_on_blocked=true",
            "--limit",
            "sage03",
        )
    for run in (process, limited):
        assert run.returncode == 2, run.stdout[-3000:]
        failed = dict(re.findall(r"^(sage0\d)\s+:.*failed=(\d+)", run.stdout, re.M))
        assert failed["sage03"] == "1"
        assert all(n == "0" for h, n in failed.items() if h != "sage03")
        assert re.search(r"^blocked: \[sage03\] SF101 failed$", run.stdout, re.M)


def test_the_report_is_written_when_every_host_fails(tmp_path: Path) -> None:
    """Each host's preflight task ends it with its status; the report, in the always
    section after it, is written even when that task failed every host."""
    specs = generate_specs(
        2, profiles=("dotnet-472", "dotnet-472"), first_address=next_first_address(), port=0
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        process = run_preflight(
            inventory, tmp_path / "out", "-e", "sagefleet_preflight_fail_on_blocked=true"
        )
    assert process.returncode == 2, process.stdout[-3000:]
    failed = dict(re.findall(r"^(sage0\d)\s+:.*failed=(\d+)", process.stdout, re.M))
    assert failed == {"sage01": "1", "sage02": "1"}, process.stdout[-3000:]
    assert re.search(r"^blocked: \[sage02\] SF101 failed$", process.stdout, re.M)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {h["host"]: h["status"] for h in report["hosts"]} == {
        "sage01": "blocked",
        "sage02": "blocked",
    }


@pytest.mark.parametrize(
    "selection",
    [("--tags", "validate"), ("--tags", "report"), ("--skip-tags", "checks")],
    ids=lambda s: " ".join(s),
)
def test_a_selection_without_the_checks_contacts_no_host_and_writes_no_report(
    tmp_path: Path, selection: tuple[str, str]
) -> None:
    """A run whose --tags or --skip-tags leave the checks out diagnoses no host: it
    writes no report, ends no host, and says so, instead of reporting every host
    unreachable."""
    specs = generate_specs(
        2, profiles=("dotnet-472", "healthy-onprem"), first_address=next_first_address(), port=0
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        process = run_preflight(
            inventory,
            tmp_path / "out",
            *selection,
            "-e",
            "sagefleet_preflight_fail_on_blocked=true",
        )
        contacted = [h for h in ("sage01", "sage02") if fleet.host(h).journal]
    assert process.returncode == 0, process.stdout[-3000:]
    assert contacted == []
    assert not (tmp_path / "out").exists()
    assert "[sagefleet] this run wrote no report: its report task was skipped" in (
        process.stdout
    ), process.stdout[-3000:]
    recap = re.findall(r"^(sage0\d)\s+:.*failed=(\d+)\s+skipped=(\d+)", process.stdout, re.M)
    assert all(failed == "0" for _, failed, _ in recap), process.stdout[-3000:]


@pytest.mark.parametrize("broken", ["sage01", "sage02"])
def test_a_host_that_could_not_be_diagnosed_is_unreachable_in_the_recap(
    tmp_path: Path, broken: str
) -> None:
    """Facts that could not be gathered leave the host undiagnosed: the report says
    unreachable with the cause, and so do PLAY RECAP and the exit code (4). The play's
    first host is ended after the report (so that a run that reached no host still
    writes one), the others by their checks task, in the same words."""
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        fleet.host(broken).snippet_failures["facts"] = "Get-CimInstance : Access denied"
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        process = run_preflight(inventory, tmp_path / "out")
    assert process.returncode == 4, process.stdout[-3000:]
    counts = dict(re.findall(r"^(sage0\d)\s+:.*unreachable=(\d+)", process.stdout, re.M))
    assert counts == {name: str(int(name == broken)) for name in ("sage01", "sage02")}
    (line,) = re.findall(rf"^unreachable: \[{broken}\].*$", process.stdout, re.M)
    assert re.fullmatch(rf"unreachable: \[{broken}\] facts could not be gathered: .*denied", line)
    report_at = process.stdout.index("TASK [sagefleet_preflight : Write the fleet report]")
    assert (process.stdout.index(line) > report_at) == (broken == "sage01")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    for name in ("sage01", "sage02"):
        expected = "unreachable" if name == broken else "ready"
        assert host_entry(report, name)["status"] == expected


def test_preflight_in_check_mode_gives_the_same_report(tmp_path: Path) -> None:
    specs = generate_specs(
        2, profiles=("healthy-onprem", "dotnet-472"), first_address=next_first_address(), port=0
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        out = tmp_path / "out"
        process = run_preflight(inventory, out, "--check")
        snippets_run = {
            e["name"]
            for h in ("sage01", "sage02")
            for e in fleet.host(h).journal
            if e["kind"] == "snippet"
        }
    assert process.returncode == 0, process.stdout[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert {h["host"]: h["status"] for h in report["hosts"]} == {
        "sage01": "ready",
        "sage02": "blocked",
    }
    assert snippets_run == {"facts"}  # read-only: nothing but the facts snippet ran


WARM_UP_PROBE = """
import json, sys
from sagefleet import catalog, preflight
from sagefleet.inventory import load
from sagefleet.remote import contracts
from sagefleet.remote.winrm import WinRMSession
from sagefleet.settings import schemas

hosts = load([sys.argv[1]], names=sys.argv[2:])
preflight.warm_up()
before = set(sys.modules)
loads = (catalog.load.cache_info().misses, schemas.validator.cache_info().misses,
         contracts._validator.cache_info().misses)
statuses = []
for host in hosts:
    prepared = preflight.prepare(host.name, dict(host.variables))
    with WinRMSession(host.target) as session:
        report, _ = preflight.run(session, prepared, address=host.target.address)
    statuses.append(report.status)
print(json.dumps({
    "imported": sorted(m for m in set(sys.modules) - before if m.startswith("sagefleet")),
    "loads": [catalog.load.cache_info().misses - loads[0],
              schemas.validator.cache_info().misses - loads[1],
              contracts._validator.cache_info().misses - loads[2]],
    "statuses": statuses,
}))
"""


def test_warm_up_leaves_nothing_for_a_host_run_to_load(
    scenario_fleet: tuple[Fleet, Path],
) -> None:
    # The action plugin calls warm_up() in Ansible's bastion process: a worker forked
    # after it must find every check module, catalog and schema already loaded.
    _, inventory = scenario_fleet
    process = subprocess.run(
        [sys.executable, "-c", WARM_UP_PROBE, str(inventory), "two-entities", "sage-v6"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    seen = json.loads(process.stdout.strip().splitlines()[-1])
    assert sorted(seen["statuses"]) == ["blocked", "ready"]
    assert seen["imported"] == [] and seen["loads"] == [0, 0, 0], seen


def test_doctor_exits_4_when_a_host_could_not_be_diagnosed(tmp_path: Path) -> None:
    """An unreachable host was not diagnosed: doctor did not do what was asked, and says so
    with ansible-playbook's exit code for it (4), whatever --fail-on-blocked; a blocked host
    fails the run only with --fail-on-blocked (1)."""
    specs = generate_specs(
        3,
        profiles=("healthy-onprem", "dotnet-472", "healthy-onprem"),
        first_address=next_first_address(),
        port=0,
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        fleet.spec("sage03").password = "wrong-password"
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")

        def doctor_cli(*options: str) -> tuple[int, dict[str, str], str]:
            process = run_doctor(inventory, tmp_path, "--format", "json", "--out", "-", *options)
            statuses = {h["host"]: h["status"] for h in json.loads(process.stdout)["hosts"]}
            said = [line for line in process.stderr.splitlines() if "exit code" in line]
            return process.returncode, statuses, "\n".join(said)

        diagnosed = {"sage01": "ready", "sage02": "blocked"}
        assert doctor_cli("--limit", "sage01,sage02") == (0, diagnosed, "")
        assert doctor_cli("--limit", "sage01,sage02", "--fail-on-blocked") == (
            1,
            diagnosed,
            "doctor: exit code 1: 1 host(s) blocked (--fail-on-blocked): sage02",
        )
        everyone = {**diagnosed, "sage03": "unreachable"}
        unreachable = "doctor: exit code 4: 1 host(s) unreachable, so not diagnosed: sage03"
        assert doctor_cli() == (4, everyone, unreachable)
        assert doctor_cli("--fail-on-blocked") == (4, everyone, unreachable)
