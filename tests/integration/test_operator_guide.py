"""docs/operator-guide.md, step by step, against a simulated fleet.

Every ```sh title="step"``` block of the guide is run as written, in order,
with bash from the root of a copy of the checkout (the guide writes reports/
there, as it would on a bastion), with INVENTORY, PACKAGE and
VAULT_PASSWORD_FILE set and the virtualenv's bin first on PATH. A block exits
0 unless it says ``# expect: N``. A ```powershell title="server <host>"```
block is what the operator runs by hand on a Windows server: the test does
the same on the simulated host (the collector's embedded facts script,
through WinRM) and puts the file where the operator copies it back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet import offline, snippets
from sagefleet.package import build_test_package
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import ROOT, next_first_address, session_for
from tests.support.scenarios import entities_for, write_inventory

GUIDE = ROOT / "docs" / "operator-guide.md"
BIN = Path(sys.executable).parent
NOT_IN_PROJECT = shutil.ignore_patterns(
    ".git", ".venv*", ".sagefleet", "reports", "__pycache__", ".*_cache", ".hypothesis",
    ".ansible", "context", "*.egg-info",
)
# The example client of the guide: host -> (simulator profile, Windows name).
HOSTS = {
    "sage-bijou-01": ("healthy-onprem", "SAGE-BIJOU-01"),
    "sage-bijou-02": ("agent-old", "SAGE-BIJOU-02"),
    "sage-bijou-03": ("dotnet-472", "SAGE-BIJOU-03"),
}
SQL_SECRET = "Sql-Canary-Passw0rd!"
BLOCK = re.compile(r'^```(\w+)(?: title="([^"]*)")?\n(.*?)^```$', re.M | re.S)


@dataclass
class Block:
    language: str
    title: str
    text: str
    line: int

    @property
    def expected_rc(self) -> int:
        match = re.search(r"#\s*expect:\s*(\d+)", self.text)
        return int(match.group(1)) if match else 0


def guide_blocks() -> list[Block]:
    text = GUIDE.read_text(encoding="utf-8")
    return [
        Block(m.group(1), m.group(2) or "", m.group(3), text.count("\n", 0, m.start()) + 1)
        for m in BLOCK.finditer(text)
    ]


def run_blocks() -> list[Block]:
    """What the test executes: the steps and the by-hand server blocks."""
    return [
        b for b in guide_blocks()
        if (b.language == "sh" and b.title == "step")
        or (b.language == "powershell" and b.title.startswith("server "))
    ]


def client_inventory(fleet: Fleet, folder: Path, vault_password_file: Path) -> Path:
    """The example's layout for the simulated servers: group bijou, vault, CA in files/."""
    generated = yaml.safe_load(write_inventory(fleet, folder / "generated.yml").read_text())
    (folder / "generated.yml").unlink()
    hosts = generated["all"]["children"]["sage_servers"]["hosts"]
    connection = generated["all"]["vars"]
    (folder / "files").mkdir(parents=True)
    ca = folder / "files" / "bijou-winrm-ca.pem"
    shutil.copy(connection.pop("ansible_winrm_ca_trust_path"), ca)
    first = next(iter(hosts.values()))
    inventory_hosts: dict[str, Any] = {}
    for name, hv in hosts.items():
        inventory_hosts[name] = {
            "ansible_host": hv["ansible_host"], "ansible_port": hv["ansible_port"]
        }
        entities = hv["sagefleet_entities"]
        for entity in entities:
            assert entity["sql_password"] == SQL_SECRET
            entity["sql_password"] = "{{ sagefleet_sql_password_bijou }}"
            # The connection's settings.json from the vendor, in files/ as the guide says.
            vendor = folder / "files" / f"{name}-{entity['company_code']}.settings.json"
            vendor.write_text(json.dumps(entity["vendor_settings"], indent=4), encoding="utf-8")
            entity["vendor_settings"] = "{{ inventory_dir }}/files/" + vendor.name
        write_yaml(folder / "host_vars" / f"{name}.yml", {"sagefleet_entities": entities})
    write_yaml(folder / "hosts.yml", {"all": {"children": {"sage_servers": {"children": {
        "bijou": {"hosts": inventory_hosts}}}}}})
    write_yaml(folder / "group_vars" / "bijou" / "vars.yml", {
        **connection,
        "ansible_port": 5986,
        "ansible_winrm_scheme": "https",
        "ansible_winrm_ca_trust_path": "{{ inventory_dir }}/files/bijou-winrm-ca.pem",
        "ansible_user": first["ansible_user"],
        "ansible_password": "{{ sagefleet_vault_winrm_password }}",
        "sagefleet_sql_password_bijou": "{{ sagefleet_vault_sql_password_bijou }}",
        "sagefleet_agent_target_version": "3.2.0",
        # One suite worker, as the other verify tests give it: verify.yml's default, 4
        # xdist workers for one or two hosts, starts four interpreters that the steps do
        # not need (test_verify and test_vault_everywhere run the suites on 2 workers).
        "sagefleet_verify_workers": 1,
    })
    vault = folder / "group_vars" / "bijou" / "vault.yml"
    write_yaml(vault, {
        "sagefleet_vault_winrm_password": first["ansible_password"],
        "sagefleet_vault_sql_password_bijou": SQL_SECRET,
    })
    subprocess.run(
        [str(BIN / "ansible-vault"), "encrypt", "--vault-password-file",
         str(vault_password_file), str(vault)],
        check=True, capture_output=True, cwd=folder,
    )
    assert SQL_SECRET not in vault.read_text()
    return folder


