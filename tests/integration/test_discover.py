"""Discovery end to end: playbooks/discover.yml drafts host_vars that validate once filled."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from sagefleet import discover as discover_module
from sagefleet.settings import validate_host
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT, next_first_address, session_for
from tests.support.scenarios import entities_for

SCENARIOS = ["two-entities", "healthy-spc"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    folder = tmp_path_factory.mktemp("discover")
    specs = generate_specs(
        len(SCENARIOS), profiles=SCENARIOS, first_address=next_first_address(), port=0,
        prefix="ds",
    )
    for spec in specs:
        spec.name = spec.profile
    fleet = Fleet(specs, folder / "fleet").start()
    inventory = folder / "hosts.yml"
    inventory.write_text(yaml.safe_dump(fleet.inventory(), sort_keys=False))
    yield fleet, inventory
    fleet.stop()


def discover(inventory: Path, dest: Path, *extra: str) -> str:
    process = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), "playbooks/discover.yml",
         "-e", f"sagefleet_discover_dest={dest}", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-2000:]
    return process.stdout


def test_a_misspelt_variable_fails_the_host_before_it_is_contacted(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """sagefleet_discover_root would leave sagefleet_discover_roots' default in force."""
    servers, inventory = fleet
    first = next(iter(servers.listeners))
    before = len(servers.host(first).journal)
    process = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), "playbooks/discover.yml", "-l", first,
         "-e", f"sagefleet_discover_dest={tmp_path}", "-e", "sagefleet_discover_root=D:/Sage"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert process.returncode == 2, process.stdout[-4000:] + process.stderr[-2000:]
    said = " ".join(process.stdout.split())
    assert (
        f"host {first}, field sagefleet_discover_root: not a sagefleet variable, so not read "
        "(a slip of sagefleet_discover_roots?)" in said
    )
    assert len(servers.host(first).journal) == before  # not contacted
    assert not any(tmp_path.iterdir())


def filled(text: str, secrets: dict[str, str]) -> dict[str, Any]:
    """The draft with its vault placeholders filled, as Ansible would template them
    (values only: a YAML comment is never templated)."""
    values = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    rendered = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(values).render(
        secrets
    )
    return dict(yaml.safe_load(rendered))


