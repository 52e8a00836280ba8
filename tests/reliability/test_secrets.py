"""Secrets never leak: distinct canaries in every secret field, vault-encrypted, through
every playbook and command at -vvvv, then every byte on the bastion is searched.

One simulated fleet (an agent-less host, a host running agent 2.3.0, a host that
preflight blocks) and one vault-encrypted inventory: the WinRM password, the
agent service account's password and each entity's SQL and Sage passwords are
canaries, one per field, so a hit names the field that leaked. The runs, in
sequence, at -vvvv (the two real --diff runs at -vvvvv) with ANSIBLE_LOG_PATH:
preflight.yml; deploy.yml
--check, --check --diff, normal, and --diff after an entity changed; settings.yml
normal and --diff after another change; verify.yml; diagnose.yml; discover.yml;
``sagefleet doctor``, ``settings render`` (printed), ``settings validate``,
``selftest``, ``agent learn``, ``facts-script`` and ``checks --facts``. Then every file
under the test's temporary folder (each run's stdout and stderr, the Ansible log,
Ansible's local temporary files, every report, bundle members unzipped, drafts)
is searched for every canary: raw, UTF-16, JSON-escaped, base64 at any alignment,
and inside any base64 run decoded twice over. The simulated hosts' staging
folders are searched too. A hit names the file (and zip member) and the field.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from sagefleet import offline
from sagefleet.inventory import VaultOptions, load
from sagefleet.package import build_test_package
from sagefleet.sim import vendor_layout
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.deploy import outcomes
from tests.support.fleets import ROOT, next_first_address, session_for
from tests.support.reliability import (
    ANSIBLE_PLAYBOOK,
    INSTALL_DIR,
    SAGEFLEET,
    SERVICE,
    SETTINGS,
    encodings,
    find_secrets,
    staging_leaks,
)
from tests.support.scenarios import entities_for

HOSTS = {"fresh": "healthy-onprem", "old": "agent-old", "blocked": "s3-blocked"}
SERVICE_ACCOUNT = "CORP\\svc-spendesk"
VAULT_PASSWORD = b"secrets-test vault passphrase"

# field -> canary: distinct, none a part of another, nothing HTML or YAML would escape.
CANARIES = {
    "entity sql_password": "Sql-Canary-Passw0rd!",
    "entity sql_password (rotated)": "SqlRot-Canary-7Hq2x!",
    "entity sage_password": "Sage-Canary-Kx93pL!",
    "entity sage_password (rotated)": "SageRot-Canary-Vm41!",
    "sagefleet_agent_service_password": "Svc-Canary-Qz58wT!",
    "ansible_password (WinRM)": "WinRM-Canary-Jd27nB!",
}
FIELD_OF = {secret: name for name, secret in CANARIES.items()}


def vaulted(value: str) -> str:
    text = VaultLib([("default", VaultSecret(VAULT_PASSWORD))]).encrypt(value.encode()).decode()
    return "!vault |\n" + "".join(f"  {line}\n" for line in text.splitlines())


# -- the scanner ------------------------------------------------------------------------------


BASE64_RUN = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")


def secrets_in(data: bytes, depth: int = 2) -> set[str]:
    """Canaries in ``data`` in any form of ``encodings``, or inside a decoded base64 run
    (UTF-8 or UTF-16 inside, base64 within base64: ``depth`` levels)."""
    found = set(find_secrets(data, CANARIES.values()))
    if depth and len(found) < len(CANARIES):
        for run in set(BASE64_RUN.findall(data)):
            try:
                decoded = base64.b64decode(run + b"=" * (-len(run) % 4))
            except (binascii.Error, ValueError):
                continue
            found |= secrets_in(decoded, depth - 1)
    return found


def scan_bytes(data: bytes, where: str) -> list[str]:
    """``where: field`` for every canary in ``data``; a zip is searched member by member."""
    hits = [f"{where}: {FIELD_OF[s]}" for s in sorted(secrets_in(data))]
    if data[:4] == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            return hits + [f"{where}: unreadable zip (not searched inside)"]
        with archive:
            for member in archive.infolist():
                hits += scan_bytes(archive.read(member), f"{where}!{member.filename}")
    return hits


def scan_tree(root: Path, skip: set[Path]) -> tuple[list[str], int]:
    """Every file under ``root`` but ``skip``: (hits, files searched)."""
    hits: list[str] = []
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if path in skip:
            continue
        count += 1
        hits += scan_bytes(path.read_bytes(), str(path.relative_to(root)))
    return hits, count


def test_the_scanner_finds_each_canary_in_every_form_it_may_take(tmp_path: Path) -> None:
    secret = CANARIES["sagefleet_agent_service_password"]
    utf16_b64 = base64.b64encode(f'{{"p": "{secret}"}}'.encode("utf-16-le"))
    double = base64.b64encode(b"$x = '" + base64.b64encode(secret.encode()) + b"'")
    samples = {
        "raw.txt": f"password={secret}".encode(),
        "utf16.log": f"x {secret} y".encode("utf-16-le"),
        "json.json": json.dumps({"p": secret + '"'}).encode(),
        "b64.txt": b"-EncodedCommand " + utf16_b64,
        "double.txt": b"cmd " + double,
    }
    for name, data in samples.items():
        (tmp_path / name).write_bytes(data)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("logs/agent.log", f"login {CANARIES['entity sql_password']}")
    (tmp_path / "bundle.zip").write_bytes(buffer.getvalue())
    (tmp_path / "clean.txt").write_text("nothing here but ********")
    hits, count = scan_tree(tmp_path, set())
    assert count == 7
    assert sorted(hits) == sorted(
        [f"{n}: sagefleet_agent_service_password" for n in samples]
        + ["bundle.zip!logs/agent.log: entity sql_password"]
    )
    assert all(len(form) >= 8 for s in CANARIES.values() for form in encodings(s))


# -- the runs ---------------------------------------------------------------------------------


@dataclass
class Runs:
    """What the runs left: the bastion's temporary folder, the fleet, each run's outcome."""

    root: Path
    fleet: Fleet
    inventory: Path
    rcs: dict[str, int] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    skip: set[Path] = field(default_factory=set)


def write_vault_inventory(fleet: Fleet, folder: Path, package: Path) -> Path:
    """hosts.yml without a password in clear; group_vars/sage_servers.yml with the vault."""
    data = fleet.inventory()
    hosts = data["all"]["children"]["sage_servers"]["hosts"]
    for name, hv in hosts.items():
        assert hv.pop("ansible_password") == CANARIES["ansible_password (WinRM)"]
        entities = entities_for(fleet.spec(name).profile)
        for entity in entities:
            entity["sql_password"] = "{{ vault_sql_password }}"
            entity["sage_password"] = "{{ vault_sage_password }}"
            # The connection's vendor file, its passwords given by vault variables.
            entity["vendor_settings"] = vendor_layout.document([entity])
        hv["sagefleet_entities"] = entities
    (folder / "group_vars").mkdir(parents=True)
    (folder / "hosts.yml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    plain = {
        "ansible_password": "{{ vault_winrm_password }}",
        "sagefleet_agent_service_account": SERVICE_ACCOUNT,
        "sagefleet_agent_target_version": "3.2.0",
        "sagefleet_agent_package": str(package),
        "sagefleet_deploy_waves": ["100%"],
        "sagefleet_deploy_max_fail_percentage": 100,
        "sagefleet_winrm_retry_backoff_s": 0.05,
    }
    text = yaml.safe_dump(plain, sort_keys=False)
    for name, secret in (
        ("sagefleet_agent_service_password", CANARIES["sagefleet_agent_service_password"]),
        ("vault_winrm_password", CANARIES["ansible_password (WinRM)"]),
        ("vault_sql_password", CANARIES["entity sql_password"]),
        ("vault_sage_password", CANARIES["entity sage_password"]),
        ("vault_sql_password_rotated", CANARIES["entity sql_password (rotated)"]),
        ("vault_sage_password_rotated", CANARIES["entity sage_password (rotated)"]),
    ):
        text += f"{name}: {vaulted(secret)}"
    (folder / "group_vars" / "sage_servers.yml").write_text(text, encoding="utf-8")
    return folder / "hosts.yml"


def change_entities(inventory: Path, **changes: Any) -> None:
    """Change the entities, and their vendor files as the vendor's form would regenerate them."""
    data = yaml.safe_load(inventory.read_text())
    for hv in data["all"]["children"]["sage_servers"]["hosts"].values():
        for entity in hv["sagefleet_entities"]:
            entity.update(changes)
            entity["vendor_settings"] = vendor_layout.document([entity])
    inventory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("secrets")
    specs = generate_specs(
        len(HOSTS),
        profiles=list(HOSTS.values()),
        first_address=next_first_address(),
        port=0,
        password=CANARIES["ansible_password (WinRM)"],
    )
    for spec, name in zip(specs, HOSTS, strict=True):
        spec.name = name
    package = build_test_package(root / "pkg" / "Setup.zip", agent_version="3.2.0")
    with Fleet(specs, root / "fleet") as fleet:
        inventory = write_vault_inventory(fleet, root / "inventory", package)
        vault_file = root / "vault-pass"
        vault_file.write_bytes(VAULT_PASSWORD + b"\n")
        result = Runs(root, fleet, inventory, skip={vault_file})
        out, tmp = root / "out", root / "tmp"
        out.mkdir()
        tmp.mkdir()
        env = {
            **os.environ,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOG_PATH": str(root / "ansible.log"),
            "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
            "ANSIBLE_KEEP_REMOTE_FILES": "1",  # localhost module payloads stay, to be searched
            "ANSIBLE_REMOTE_TMP": str(tmp / "ansible-remote"),
            "TMPDIR": str(tmp),
        }

        def run(name: str, argv: list[str]) -> None:
            process = subprocess.run(
                argv, cwd=ROOT, capture_output=True, timeout=300, env=env, check=False
            )
            number = len(result.rcs) + 1
            (out / f"{number:02d}-{name}.stdout").write_bytes(process.stdout)
            (out / f"{number:02d}-{name}.stderr").write_bytes(process.stderr)
            result.rcs[name] = process.returncode
            result.texts[name] = process.stdout.decode("utf-8", "replace")

        def play(name: str, playbook: str, *extra: str, verbosity: str = "-vvvv") -> None:
            run(
                name,
                [
                    ANSIBLE_PLAYBOOK,
                    verbosity,
                    "-i",
                    str(inventory),
                    f"playbooks/{playbook}",
                    "--vault-password-file",
                    str(vault_file),
                    *extra,
                ],
            )

        reports = root / "reports"
        preflight = ("-e", f"sagefleet_preflight_report_dir={reports / 'preflight'}")
        deploy = ("-e", f"sagefleet_deploy_report_dir={reports / 'deploy'}")
        play("preflight", "preflight.yml", *preflight)
        play("deploy-check", "deploy.yml", "--check", *deploy)
        play("deploy-check-diff", "deploy.yml", "--check", "--diff", *deploy)
        play("deploy", "deploy.yml", *deploy)
        change_entities(inventory, sql_password="{{ vault_sql_password_rotated }}", analytic_plan=2)
        # One run at -vvvvv too: ansible-core's winrm plugin then logs every command and its output.
        play("deploy-diff", "deploy.yml", "--diff", *deploy, verbosity="-vvvvv")
        change_entities(inventory, sage_password="{{ vault_sage_password_rotated }}")
        settings = ("-e", f"sagefleet_settings_report_dir={reports / 'settings'}")
        play("settings", "settings.yml", *settings)
        change_entities(inventory, sage_password="{{ vault_sage_password }}", analytic_plan=3)
        play("settings-diff", "settings.yml", "--diff", *settings, verbosity="-vvvvv")
        play(
            "verify",
            "verify.yml",
            "-e",
            f"sagefleet_verify_report_dir={reports / 'verify'}",
            "-e",
            "sagefleet_verify_workers=1",
            "--limit",
            "old",  # one host is enough to read the vault; the suites take time
        )
        # An agent that logs a secret (as some do on a failed login): the bundle masks it.
        agent = fleet.host("old")
        agent.fs.mkdir(INSTALL_DIR + "\\logs")
        agent.fs.write(
            INSTALL_DIR + "\\logs\\agent.log",
            b"2025-03-01 10:00:01 ERROR login failed for sagefleet_sql with password "
            + CANARIES["entity sql_password (rotated)"].encode()
            + b"\r\n2025-03-01 10:00:02 ERROR service logon as CORP\\svc-spendesk / "
            + CANARIES["sagefleet_agent_service_password"].encode("utf-16-le")
            + b"\r\n",
        )
        play("diagnose", "diagnose.yml", "-e", f"sagefleet_diagnose_dest={reports / 'bundles'}")
        play("discover", "discover.yml", "-e", f"sagefleet_discover_dest={reports / 'drafts'}")
        vault = ("--vault-password-file", str(vault_file))
        run(
            "doctor",
            [SAGEFLEET, "doctor", "-i", str(inventory), *vault, "--out", str(reports / "doctor")],
        )
        run(
            "facts-script",
            [
                SAGEFLEET,
                "facts-script",
                "-i",
                str(inventory),
                "--host",
                "old",
                *vault,
                "-o",
                str(reports / "collect-old.ps1"),
            ],
        )
        # The settings.json a deploy would write, printed (its passwords masked), and
        # the inventory's check; then every read-only snippet against one server.
        run(
            "settings-render",
            [SAGEFLEET, "settings", "render", "-i", str(inventory), "-l", "old", *vault],
        )
        run("settings-validate", [SAGEFLEET, "settings", "validate", "-i", str(inventory), *vault])
        selftest = [SAGEFLEET, "selftest", "-i", str(inventory), "-l", "old", *vault]
        # Its transcript (every snippet's output) is searched too.
        run("selftest", [*selftest, "--out", str(reports / "selftest")])
        learned = str(reports / "agent-profile.yml")
        run(
            "agent-learn",
            [SAGEFLEET, "agent", "learn", "-i", str(inventory), "-l", "old", *vault, "-o", learned],
        )
        (host,) = load(
            [inventory], vault=VaultOptions(password_files=(str(vault_file),)), names=["old"]
        )
        prepared = offline.offline_prepared("old", dict(host.variables))
        with session_for(fleet, "old") as session:
            facts = session.run_snippet("facts", prepared.facts_params())
        facts_file = reports / "sagefleet-facts-old.json"
        facts_file.write_text(json.dumps(facts), encoding="utf-8")
        run(
            "checks-facts",
            [
                SAGEFLEET,
                "checks",
                "--facts",
                str(facts_file),
                "-i",
                str(inventory),
                "--host",
                "old",
                *vault,
                "--out",
                str(reports / "offline"),
            ],
        )
        yield result