def write_yaml(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n" + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def on_the_server(fleet: Fleet, workdir: Path, block: Block) -> str:
    """The operator runs collect.ps1 on the server and copies its file back to reports/offline."""
    host = block.title.removeprefix("server ").strip()
    assert "collect.ps1" in block.text
    collector = (workdir / "reports" / "offline" / "collect.ps1").read_text(encoding="utf-8")
    embedded = snippets.parse(offline.embedded_script(collector))
    assert embedded is not None and embedded.name == "facts"
    with session_for(fleet, host) as session:
        document = session.run_snippet("facts", embedded.params)
    computer = document["host"]["hostname"]
    out = workdir / "reports" / "offline" / f"sagefleet-facts-{computer}.json"
    out.write_text(json.dumps(document), encoding="utf-8")
    return f"collected {out.name}"


@dataclass
class Walk:
    fleet: Fleet
    workdir: Path
    results: list[tuple[Block, int, str]]
    durations: dict[int, float]


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    folder = tmp_path_factory.mktemp("guide")
    workdir = folder / "sagefleet"
    shutil.copytree(ROOT, workdir, ignore=NOT_IN_PROJECT, symlinks=True)
    names = list(HOSTS)
    specs = generate_specs(
        len(names), profiles=[HOSTS[n][0] for n in names],
        first_address=next_first_address(), port=0,
    )
    for spec, name in zip(specs, names, strict=True):
        spec.name = name
        spec.overrides = {"hostname": HOSTS[name][1]}
    secrets_dir = folder / "secrets"
    secrets_dir.mkdir(mode=0o700)
    vault_password_file = secrets_dir / "bijou.vault-pass"
    vault_password_file.write_text("guide-vault-password\n")
    vault_password_file.chmod(0o600)
    package = build_test_package(folder / "packages" / "Setup.zip", agent_version="3.2.0")
    with Fleet(specs, folder / "fleet") as fleet:
        client_inventory(fleet, workdir / "inventory" / "bijou", vault_password_file)
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "INVENTORY": "inventory/bijou",
            "PACKAGE": str(package),
            "VAULT_PASSWORD_FILE": str(vault_password_file),
            "ANSIBLE_NOCOLOR": "1",
        }
        env.pop("ANSIBLE_CONFIG", None)
        results: list[tuple[Block, int, str]] = []
        durations: dict[int, float] = {}
        for block in run_blocks():
            if block.language == "powershell":
                results.append((block, 0, on_the_server(fleet, workdir, block)))
                continue
            started = time.monotonic()
            process = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.text],
                cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
            )
            output = process.stdout + process.stderr
            durations[block.line] = time.monotonic() - started
            results.append((block, process.returncode, output))
            if process.returncode != block.expected_rc:
                break  # the next steps build on this one
        yield Walk(fleet, workdir, results, durations)


def test_guide_shows_steps_for_every_stage() -> None:
    steps = "\n".join(b.text for b in run_blocks())
    for needed in (
        "playbooks/preflight.yml", "playbooks/discover.yml", "playbooks/deploy.yml",
        "playbooks/verify.yml", "playbooks/diagnose.yml", "sagefleet facts-script",
        "sagefleet checks --facts", "--check --diff", "--limit sage-bijou-01",
        '{"sagefleet_deploy_waves": [1]}', "fail_on_blocked=true", "sagefleet selftest",
        "sagefleet validate -i", "sagefleet settings validate -i", "--format json --out -",
    ):
        assert needed in steps, needed
    # Steps use the variables the guide sets, never a machine's own paths.
    assert not re.search(r"(?<![\w$.])/(home|tmp|root|work)/", steps)
    assert "$INVENTORY" in steps and "$PACKAGE" in steps and "$VAULT_PASSWORD_FILE" in steps


