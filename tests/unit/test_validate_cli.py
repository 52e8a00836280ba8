"""``sagefleet validate``: the checks of the playbooks' first task, from the command line.

Against real playbooks and a simulated fleet: tests/integration/test_validate_before_run.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import winrm.transport
import yaml
from tests.support.entities import spc_entity

from sagefleet.ansible import rolespec
from sagefleet.ansible.validate import JOB_OPTIONS, JOB_REPORTS, JOBS
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


def test_a_settings_rollback_asked_with_e_is_checked_as_a_rollback(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sage02(inventory, {"sagefleet_entities": [spc_entity(analytic_plan="abc")]})
    given = ["validate", "-i", str(inventory), "--job", "settings"]
    assert main(given) == 2  # a write reads the entity
    assert "field analytic_plan" in capsys.readouterr().err
    assert main([*given, "-e", "sagefleet_settings_state=rollback"]) == 0
    capsys.readouterr()
    backup = "sagefleet_settings_state=rollback sagefleet_settings_backup=..\\x"
    assert main([*given, "-e", backup]) == 2
    lines = [e for e in capsys.readouterr().err.splitlines() if "sagefleet_settings_backup" in e]
    assert [e.split(",")[0] for e in lines] == ["- host sage01", "- host sage02"], lines


def test_a_bad_retry_count_is_refused_for_every_job_that_retries(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every job but verify retries a transient WinRM failure: a bad
    sagefleet_winrm_retries refuses its run before any host is contacted (the settings
    job's, a write or a rollback)."""
    sage02(inventory, {"sagefleet_winrm_retries": -1})
    assert main(["validate", "-i", str(inventory)]) == 2
    (line,) = capsys.readouterr().err.splitlines()[1:]
    assert line == (
        "- host sage02, field sagefleet_winrm_retries: must be a whole number of retries "
        "from 0 to 10 (value: -1) [jobs: preflight, deploy, settings, diagnose]"
    ), line
    given = ["validate", "-i", str(inventory), "--job", "settings"]
    assert main([*given, "-e", "sagefleet_settings_state=rollback"]) == 2
    assert "field sagefleet_winrm_retries: must be" in capsys.readouterr().err


# -- what a run gets from -e -------------------------------------------------------------

EVERY_JOB = " [jobs: preflight, deploy, settings, diagnose, verify]"
MISSPELT = (
    "field sagefleet_settings_sorce: not a sagefleet variable, so not read (a slip of "
    "sagefleet_settings_source?). Fix: rename it sagefleet_settings_source"
)


def refused(capsys: pytest.CaptureFixture[str]) -> list[str]:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].endswith("input error(s); no host was contacted:"), err
    return lines[1:]


@pytest.mark.parametrize(
    ("form", "files"),
    [
        (["sagefleet_settings_sorce=vendor"], {}),
        (['{"sagefleet_settings_sorce": "vendor"}'], {}),
        (["@extra.yml"], {"extra.yml": "sagefleet_settings_sorce: vendor\n"}),
        (["@extra.json"], {"extra.json": '{"sagefleet_settings_sorce": "vendor"}'}),
        (["sagefleet_lang=fr", "sagefleet_settings_sorce=vendor sagefleet_lang=en"], {}),
    ],
)
def test_a_variable_given_with_e_is_checked_on_every_host_in_each_form(
    inventory: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    form: list[str],
    files: dict[str, str],
) -> None:
    monkeypatch.chdir(inventory.parent)  # @FILE relative to the current folder, as Ansible
    for name, text in files.items():
        (inventory.parent / name).write_text(text)
    extra = [option for value in form for option in ("-e", value)]
    assert main(["validate", "-i", str(inventory), *extra]) == 2
    assert refused(capsys) == [f"- host {h}, {MISSPELT}{EVERY_JOB}" for h in ("sage01", "sage02")]


