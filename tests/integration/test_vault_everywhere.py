"""Vault everywhere an inventory is read, as Ansible users expect it.

One simulated fleet whose WinRM passwords live only in vault-encrypted
host_vars files. Every entry point opens that vault with ansible-playbook's
options (--vault-password-file, --vault-id LABEL@FILE, --ask-vault-pass,
ANSIBLE_VAULT_PASSWORD_FILE); the playbooks that start the testinfra suites
(verify.yml, deploy's per-wave check) hand their own secrets over, with no second
variable; and a vault that does not open is one line, with no traceback and no
report folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sagefleet.package import build_test_package
from sagefleet.settings import MASK, redact
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.deploy import outcomes
from tests.support.deployed import make_deployed
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT, next_first_address
from tests.support.scenarios import write_inventory
from tests.support.vaulted import vault_the_passwords

BIN = Path(sys.executable).parent
SAGEFLEET = [sys.executable, "-m", "sagefleet"]


def run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", **env},
    )


def one_clear_line(process: subprocess.CompletedProcess[str]) -> str:
    """The error of a run that stopped on a vault problem: one line, no traceback."""
    assert process.returncode != 0, process.stdout[-2000:]
    text = process.stdout + process.stderr
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in process.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, process.stderr
    return errors[0]


@pytest.fixture(scope="module")
def vaulted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path, Path]]:
    """A deployed two-host fleet, its inventory (WinRM passwords in the vault only)
    and the vault password file."""
    folder = tmp_path_factory.mktemp("vault")
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, folder / "fleet") as fleet:
        inventory = write_inventory(
            fleet, folder / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
        )
        hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
        for name in hosts:
            make_deployed(fleet.host(name), name, hosts[name])
        password_file = vault_the_passwords(inventory)
        assert "ansible_password" not in inventory.read_text()
        yield fleet, inventory, password_file


def test_doctor_opens_the_vault_with_each_of_ansibles_ways(
    vaulted: tuple[Fleet, Path, Path], tmp_path: Path
) -> None:
    _, inventory, password_file = vaulted
    base = [*SAGEFLEET, "doctor", "-i", str(inventory), "--format", "json", "--out", "-"]
    for how, extra, env in (
        ("password file", ["--vault-password-file", str(password_file)], {}),
        ("vault id", ["--vault-id", f"client@{password_file}"], {}),
        ("environment", [], {"ANSIBLE_VAULT_PASSWORD_FILE": str(password_file)}),
    ):
        process = run([*base, *extra], **env)
        assert process.returncode == 0, (how, process.stderr[-2000:])
        report = json.loads(process.stdout)  # the report, and nothing else, on stdout
        assert {h["host"] for h in report["hosts"]} == {"sage01", "sage02"}, how
        assert all(h["status"] != "unreachable" for h in report["hosts"]), (how, report)
    assert not (ROOT / "-").exists()
    # --lang: the reports in French whatever the inventory says (it says nothing: English).
    vault = ["--vault-password-file", str(password_file)]
    for lang, words in (("fr", "Généré le"), ("en", "Generated")):
        process = run(
            [*SAGEFLEET, "doctor", "-i", str(inventory), *vault, "--lang", lang,
             "--format", "console", "--out", "-"]
        )
        assert process.returncode == 0, process.stderr[-2000:]
        assert words in process.stdout, (lang, process.stdout[:500])


def test_ask_vault_pass_reads_the_password_as_ansible_does(
    vaulted: tuple[Fleet, Path, Path],
) -> None:
    _, inventory, password_file = vaulted
    # Without a terminal, getpass reads the password from stdin (as ansible-playbook -J).
    process = subprocess.run(
        [*SAGEFLEET, "settings", "validate", "-i", str(inventory), "--ask-vault-pass"],
        cwd=ROOT,
        input=password_file.read_text(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert process.stdout.startswith("OK: 2 host(s)")


def test_settings_validate_and_render_read_the_inventory_and_its_vault(
    vaulted: tuple[Fleet, Path, Path],
) -> None:
    fleet, inventory, password_file = vaulted
    vault = ["--vault-password-file", str(password_file)]
    validate = run([*SAGEFLEET, "settings", "validate", "-i", str(inventory), *vault])
    assert validate.returncode == 0, validate.stderr
    assert validate.stdout.startswith("OK: 2 host(s), "), validate.stdout
    render = run(
        [*SAGEFLEET, "settings", "render", "-i", str(inventory), "-l", "sage02", *vault]
    )
    assert render.returncode == 0, render.stderr
    document = json.loads(render.stdout)
    assert [c["CompanyName"] for c in document["Connections"]]  # the vendor's files, merged
    # Printed, its secrets are masked: redacting it again changes nothing.
    assert MASK in render.stdout and document == redact(document)
    several = run([*SAGEFLEET, "settings", "render", "-i", str(inventory), "-l", "all", *vault])
    assert several.returncode == 2 and "matches 2" in several.stderr


def test_selftest_opens_the_vault(vaulted: tuple[Fleet, Path, Path], tmp_path: Path) -> None:
    _, inventory, password_file = vaulted
    process = run(
        [
            *SAGEFLEET,
            "selftest",
            "-i",
            str(inventory),
            "-l",
            "sage01",
            "--vault-id",
            f"client@{password_file}",
            "--out",
            str(tmp_path / "selftest"),
        ]
    )
    assert "UNREACHABLE" not in process.stdout, process.stdout
    assert " OK " in process.stdout and "sage01:" in process.stdout


def test_a_vault_that_does_not_open_is_one_line_and_no_report(
    vaulted: tuple[Fleet, Path, Path], tmp_path: Path
) -> None:
    _, inventory, password_file = vaulted
    wrong = tmp_path / "wrong-pass"
    wrong.write_text("not the password\n")
    out = tmp_path / "reports"
    for argv in (
        [*SAGEFLEET, "doctor", "-i", str(inventory), "--out", str(out)],
        [*SAGEFLEET, "doctor", "-i", str(inventory), "--vault-password-file", str(wrong),
         "--out", str(out)],
        [*SAGEFLEET, "doctor", "-i", str(inventory), "--vault-password-file",
         str(tmp_path / "missing"), "--out", str(out)],
        [*SAGEFLEET, "selftest", "-i", str(inventory), "-l", "sage01", "--out", str(out)],
        [*SAGEFLEET, "settings", "validate", "-i", str(inventory), "--vault-id",
         f"client@{wrong}"],
        [*SAGEFLEET, "sim", "up", "-i", str(inventory), "--state-dir", str(tmp_path / "sim")],
    ):
        line = one_clear_line(run(argv))
        assert "vault" in line.lower(), line
        assert "host sage0" in line or "vault password file" in line, line
        assert not out.exists(), argv


def test_the_suites_say_which_of_their_own_options_open_the_vault(
    vaulted: tuple[Fleet, Path, Path],
) -> None:
    """pytest has no --ask-vault-pass: the suites' error names only what they take."""
    _, inventory, _ = vaulted
    process = run(
        [sys.executable, "-m", "pytest", "-p", "sagefleet.verify.plugin", "tests/infra",
         "--sagefleet-inventory", str(inventory), "-q", "-p", "no:cacheprovider"]
    )
    said = process.stdout + process.stderr
    assert process.returncode == 4 and "cannot open the vault" in said, said[-2000:]
    assert "--vault-password-file" in said and "ANSIBLE_VAULT_PASSWORD_FILE" in said, said
    assert "--ask-vault-pass" not in said, said


