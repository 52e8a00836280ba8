"""The offline path: collector script by hand on the server, its JSON evaluated on the bastion."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from sagefleet import offline, preflight, snippets
from sagefleet.cli import main
from sagefleet.inventory import load
from sagefleet.remote.command import STDIN_BOOTSTRAP, bootstrap_command, decode_script
from sagefleet.report.runs import inventory_name
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import next_first_address, session_for
from tests.support.scenarios import write_inventory

PARSER = Parser(Language(tree_sitter_powershell.language()))
SCENARIOS = ["healthy-onprem", "two-entities", "s3-blocked", "mae-network-drive-localsystem"]


def errors_in(node: Node) -> list[str]:
    found = []
    if node.type == "ERROR" or node.is_missing:
        found.append(f"{node.type} at {node.start_point}")
    for child in node.children:
        found.extend(errors_in(child))
    return found


@pytest.fixture(scope="module")
def fleet_inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    folder = tmp_path_factory.mktemp("offline")
    specs = generate_specs(
        len(SCENARIOS), profiles=SCENARIOS, first_address=next_first_address(), port=0, prefix="of"
    )
    for spec in specs:
        spec.name = spec.profile
    fleet = Fleet(specs, folder / "fleet").start()
    yield fleet, write_inventory(fleet, folder / "inventory" / "hosts.yml")
    fleet.stop()


def test_collector_parses_as_powershell_without_error() -> None:
    script = offline.facts_script(offline.default_params(mae_files=["C:\\Sage\\B'@IJOU.MAE"]))
    tree = PARSER.parse(script.encode("utf-8"))
    assert errors_in(tree.root_node) == []


def test_collector_carries_the_winrm_script_unchanged() -> None:
    params = offline.default_params(mae_files=["C:\\Sage\\BIJOU.MAE"], timeout_ms=1500)
    script = offline.facts_script(params, host="sage-01")
    assert offline.embedded_script(script) == snippets.render("facts", params)
    assert "sage-01" in script and "sagefleet-facts-" in script


def test_collector_starts_windows_powershell_by_full_path_with_the_stdin_bootstrap() -> None:
    script = offline.facts_script(offline.default_params(mae_files=["C:\\Sage\\BIJOU.MAE"]))
    assert "'System32\\WindowsPowerShell\\v1.0\\powershell.exe'" in script
    assert "$env:SystemRoot" in script and "$PSHOME" not in script
    (arguments,) = re.findall(r"\$info\.Arguments = '([^']*)'", script)
    assert f"PowerShell {arguments}" == bootstrap_command()
    flags, encoded = arguments.rsplit(" ", 1)
    assert flags.endswith("-EncodedCommand") and decode_script(encoded) == STDIN_BOOTSTRAP
    # The child's stdin: the script's length in bytes, LF, the script (the bootstrap's
    # contract), and the wait on the child is bounded.
    assert '[string]$script.Length + "`n"' in script
    assert f"WaitForExit({offline.COLLECTOR_TIMEOUT_S * 1000})" in script
    assert "Start-Process" not in script and "-File" not in script.split("param(")[1]


def test_facts_script_command_uses_the_hosts_entities(
    fleet_inventory: tuple[Fleet, Path], tmp_path: Path
) -> None:
    _, inventory = fleet_inventory
    out = tmp_path / "collect.ps1"
    rc = main(["facts-script", "-i", str(inventory), "--host", "two-entities", "-o", str(out)])
    assert rc == 0
    text = out.read_text(encoding="utf-8")
    assert errors_in(PARSER.parse(text.encode()).root_node) == []
    embedded = snippets.parse(offline.embedded_script(text))
    assert embedded is not None and embedded.name == "facts"
    assert embedded.params["mae_files"] == [
        "C:\\Sage\\Societes\\BIJOU.MAE",
        "C:\\Sage\\Societes\\CHOCO.MAE",
    ]
    assert "Sql-Canary-Passw0rd!" not in text


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_offline_findings_equal_the_online_ones(
    fleet_inventory: tuple[Fleet, Path], tmp_path: Path, scenario: str
) -> None:
    fleet, inventory = fleet_inventory
    host = load([inventory], names=[scenario])[0]
    prepared = preflight.prepare(scenario, dict(host.variables))
    with session_for(fleet, scenario) as session:
        online, _ = preflight.run(session, prepared)
        document = session.run_snippet("facts", prepared.facts_params())
    facts_file = tmp_path / f"sagefleet-facts-{scenario}.json"
    facts_file.write_text(json.dumps(document), encoding="utf-8")
    out = tmp_path / "reports"
    now = dt.datetime.now(dt.UTC).isoformat()
    rc = main(
        [
            "checks",
            "--facts",
            str(facts_file),
            "-i",
            str(inventory),
            "--host",
            scenario,
            "--out",
            str(out),
            "--collected-at",
            now,
        ]
    )
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    (entry,) = report["hosts"]
    assert entry["status"] == online.status
    offline_findings = {(f["check_id"], f["status"], f["entity"]) for f in entry["findings"]}
    online_findings = {(f.check_id, f.status.value, f.entity) for f in online.findings}
    assert offline_findings == online_findings
    assert (out / "report.html").exists() and (out / "report.junit.xml").exists()


def test_checks_refuses_a_file_that_is_not_facts(tmp_path: Path) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text('{"hello": 1}')
    assert main(["checks", "--facts", str(bogus), "--out", str(tmp_path / "r")]) == 2


def test_checks_refuses_a_facts_file_missing_a_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing section read as an empty one: SF103 and SF308 passed, on nothing."""
    bare = tmp_path / "bare.json"
    bare.write_text('{"schema": 1}')
    assert main(["checks", "--facts", str(bare), "--out", str(tmp_path / "r")]) == 2
    said = capsys.readouterr().err
    assert "not a complete facts document: no host, drives, dotnet" in said
    assert "sagefleet facts-script" in said and not (tmp_path / "r").exists()


