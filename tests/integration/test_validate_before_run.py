"""Checking an inventory before a run gives the same answer as the run.

``sagefleet validate`` runs the checks of the playbooks' first task (sagefleet_validate):
what it refuses, each playbook refuses with the same lines, before any host is contacted.
A WinRM transport whose library the bastion lacks is one of them: ansible-core's winrm
connection would otherwise find it out at the host and call the host unreachable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import winrm.transport

from sagefleet.package import build_test_package
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import ROOT, next_first_address
from tests.support.reliability import playbook, untouched
from tests.support.scenarios import write_inventory

pytestmark = pytest.mark.integration

#: One defect a host, each refused by every job before any host is contacted.
DEFECTS: dict[str, tuple[dict[str, Any], str]] = {
    "sage01": (
        {"sagefleet_waivers": [{"id": "SF999", "reason": "no such check"}]},
        "sagefleet_waivers[0].id",
    ),
    "sage02": ({"sagefleet_settings_sorce": "vendor"}, "sagefleet_settings_sorce"),
    "sage03": ({"ansible_winrm_transport": "kerberos"}, "ansible_winrm_transport"),
}
#: A waiver past its date: no run refuses it, preflight blocks the host with SF901.
EXPIRED = {"sagefleet_waivers": [{"id": "SF308", "reason": "proxy", "expires": "2020-01-31"}]}


def refused_lines(text: str) -> list[str]:
    """The refusal's error lines (``- host ...``), as the CLI and the task print them (once
    each: ansible-core prints a failed task's message twice)."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("- host ")]
    return list(dict.fromkeys(lines))


def sagefleet_validate(inventory: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sagefleet", "validate", "-i", str(inventory), *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def contacted(fleet: Fleet) -> dict[str, int]:
    """The hosts a WinRM request reached, with how many."""
    served = {name: fleet.listeners[name].stats.http_requests for name in fleet.hosts}
    return {name: count for name, count in served.items() if count}


#: What every inventory of this module gives all its hosts.
TARGET = {"sagefleet_agent_target_version": "3.2.0"}


@contextmanager
def two_hosts(
    tmp_path: Path, host_vars: dict[str, dict[str, Any]] | None = None
) -> Iterator[tuple[Fleet, Path]]:
    """Two simulated hosts, sage01 and sage02, and their inventory (inv/hosts.yml under
    ``tmp_path``: TARGET for both, ``host_vars`` for the hosts it names)."""
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        yield (
            fleet,
            write_inventory(fleet, tmp_path / "inv" / "hosts.yml", TARGET, host_vars=host_vars),
        )


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("package")
    return build_test_package(folder / "Setup.zip", agent_version="3.2.0")


@pytest.fixture(scope="module")
def bad_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    tmp = tmp_path_factory.mktemp("validate")
    specs = generate_specs(len(DEFECTS), first_address=next_first_address(), port=0)
    with Fleet(specs, tmp / "fleet") as fleet:
        inventory = write_inventory(
            fleet,
            tmp / "inv" / "hosts.yml",
            TARGET,
            host_vars={name: values for name, (values, _) in DEFECTS.items()},
        )
        yield fleet, inventory


def test_the_bastion_has_no_kerberos_extra() -> None:
    # What the kerberos host below depends on: pywinrm without pywinrm[kerberos].
    assert not winrm.transport.HAVE_KERBEROS


@pytest.mark.parametrize("job", ["preflight", "deploy", "settings", "diagnose", "verify"])
def test_each_playbook_refuses_what_sagefleet_validate_said_in_the_same_words(
    bad_fleet: tuple[Fleet, Path], package: Path, tmp_path: Path, job: str
) -> None:
    fleet, inventory = bad_fleet
    said = sagefleet_validate(inventory, "--job", job)
    assert said.returncode == 2, said.stdout + said.stderr
    lines = refused_lines(said.stderr)
    assert len(lines) == len(DEFECTS), said.stderr
    for name, (_, field) in DEFECTS.items():
        assert any(line.startswith(f"- host {name}, field {field}:") for line in lines), lines
    extra = ["-e", f"sagefleet_agent_package={package}"] if job == "deploy" else []
    run = playbook(
        f"{job}.yml", inventory, *extra, "-e", f"sagefleet_report_dir={tmp_path / 'reports'}"
    )
    assert run.returncode == 2, run.stdout[-3000:]
    assert f"{len(DEFECTS)} input error(s); no host was contacted" in run.stdout
    assert refused_lines(run.stdout) == lines
    assert contacted(fleet) == {}
    assert all(fleet.host(name).journal == [] for name in fleet.hosts)


def test_every_job_at_once_lists_each_error_once_with_the_jobs_refusing_it(
    bad_fleet: tuple[Fleet, Path],
) -> None:
    fleet, inventory = bad_fleet
    said = sagefleet_validate(inventory)
    assert said.returncode == 2
    assert said.stdout == ""
    assert f"{len(DEFECTS)} input error(s); no host was contacted" in said.stderr
    lines = refused_lines(said.stderr)
    assert len(lines) == len(DEFECTS), said.stderr
    every = "[jobs: preflight, deploy, settings, diagnose, verify]"
    assert all(line.endswith(every) for line in lines), lines
    kerberos = next(line for line in lines if line.startswith("- host sage03,"))
    assert "the kerberos transport needs pywinrm[kerberos], not installed" in kerberos
    assert contacted(fleet) == {}


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("preflight.yml", ["-e", "sagefleet_preflight_mode=per_host"]),
        ("deploy.yml", []),
    ],
)
def test_a_transport_the_bastion_lacks_is_refused_before_any_host_is_contacted(
    tmp_path: Path, package: Path, name: str, extra: list[str]
) -> None:
    """sage02 asks for kerberos, which this bastion cannot speak: the run stops at its
    first task, as for any other input error, and sage01 is not contacted either."""
    kerberos = {"sage02": {"ansible_winrm_transport": "kerberos"}}
    with two_hosts(tmp_path, kerberos) as (fleet, inventory):
        before = untouched(fleet)
        run = playbook(
            name,
            inventory,
            "-e",
            f"sagefleet_agent_package={package}",
            "-e",
            f"sagefleet_report_dir={tmp_path / 'reports'}",
            *extra,
        )
        assert run.returncode == 2, run.stdout[-3000:]
        assert "1 input error(s); no host was contacted" in run.stdout, run.stdout[-3000:]
        assert refused_lines(run.stdout) == [
            "- host sage02, field ansible_winrm_transport: the kerberos transport needs "
            "pywinrm[kerberos], not installed on the bastion (value: kerberos). Fix: install "
            "it in sagefleet's Python environment (pip install 'pywinrm[kerberos]', and the "
            "system libraries it needs), or use ntlm"
        ]
        assert contacted(fleet) == {}
        assert untouched(fleet) == before