def test_sim_up_serves_a_vaulted_inventory(tmp_path: Path) -> None:
    specs = generate_specs(1, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as source:  # only to write its inventory
        inventory = write_inventory(source, tmp_path / "inventory" / "hosts.yml")
    data = yaml.safe_load(inventory.read_text())
    for hv in data["all"]["children"]["sage_servers"]["hosts"].values():
        hv["ansible_port"] = 0  # any free port: the simulator says which
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    password_file = vault_the_passwords(inventory, vault_id="client")
    state = tmp_path / "sim"
    up = run(
        [*SAGEFLEET, "sim", "up", "-i", str(inventory), "--state-dir", str(state),
         "--vault-id", f"client@{password_file}"]
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "1 host(s)" in up.stdout
    finally:
        down = run([*SAGEFLEET, "sim", "down", "--state-dir", str(state)])
    assert "stopped" in down.stdout
    log = (state / "sim.log").read_text()
    assert password_file.read_text().strip() not in log


def test_verify_playbook_inherits_the_playbooks_vault(
    vaulted: tuple[Fleet, Path, Path], tmp_path: Path
) -> None:
    """No second variable: the suites open the vault with what opened it for the playbook."""
    _, inventory, password_file = vaulted
    out = tmp_path / "verify"
    process = run(
        [
            ANSIBLE_PLAYBOOK,
            "-i",
            str(inventory),
            "playbooks/verify.yml",
            "--vault-id",
            f"client@{password_file}",
            "-e",
            f"sagefleet_verify_report_dir={out}",
            "-e",
            "sagefleet_verify_workers=2",
        ]
    )
    assert process.returncode == 0, process.stdout[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert {h["host"]: h["status"] for h in report["hosts"]} == {
        "sage01": "verified",
        "sage02": "verified",
    }
    assert password_file.read_text().strip() not in process.stdout


def test_verify_playbook_stops_at_a_vault_value_that_does_not_open(
    vaulted: tuple[Fleet, Path, Path], tmp_path: Path
) -> None:
    """An inline vault value that does not open, of a variable sagefleet reads: verify.yml
    stops at its validation, as deploy.yml does, naming it; the suites never start (they
    failed every host with it), no host is contacted and no report folder is made."""
    fleet, inventory, password_file = vaulted
    before = {name: fleet.listeners[name].stats.requests for name in ("sage01", "sage02")}
    extra = tmp_path / "inventory"
    extra.mkdir()
    (extra / "more.yml").write_text(
        "all:\n  children:\n    sage_servers:\n      vars:\n"
        "        sagefleet_sql_password_extra: !vault |\n"
        "          $ANSIBLE_VAULT;1.1;AES256\n"
        "          3061\n"
    )
    out = tmp_path / "verify"
    process = run(
        [
            ANSIBLE_PLAYBOOK,
            "-i",
            str(inventory),
            "-i",
            str(extra / "more.yml"),
            "playbooks/verify.yml",
            "--vault-password-file",
            str(password_file),
            "-e",
            f"sagefleet_verify_report_dir={out}",
        ]
    )
    assert process.returncode != 0
    assert "TASK [Validate the inventory of every host]" in process.stdout
    assert "sagefleet_sql_password_extra" in process.stdout, process.stdout[-3000:]
    assert "TASK [Run the verification suites" not in process.stdout
    assert "verify-failed" not in process.stdout
    assert not out.exists()
    assert {n: fleet.listeners[n].stats.requests for n in before} == before


def test_deploy_wave_check_inherits_the_playbooks_vault(tmp_path: Path) -> None:
    package = build_test_package(tmp_path / "pkg" / "Setup.zip", agent_version="3.2.0")
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    for spec, name in zip(specs, ["a", "b"], strict=True):
        spec.name = name
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet, tmp_path / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
        )
        password_file = vault_the_passwords(inventory)
        process = run(
            [
                ANSIBLE_PLAYBOOK,
                "-i",
                str(inventory),
                "playbooks/deploy.yml",
                "--vault-password-file",
                str(password_file),
                "-e",
                f"sagefleet_agent_package={package}",
                "-e",
                f"sagefleet_deploy_report_dir={tmp_path / 'out'}",
                "-e",
                '{"sagefleet_deploy_waves": [1, 1]}',
                "-e",
                "sagefleet_agent_verify_waves=true",
            ]
        )
    assert "testinfra verification failed" not in process.stdout, process.stdout[-3000:]
    assert outcomes(process) == {"a": "installed", "b": "installed"}, process.stdout[-3000:]
    assert process.returncode == 0