def test_every_step_exits_as_the_guide_says(walk: Walk) -> None:
    for block, rc, output in walk.results:
        assert rc == block.expected_rc, (
            f"docs/operator-guide.md line {block.line}: exit {rc}, expected "
            f"{block.expected_rc}\n{block.text}\n--- output ---\n{output[-4000:]}"
        )
    assert len(walk.results) == len(run_blocks())


def test_the_walk_upgraded_the_fleet_and_skipped_the_blocked_host(walk: Walk) -> None:
    for name in ("sage-bijou-01", "sage-bijou-02"):
        host = walk.fleet.host(name)
        service = host.service("SpendeskSageAgent")
        assert service is not None and service.state == "Running", name
        assert host.fs.stat(service.executable).product_version == "3.2.0", name
    assert walk.fleet.host("sage-bijou-03").service("SpendeskSageAgent") is None
    deploy = json.loads(
        (walk.workdir / "reports" / "bijou" / "deploy" / "latest" / "report.json").read_text()
    )
    assert {h["host"]: h["status"] for h in deploy["hosts"]} == {
        "sage-bijou-01": "unchanged",
        "sage-bijou-02": "upgraded",
        "sage-bijou-03": "blocked",
    }


def test_the_reports_the_guide_points_at_exist(walk: Walk) -> None:
    reports = walk.workdir / "reports"
    # The fleet's last preflight.yml run (doctor's troubleshooting run came after it).
    runs = sorted(p for p in (reports / "bijou" / "preflight").iterdir() if p.name != "latest")
    preflight = json.loads((runs[-2] / "report.json").read_text())
    assert preflight["title"] == "sagefleet preflight"
    status = {h["host"]: h["status"] for h in preflight["hosts"]}
    assert status["sage-bijou-03"] == "blocked"
    offline_report = json.loads((reports / "offline" / "report.json").read_text())
    assert offline_report["hosts"][0]["status"] == "blocked"
    assert sorted(p.name for p in (reports / "discover" / "bijou").iterdir()) == sorted(
        f"{n}{suffix}" for n in HOSTS for suffix in (".yml", ".vault.yml")
    )
    assert list((reports / "diagnose").glob("sage-bijou-02-*.zip"))
    verify = json.loads((reports / "bijou" / "verify" / "latest" / "report.json").read_text())
    assert {h["host"]: h["status"] for h in verify["hosts"]} == {
        "sage-bijou-01": "verified",
        "sage-bijou-02": "verified",
    }
    # One folder per run: the guide ran preflight twice (and doctor once, whose reports are
    # preflight reports), deploy three times, verify twice.
    runs = {
        job: [p for p in (reports / "bijou" / job).iterdir() if p.name != "latest"]
        for job in ("preflight", "deploy", "verify")
    }
    assert {job: len(found) for job, found in runs.items()} == {
        "preflight": 3,
        "deploy": 3,
        "verify": 2,
    }
    doctor = json.loads((walk.workdir / "sage-bijou-01.json").read_text())
    assert [h["host"] for h in doctor["hosts"]] == ["sage-bijou-01"]
    newest = json.loads((reports / "bijou" / "preflight" / "latest" / "report.json").read_text())
    assert newest["title"] == "sagefleet doctor"
    assert [h["host"] for h in newest["hosts"]] == ["sage-bijou-01"]


def test_secrets_never_reach_the_output(walk: Walk) -> None:
    for block, _, output in walk.results:
        assert SQL_SECRET not in output, f"line {block.line}"


def test_discovered_entities_match_the_servers(walk: Walk) -> None:
    for name, (profile, _) in HOSTS.items():
        draft = yaml.safe_load(
            (walk.workdir / "reports" / "discover" / "bijou" / f"{name}.yml").read_text()
        )
        found = {e["mae_path"] for e in draft["sagefleet_entities"]}
        assert found == {e["mae_path"] for e in entities_for(profile)}


def test_no_step_warns(walk: Walk) -> None:
    """A clean walk: no Ansible warning (an inventory file Ansible cannot parse, a plugin)."""
    for block, _, output in walk.results:
        warnings = [line for line in output.splitlines() if "[WARNING]" in line]
        assert not warnings, f"line {block.line}: {warnings}"
