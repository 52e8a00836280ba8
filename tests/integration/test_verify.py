"""Verification suites (tests/infra) through testinfra's winrm backend against simulated hosts."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.model import ADMINISTRATORS, SYSTEM, Acl
from tests.conftest import ROOT, next_first_address
from tests.deployed import make_deployed
from tests.scenarios import write_inventory

ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")

# host -> (profile, how to break it after deploy, the check named in the message, its words)
CASES: dict[str, tuple[str, str | None, str | None, str | None]] = {
    "good-onprem": ("healthy-onprem", None, None, None),
    "good-spc": ("healthy-spc", None, None, None),
    "stopped": ("healthy-onprem", "stop", "SF502", "is Stopped, expected Running"),
    "old-version": ("healthy-onprem", "version", "SF505", "agent version is 3.1.0"),
    "missing-entity": (
        "two-entities",
        "entity",
        "SF506",
        "expected ['Connections[CompanyName=BIJOU]', 'Connections[CompanyName=CHOCO]']",
    ),
    "open-acl": ("healthy-onprem", "acl", "SF508", "too open"),
    "blocked": ("healthy-onprem", "endpoint", "SF510", "s3.eu-west-3.amazonaws.com:443"),
    # Running, its endpoints reachable by the admin, yet not connected: proxy for the admin only.
    "disconnected": ("agent-proxy-admin-only", "age", "SF513", "a proxy is set for"),
    # The same, started less than the window ago: SF513 cannot tell yet.
    "young": ("agent-proxy-admin-only", None, None, None),
}


def break_host(fleet: Fleet, name: str, how: str) -> None:
    host = fleet.host(name)
    settings = "C:\\Program Files\\Spendesk\\Sage Agent\\settings.json"
    if how == "stop":
        host.stop_service("SpendeskSageAgent")
    elif how == "version":
        host.fs.write(
            "C:\\Program Files\\Spendesk\\Sage Agent\\SpendeskSageAgent.exe",
            b"MZ",
            product_version="3.1.0",
        )
    elif how == "entity":
        document = json.loads(host.fs.read(settings))
        document["Connections"] = [
            c for c in document["Connections"] if c["CompanyName"] != "CHOCO"
        ]
        host.fs.write(
            settings,
            json.dumps(document).encode(),
            acl=Acl.private(ADMINISTRATORS, [ADMINISTRATORS, SYSTEM]),
        )
    elif how == "acl":
        host.fs.stat(settings).acl = None
    elif how == "endpoint":
        host.network.tcp["s3.eu-west-3.amazonaws.com:443"] = "refused"
    elif how == "age":
        service = host.service("SpendeskSageAgent")
        assert service is not None and service.process_started is not None
        service.process_started -= dt.timedelta(seconds=600)  # past the 120 s window


@pytest.fixture(scope="module")
def verified(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("verify")
    names = sorted(CASES)
    specs = generate_specs(
        len(names),
        profiles=[CASES[n][0] for n in names],
        first_address=next_first_address(),
        port=0,
    )
    for spec, name in zip(specs, names, strict=True):
        spec.name = name
    with Fleet(specs, folder / "fleet") as fleet:
        inventory = write_inventory(
            fleet, folder / "inventory" / "hosts.yml", {"sagefleet_agent_version": "3.2.0"}
        )
        hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
        for name in names:
            make_deployed(fleet.host(name), name, hosts[name])
            how = CASES[name][1]
            if how:
                break_host(fleet, name, how)
        out = folder / "out"
        process = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "sagefleet.verify.plugin",
                "-p",
                "no:cacheprovider",
                "tests/infra",
                "--sagefleet-inventory",
                str(inventory),
                "--sagefleet-report",
                str(out),
                "-n",
                "2",
                "-q",
                "--junitxml",
                str(out / "pytest.junit.xml"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        journal = {n: list(fleet.host(n).journal) for n in names}
    report = json.loads((out / "report.json").read_text())
    return {"process": process, "report": report, "journal": journal, "out": out}


def findings_of(verified: dict[str, Any], host: str) -> dict[str, dict[str, Any]]:
    entry = next(h for h in verified["report"]["hosts"] if h["host"] == host)
    return {f["check_id"]: f for f in entry["findings"]}


@pytest.mark.parametrize("host", sorted(CASES))
def test_each_host_fails_exactly_its_broken_check(verified: dict[str, Any], host: str) -> None:
    _, _, check, words = CASES[host]
    found = findings_of(verified, host)
    failed = {cid for cid, f in found.items() if f["status"] == "fail"}
    # A missing entity also makes the content differ from the expectation (SF507); a
    # stopped agent holds no connection (SF513).
    also = {"SF506": {"SF507"}, "SF502": {"SF513"}}.get(check or "", set())
    assert failed == ({check} | also if check else set()), (host, failed)
    if check:
        message = found[check]["message"]
        assert host in message and check in message and words in message, message


def test_every_check_ran_on_every_host(verified: dict[str, Any]) -> None:
    for host in CASES:
        assert set(findings_of(verified, host)) == {f"SF5{n:02d}" for n in range(1, 14)}


def test_a_connected_agent_passes_sf513_and_a_young_one_is_unknown(
    verified: dict[str, Any],
) -> None:
    connected = findings_of(verified, "good-onprem")["SF513"]
    assert connected["status"] == "pass"
    young = findings_of(verified, "young")["SF513"]
    assert young["status"] == "unknown", young
    assert "no connection yet" in young["message"] and "window 120 s" in young["message"]


def test_a_running_but_disconnected_agent_fails_sf513_naming_endpoint_and_cause(
    verified: dict[str, Any],
) -> None:
    found = findings_of(verified, "disconnected")
    assert found["SF502"]["status"] == "pass"  # running...
    message = found["SF513"]["message"]  # ...but not connected
    assert "no connection to " in message and "sqs.eu-west-3.amazonaws.com:443" in message
    assert "a proxy is set for SAGE-PROXY\\" in message  # the WinRM account
    assert "(proxy.corp.local:8080, its Internet Options)" in message
    assert "neither for WinHTTP nor for the service's account LocalSystem" in message


def test_suites_ran_through_testinfra_query_snippet(verified: dict[str, Any]) -> None:
    for host, journal in verified["journal"].items():
        names = {e["name"] for e in journal if e["kind"] == "snippet"}
        assert names == {"query", "agent_connections"}, host
        # testinfra's winrm backend probes nothing else: only our snippet is run


def test_pytest_exit_code_and_junit_reflect_failures(verified: dict[str, Any]) -> None:
    assert verified["process"].returncode == 1
    junit = (verified["out"] / "report.junit.xml").read_text()
    assert junit.count("<failure") == 8


def test_secrets_never_reach_the_report(verified: dict[str, Any]) -> None:
    for path in verified["out"].iterdir():
        assert "Sql-Canary-Passw0rd!" not in path.read_text(errors="replace"), path
    assert "Sql-Canary-Passw0rd!" not in verified["process"].stdout


def test_verify_playbook_runs_the_suites(tmp_path: Path) -> None:
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet, tmp_path / "inventory" / "hosts.yml", {"sagefleet_agent_version": "3.2.0"}
        )
        hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
        for name in hosts:
            make_deployed(fleet.host(name), name, hosts[name])
        fleet.host("sage02").stop_service("SpendeskSageAgent")
        out = tmp_path / "out"
        process = subprocess.run(
            [
                ANSIBLE_PLAYBOOK,
                "-i",
                str(inventory),
                "playbooks/verify.yml",
                "-e",
                f"sagefleet_verify_report_dir={out}",
                "-e",
                "sagefleet_verify_workers=2",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        )
    assert process.returncode != 0
    assert "verification failed" in process.stdout
    report = json.loads((out / "report.json").read_text())
    status = {h["host"]: h["status"] for h in report["hosts"]}
    assert status == {"sage01": "ready", "sage02": "blocked"}