def test_the_runs_carried_every_secret_to_the_hosts(runs: Runs) -> None:
    """The search below means something only if the secrets really flowed: vault
    decrypted, WinRM authenticated, settings.json and the service account written."""
    texts = runs.texts
    for name, wanted in (
        ("deploy-check", {"fresh": "planned", "old": "planned"}),
        ("deploy", {"fresh": "installed", "old": "upgraded"}),
        ("deploy-diff", {"fresh": "settings-updated", "old": "settings-updated"}),
    ):
        assert outcomes_of(texts[name]) == wanted, (name, texts[name][-3000:])
    for name in ("preflight", "settings-diff", "verify", "diagnose", "discover"):
        assert not re.search(r"unreachable=[1-9]", texts[name]), (name, texts[name][-3000:])
    for name in ("settings", "settings-diff"):
        for host in ("fresh", "old"):
            # settings.json written, then the agent restarted so that it reads it.
            assert re.search(rf"^{host}\s+:.* changed=2 ", texts[name], re.M), (name, host)
    for name in (
        "verify",
        "diagnose",
        "discover",
        "doctor",
        "facts-script",
        "checks-facts",
        "settings-render",
        "settings-validate",
        "selftest",
        "agent-learn",
    ):
        assert runs.rcs[name] == 0, (name, texts[name][-3000:])
    # The rendered document is the one with the rotated password, masked.
    assert '"********"' in texts["settings-render"]
    assert len(list((runs.root / "reports" / "selftest").glob("old-*.zip"))) == 1
    bundles = {p.name.split("-")[0]: p for p in (runs.root / "reports" / "bundles").glob("*.zip")}
    assert sorted(bundles) == sorted(HOSTS)
    with zipfile.ZipFile(bundles["old"]) as bundle:  # the agent's log is in, masked
        assert "ERROR login failed" in next(
            bundle.read(n).decode() for n in bundle.namelist() if n.endswith("agent.log")
        )
    for name in ("fresh", "old"):
        host = runs.fleet.host(name)
        settings = host.fs.read(SETTINGS)
        assert CANARIES["entity sql_password (rotated)"].encode() in settings
        assert CANARIES["entity sage_password"].encode() in settings
        service = host.service(SERVICE)
        assert service is not None and service.account == SERVICE_ACCOUNT
    assert not runs.fleet.host("blocked").fs.exists(SETTINGS)


def outcomes_of(stdout: str) -> dict[str, str]:
    found = outcomes(subprocess.CompletedProcess([], 0, stdout, ""))
    return {k: v for k, v in found.items() if k in ("fresh", "old")}


def test_no_canary_in_any_byte_written_on_the_bastion(runs: Runs) -> None:
    hits, count = scan_tree(runs.root, runs.skip)
    assert count > 50  # outputs, log, reports, bundles, drafts: the search saw them
    assert (runs.root / "ansible.log").stat().st_size > 100_000  # -vvvv really logged
    assert hits == [], "secrets leaked:\n" + "\n".join(hits)


def test_no_canary_left_in_the_hosts_staging_folders(runs: Runs) -> None:
    leaks = {name: staging_leaks(runs.fleet.host(name), CANARIES.values()) for name in HOSTS}
    assert leaks == {name: [] for name in HOSTS}
