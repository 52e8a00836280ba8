"""`sagefleet agent learn` on a simulated reference install, then the fleet run with the
learned profile: preflight, verify and deploy find the agent by what was learned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.agent import profile as agent_profile
from sagefleet.cli import main
from sagefleet.deploy import deploy_host
from sagefleet.inventory import load
from sagefleet.package import build_test_package, inspect
from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.host import SYSTEM, Acl, Service, WindowsHost
from tests.support.fleets import ROOT, next_first_address, session_for
from tests.support.scenarios import write_inventory
from tests.support.verify import run_suites

pytestmark = pytest.mark.integration

FOLDER = "C:\\Program Files (x86)\\Spendesk\\Sage 100 Agent"
SECRETS = ("Sql-Canary-Passw0rd!", "Sage-Canary-Passw0rd!")


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[tuple[Fleet, Path]]:
    """One server where the agent was installed by the vendor's wizard, and its inventory."""
    specs = generate_specs(
        1, profiles=("reference-install",), first_address=next_first_address(), port=0
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet, tmp_path / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.1.0"}
        )
        yield fleet, inventory


def learn(
    inventory: Path, capsys: pytest.CaptureFixture[str], *options: str
) -> tuple[int, str, str]:
    rc = main(["agent", "learn", "-i", str(inventory), "-l", "sage01", *options])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def state_of(host: WindowsHost) -> tuple[Any, ...]:
    files = {k: (e.size, e.data) for k, e in host.fs.entries.items()}
    services = {k: (s.state, s.account, s.start_mode) for k, s in host.services.items()}
    return files, services