@pytest.fixture(scope="module")
def drafts(fleet: tuple[Fleet, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, inventory = fleet
    dest = tmp_path_factory.mktemp("host_vars")
    discover(inventory, dest)
    return dest


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_draft_lists_one_entity_per_mae_file(drafts: Path, scenario: str) -> None:
    draft = yaml.safe_load((drafts / f"{scenario}.yml").read_text())
    expected = entities_for(scenario)
    found = draft["sagefleet_entities"]
    assert [e["mae_path"] for e in found] == sorted(e["mae_path"] for e in expected)
    for entity, wanted in zip(found, sorted(expected, key=lambda e: e["mae_path"]), strict=True):
        assert entity["edition"] == wanted["edition"]
        # On SPC the database is not the .MAE file's name: left for the integrator.
        assert entity["database"] == ("" if wanted["edition"] == "spc" else wanted["database"])
        for key in ("sql_instance", "azure_sql_server"):
            assert entity.get(key) == wanted.get(key)
        assert entity["sql_password"].startswith("{{ sagefleet_sql_password_")
        assert entity["sage_password"].startswith("{{ sagefleet_sage_password_")
        assert entity["sql_user"] == ""  # not a secret: the integrator writes it in


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_draft_validates_once_the_vault_placeholders_are_filled(
    drafts: Path, scenario: str
) -> None:
    text = (drafts / f"{scenario}.yml").read_text()
    vault = (drafts / f"{scenario}.vault.yml").read_text()
    assert all(line.startswith(("#", "---")) for line in vault.splitlines() if line)
    # The skeleton, uncommented, is the vars.yml part and the vault.yml part.
    skeleton = yaml.safe_load(
        "\n".join(line[2:] for line in vault.splitlines() if line.startswith("# sagefleet_"))
    )
    plain = {k: v for k, v in skeleton.items() if not k.startswith("sagefleet_vault_")}
    secrets = {k: "filled-in" for k in skeleton if k.startswith("sagefleet_vault_")}
    assert plain and len(plain) == len(secrets)
    resolved = {name: filled(f"x: {ref}", secrets)["x"] for name, ref in plain.items()}
    host_vars = filled(text, resolved)
    for entity in host_vars["sagefleet_entities"]:
        entity["sql_user"] = "spendesk"  # the header says to fill it in
        if entity["edition"] == "spc":
            assert entity["database"] == ""  # so does it for an SPC entity's database
            entity["database"] = "xim9mokrk4q_AS274AY1ZH"
    result = validate_host(scenario, host_vars)
    assert result.errors == [], result.errors
    assert len(result.entities) == len(entities_for(scenario))


def test_existing_draft_is_kept_unless_forced(fleet: tuple[Fleet, Path], tmp_path: Path) -> None:
    _, inventory = fleet
    mine = tmp_path / "two-entities.yml"
    mine.write_text("---\n# the integrator's own file\n")
    out = discover(inventory, tmp_path, "-l", "two-entities")
    assert mine.read_text() == "---\n# the integrator's own file\n"
    assert "kept" in out
    force = ("-l", "two-entities", "-e", "sagefleet_discover_force=true")
    forced = discover(inventory, tmp_path, *force)
    assert "sagefleet_entities" in mine.read_text()
    assert "changed: [two-entities]" in forced
    # Forced again over the same drafts: nothing rewritten, nothing changed.
    before = mine.stat().st_mtime_ns
    again = discover(inventory, tmp_path, *force)
    assert mine.stat().st_mtime_ns == before
    assert "ok: [two-entities]" in again and "changed: [two-entities]" not in again
    assert "nothing written" in again


def test_draft_uses_the_secret_names_of_the_example_inventory() -> None:
    """The example's layout: host_vars name sagefleet_<kind>_password_<entity>, which
    vars.yml maps to sagefleet_vault_<kind>_password_<entity> in the encrypted vault.yml."""
    example = ROOT / "inventory" / "example" / "group_vars" / "bijou"
    mapping = yaml.safe_load((example / "vars.yml").read_text())
    vaulted = yaml.safe_load((example / "vault.yml").read_text())
    pairs = {k: v for k, v in mapping.items() if k.startswith("sagefleet_") and "_password_" in k}
    assert pairs == {k: f"{{{{ {k.replace('sagefleet_', 'sagefleet_vault_', 1)} }}}}"
                     for k in pairs}
    assert {k.replace("sagefleet_", "sagefleet_vault_", 1) for k in pairs} <= set(vaulted)

    result = discover_module.draft("sage-bijou-01", {
        "hostname": "SAGE-BIJOU-01",
        "mae_files": [{"path": "C:\\Sage\\BIJOU.MAE", "database": "BIJOU",
                       "serveur_sql": "SQL01\\SAGE", "type": "SQL"}],
    })
    (entity,) = yaml.safe_load(result.host_vars)["sagefleet_entities"]
    assert entity["sage_password"] == "{{ sagefleet_sage_password_bijou }}"
    assert entity["sql_password"] == "{{ sagefleet_sql_password_bijou }}"
    assert '# sagefleet_sql_password_bijou: "{{ sagefleet_vault_sql_password_bijou }}"' in (
        result.vault
    )
    assert "# sagefleet_vault_sql_password_bijou: ''" in result.vault
    assert "vault_sql_user" not in result.vault + result.host_vars


def test_drafts_go_outside_the_inventory_by_default(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """Without sagefleet_discover_dest: reports/<inventory name>/discover/, never the
    inventory's host_vars/ (Ansible would read a draft there as the host's variables)."""
    _, source = fleet
    inventory = tmp_path / "inventory" / "bijou" / "hosts.yml"
    inventory.parent.mkdir(parents=True)
    inventory.write_text(source.read_text())
    reports = tmp_path / "reports"
    process = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory.parent), "playbooks/discover.yml",
         "-l", SCENARIOS[0], "-e", f"sagefleet_report_dir={reports}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-2000:]
    drafts = reports / "bijou" / "discover"
    assert sorted(p.name for p in drafts.iterdir()) == [
        f"{SCENARIOS[0]}.vault.yml", f"{SCENARIOS[0]}.yml"
    ]
    assert sorted(p.name for p in inventory.parent.iterdir()) == ["hosts.yml"]
    assert f"written: {drafts / SCENARIOS[0]}.yml" in " ".join(process.stdout.split())


def test_only_files_whose_extension_is_mae_are_sage_files(fleet: tuple[Fleet, Path]) -> None:
    """Windows' GetFiles('*.mae') also returns BIJOU.MAE_old and BIJOU.maebak (a
    three-letter extension matches any longer one: fidelity ledger, row 29); the snippet
    keeps the .mae ones, and so does the simulator's model of it."""
    sim, _ = fleet
    host = sim.host("two-entities")
    left = ["C:\\Sage\\Societes\\BIJOU.MAE_old", "C:\\Sage\\Societes\\CHOCO.maebak"]
    try:
        for path in left:
            host.fs.write(path, b"[Fichier]\r\nServeurSQL=OLD\\SAGE\r\n")
        with session_for(sim, "two-entities") as session:
            found = session.run_snippet("discover", discover_module.params([]))
        paths = [m["path"] for m in found["mae_files"]]
        assert paths == ["C:\\Sage\\Societes\\BIJOU.MAE", "C:\\Sage\\Societes\\CHOCO.MAE"]
    finally:
        for path in left:
            host.fs.delete(path)


def test_check_mode_says_what_it_would_write_and_writes_nothing(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    _, inventory = fleet
    checked = discover(inventory, tmp_path, "-l", "two-entities", "--check")
    assert "changed: [two-entities]" in checked
    assert f"would be written: {tmp_path / 'two-entities.yml'}" in checked
    assert list(tmp_path.iterdir()) == []
    # The run it announced writes the same files.
    assert "changed: [two-entities]" in discover(inventory, tmp_path, "-l", "two-entities")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "two-entities.vault.yml", "two-entities.yml",
    ]  # fmt: skip


def test_a_negative_search_depth_is_refused_before_the_host_is_read(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    _, inventory = fleet
    process = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), "playbooks/discover.yml", "-l", "two-entities",
         "-e", f"sagefleet_discover_dest={tmp_path}", "-e", "sagefleet_discover_max_depth=-1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )  # fmt: skip
    assert process.returncode == 2, process.stdout[-3000:]
    assert "sagefleet_discover_max_depth" in process.stdout
    assert list(tmp_path.iterdir()) == []