def test_an_expired_waiver_is_said_as_what_preflight_will_do_with_it(tmp_path: Path) -> None:
    """No run refuses it, so neither does sagefleet validate (exit 0): it says that preflight
    will block the host with SF901, which preflight.yml then does."""
    with two_hosts(tmp_path, {"sage02": EXPIRED}) as (fleet, inventory):
        said = sagefleet_validate(inventory)
        assert said.returncode == 0, said.stderr
        assert said.stdout == (
            "OK: 2 host(s), checked as preflight, deploy, settings, diagnose, verify will\n"
        )
        assert said.stderr == (
            "note: host sage02, field sagefleet_waivers[0].expires: the waiver of SF308 "
            "expired on 2020-01-31: preflight will report SF901 (error), which blocks the host, "
            "and a deploy will leave it alone. Fix: fix the cause, or renew the waiver with a "
            "new date and reason\n"
        )
        assert contacted(fleet) == {}
        out = tmp_path / "out"
        run = playbook("preflight.yml", inventory, "-e", f"sagefleet_preflight_report_dir={out}")
    assert run.returncode == 0, run.stdout[-3000:]
    hosts = {h["host"]: h for h in json.loads((out / "report.json").read_text())["hosts"]}
    assert (hosts["sage01"]["status"], hosts["sage02"]["status"]) == ("ready", "blocked")
    (sf901,) = [f for f in hosts["sage02"]["findings"] if f["check_id"] == "SF901"]
    assert (sf901["status"], sf901["severity"]) == ("fail", "error")


def test_what_a_run_gets_from_e_is_refused_by_both_in_the_same_words(tmp_path: Path) -> None:
    """-e wins over the inventory: a misspelt variable, and a report folder the bastion
    cannot write (a file), given only with -e, are refused by sagefleet validate given the
    same -e, and by the run at its first task, before any host is contacted."""
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    extra = ["-e", "sagefleet_settings_sorce=vendor", "-e", f"sagefleet_report_dir={not_a_folder}"]
    with two_hosts(tmp_path) as (fleet, inventory):
        assert sagefleet_validate(inventory, "--job", "preflight").returncode == 0
        said = sagefleet_validate(inventory, "--job", "preflight", *extra)
        assert said.returncode == 2, said.stdout + said.stderr
        lines = [line.strip() for line in said.stderr.splitlines() if line.startswith("- ")]
        assert [line.split(":")[0] for line in lines] == [
            "- host sage01, field sagefleet_settings_sorce",
            "- host sage02, field sagefleet_settings_sorce",
            "- field sagefleet_report_dir",
        ]
        assert f"(value: {not_a_folder}/inv/preflight)" in lines[2]
        run = playbook("preflight.yml", inventory, *extra)
        assert run.returncode == 2, run.stdout[-3000:]
        assert "3 input error(s); no host was contacted" in run.stdout
        shown = [line.strip() for line in run.stdout.splitlines()]
        assert [line for line in dict.fromkeys(shown) if line in lines] == lines
        assert contacted(fleet) == {}


def error_lines(text: str) -> list[str]:
    """Every line of a refusal (``- host ...``, ``- field ...``), once each."""
    return list(dict.fromkeys(s for s in map(str.strip, text.splitlines()) if s.startswith("- ")))