def with_vars(inventory: Path, **variables: Any) -> None:
    """Set inventory variables for every host (the inventory's `all` vars)."""
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    data["all"]["vars"].update(variables)
    inventory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_an_agent_the_lookup_cannot_find_is_one_line_naming_what_was_tried(
    reference: tuple[Fleet, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, inventory = reference
    rc, out, err = learn(inventory, capsys)
    assert rc == 1 and out == ""
    (line,) = err.strip().splitlines()
    assert "no agent service found" in line and "'SpendeskSageAgent'" in line
    assert "--service NAME" in line and "--display-name-pattern" in line


def test_learn_writes_the_reference_install_as_a_profile_without_a_secret(
    reference: tuple[Fleet, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, inventory = reference
    target = tmp_path / "inventory" / "agent-profile.yml"
    host = fleet.host("sage01")
    before = state_of(host)
    rc, out, err = learn(
        inventory, capsys, "--display-name-pattern", "^Spendesk", "-o", str(target)
    )
    assert rc == 0, err
    assert "service SpendeskSage100Agent (CORP\\svc-sage-agent)" in err and "inno" in err
    text = target.read_text(encoding="utf-8")
    for secret in SECRETS:
        assert secret not in text + out + err
    profile = agent_profile.load(str(target))
    assert profile.learned_from is not None and profile.learned_from["host"] == "sage01"
    assert (profile.service_name, profile.install_dir) == ("SpendeskSage100Agent", FOLDER)
    assert profile.merge_keys == (agent_profile.MergeKey("Connections", "CompanyName"),)
    assert profile.section("uninstall")["quiet_uninstall_string"].endswith('unins000.exe" /SILENT')
    assert not profile.is_assumed("service.name") and not profile.is_assumed("installer")
    # Read-only: the host ran one snippet, and nothing on it changed.
    ran = [e["name"] for e in host.journal if e["kind"] == "snippet"]
    assert ran == ["agent_learn"]
    assert state_of(host) == before


def test_the_learned_profile_lets_preflight_find_the_agent(
    reference: tuple[Fleet, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, inventory = reference
    rc, _, err = learn(
        inventory,
        capsys,
        "--service",
        "SpendeskSage100Agent",
        "-o",
        str(inventory.parent / "agent-profile.yml"),
    )
    assert rc == 0, err
    out = tmp_path / "doctor"

    def sf403() -> dict[str, Any]:
        assert main(["doctor", "-i", str(inventory), "--out", str(out), "--format", "json"]) == 0
        capsys.readouterr()
        report = json.loads((out / "report.json").read_text())
        return next(f for f in report["hosts"][0]["findings"] if f["check_id"] == "SF403")

    assert sf403()["observed"]["installed"] is False  # the shipped profile's guess
    with_vars(inventory, sagefleet_agent_profile="agent-profile.yml")  # relative to it
    found = sf403()
    assert found["observed"]["installed"] is True
    assert (found["observed"]["version"], found["observed"]["account"]) == (
        "3.1.0",
        "CORP\\svc-sage-agent",
    )


def test_verify_finds_the_agent_through_the_profile_only(
    reference: tuple[Fleet, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, inventory = reference
    assert (
        learn(
            inventory,
            capsys,
            "--service",
            "SpendeskSage100Agent",
            "-o",
            str(inventory.parent / "agent-profile.yml"),
        )[0]
        == 0
    )

    def verify() -> dict[str, str]:
        out = tmp_path / "verify"
        run_suites(inventory, out, suites="tests/infra/test_agent.py")
        report = json.loads((out / "report.json").read_text())
        return {f["check_id"]: f["status"] for f in report["hosts"][0]["findings"]}

    assert verify()["SF501"] == "fail"  # the shipped profile looks for another service
    with_vars(inventory, sagefleet_agent_profile="agent-profile.yml")
    assert verify() == {c: "pass" for c in ("SF501", "SF502", "SF503", "SF504", "SF505")}


def test_deploy_plans_an_upgrade_of_the_service_the_profile_finds(
    reference: tuple[Fleet, Path], tmp_path: Path
) -> None:
    fleet, inventory = reference
    package = inspect(build_test_package(tmp_path / "Setup.zip", agent_version="3.2.0"))
    (host,) = load([inventory])
    target = {**host.variables, "sagefleet_agent_target_version": "3.2.0"}
    pattern = tmp_path / "pattern.yml"
    data = agent_profile.default().to_dict()
    # A release that renamed its service: found by its program's path, no name given.
    data["service"].update(name=None, image_path_pattern=r"\\Spendesk\.Sage100\.Agent\.exe")
    data["install"]["dir"] = FOLDER
    pattern.write_text(yaml.safe_dump(data), encoding="utf-8")
    plans = {}
    for label, variables in (
        ("shipped", target),
        ("pattern", {**target, "sagefleet_agent_profile": str(pattern)}),
    ):
        with session_for(fleet, "sage01") as session:
            result = deploy_host(session, "sage01", variables, package, check_mode=True)
        plans[label] = (result.outcome, result.plan)
        if label == "shipped":
            assert "SF405" in (result.reason or ""), result.reason
    # The shipped profile does not describe the wizard's install: no second agent (SF405).
    outcome, plan = plans["shipped"]
    assert outcome == "blocked" and plan == "", plan
    outcome, plan = plans["pattern"]
    assert outcome == "planned" and plan.startswith("upgrade 3.1.0 → 3.2.0 (v11.0)")
    # The reference install's settings.json holds members the entities' vendor files lack
    # (what its installer added): the upgrade keeps them and says so.
    assert "only the current file had, kept: " in plan and "ServiceAccount" in plan
    # A second service matching the pattern: deploy never guesses between them.
    fleet.host("sage01").install_service(
        Service(name="SpendeskSage100AgentOld", binary_path='"D:\\Old\\Spendesk.Sage100.Agent.exe"')
    )
    with session_for(fleet, "sage01") as session:
        result = deploy_host(
            session, "sage01", {**target, "sagefleet_agent_profile": str(pattern)}, package
        )
    assert result.outcome == "blocked" and not result.changed
    assert "SpendeskSage100Agent, SpendeskSage100AgentOld" in (result.reason or "")


def test_a_folder_the_winrm_account_may_not_list_fails_the_run_and_is_named(
    reference: tuple[Fleet, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The install's Logs folder grants SYSTEM only: its files are not learned, and the run
    says so (a note naming the folder and Windows' reason, install.files assumed, exit 1),
    never a folder read as empty. The profile of what could be read is still written."""
    fleet, inventory = reference
    logs = FOLDER + "\\Logs"
    fleet.host("sage01").fs.set_acl(logs, Acl.private(SYSTEM, [SYSTEM], folder=True))
    target = tmp_path / "inventory" / "agent-profile.yml"
    rc, _, err = learn(inventory, capsys, "--display-name-pattern", "^Spendesk", "-o", str(target))
    said = " ".join(err.split())
    assert rc == 1, err
    assert f"note: {logs} could not be listed as the WinRM account (Access to the path" in said
    assert said.endswith(
        "sagefleet: error: sage01: the reference install was not read whole: 1 folder(s) "
        "could not be listed as the WinRM account (see the notes); the profile written leaves "
        "install.files assumed"
    ), err
    profile = agent_profile.load(str(target))
    assert profile.is_assumed("install.files")


def test_an_unreachable_reference_host_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = generate_specs(
        1, profiles=("reference-install",), first_address=next_first_address(), port=0
    )
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
    rc, _, err = learn(inventory, capsys, "--service", "SpendeskSage100Agent")
    # 4, as doctor and selftest: the host was tried (2 says it was not contacted).
    assert rc == 4
    (line,) = err.strip().splitlines()
    assert line.startswith("sagefleet: error: sage01: unreachable: "), line


def test_the_exit_codes_the_doc_gives_are_the_ones_it_exits_with(
    reference: tuple[Fleet, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/agent-profile.md quotes each error line and its code: a host that answered but
    cannot run the snippet (Constrained Language Mode) is 1, one refusing the credentials
    (as one not answering) is 4."""
    fleet, inventory = reference
    doc = " ".join((ROOT / "docs" / "agent-profile.md").read_text(encoding="utf-8").split())
    fleet.host("sage01").language_mode = "ConstrainedLanguage"
    rc, _, err = learn(inventory, capsys, "--service", "SpendeskSage100Agent")
    said = "sagefleet: error: sage01: cannot read the reference install (language_mode): "
    assert rc == 1 and err.startswith(said), err
    quoted = said.replace("sage01", "sage-ref-01")
    assert "1 no single service matched" in doc and f"`{quoted}...`" in doc
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    data["all"]["children"]["sage_servers"]["hosts"]["sage01"]["ansible_password"] = "wrong"
    inventory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    rc, _, err = learn(inventory, capsys, "--service", "SpendeskSage100Agent")
    said = "sagefleet: error: sage01: unreachable: "
    assert rc == 4 and err.startswith(said), err
    quoted = said.replace("sage01", "sage-ref-01")
    assert f"4 the host could not be reached or refused the credentials (`{quoted}...`" in doc
