"""``sagefleet validate``: the checks of the playbooks' first task, from the command line.

Against real playbooks and a simulated fleet: tests/integration/test_validate_before_run.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import winrm.transport
import yaml
from tests.support.entities import spc_entity

from sagefleet.ansible import rolespec
from sagefleet.ansible.validate import JOB_OPTIONS, JOBS
from sagefleet.cli import main

ROOT = Path(__file__).resolve().parents[2]
#: Where each job's playbook has its first task, sagefleet_validate.
FIRST_TASKS = {
    "preflight": ROOT / "roles" / "sagefleet_preflight" / "tasks" / "main.yml",
    "deploy": ROOT / "playbooks" / "deploy.yml",
    "settings": ROOT / "roles" / "sagefleet_settings" / "tasks" / "main.yml",
    "diagnose": ROOT / "roles" / "sagefleet_diagnose" / "tasks" / "main.yml",
    "verify": ROOT / "playbooks" / "verify.yml",
}
ENTITY = spc_entity()


def validate_tasks(path: Path) -> list[dict[str, Any]]:
    """The sagefleet_validate tasks of a playbook or a role's tasks file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    tasks = [t for play in data for t in play.get("tasks", [])] if "hosts" in data[0] else data
    return [t for t in tasks if "sagefleet_validate" in t]


@pytest.mark.parametrize("job", JOBS)
def test_each_job_checks_what_its_playbook_first_task_checks(job: str) -> None:
    (task,) = validate_tasks(FIRST_TASKS[job])
    options = task["sagefleet_validate"]
    role = options.get("role")
    given = {k: v for k, v in options.items() if k in ("deploy", "settings", "verify") and v}
    if role is not None:  # "{{ role_path }}" in a role's tasks, else the role's folder
        given["role"] = FIRST_TASKS[job].parents[1].name if "role_path" in role else Path(role).name
    assert given == JOB_OPTIONS[job]


def test_every_first_task_of_the_playbooks_is_a_job_of_the_cli() -> None:
    files = [*ROOT.glob("playbooks/*.yml"), *ROOT.glob("roles/*/tasks/*.yml")]
    found = {path for path in files if validate_tasks(path)}
    assert found == set(FIRST_TASKS.values())


def test_every_first_task_runs_whatever_the_run_does() -> None:
    """No condition: a settings rollback skipped its first task and met its bad inputs
    at the hosts, or at the report after them."""
    for path in FIRST_TASKS.values():
        (task,) = validate_tasks(path)
        assert "when" not in task, path


@pytest.mark.parametrize("role", sorted({o["role"] for o in JOB_OPTIONS.values() if "role" in o}))
def test_a_role_spec_from_the_declarations_is_its_argument_specs_file(role: str) -> None:
    declared = yaml.safe_load(yaml.safe_dump(rolespec.declared_options(role)))
    assert declared == rolespec.options(ROOT / "roles" / role)


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {"sage_servers": {"hosts": {"sage01": {}, "sage02": {}}}},
                    "vars": {
                        "ansible_connection": "winrm",
                        "ansible_user": "svc-sagefleet",
                        "ansible_password": "WinRM-Canary-1",
                        "sagefleet_settings_source": "template",
                        "sagefleet_entities": [ENTITY],
                    },
                }
            }
        )
    )
    return tmp_path / "hosts.yml"


def sage02(inventory: Path, values: dict[str, Any]) -> None:
    (inventory.parent / "host_vars" / "sage02.yml").write_text(yaml.safe_dump(values))


def test_an_inventory_no_job_refuses_is_ok(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "-i", str(inventory)]) == 0
    out, err = capsys.readouterr()
    assert out == "OK: 2 host(s), checked as preflight, deploy, settings, diagnose, verify will\n"
    assert err == ""


@pytest.mark.parametrize(
    ("values", "said"),
    [
        (
            {"sagefleet_waivers": [{"id": "SF999", "reason": "no such check"}]},
            "host sage02, field sagefleet_waivers[0].id: not a preflight check id (value: 'SF999')",
        ),
        (
            {"sagefleet_settings_sorce": "vendor"},
            "host sage02, field sagefleet_settings_sorce: not a sagefleet variable, so not read "
            "(a slip of sagefleet_settings_source?). Fix: rename it sagefleet_settings_source",
        ),
        (
            {"ansible_winrm_transport": "credssp"},
            "host sage02, field ansible_winrm_transport: the credssp transport needs "
            "pywinrm[credssp], not installed on the bastion (value: credssp)",
        ),
    ],
)
def test_what_a_job_refuses_is_an_input_error_naming_host_field_and_jobs(
    inventory: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    values: dict[str, Any],
    said: str,
) -> None:
    monkeypatch.setattr(winrm.transport, "HAVE_CREDSSP", False)
    sage02(inventory, values)
    assert main(["validate", "-i", str(inventory)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "sagefleet validate: error: 1 input error(s); no host was contacted:"
    assert lines[1].startswith(f"- {said}")
    assert lines[1].endswith(" [jobs: preflight, deploy, settings, diagnose, verify]")
    # One job: its first task's lines as they are.
    assert main(["validate", "-i", str(inventory), "--job", "verify"]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == [lines[1].rsplit(" [jobs: ", 1)[0]]


def test_a_check_only_some_jobs_make_names_them(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The rollout's share of failed hosts, which deploy.yml reads and no other job.
    sage02(inventory, {"sagefleet_deploy_max_fail_percentage": 150})
    assert main(["validate", "-i", str(inventory)]) == 2
    (line,) = capsys.readouterr().err.splitlines()[1:]
    assert line.startswith("- host sage02, field sagefleet_deploy_max_fail_percentage")
    assert line.endswith(" [jobs: deploy]")


def test_no_host_matching_is_a_usage_error(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "-i", str(inventory), "-l", "nowhere"]) == 2
    assert "no host matches 'nowhere'" in capsys.readouterr().err


def test_a_settings_rollback_is_checked_for_what_it_uses_not_the_entities(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rollback restores a backup and reads no entity: its backup's name is refused, an
    invalid entity is left to the jobs that read it."""
    sage02(
        inventory,
        {
            "sagefleet_settings_state": "rollback",
            "sagefleet_settings_backup": "..\\win.ini",
            "sagefleet_entities": [spc_entity(analytic_plan="abc")],
        },
    )
    assert main(["validate", "-i", str(inventory)]) == 2
    lines = capsys.readouterr().err.splitlines()[1:]
    backup = [line for line in lines if "field sagefleet_settings_backup: must be" in line]
    entity = [line for line in lines if "field analytic_plan" in line]
    assert len(backup) == 1 and backup[0].startswith("- host sage02, ")
    assert backup[0].endswith(" [jobs: settings]")
    assert len(entity) == 1 and entity[0].endswith(" [jobs: preflight, deploy, diagnose, verify]")