def test_extra_vars_win_over_every_host_variables(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sage02(inventory, {"sagefleet_deploy_max_fail_percentage": 150})
    given = ["validate", "-i", str(inventory), "--job", "deploy"]
    assert main(given) == 2
    assert main([*given, "-e", "sagefleet_deploy_max_fail_percentage=10"]) == 0
    assert main(given) == 2  # the next inventory read takes no -e of an earlier one
    assert main([*given, "-e", '{"sagefleet_deploy_max_fail_percentage": 150}']) == 2
    *_, said = capsys.readouterr().err.splitlines()
    assert said.startswith("- host sage02, field sagefleet_deploy_max_fail_percentage")
    # A value of sage01's, which its inventory does not set, refused there too.
    assert main([*given, "-e", "sagefleet_deploy_max_fail_percentage=150"]) == 2
    hosts = [line.split(",")[0] for line in refused(capsys)]
    assert hosts == ["- host sage01", "- host sage02"]


def test_a_retired_variable_given_with_e_is_refused(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = ["validate", "-i", str(inventory), "--job", "preflight"]
    assert main([*given, "-e", "sagefleet_expected_issuers=CN=Root"]) == 2
    lines = refused(capsys)
    assert len(lines) == 2
    assert all(", field sagefleet_expected_issuers: " in line for line in lines), lines


@pytest.mark.parametrize(
    "value",
    [
        "ansible_password=WinRM-Canary-2 'unbalanced",
        '{"ansible_password": "WinRM-Canary-2"',
        '["WinRM-Canary-2"]',
    ],
)
def test_an_e_value_that_cannot_be_read_is_refused_without_showing_it(
    inventory: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert main(["validate", "-i", str(inventory), "-e", "sagefleet_lang=fr", "-e", value]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("sagefleet: error: field -e/--extra-vars: cannot read value")
    assert "value 2 of 2" in err
    assert "Canary" not in err


def test_a_missing_e_file_is_named(
    inventory: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.yml"
    assert main(["validate", "-i", str(inventory), "-e", f"@{missing}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "sagefleet: error: field -e/--extra-vars: cannot read value 1 of 1: no such file, "
        f"or the bastion cannot read it (value: {missing}). Fix: give KEY=VALUE pairs"
    ), err


def test_a_secret_given_with_e_is_not_shown_in_an_error(
    inventory: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    entity = spc_entity(sql_password="Sql-Canary-2", pdf_storage="nowhere")
    (tmp_path / "entities.json").write_text(json.dumps({"sagefleet_entities": [entity]}))
    assert main(["validate", "-i", str(inventory), "-e", f"@{tmp_path / 'entities.json'}"]) == 2
    out, err = capsys.readouterr()
    assert "pdf_storage" in err
    assert "Canary" not in out + err


@pytest.fixture
def not_a_folder(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("")
    return path


def test_the_report_folder_given_with_e_is_checked_as_each_job_checks_it(
    inventory: Path, capsys: pytest.CaptureFixture[str], not_a_folder: Path
) -> None:
    given = ["validate", "-i", str(inventory), "-e", f"sagefleet_report_dir={not_a_folder}"]
    assert main(given) == 2
    lines = refused(capsys)
    # Each job's folder under the reports root, named as the run names it; verify's first
    # task checks none, diagnose's its own sagefleet_diagnose_dest.
    inventory_name = inventory.parent.name
    assert [line.rsplit(" [jobs: ", 1)[1] for line in lines] == [
        "preflight]",
        "deploy]",
        "settings]",
    ]
    for line, job in zip(lines, ("preflight", "deploy", "settings"), strict=True):
        assert line.startswith(
            f"- field sagefleet_report_dir: the bastion cannot write there ({not_a_folder} is "
            f"not a folder) (value: {not_a_folder / inventory_name / job}). Fix: "
        ), line
    assert main([*given, "--job", "verify"]) == 0


@pytest.mark.parametrize(
    ("var", "job"),
    [
        ("sagefleet_preflight_report_dir", "preflight"),
        ("sagefleet_deploy_report_dir", "deploy"),
        ("sagefleet_settings_report_dir", "settings"),
        ("sagefleet_diagnose_dest", "diagnose"),
    ],
)
def test_a_job_own_report_folder_is_checked_for_that_job(
    inventory: Path, capsys: pytest.CaptureFixture[str], not_a_folder: Path, var: str, job: str
) -> None:
    assert main(["validate", "-i", str(inventory), "-e", f"{var}={not_a_folder}"]) == 2
    (line,) = refused(capsys)
    assert line.startswith(f"- field {var}: the bastion cannot write there"), line
    assert line.endswith(f" [jobs: {job}]"), line


@pytest.mark.parametrize("job", JOBS)
def test_each_job_checks_the_report_folder_its_first_task_checks(job: str) -> None:
    (task,) = validate_tasks(FIRST_TASKS[job])
    report = task["sagefleet_validate"].get("report")
    if report is None:
        assert job not in JOB_REPORTS
        return
    assert {k: v for k, v in report.items() if k != "dest"} == JOB_REPORTS[job]
    # The folder the job's variable names, or none (the job's folder under the root).
    assert report["dest"].replace(" | default('')", "") == "{{ " + report["var"] + " }}"


def test_a_template_given_with_e_is_rendered_as_the_run_renders_it(
    inventory: Path, capsys: pytest.CaptureFixture[str], not_a_folder: Path
) -> None:
    value = "{{ '" + str(not_a_folder) + "' }}"
    given = ["validate", "-i", str(inventory), "--job", "preflight"]
    assert main([*given, "-e", f"sagefleet_preflight_report_dir={value}"]) == 2
    (line,) = refused(capsys)
    assert f"(value: {not_a_folder})" in line, line


# -- variables Ansible gives the inventory's values ----------------------------------------


def test_the_inventory_magic_variables_are_rendered_as_the_run_renders_them(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """inventory_dir, inventory_file, inventory_hostname, group_names and groups, which
    Ansible gives every host's values: a folder under the inventory's file, not a folder."""
    value = (
        "{{ inventory_file }}/{{ inventory_dir | basename }}-{{ inventory_hostname }}-"
        "{{ group_names | join('+') }}-{{ groups['sage_servers'] | length }}"
    )
    (inventory.parent / "host_vars" / "sage01.yml").write_text(
        yaml.safe_dump({"sagefleet_preflight_report_dir": value})
    )
    assert main(["validate", "-i", str(inventory), "--job", "preflight"]) == 2
    (line,) = refused(capsys)
    expected = inventory / f"{inventory.parent.name}-sage01-sage_servers-2"
    assert line.startswith("- field sagefleet_preflight_report_dir: the bastion cannot write"), line
    assert f"(value: {expected})" in line, line


def test_playbook_dir_is_the_playbooks_folder_the_runs_use(
    inventory: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runs start from the project's folder (ansible-playbook playbooks/<job>.yml): a
    folder under pyproject.toml, beside the playbooks' folder, cannot be written."""
    monkeypatch.chdir(ROOT)
    value = "{{ playbook_dir }}/../pyproject.toml/reports"
    sage02(inventory, {})
    (inventory.parent / "host_vars" / "sage01.yml").write_text(
        yaml.safe_dump({"sagefleet_preflight_report_dir": value})
    )
    assert main(["validate", "-i", str(inventory), "--job", "preflight"]) == 2
    (line,) = refused(capsys)
    assert f"(value: {ROOT / 'pyproject.toml' / 'reports'})" in line, line


PLAY_ONLY = [
    ("{{ role_path }}/../reports", "role_path"),
    ("{{ ansible_play_hosts | length }}", "ansible_play_hosts"),
    ("reports-{{ ansible_play_batch | first }}", "ansible_play_batch"),
]


def at_run_note(host: str, field: str, variable: str, value: str) -> str:
    why = (
        "the folder of the run's playbook, and the current folder has no playbooks/"
        if variable == "playbook_dir"
        else "which Ansible defines only in a play"
    )
    return (
        f"note: host {host}, field {field}: uses {variable}, {why}: checked at the run, by "
        f"the playbooks' first task (value: {value!r})"
    )


@pytest.mark.parametrize(("value", "variable"), PLAY_ONLY)
def test_a_value_only_a_play_can_render_is_said_to_be_checked_at_the_run(
    inventory: Path, capsys: pytest.CaptureFixture[str], value: str, variable: str
) -> None:
    """Neither refused nor passed silently: a note naming host, field and value; the other
    checks run, the exit code is theirs."""
    field = "sagefleet_preflight_report_dir"
    (inventory.parent / "host_vars" / "sage01.yml").write_text(yaml.safe_dump({field: value}))
    assert main(["validate", "-i", str(inventory), "--job", "preflight"]) == 0
    out, err = capsys.readouterr()
    assert out == "OK: 2 host(s), checked as preflight will\n"
    assert err == at_run_note("sage01", field, variable, value) + "\n"
    misspelt = ["-e", "sagefleet_settings_sorce=vendor"]
    assert main(["validate", "-i", str(inventory), "--job", "preflight", *misspelt]) == 2
    out, err = capsys.readouterr()
    assert at_run_note("sage01", field, variable, value) in err.splitlines()
    assert f"- host sage02, {MISSPELT}" in err


def test_a_required_value_only_a_play_can_render_is_not_said_missing(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """deploy refuses a host without entities: entities the run renders are not missing."""
    value = "{{ ansible_play_hosts and [] }}"
    sage02(inventory, {"sagefleet_entities": value})
    assert main(["validate", "-i", str(inventory), "--job", "deploy"]) == 0
    err = capsys.readouterr().err
    assert err == at_run_note("sage02", "sagefleet_entities", "ansible_play_hosts", value) + "\n"


def test_playbook_dir_outside_the_project_folder_is_checked_at_the_run(
    inventory: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From a folder without playbooks/, which playbooks the run uses is not known."""
    monkeypatch.chdir(inventory.parent)
    value = "{{ playbook_dir }}/../reports"
    field = "sagefleet_preflight_report_dir"
    (inventory.parent / "host_vars" / "sage01.yml").write_text(yaml.safe_dump({field: value}))
    assert main(["validate", "-i", str(inventory), "--job", "preflight"]) == 0
    note = at_run_note("sage01", field, "playbook_dir", value)
    assert capsys.readouterr().err == note + "\n"


def test_a_report_folder_only_the_run_knows_is_not_taken_for_the_default(
    inventory: Path, capsys: pytest.CaptureFixture[str], not_a_folder: Path
) -> None:
    """The run writes to the folder the job's variable names, not under the reports root."""
    field = "sagefleet_preflight_report_dir"
    value = "{{ role_path }}/../reports"
    (inventory.parent / "host_vars" / "sage01.yml").write_text(yaml.safe_dump({field: value}))
    given = ["validate", "-i", str(inventory), "--job", "preflight"]
    assert main([*given, "-e", f"sagefleet_report_dir={not_a_folder}"]) == 0
    assert capsys.readouterr().err == at_run_note("sage01", field, "role_path", value) + "\n"