def test_values_using_playbook_dir_and_inventory_variables_are_refused_alike(
    tmp_path: Path,
) -> None:
    """playbook_dir (the playbooks' folder) and the inventory's own variables render as in
    the run: a report folder under pyproject.toml, a file, is refused by both in the same
    words, as a misspelt variable beside it, before any host is contacted."""
    report = "{{ playbook_dir }}/../pyproject.toml/{{ inventory_dir | basename }}"
    with two_hosts(
        tmp_path,
        {
            "sage01": {"sagefleet_preflight_report_dir": report},
            "sage02": {"sagefleet_settings_sorce": "{{ group_names | first }}"},
        },
    ) as (fleet, inventory):
        said = sagefleet_validate(inventory, "--job", "preflight")
        assert said.returncode == 2, said.stdout + said.stderr
        lines = error_lines(said.stderr)
        assert [line.split(":")[0] for line in lines] == [
            "- host sage02, field sagefleet_settings_sorce",
            "- field sagefleet_preflight_report_dir",
        ]
        assert f"(value: {ROOT / 'pyproject.toml' / 'inv'})" in lines[1], lines
        run = playbook("preflight.yml", inventory)
        assert run.returncode == 2, run.stdout[-3000:]
        assert "2 input error(s); no host was contacted" in run.stdout, run.stdout[-3000:]
        assert [line for line in error_lines(run.stdout) if line in lines] == lines
        assert contacted(fleet) == {}


def test_values_only_a_play_defines_are_left_to_the_run_whose_first_task_checks_them(
    tmp_path: Path,
) -> None:
    """sagefleet validate cannot render role_path nor ansible_play_hosts: it says the run
    checks them (exit 0, a note naming host, field and value). The run's first task renders
    them as each host's own task does and checks them, before any host is contacted: the
    report folder role_path names, under pyproject.toml, a file, is refused; sage02's
    language is not, and the run goes on."""
    report = "{{ role_path }}/../../pyproject.toml/roles"
    lang = "{{ 'fr' if ansible_play_hosts else 'en' }}"
    with two_hosts(
        tmp_path,
        {
            "sage01": {"sagefleet_preflight_report_dir": report},
            "sage02": {"sagefleet_lang": lang},
        },
    ) as (fleet, inventory):
        said = sagefleet_validate(inventory, "--job", "preflight")
        assert said.returncode == 0, said.stderr
        assert said.stdout == "OK: 2 host(s), checked as preflight will\n"
        why = (
            "which Ansible defines only in a play: checked at the run, by the playbooks' first task"
        )
        assert said.stderr.splitlines() == [
            f"note: host sage01, field sagefleet_preflight_report_dir: uses role_path, {why} "
            f"(value: {report!r})",
            f"note: host sage02, field sagefleet_lang: uses ansible_play_hosts, {why} "
            f"(value: {lang!r})",
        ]
        run = playbook("preflight.yml", inventory)
        assert run.returncode == 2, run.stdout[-3000:]
        assert "1 input error(s); no host was contacted" in run.stdout, run.stdout[-3000:]
        file = ROOT / "pyproject.toml"
        # Each error line as the task's message says it (its YAML dump wraps it too).
        assert [line for line in error_lines(run.stdout) if "(value: " in line] == [
            "- field sagefleet_preflight_report_dir: the bastion cannot write there "
            f"({file} is not a folder) (value: {file / 'roles'}). Fix: give a folder the "
            "bastion's user can create and write, or leave it unset for the project's reports/"
        ]
        assert contacted(fleet) == {}
        # Without the report folder: the run renders sage02's language and passes.
        write_inventory(fleet, inventory, TARGET, host_vars={"sage02": {"sagefleet_lang": lang}})
        out = tmp_path / "out"
        run = playbook("preflight.yml", inventory, "-e", f"sagefleet_preflight_report_dir={out}")
    assert run.returncode == 0, run.stdout[-3000:]
    hosts = {h["host"]: h for h in json.loads((out / "report.json").read_text())["hosts"]}
    assert (hosts["sage01"]["status"], hosts["sage02"]["status"]) == ("ready", "ready")


def test_role_path_outside_a_role_is_refused_by_the_first_task_naming_host_and_field(
    tmp_path: Path, package: Path
) -> None:
    """deploy.yml's first task is the play's own, in no role: the value validate left to
    the run is refused there, naming the host and the field, before any host is touched."""
    lang = "{{ role_path | basename }}"
    with two_hosts(tmp_path, {"sage02": {"sagefleet_lang": lang}}) as (fleet, inventory):
        said = sagefleet_validate(inventory, "--job", "deploy")
        assert said.returncode == 0, said.stderr
        assert said.stderr.startswith(
            "note: host sage02, field sagefleet_lang: uses role_path, which Ansible defines "
        ), said.stderr
        run = playbook("deploy.yml", inventory, "-e", f"sagefleet_agent_package={package}")
        assert run.returncode == 2, run.stdout[-3000:]
        assert (
            "invalid input, host not contacted: host sage02, field sagefleet_lang: cannot "
            "template the variable: 'role_path' is undefined"
        ) in run.stdout, run.stdout[-3000:]
        assert contacted(fleet) == {}
