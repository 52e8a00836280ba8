"""The sagefleet.fleet collection: built from the checkout, installed, used by FQCN.

The collection is built as `make collection` builds it, installed with
ansible-galaxy into a temporary collections path, and a playbook written in a
folder of its own (no project ansible.cfg, library or roles path) runs preflight
against the simulator through fully qualified names only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from sagefleet import __version__
from sagefleet.ansible import collection
from sagefleet.errors import InputError
from tests.support.fleets import ROOT, FleetFactory
from tests.support.scenarios import write_inventory

BIN = Path(sys.executable).parent

PLAYBOOK = """\
- name: Preflight through the collection's fully qualified names
  hosts: sage_servers
  gather_facts: false
  tasks:
    - name: Diagnose one host with the module
      sagefleet.fleet.sagefleet_preflight: {}
      register: direct

    - name: Show what the module found
      ansible.builtin.debug:
        msg: "module: {{ inventory_hostname }} {{ direct.status }}"

    - name: Run the whole preflight with the role
      ansible.builtin.import_role:
        name: sagefleet.fleet.preflight
"""


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make collection`, with this test run's Python (no .venv of its own)."""
    out = tmp_path_factory.mktemp("collection-build")
    process = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "collection",
            f"BIN={BIN}",
            "STAMP=",
            f"COLLECTION_OUT={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    built = out / f"sagefleet-fleet-{__version__}.tar.gz"
    assert str(built) in process.stdout.splitlines()
    return built


def _members(tarball: Path) -> dict[str, bytes]:
    with tarfile.open(tarball) as archive:
        return {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


def test_the_collection_is_the_checkout_files_not_a_copy(tarball: Path) -> None:
    members = _members(tarball)
    pairs = {
        "plugins/modules/sagefleet_deploy.py": "library/sagefleet_deploy.py",
        "plugins/action/sagefleet_preflight.py": "action_plugins/sagefleet_preflight.py",
        "plugins/callback/sagefleet_progress.py": "callback_plugins/sagefleet_progress.py",
        "roles/preflight/tasks/main.yml": "roles/sagefleet_preflight/tasks/main.yml",
        "roles/agent/meta/argument_specs.yml": "roles/sagefleet_agent/meta/argument_specs.yml",
    }
    for inside, source in pairs.items():
        assert members[inside] == (ROOT / source).read_bytes(), inside
    for folder, inside in collection.PLUGIN_DIRS.items():
        assert {n.rsplit("/", 1)[-1] for n in members if n.startswith(inside + "/")} == {
            p.name for p in (ROOT / folder).glob("*.py")
        }
    assert not (ROOT / "plugins").exists() and not (ROOT / "galaxy.yml").exists()


def test_the_collection_declares_the_sagefleet_package_it_needs(tarball: Path) -> None:
    members = _members(tarball)
    assert members["requirements.txt"].decode() == f"sagefleet=={__version__}\n"
    manifest = json.loads(members["MANIFEST.json"])["collection_info"]
    assert (manifest["namespace"], manifest["name"], manifest["version"]) == (
        "sagefleet",
        "fleet",
        __version__,
    )
    environment = yaml.safe_load(members["meta/execution-environment.yml"])
    assert environment["dependencies"]["python"] == "requirements.txt"
    assert "pip install sagefleet" in members["README.md"].decode()


def test_a_role_name_galaxy_refuses_is_refused_before_building() -> None:
    assert collection.role_name("sagefleet_host_info") == "host_info"
    with pytest.raises(InputError, match="not a valid role name"):
        collection.role_name("sagefleet_Bad-Name")


def test_a_collection_version_other_than_the_package_is_refused(tmp_path: Path) -> None:
    (tmp_path / "collection").mkdir()
    (tmp_path / "roles").mkdir()
    galaxy = (ROOT / "collection" / "galaxy.yml").read_text(encoding="utf-8")
    (tmp_path / "collection" / "galaxy.yml").write_text(
        galaxy.replace(f"version: {__version__}", "version: 9.9.9"), encoding="utf-8"
    )
    with pytest.raises(InputError, match="not the sagefleet package's") as refused:
        collection.assemble(tmp_path, tmp_path / "out")
    assert refused.value.value == "9.9.9"


def test_preflight_runs_through_the_installed_collection(
    tarball: Path, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    collections = tmp_path / "collections"
    install = subprocess.run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "install",
            str(tarball),
            "-p",
            str(collections),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert (collections / "ansible_collections" / "sagefleet" / "fleet" / "MANIFEST.json").is_file()

    fleet = make_fleet(2, profiles=("healthy-onprem", "dotnet-472"))
    inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
    project = tmp_path / "integrator"
    project.mkdir()
    (project / "preflight.yml").write_text(PLAYBOOK, encoding="utf-8")
    config = project / "ansible.cfg"
    config.write_text(
        "[defaults]\n"
        f"collections_path = {collections}\n"
        "callbacks_enabled = sagefleet.fleet.sagefleet_progress\n"
        "stdout_callback = sagefleet.fleet.sagefleet_console\n"
        "vars_plugins_enabled = sagefleet.fleet.sagefleet_host_group_vars\n"
        "interpreter_python = {{ ansible_playbook_python }}\n"
        "gathering = explicit\n",
        encoding="utf-8",
    )
    reports = tmp_path / "reports"
    # Nothing of the project's own Ansible settings: only the collection is found.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    process = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            "preflight.yml",
            "-e",
            f"sagefleet_preflight_report_dir={reports}",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "ANSIBLE_CONFIG": str(config), "ANSIBLE_NOCOLOR": "1"},
    )
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-2000:]
    report = json.loads((reports / "report.json").read_text())
    statuses = {h["host"]: h["status"] for h in report["hosts"]}
    assert statuses == {"sage01": "ready", "sage02": "blocked"}
    assert '"msg": "module: sage01 ready"' in process.stdout
    assert '"msg": "module: sage02 blocked"' in process.stdout
    assert "[sagefleet] run complete: " in process.stdout  # the collection's callback
    snippets = [e["name"] for e in fleet.host("sage01").journal if e["kind"] == "snippet"]
    assert snippets == ["facts", "facts"]  # the module, then the role
