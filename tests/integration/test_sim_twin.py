"""`sagefleet sim twin`: facts collected on servers become profiles whose twins preflight alike.

The "real" servers here are simulated ones: their facts are collected the ways
an integrator collects them (a selftest transcript, its facts record, the
offline collector's JSON), turned into profiles, and a fleet of twins started
from those profiles must get the same doctor findings as the originals.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.cli import main
from sagefleet.inventory import load
from sagefleet.offline import offline_prepared
from sagefleet.remote.winrm import WinRMSession
from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.host_profiles import ProfileLibrary
from tests.support.fleets import next_first_address

#: Profile of each original server, and how its facts are collected.
ORIGINALS = {
    "sage01": ("clock-skew", "selftest zip"),
    "sage02": ("tls-intercepted", "collector json"),
    "sage03": ("healthy-spc", "selftest record"),
    "sage04": ("mae-network-drive-localsystem", "collector json"),
    "sage05": ("agent-old", "selftest zip"),
}


def findings(report_dir: Path) -> dict[str, list[tuple[str, str, str | None]]]:
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    return {
        host["host"]: sorted((f["check_id"], f["status"], f["entity"]) for f in host["findings"])
        for host in report["hosts"]
    }


def doctor(inventory: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["doctor", "-i", str(inventory), "--format", "json", "--out", str(out)])
    output = capsys.readouterr()
    assert rc == 0, output.out + output.err


def collect(
    fleet: Fleet, inventory: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> list[Path]:
    """Each server's facts, collected as ORIGINALS says."""
    folder.mkdir()
    hosts = {h.name: h for h in load([str(inventory)])}
    sources = []
    for name, (_, how) in ORIGINALS.items():
        if how == "collector json":
            prepared = offline_prepared(name, hosts[name].variables)
            assert hosts[name].target is not None
            with WinRMSession(hosts[name].target) as session:
                document = session.run_snippet("facts", prepared.facts_params())
            path = folder / f"sagefleet-facts-{document['host']['hostname']}.json"
            path.write_text(json.dumps(document), encoding="utf-8-sig")  # BOM, as Windows
        else:
            out = folder / name
            rc = main(["selftest", "-i", str(inventory), "-l", name, "--out", str(out)])
            assert rc == 0, capsys.readouterr()
            (path,) = out.glob("*.zip")
            if how == "selftest record":
                with zipfile.ZipFile(path) as archive:
                    (record,) = [n for n in archive.namelist() if n.endswith("-facts.json")]
                    path = folder / f"{name}-facts-record.json"
                    path.write_bytes(archive.read(record))
        sources.append(path)
    capsys.readouterr()
    return sources


@pytest.fixture
def originals(tmp_path: Path) -> Iterator[tuple[Fleet, Path]]:
    specs = generate_specs(
        len(ORIGINALS),
        profiles=[profile for profile, _ in ORIGINALS.values()],
        first_address=next_first_address(),
        port=0,
    )
    with Fleet(specs, tmp_path / "originals") as fleet:
        inventory = fleet.write_inventory(
            tmp_path / "originals" / "hosts.yml", settings_source="template"
        )
        yield fleet, inventory


def test_twins_of_collected_facts_get_the_originals_findings(
    originals: tuple[Fleet, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, inventory = originals
    sources = collect(fleet, inventory, tmp_path / "facts", capsys)
    rc = main(["sim", "twin", *map(str, sources), "-o", str(tmp_path / "twins")])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    files = sorted((tmp_path / "twins").glob("*.yml"))
    assert [f.stem for f in files] == sorted(
        fleet.host(name).hostname.lower() for name in ORIGINALS
    )
    assert "sagefleet sim up --hosts 5" in printed

    library = ProfileLibrary(files)
    specs = generate_specs(
        len(ORIGINALS),
        profiles=[fleet.host(name).hostname.lower() for name in ORIGINALS],
        first_address=next_first_address(),
        port=0,
    )
    with Fleet(specs, tmp_path / "twins-fleet", library) as twins:
        for name in ORIGINALS:
            assert twins.host(name).hostname == fleet.host(name).hostname
            assert twins.spec(name).profile == fleet.host(name).hostname.lower()
        twin_inventory = twins.write_inventory(
            tmp_path / "twins-fleet" / "hosts.yml", settings_source="template"
        )
        doctor(inventory, tmp_path / "report-originals", capsys)
        doctor(twin_inventory, tmp_path / "report-twins", capsys)
    original_findings = findings(tmp_path / "report-originals")
    assert findings(tmp_path / "report-twins") == original_findings
    statuses = {
        (host, check, status)
        for host, items in original_findings.items()
        for check, status, _ in items
    }
    # The comparison means something: the originals fail in their own ways.
    assert ("sage01", "SF104", "fail") in statuses  # clock 20 minutes ahead
    assert any(h == "sage02" and s != "pass" and c.startswith("SF3") for h, c, s in statuses)
    assert any(h == "sage04" and s != "pass" and c.startswith("SF4") for h, c, s in statuses)


def test_a_twin_lists_what_the_facts_did_not_give_and_copies_no_secret(
    originals: tuple[Fleet, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, inventory = originals
    sources = collect(fleet, inventory, tmp_path / "facts", capsys)
    assert main(["sim", "twin", *map(str, sources), "-o", str(tmp_path / "twins")]) == 0
    capsys.readouterr()
    secrets = {fleet.spec("sage01").password, "sim-only-not-a-secret"}
    for path in (tmp_path / "twins").glob("*.yml"):
        text = path.read_text(encoding="utf-8")
        assert not any(secret in text for secret in secrets), path
        header = [line for line in text.splitlines() if line.startswith("#")]
        assert "# Not in the facts, left at the simulator's safe defaults:" in header
        assert any("ui_language: en-US" in line for line in header)
        assert any("fips: false" in line for line in header)
    skew = yaml.safe_load((tmp_path / "twins" / "sage-skew.yml").read_text(encoding="utf-8"))
    assert abs(skew["clock_skew_s"] - 1200) <= 2  # from the selftest transcript's bastion time
    collector = (tmp_path / "twins" / "sage-mitm.yml").read_text(encoding="utf-8")
    assert "clock_skew_s: 0 (a facts file alone" in collector
    agent: dict[str, Any] = yaml.safe_load(
        (tmp_path / "twins" / "sage-agent23.yml").read_text(encoding="utf-8")
    )["agent"]
    assert agent == {
        "version": "2.3.0",
        "state": "Running",
        "start_mode": "Auto",
        "account": "CORP\\svc-spendesk",
    }


def test_twin_refuses_a_file_that_holds_no_facts_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps({"hosts": []}), encoding="utf-8")
    rc = main(["sim", "twin", str(bad), "-o", str(tmp_path / "twins")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("sagefleet: error: field FACTS: not a facts document")
    assert str(bad) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "twins").exists()
