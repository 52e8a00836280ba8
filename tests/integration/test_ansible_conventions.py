"""Ansible conventions: argument specs, generated role docs, module docs, fleet progress."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sagefleet import roledocs
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.conftest import ROOT, next_first_address

BIN = Path(sys.executable).parent
ROLES = roledocs.roles(ROOT)
MODULES = sorted(
    p.stem
    for p in (ROOT / "library").glob("sagefleet_*.py")
    if "DOCUMENTATION" in p.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_role_has_argument_specs_covering_its_defaults(role: Path) -> None:
    specs = roledocs.load_spec(role)
    options = set(specs["main"].get("options") or {})
    defaults_file = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    assert set(defaults or {}) <= options, sorted(set(defaults or {}) - options)
    assert all(name.startswith(("sagefleet_", f"{role.name}_")) for name in options)


def test_role_readmes_match_their_argument_specs() -> None:
    stale = roledocs.sync_roles(ROOT, check=True)
    assert not stale, "run `python -m sagefleet.roledocs roles`: " + ", ".join(
        d.role for d in stale
    )


def test_role_readme_drift_is_detected(tmp_path: Path) -> None:
    role = tmp_path / "roles" / "sagefleet_example"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    short_description: Example.\n    options:\n"
        "      sagefleet_example_flag:\n        type: bool\n        default: true\n"
        "        description: A flag.\n"
    )
    assert [d.role for d in roledocs.sync_roles(tmp_path)] == ["sagefleet_example"]
    assert roledocs.sync_roles(tmp_path, check=True) == []
    readme = role / "README.md"
    readme.write_text(readme.read_text().replace("A flag.", "An old text."))
    assert [d.role for d in roledocs.sync_roles(tmp_path, check=True)] == ["sagefleet_example"]


def test_ansible_doc_renders_every_module_of_library() -> None:
    assert MODULES, "library/ holds the module documentation"
    process = subprocess.run(
        [str(BIN / "ansible-doc"), "--json", "-t", "module", *MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    docs = json.loads(process.stdout)
    rendered = {name.rsplit(".", 1)[-1] for name in docs}
    assert rendered == set(MODULES), process.stderr
    for name, doc in docs.items():
        assert doc["doc"].get("short_description"), name
        assert "attributes" in doc["doc"], f"{name}: state check_mode/diff_mode support"


def test_progress_callback_stays_readable_on_a_50_host_fleet(tmp_path: Path) -> None:
    specs = generate_specs(
        50, profiles=["healthy-onprem"], first_address=next_first_address(), port=0, prefix="pg"
    )
    fleet = Fleet(specs, tmp_path / "fleet").start()
    try:
        inventory = tmp_path / "hosts.yml"
        inventory.write_text(yaml.safe_dump(fleet.inventory(), sort_keys=False))
        fleet.host(specs[7].name).snippet_failures["host_info"] = "simulated failure"
        process = subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/site.yml",
             "-f", "25", "-e", f"sagefleet_report_dir={tmp_path / 'reports'}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DISPLAY_OK_HOSTS": "false"},
        )
    finally:
        fleet.stop()
    lines = [line for line in process.stdout.splitlines() if line.startswith("[sagefleet]")]
    task = [line for line in lines if "Read host identity and clock:" in line]
    assert task, process.stdout[-3000:]
    counts = [int(re.search(r": (\d+)/50 hosts done", line).group(1)) for line in task]  # type: ignore[union-attr]
    assert counts == sorted(counts) and counts[-1] == 50
    assert len(task) <= 11, task
    assert "1 failed" in task[-1]
    assert lines[-1] == "[sagefleet] run complete: 51 hosts, 1 failed, 0 unreachable"


def test_check_reference_matches_the_catalog() -> None:
    current, wanted = roledocs.checks_doc(ROOT / "docs" / "checks.md")
    assert current == wanted, "run `python -m sagefleet.roledocs checks`"