def test_checks_without_inventory_evaluate_but_a_host_without_entities_is_never_ready(
    fleet_inventory: tuple[Fleet, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, _ = fleet_inventory
    params = offline.default_params()
    with session_for(fleet, "healthy-onprem") as session:
        document = session.run_snippet("facts", params)
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(json.dumps(document), encoding="utf-8")
    # Exit 0: without --fail-on-blocked a blocked host is reported, not an error of the run.
    assert main(["checks", "--facts", str(facts_file), "--out", str(tmp_path / "r")]) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    (host,) = report["hosts"]
    assert host["status"] == "blocked"
    failed = {f["check_id"] for f in host["findings"] if f["status"] == "fail"}
    assert failed == {"SF903"}  # only the missing entities: the facts themselves are healthy
    capsys.readouterr()
    # With it: exit 1, and stderr says which host set it, as doctor does.
    again = ["checks", "--facts", str(facts_file), "--out", str(tmp_path / "r2")]
    assert main([*again, "--fail-on-blocked"]) == 1
    name = host["host"]
    assert f"checks: exit code 1: 1 host(s) blocked (--fail-on-blocked): {name}" in (
        capsys.readouterr().err.splitlines()
    )


def test_checks_of_one_host_after_another_keep_both_reports(
    fleet_inventory: tuple[Fleet, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --out each evaluation writes a folder of its own: the second host's facts
    never replace the first one's reports."""
    fleet, inventory = fleet_inventory
    monkeypatch.chdir(tmp_path)
    for name in ("healthy-onprem", "s3-blocked"):
        host = load([inventory], names=[name])[0]
        prepared = preflight.prepare(name, dict(host.variables))
        with session_for(fleet, name) as session:
            document = session.run_snippet("facts", prepared.facts_params())
        facts_file = tmp_path / f"sagefleet-facts-{name}.json"
        facts_file.write_text(json.dumps(document), encoding="utf-8")
        collected = dt.datetime.now(dt.UTC).isoformat()
        args = ["checks", "--facts", str(facts_file), "-i", str(inventory), "--host", name]
        assert main([*args, "--collected-at", collected]) == 0
    job_dir = tmp_path / "reports" / inventory_name([str(inventory)]) / "preflight"
    runs = sorted(p for p in job_dir.iterdir() if p.name != "latest")
    assert len(runs) == 2
    hosts = [json.loads((run / "report.json").read_text())["hosts"] for run in runs]
    assert [[h["host"] for h in found] for found in hosts] == [["healthy-onprem"], ["s3-blocked"]]
    assert [found[0]["status"] for found in hosts] == ["ready", "blocked"]
    assert all((run / "report.html").is_file() for run in runs)
    assert (job_dir / "latest").resolve() == runs[1].resolve()


def test_facts_script_options_win_over_the_inventory_and_are_checked(
    fleet_inventory: tuple[Fleet, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, inventory = fleet_inventory
    out = tmp_path / "collect.ps1"
    host = ["-i", str(inventory), "--host", "two-entities", "-o", str(out)]
    options = ["--service-name", "MyAgentSvc", "--timeout-ms", "5000"]
    assert main(["facts-script", *host, *options]) == 0
    embedded = snippets.parse(offline.embedded_script(out.read_text(encoding="utf-8")))
    assert embedded is not None
    assert (embedded.params["service_name"], embedded.params["timeout_ms"]) == ("MyAgentSvc", 5000)
    # Below the inventory's own bound: refused, as sagefleet_preflight_timeout_ms would be.
    assert main(["facts-script", "--timeout-ms", "-5"]) == 2
    assert "field --timeout-ms" in capsys.readouterr().err
