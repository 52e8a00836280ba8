"""A host whose WinRM sessions run in Constrained Language Mode (AppLocker/WDAC).

No sagefleet script can run there: the stdin bootstrap names the mode and stops,
and preflight turns that into one clear finding (SF107) instead of a failed
facts run, through the direct path and the playbook alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagefleet import preflight
from sagefleet.findings import Status
from sagefleet.inventory import load
from sagefleet.remote import LanguageModeRestricted
from sagefleet.remote.winrm import WinRMSession
from tests.support.fleets import FleetFactory, session_for
from tests.support.preflight import run_preflight
from tests.support.scenarios import write_inventory

pytestmark = pytest.mark.integration


def test_host_info_reports_full_language(make_fleet: FleetFactory) -> None:
    fleet = make_fleet()
    with session_for(fleet, "sage01") as session:
        assert session.run_snippet("host_info")["language_mode"] == "FullLanguage"


def test_a_constrained_session_refuses_every_snippet_with_its_mode(
    make_fleet: FleetFactory,
) -> None:
    fleet = make_fleet()
    fleet.host("sage01").language_mode = "ConstrainedLanguage"
    with session_for(fleet, "sage01") as session, pytest.raises(LanguageModeRestricted) as caught:
        session.run_snippet("host_info")
    assert caught.value.mode == "ConstrainedLanguage" and caught.value.host == "sage01"


def test_preflight_blocks_a_constrained_host_with_sf107(
    make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(2)
    fleet.host("sage02").language_mode = "ConstrainedLanguage"
    inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
    reports = {}
    for host in load([inventory]):
        assert host.target is not None
        prepared = preflight.prepare(host.name, dict(host.variables))
        with WinRMSession(host.target) as session:
            reports[host.name], _ = preflight.run(session, prepared)
    sf107 = {name: [f for f in r.findings if f.check_id == "SF107"] for name, r in reports.items()}
    assert [f.status for f in sf107["sage01"]] == [Status.PASS]
    (finding,) = reports["sage02"].findings
    assert finding.check_id == "SF107" and finding.status is Status.FAIL
    assert "ConstrainedLanguage" in finding.message and "AppLocker" in finding.remediation
    assert reports["sage02"].status == "blocked" and reports["sage02"].reachable
    # Through the playbook: the same finding in the report.
    out = tmp_path / "reports"
    process = run_preflight(inventory, out)
    report = json.loads((out / "report.json").read_text())
    entry = next(h for h in report["hosts"] if h["host"] == "sage02")
    assert entry["status"] == "blocked", process.stdout[-3000:]
    assert [(f["check_id"], f["status"]) for f in entry["findings"]] == [("SF107", "fail")]
