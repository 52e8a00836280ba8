"""The project as AWX / Automation Platform runs it: ansible-runner on a copy of the checkout.

AWX copies the project revision into the job's folder, runs ansible-playbook
there through ansible-runner (its own stdout callback, its own inventory file)
and keeps the events. The same happens here against a simulated fleet.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml

from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import ROOT, next_first_address
from tests.support.scenarios import write_inventory

# What a project sync brings that a job does not need (and local state that is not in git).
NOT_IN_PROJECT = shutil.ignore_patterns(
    ".git",
    ".venv*",
    ".sagefleet",
    "reports",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    ".ansible",
    "context",
    "*.egg-info",
)
BASTION_PATH = re.compile(
    r"""(?m)(?:^|[\s"'=])(/(?:home|root|tmp|opt|srv|var|etc|usr|work)/\S*|~/\S*)"""
)
SCENARIOS = {"awx-ready": "healthy-onprem", "awx-spc": "healthy-spc", "awx-blocked": "dotnet-472"}


def project_copy(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, ignore=NOT_IN_PROJECT, symlinks=True)
    return dest


def requirement_names(requirements: list[str]) -> dict[str, str]:
    """name (normalised) -> full requirement line."""
    return {
        re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0].lower().replace("_", "-"): r
        for r in requirements
    }


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runner_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("awx")
    names = sorted(SCENARIOS)
    specs = generate_specs(
        len(names),
        profiles=[SCENARIOS[n] for n in names],
        first_address=next_first_address(),
        port=0,
    )
    for spec, name in zip(specs, names, strict=True):
        spec.name = name
    project = project_copy(folder / "project")
    with Fleet(specs, folder / "fleet") as fleet:
        # AWX hands the job an inventory file of its own, outside the project.
        inventory = write_inventory(
            fleet, folder / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
        )
        (folder / "job").mkdir()
        run = ansible_runner.run(
            private_data_dir=str(folder / "job"),
            project_dir=str(project),
            playbook="playbooks/preflight.yml",
            inventory=str(inventory),
            envvars={
                "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "ANSIBLE_NOCOLOR": "1",
            },
            quiet=True,
            timeout=300,
        )
        events = list(run.events)
        stdout = run.stdout.read()
        result = {
            "status": run.status,
            "rc": run.rc,
            "stats": run.stats,
            "events": events,
            "stdout": stdout,
            "project": project,
            "fleet": fleet,
        }
        result["journal"] = {n: list(fleet.host(n).journal) for n in names}
    return result


def test_runner_job_is_successful(runner_run: dict[str, Any]) -> None:
    assert runner_run["status"] == "successful", runner_run["stdout"][-4000:]
    assert runner_run["rc"] == 0
    stats = runner_run["stats"]
    assert not stats.get("failures") and not stats.get("dark"), stats
    assert set(SCENARIOS) <= set(stats["ok"])


def test_every_host_has_its_own_preflight_event(runner_run: dict[str, Any]) -> None:
    per_host: dict[str, list[dict[str, Any]]] = {}
    for event in runner_run["events"]:
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and data.get("task_action", "").endswith(
            "sagefleet_preflight"
        ):
            per_host.setdefault(data["host"], []).append(data)
    assert set(per_host) == set(SCENARIOS)
    for host, found in per_host.items():
        (data,) = found
        assert data["res"]["host_report"]["host"] == host
    statuses = {h: d[0]["res"]["host_report"]["status"] for h, d in per_host.items()}
    assert statuses["awx-blocked"] == "blocked"
    assert statuses["awx-ready"] in ("ready", "warnings")
    # Secrets of the inventory never reach the events AWX stores.
    assert "Sql-Canary-Passw0rd!" not in json.dumps(runner_run["events"])


def test_report_is_written_in_the_project_copy(runner_run: dict[str, Any]) -> None:
    # The job's inventory file is inventory/hosts.yml: its folder names the reports'.
    out = runner_run["project"] / "reports" / "inventory" / "preflight" / "latest"
    report = json.loads((out / "report.json").read_text())
    assert {h["host"] for h in report["hosts"]} == set(SCENARIOS)
    assert (out / "report.html").exists() and (out / "report.junit.xml").exists()


def test_every_host_was_contacted_once(runner_run: dict[str, Any]) -> None:
    for name, journal in runner_run["journal"].items():
        snippets_run = [e["name"] for e in journal if e["kind"] == "snippet"]
        assert snippets_run == ["facts"], name


def test_playbooks_and_roles_use_no_bastion_path() -> None:
    """Nothing outside the project or the inventory: paths hang off playbook_dir/inventory_dir."""
    texts = [p for d in ("playbooks", "roles") for p in (ROOT / d).rglob("*.yml")]
    for path in texts:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(BASTION_PATH, text):
            pytest.fail(f"{path.relative_to(ROOT)}: bastion-local path {match.group(1)!r}")


def test_collections_requirements_are_empty_on_purpose() -> None:
    document = yaml.safe_load((ROOT / "collections" / "requirements.yml").read_text())
    assert document == {"collections": []}
    used = set()
    for path in [*(ROOT / "playbooks").rglob("*.yml"), *(ROOT / "roles").rglob("tasks/*.yml")]:
        for task_key in re.findall(r"(?m)^\s*-?\s*([a-z_]+\.[a-z_]+\.[a-z_]+):", path.read_text()):
            used.add(task_key.rsplit(".", 1)[0])
    assert used <= {"ansible.builtin"}, used


def test_requirements_txt_lists_the_runtime_dependencies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert sorted(lines) == sorted(pyproject()["project"]["dependencies"])


def test_execution_environment_matches_pyproject() -> None:
    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert ee["version"] == 3
    assert set(ee) <= {
        "version",
        "images",
        "dependencies",
        "options",
        "additional_build_files",
        "additional_build_steps",
        "build_arg_defaults",
    }
    assert ee["images"]["base_image"]["name"]
    deps = ee["dependencies"]
    project = pyproject()["project"]
    runtime = requirement_names(project["dependencies"])
    # Same requirement lines, so the image cannot drift from pyproject.toml.
    assert sorted(deps["python"]) == sorted(project["dependencies"])
    assert deps["ansible_core"]["package_pip"] == runtime["ansible-core"]
    tests_extra = requirement_names(project["optional-dependencies"]["test"])
    assert deps["ansible_runner"]["package_pip"] == tests_extra["ansible-runner"]
    assert deps["galaxy"] == "collections/requirements.yml"
    assert (ROOT / deps["galaxy"]).is_file()
    interpreter = deps["python_interpreter"]
    minimum = project["requires-python"].removeprefix(">=")
    assert interpreter["python_path"].endswith("python" + minimum)
    # sagefleet itself is built from the checkout's sources in the final stage.
    sources = {(f["src"], f["dest"]) for f in ee["additional_build_files"]}
    assert {
        ("pyproject.toml", "sagefleet"),
        ("README.md", "sagefleet"),
        ("src", "sagefleet/src"),
    } <= sources
    for src, _ in sources:
        assert (ROOT / src).exists(), src
    steps = " ".join(ee["additional_build_steps"]["append_final"])
    assert "COPY _build/sagefleet" in steps and "pip install" in steps and "--no-deps" in steps


def test_execution_environment_validates_with_ansible_builder() -> None:
    from ansible_builder import ee_schema as schema

    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    schema.validate_schema(ee)
