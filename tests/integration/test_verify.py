"""Verification suites (tests/infra) through testinfra's winrm backend against simulated hosts."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.host import ADMINISTRATORS, NETWORK_SERVICE, SYSTEM, Acl
from tests.support.deployed import make_deployed
from tests.support.fleets import ROOT, FleetFactory, next_first_address
from tests.support.scenarios import write_inventory
from tests.support.vaulted import VAULT_PASSWORD, encrypt
from tests.support.verify import deployed_inventory, run_suites, verify_playbook

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
    # settings.json written again while the agent runs (a restart that never came).
    "unread": ("healthy-onprem", "rewrite", "SF514", "before settings.json was last written"),
    # No sagefleet_agent_service_account: the account the agent runs as is kept (SF504
    # passes for NetworkService as for LocalSystem; settings.json grants it, SF508).
    "own-account": ("healthy-onprem", "account", None, None),
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
        host.fs.stat(settings).modified -= dt.timedelta(seconds=601)  # written before it
    elif how == "rewrite":
        host.fs.write(settings, host.fs.read(settings))
    elif how == "account":
        service = host.service("SpendeskSageAgent")
        assert service is not None
        service.account = "NT AUTHORITY\\NetworkService"
        granted = [ADMINISTRATORS, SYSTEM, NETWORK_SERVICE]
        host.fs.stat(settings).acl = Acl.private(ADMINISTRATORS, granted)


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
            fleet, folder / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
        )
        hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
        for name in names:
            make_deployed(fleet.host(name), name, hosts[name])
            how = CASES[name][1]
            if how:
                break_host(fleet, name, how)
        out = folder / "out"
        process = run_suites(inventory, out, "-n", "2", "--junitxml", str(out / "pytest.junit.xml"))
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
    # settings.json edited under a running agent is not read by it (SF514).
    also = {"SF506": {"SF507", "SF514"}, "SF502": {"SF513"}}.get(check or "", set())
    assert failed == ({check} | also if check else set()), (host, failed)
    if check:
        message = found[check]["message"]
        assert host in message and check in message and words in message, message


def test_every_check_ran_on_every_host(verified: dict[str, Any]) -> None:
    for host in CASES:
        assert set(findings_of(verified, host)) == {f"SF5{n:02d}" for n in range(1, 15)}


def test_each_hosts_duration_is_the_time_its_checks_took(verified: dict[str, Any]) -> None:
    # Every check queries its host over WinRM: no host is verified in 0.0 s (the report's
    # DURATION column said so for every host, unmeasured).
    for entry in verified["report"]["hosts"]:
        assert entry["duration_s"] > 0, entry["host"]


def test_without_an_account_in_the_inventory_sf504_takes_the_one_the_agent_runs_as(
    verified: dict[str, Any],
) -> None:
    """docs/verify.md said SF504 expected LocalSystem when sagefleet_agent_service_account
    is not set; unset, the account the service runs as is kept (an upgrade keeps it), and
    the table now says so."""
    for host in ("good-onprem", "own-account"):  # LocalSystem, NetworkService
        assert findings_of(verified, host)["SF504"]["status"] == "pass", host
    row = next(
        line
        for line in (ROOT / "docs" / "verify.md").read_text().splitlines()
        if line.startswith("| SF504 |")
    )
    assert "default LocalSystem" not in row, row
    assert "unset, whatever account the service runs as passes" in row, row


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
    junit = ET.parse(verified["out"] / "report.junit.xml").getroot()
    failed = [
        (c.get("classname"), c.get("name"))
        for c in junit.iter("testcase")
        if c.find("failure") is not None
    ]
    # Ten checks fail, on seven hosts; each of those hosts' outcome is "verify failed",
    # and so is the young agent's, whose SF513 could not decide yet (not verified).
    assert len([n for _, n in failed if n != "outcome"]) == 10
    assert sorted(h for h, n in failed if n == "outcome") == sorted(
        [h for h, case in CASES.items() if case[2]] + ["young"]
    )


def test_secrets_never_reach_the_report(verified: dict[str, Any]) -> None:
    for path in verified["out"].iterdir():
        assert "Sql-Canary-Passw0rd!" not in path.read_text(errors="replace"), path
    assert "Sql-Canary-Passw0rd!" not in verified["process"].stdout


def test_verify_playbook_runs_the_suites(tmp_path: Path, make_fleet: FleetFactory) -> None:
    fleet = make_fleet(2)
    inventory = deployed_inventory(fleet, tmp_path)
    fleet.host("sage02").stop_service("SpendeskSageAgent")
    out = tmp_path / "out"
    # The playbook's variables from the inventory (not only -e): its defaults rank below.
    data = yaml.safe_load(inventory.read_text())
    data["all"]["vars"].update(sagefleet_verify_report_dir=str(out), sagefleet_verify_workers=2)
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    process = verify_playbook(inventory)
    # The host whose verification failed fails in PLAY RECAP, with its reason; not the other.
    assert process.returncode == 2, process.stdout[-3000:]
    assert re.search(r"^verify-failed: \[sage02\] SF502 .*is Stopped", process.stdout, re.M), (
        process.stdout[-3000:]
    )
    recap = dict(re.findall(r"^(sage0\d)\s+:.*failed=(\d+)", process.stdout, re.M))
    assert recap == {"sage01": "0", "sage02": "1"}
    report = json.loads((out / "report.json").read_text())
    status = {h["host"]: h["status"] for h in report["hosts"]}
    assert status == {"sage01": "verified", "sage02": "verify-failed"}


@pytest.mark.parametrize("given", ["extra var", "vaulted vars file", "above the inventory"])
def test_verify_playbook_hands_the_suites_the_variables_ansible_resolved(
    tmp_path: Path, make_fleet: FleetFactory, given: str
) -> None:
    """A variable the suites read, as Ansible resolves it for the host (-e, a vaulted vars
    file), ranks above the inventory's, as deploy.yml takes it: the suites, reading only
    the inventory, reported every host verify-failed ("SF505 ... not set in the
    inventory") after a deploy whose target version came with -e."""
    inventory = deployed_inventory(make_fleet(2), tmp_path)
    if given != "above the inventory":
        data = yaml.safe_load(inventory.read_text())
        del data["all"]["vars"]["sagefleet_agent_target_version"]
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    password = tmp_path / "vault-pass"
    password.write_bytes(VAULT_PASSWORD)
    vaulted = tmp_path / "versions.yml"
    vaulted.write_text(encrypt("sagefleet_agent_target_version: '3.2.0'\n"))
    extra = {
        "extra var": ("-e", "sagefleet_agent_target_version=3.2.0"),
        "vaulted vars file": ("-e", f"@{vaulted}", "--vault-password-file", str(password)),
        "above the inventory": ("-e", "sagefleet_agent_target_version=3.1.0"),
    }[given]
    out = tmp_path / "out"
    process = verify_playbook(
        inventory, *extra, "-e", f"sagefleet_verify_report_dir={out}",
        "-e", "sagefleet_verify_workers=1",
    )  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    sf505 = {
        h["host"]: next(f for f in h["findings"] if f["check_id"] == "SF505")
        for h in report["hosts"]
    }
    if given == "above the inventory":  # the deployed 3.2.0 is not what -e asks for
        assert process.returncode == 2, process.stdout[-3000:]
        assert {h: f["status"] for h, f in sf505.items()} == {"sage01": "fail", "sage02": "fail"}
        assert all(f["message"].endswith("is 3.2.0, expected 3.1.0") for f in sf505.values())
        return
    assert process.returncode == 0, process.stdout[-3000:]
    assert {h["host"]: h["status"] for h in report["hosts"]} == {
        "sage01": "verified",
        "sage02": "verified",
    }
    assert {h: f["status"] for h, f in sf505.items()} == {"sage01": "pass", "sage02": "pass"}


def test_a_value_only_a_play_templates_reaches_the_suites_as_the_run_templates_it(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    """The target version the inventory gives with ansible_play_hosts, which only a play
    defines: the suites, which cannot template it, take the playbook's value (sagefleet
    validate says the run checks it); run by hand, they refuse it naming host and field."""
    inventory = deployed_inventory(make_fleet(2), tmp_path)
    data = yaml.safe_load(inventory.read_text())
    version = "{{ '3.2.0' if ansible_play_hosts else '' }}"
    data["all"]["vars"]["sagefleet_agent_target_version"] = version
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    process = verify_playbook(
        inventory, "-e", f"sagefleet_verify_report_dir={out}", "-e", "sagefleet_verify_workers=1"
    )
    assert process.returncode == 0, process.stdout[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert {h["host"]: h["status"] for h in report["hosts"]} == {
        "sage01": "verified",
        "sage02": "verified",
    }
    by_hand = run_suites(inventory, tmp_path / "by-hand")
    assert by_hand.returncode != 0
    assert (
        "host sage01, field sagefleet_agent_target_version: uses ansible_play_hosts, which "
        "Ansible defines only in a play: the playbook running the suites hands it over "
        "(verify.yml, a deploy's waves)"
    ) in by_hand.stdout + by_hand.stderr, by_hand.stdout + by_hand.stderr


def test_verify_playbook_never_shows_another_runs_report(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    """A run whose suites stop before writing a report says so, fails every host with the
    reason, and shows neither the report left in an explicit folder nor the latest one."""
    inventory = deployed_inventory(make_fleet(2), tmp_path)

    def verify(*extra: str) -> subprocess.CompletedProcess[str]:
        return verify_playbook(inventory, "-e", "sagefleet_verify_workers=1", *extra)

    reports = ("-e", f"sagefleet_report_dir={tmp_path / 'reports'}")
    good = verify(*reports)
    assert good.returncode == 0, good.stdout[-3000:]
    job = tmp_path / "reports" / "inventory" / "verify"
    latest = os.readlink(job / "latest")
    empty = tmp_path / "suites-without-tests"
    empty.mkdir()
    broken = ("-e", f"sagefleet_verify_suites={empty}")
    stale = tmp_path / "explicit"
    stale.mkdir()
    (stale / "report.json").write_text('{"hosts": []}')
    (stale / "report.txt").write_text("A REPORT OF ANOTHER RUN")
    old = time.time() - 3600
    for path in stale.iterdir():
        os.utime(path, (old, old))
    for run in (
        verify(*reports, *broken),
        verify(*broken, "-e", f"sagefleet_verify_report_dir={stale}"),
    ):
        assert run.returncode == 2, run.stdout[-3000:]
        # No test ran, in pytest's code and in sagefleet_verify's words.
        assert (
            "verification wrote no report (pytest rc 5): no verification test was collected"
            in run.stdout
        )
        assert "A REPORT OF ANOTHER RUN" not in run.stdout
        assert "sagefleet verify" not in run.stdout  # no report table at all
        assert "[sagefleet] this run wrote no report" in run.stdout
        failed = dict(re.findall(r"^(sage0\d)\s+:.*failed=(\d+)", run.stdout, re.M))
        assert failed == {"sage01": "1", "sage02": "1"}
    assert os.readlink(job / "latest") == latest
    assert [p.name for p in job.iterdir() if p.name != "latest"] == [latest]


@pytest.mark.parametrize("case", ["suites", "report folder"])
def test_a_folder_the_bastion_lacks_is_refused_not_failed_on_every_host(
    tmp_path: Path, make_fleet: FleetFactory, case: str
) -> None:
    """A misspelt sagefleet_verify_suites made pytest collect nothing, and every host was
    reported verify-failed for it; a report folder the bastion could not write stopped
    the run with a bare errno. Both are refused, naming the variable, before any host."""
    fleet = make_fleet(2)
    inventory = deployed_inventory(fleet, tmp_path)
    before = {name: fleet.listeners[name].stats.requests for name in ("sage01", "sage02")}
    missing = tmp_path / "no-such-suites"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    given, expected = {
        "suites": (
            f"sagefleet_verify_suites={missing}",
            "invalid input, host not contacted: field sagefleet_verify_suites: no such folder "
            "on the bastion",
        ),
        "report folder": (
            f"sagefleet_verify_report_dir={a_file / 'out'}",
            f"field sagefleet_verify_report_dir: the bastion cannot write there ({a_file} is "
            "not a folder)",
        ),
    }[case]
    run = verify_playbook(
        inventory, "-e", given, "-e", f"sagefleet_report_dir={tmp_path / 'reports'}"
    )
    assert run.returncode == 2, run.stdout[-3000:]
    said = " ".join(run.stdout.split())
    assert expected in said, said[-3000:]
    if case == "suites":
        assert f"(value: '{missing}')" in said and "sagefleet_verify_suites in verify.yml" in said
    assert "verify-failed" not in run.stdout and "no verification test" not in run.stdout
    assert {n: fleet.listeners[n].stats.requests for n in before} == before


def test_a_failure_no_hosts_check_explains_still_fails_verify(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_mixed.py").write_text(
        "import pytest\n\n\n"
        "@pytest.mark.sagefleet_check('SF590', 'Agent service exists')\n"
        "def test_agent_exists(windows, expected):\n"
        "    assert windows.service(expected.service_name).exists\n\n\n"
        "def test_outside_any_host():\n"
        "    assert False, 'a helper of the suites is broken'\n"
    )
    inventory = deployed_inventory(make_fleet(1), tmp_path)
    process = verify_playbook(
        inventory,
        "-e",
        f"sagefleet_verify_suites={suites}",
        "-e",
        f"sagefleet_report_dir={tmp_path / 'reports'}",
        "-e",
        "sagefleet_verify_workers=1",
    )
    assert process.returncode == 2, process.stdout[-3000:]
    assert "the verification suites failed (pytest rc 1) although every host's checks" in (
        process.stdout
    )


def test_verify_playbook_takes_a_limit_file_as_ansible_does(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    """`--limit @hosts.txt`: the suites verify the hosts the play selected, no other."""
    inventory = deployed_inventory(make_fleet(2), tmp_path)
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("sage02\n")
    out = tmp_path / "out"
    process = verify_playbook(
        inventory,
        "--limit",
        f"@{hosts}",
        "-e",
        f"sagefleet_verify_report_dir={out}",
        "-e",
        "sagefleet_verify_workers=1",  # one host; the unreachable tests below take the default
    )
    assert process.returncode == 0, process.stdout[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert {h["host"]: h["status"] for h in report["hosts"]} == {"sage02": "verified"}


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("down", "cannot connect to 127."),
        # HTTP 500 with a WS-Management fault on every command: deploy.yml's host is
        # unreachable; verify.yml counted each check failed, with pywinrm's exception.
        ("internal", "WinRM error: "),
        ("timeout", "the WinRM service did not complete the operation in time"),
    ],
)
def test_an_unreachable_hosts_checks_are_unknown_and_a_check_that_does_not_apply_is_said(
    tmp_path: Path, make_fleet: FleetFactory, fault: str, cause: str
) -> None:
    """Checks that could not run are not failures (nor passes): a host down, or whose
    WinRM service answers every command with a fault, is unreachable, its WinRM error
    named; and SF511 (SPC hosts only) is not applicable on an on-premise host, never a
    pass."""
    fleet = make_fleet(2)
    inventory = deployed_inventory(fleet, tmp_path)
    if fault == "down":
        fleet.host_down("sage02")
    else:
        fleet.faults("sage02").set(fault_at="Command", fault_times="always", fault_code=fault)
    out = tmp_path / "out"
    process = verify_playbook(
        inventory, "-e", f"sagefleet_verify_report_dir={out}", "-e", "sagefleet_verify_workers=1"
    )
    assert process.returncode == 4, process.stdout[-3000:]
    report = json.loads((out / "report.json").read_text())
    hosts = {h["host"]: h for h in report["hosts"]}
    assert hosts["sage02"]["status"] == "unreachable", hosts["sage02"]
    assert f"unreachable: [sage02] {cause}" in process.stdout, process.stdout[-3000:]
    assert "winrm.exceptions" not in process.stdout
    down = {f["check_id"]: f["status"] for f in hosts["sage02"]["findings"]}
    # SF511 needs only the inventory (the host's edition) to say it does not apply.
    assert down.pop("SF511") == "not_applicable"
    assert down and set(down.values()) == {"unknown"}, down
    assert report["failures_by_check"] == {} or all(
        "sage02" not in str(v) for v in report["failures_by_check"].values()
    )
    up = {f["check_id"]: f["status"] for f in hosts["sage01"]["findings"]}
    assert up["SF511"] == "not_applicable" and hosts["sage01"]["status"] == "verified"


def refused_before_any_host(
    tmp_path: Path, make_fleet: FleetFactory, edit: Callable[[dict[str, Any]], None]
) -> str:
    """verify.yml on a fleet whose inventory ``edit`` changed (sage02's variables): it
    refuses the input as deploy.yml does, before the suites start, exits 2, contacts no
    host, marks none verify-failed and opens no report folder; its output, on one line."""
    fleet = make_fleet(2)
    inventory = deployed_inventory(fleet, tmp_path)
    data = yaml.safe_load(inventory.read_text())
    edit(data["all"]["children"]["sage_servers"]["hosts"]["sage02"])
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    before = {name: fleet.listeners[name].stats.requests for name in ("sage01", "sage02")}
    process = verify_playbook(
        inventory,
        "-e", "sagefleet_verify_workers=1",
        "-e", f"sagefleet_report_dir={tmp_path / 'reports'}",
    )  # fmt: skip
    assert process.returncode == 2, process.stdout[-3000:]
    assert {n: fleet.listeners[n].stats.requests for n in before} == before  # none contacted
    said = " ".join(process.stdout.split())
    # The input is refused, whose fault it is; not every host verify-failed for it.
    assert "input refused for 1 of 2 host(s) checked: sage02" in said, said[-3000:]
    assert "verify-failed" not in said and "verification wrote no report" not in said
    assert not (tmp_path / "reports").exists()  # no run folder, no latest moved
    return said


def test_a_bad_entity_is_said_whole_before_any_host_is_verified(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    said = refused_before_any_host(
        tmp_path, make_fleet, lambda host: host["sagefleet_entities"][0].pop("company_code")
    )
    assert "host sage02, entity" in said and "field company_code" in said


def test_an_entity_value_is_refused_naming_host_entity_field_and_value(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    """A value one host's entity gets wrong: refused for that host alone, in the words
    deploy.yml and settings.yml use, not every host verify-failed with "the suites could
    not start"."""
    said = refused_before_any_host(
        tmp_path,
        make_fleet,
        lambda host: host["sagefleet_entities"][0].update(analytic_plan="abc"),
    )
    assert (
        "1 input error(s); no host was contacted: - host sage02, entity BIJOU, field "
        "analytic_plan: must be a whole number from 1 to 99" in said
    ), said[-3000:]
    assert "(value: 'abc'). Fix: write the number without quotes" in said


def test_a_misspelt_variable_is_refused_before_any_host_is_verified(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    """sagefleet_agent_target_verison would leave SF505 without a target, unseen."""
    said = refused_before_any_host(
        tmp_path, make_fleet, lambda host: host.update(sagefleet_agent_target_verison="3.2.0")
    )
    assert (
        "host sage02, field sagefleet_agent_target_verison: not a sagefleet variable, so not "
        "read (a slip of sagefleet_agent_target_version?)" in said
    ), said[-3000:]
