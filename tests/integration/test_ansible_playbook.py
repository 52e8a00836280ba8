"""ansible-playbook, unmodified, runs the real playbook over WinRM against the simulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from sagefleet.sim.fleet import Fleet
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT, FleetFactory


def run_playbook(
    fleet: Fleet, tmp_path: Path, *extra: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    inventory = fleet.write_inventory(tmp_path / "inventory" / "hosts.yml")
    reports = tmp_path / "reports"
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    process = subprocess.run(
        [
            ANSIBLE_PLAYBOOK,
            "-i",
            str(inventory),
            "playbooks/site.yml",
            "-e",
            f"sagefleet_report_dir={reports}",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    # inventory/hosts.yml: the inventory is named after its folder (report.runs)
    return process, reports / "inventory" / "host_info" / "latest" / "host_info.json"


def test_site_playbook_gathers_every_host_over_winrm_ntlm_https(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(3, profiles=("healthy-onprem", "healthy-spc", "clock-skew"))
    process, summary_file = run_playbook(fleet, tmp_path)
    assert process.returncode == 0, process.stdout + process.stderr
    summary = json.loads(summary_file.read_text())
    assert {name: r["status"] for name, r in summary.items()} == dict.fromkeys(
        ("sage01", "sage02", "sage03"), "ok"
    )
    assert {name: r["host_info"]["hostname"] for name, r in summary.items()} == {
        "sage01": "SAGE-ONPREM",
        "sage02": "SPC-VM",
        "sage03": "SAGE-SKEW",
    }
    assert abs(summary["sage03"]["host_info"]["clock_skew_s"] - 1200) < 30
    # Against the round trip's midpoint, and never a rounded "-0.0".
    assert abs(summary["sage01"]["host_info"]["clock_skew_s"]) < 1
    assert "skew -0.0 s" not in process.stdout and "clock skew 0.0 s" in process.stdout
    for name in ("sage01", "sage02", "sage03"):
        journal = fleet.host(name).journal
        assert [e["name"] for e in journal if e["kind"] == "snippet"] == ["host_info"]
        assert fleet.listeners[name].stats.requests > 0
    assert "sage01 " in process.stdout and "SAGE-ONPREM" in process.stdout
    # Reading changes nothing: writing the bastion's summary is no change of a host.
    assert re.findall(r"^sage0\d\s+:.*changed=(\d+)", process.stdout, re.M) == ["0"] * 3


def test_a_misspelt_variable_fails_the_host_before_it_is_contacted(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    """sagefleet_host_info_sho would leave sagefleet_host_info_show's default in force."""
    fleet = make_fleet(1)
    process, _ = run_playbook(fleet, tmp_path, "-e", "sagefleet_host_info_sho=false")
    assert process.returncode == 2, process.stdout + process.stderr
    said = " ".join(process.stdout.split())
    assert (
        "invalid input, host not contacted: " in said
        and "host sage01, field sagefleet_host_info_sho: not a sagefleet variable, so not "
        "read (a slip of sagefleet_host_info_show?). Fix: rename it sagefleet_host_info_show"
        in said
    )
    assert re.search(r"^sage01\s+:.*failed=1", process.stdout, re.M)
    assert fleet.host("sage01").journal == []


def test_site_playbook_in_check_mode_still_reads(make_fleet: FleetFactory, tmp_path: Path) -> None:
    fleet = make_fleet(1)
    process, summary_file = run_playbook(fleet, tmp_path, "--check")
    assert process.returncode == 0, process.stdout + process.stderr
    assert json.loads(summary_file.read_text())["sage01"]["host_info"]["os_build"] == 17763


def test_wrong_password_marks_the_host_unreachable_with_the_normal_error(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(2)
    fleet.spec("sage02").password = "wrong-password"
    process, summary_file = run_playbook(fleet, tmp_path)
    assert process.returncode != 0
    assert "credentials were rejected" in process.stdout
    assert "wrong-password" not in process.stdout + process.stderr
    summary = json.loads(summary_file.read_text())
    assert summary["sage01"]["host_info"]["hostname"] == "SAGE-ONPREM"
    assert summary["sage02"]["status"] == "unreachable"
    assert "credentials were rejected" in summary["sage02"]["msg"]
    assert "host_info" not in summary["sage02"]
    assert re.search(r"^ *- '?sage02 +unreachable +.*credentials", process.stdout, re.M)


def test_the_summary_names_each_hosts_outcome_and_each_run_has_its_own(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    """--limit selects the summary play too: it is written, with the hosts left out in their
    own word (not-run), a failed host as failed, each run in its own folder (latest: the
    newest); a run whose every host was unreachable writes none and says so."""
    fleet = make_fleet(3)
    fleet.host("sage02").snippet_failures["host_info"] = "Get-CimInstance : Access denied"
    process, summary_file = run_playbook(fleet, tmp_path, "--limit", "sage01,sage02")
    assert process.returncode == 2, process.stdout + process.stderr
    first = summary_file.parent.resolve()
    summary = json.loads(summary_file.read_text())
    assert {name: r["status"] for name, r in summary.items()} == {
        "sage01": "ok",
        "sage02": "failed",
        "sage03": "not-run",
    }
    assert "Access denied" in summary["sage02"]["msg"]
    assert f"[sagefleet] report of this run: {first}" in process.stdout

    fleet.spec("sage03").password = "wrong-password"
    process, summary_file = run_playbook(fleet, tmp_path, "--limit", "sage03")
    assert process.returncode == 4, process.stdout + process.stderr
    assert "[sagefleet] this run wrote no report: it stopped before its report" in process.stdout
    assert summary_file.parent.resolve() == first  # latest still names the first run

    process, summary_file = run_playbook(fleet, tmp_path, "--limit", "sage01")
    assert process.returncode == 0, process.stdout + process.stderr
    runs = sorted(p for p in summary_file.parent.parent.iterdir() if p.name != "latest")
    assert len(runs) == 2 and runs[0] == first and summary_file.parent.resolve() == runs[1]
    statuses = {name: r["status"] for name, r in json.loads(summary_file.read_text()).items()}
    assert statuses == {"sage01": "ok", "sage02": "not-run", "sage03": "not-run"}

    # --tags report alone reads no host: no summary of hosts all "not-run" over the last.
    process, summary_file = run_playbook(fleet, tmp_path, "--tags", "report")
    assert process.returncode == 0, process.stdout + process.stderr
    assert "[sagefleet] this run wrote no report: its report task was skipped" in process.stdout
    assert summary_file.parent.resolve() == runs[1]
    assert len([p for p in summary_file.parent.parent.iterdir() if p.name != "latest"]) == 2


def test_snippet_failure_fails_the_task_with_the_powershell_error(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(1)
    fleet.host("sage01").snippet_failures["host_info"] = "Get-CimInstance : Access denied"
    process, _ = run_playbook(fleet, tmp_path)
    assert process.returncode != 0
    assert "snippet host_info failed (rc 1): Get-CimInstance : Access denied" in process.stdout
