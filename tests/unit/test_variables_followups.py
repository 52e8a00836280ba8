"""One name per concept, continued: the target version's retired name, the backup folder,
the facts snippet's parameter, one default for the staging and backup folders, retries
and settings read through the declaration, and deprecations as Ansible shows them."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet import diagnose, offline, preflight, transfer, variables
from sagefleet.deploy import DeployOptions, options_from
from sagefleet.errors import InputError
from sagefleet.package import build_test_package, check_hosts, inspect
from sagefleet.remote.retry import retry_from
from sagefleet.settings import settings_options
from sagefleet.sim.commands.snippet_models import FACTS_PARAMS
from sagefleet.variables import DeprecatedVariable
from sagefleet.variables.declarations import BACKUP_DIR, STAGING_DIR
from sagefleet.verify.expectations import for_host

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "sagefleet_agent_version", "sagefleet_agent_target_version"


# -- the target version --------------------------------------------------------------


def test_the_retired_target_version_name_still_works_and_warns() -> None:
    with pytest.warns(DeprecatedVariable, match=f"sage01: {OLD} is deprecated.*rename it {NEW}"):
        prepared = preflight.prepare("sage01", {OLD: "3.2.0"})
    assert prepared.target_version == "3.2.0"
    with pytest.warns(DeprecatedVariable, match=NEW):
        assert options_from("sage01", {OLD: "3.2.0"}).target_version == "3.2.0"
    with pytest.warns(DeprecatedVariable, match=NEW):
        assert for_host("sage01", {OLD: "3.2.0"}).target_version == "3.2.0"


def test_the_new_target_version_name_reads_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecatedVariable)
        assert preflight.prepare("sage01", {NEW: "3.2.0"}).target_version == "3.2.0"
        assert options_from("sage01", {NEW: "3.2.0"}).target_version == "3.2.0"


def test_the_package_check_reads_the_retired_name_too(tmp_path: Path) -> None:
    info = inspect(build_test_package(tmp_path / "Setup.zip", agent_version="3.3.0"))
    with pytest.warns(DeprecatedVariable, match=NEW):
        (error,) = check_hosts(info, {"sage01": {OLD: "3.2.0"}})
    assert error.field == NEW and f"set {NEW} to 3.3.0" in str(error)


def test_both_roles_still_accept_the_retired_name() -> None:
    for role in ("sagefleet_agent", "sagefleet_preflight"):
        spec = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
        options = spec["argument_specs"]["main"]["options"]
        assert options[NEW]["type"] == "str"
        assert f"Deprecated: use {NEW}" in options[OLD]["description"]


# -- deprecations as Ansible shows them -------------------------------------------------


def test_deprecations_told_inside_the_block_are_collected_once_not_warned() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecatedVariable)
        with variables.told_deprecations() as told:
            preflight.prepare("sage01", {OLD: "3.2.0"})
            preflight.prepare("sage01", {OLD: "3.2.0"})
    assert told == [
        f"sage01: {OLD} is deprecated and read until {variables.DEPRECATED_UNTIL} only: "
        f"rename it {NEW}"
    ]
    with pytest.warns(DeprecatedVariable):  # outside the block: Python's warning again
        preflight.prepare("sage01", {OLD: "3.2.0"})


def test_the_action_base_returns_them_as_ansible_deprecations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("ansible")
    from ansible.plugins.action import ActionBase

    from sagefleet.ansible.action import SagefleetAction

    class Probe(SagefleetAction):
        _requires_connection = False

        def read_variables(self) -> dict[str, Any]:
            return {OLD: "3.2.0"}

        def prepare(self, variables: dict[str, Any]) -> Any:
            return preflight.prepare(self.host, variables)

        def act(self, session: Any, inputs: Any) -> dict[str, Any]:
            return {"changed": False, "target": inputs.target_version}

    monkeypatch.setattr(ActionBase, "run", lambda self, tmp=None, task_vars=None: {})
    probe = Probe.__new__(Probe)
    monkeypatch.setattr(
        probe, "validate_argument_spec", lambda argument_spec: (None, {}), raising=False
    )
    result = probe.run(task_vars={"inventory_hostname": "sage01"})
    assert result["target"] == "3.2.0"
    assert result["deprecations"] == [
        {
            "msg": f"sage01: {OLD} is deprecated and read until 0.2.0 only: rename it {NEW}",
            "version": "0.2.0",
            "collection_name": "sagefleet.fleet",
        }
    ]


# -- the staging and backup folders ---------------------------------------------------------


def test_the_backup_folder_has_one_name_and_one_default() -> None:
    assert DeployOptions().backup_dir == BACKUP_DIR.default
    assert options_from("h", {BACKUP_DIR.name: "D:\\backup"}).backup_dir == "D:\\backup"
    assert not hasattr(DeployOptions(), "backup_root")


def test_the_staging_folder_default_is_the_declared_one_everywhere() -> None:
    assert STAGING_DIR.default == "C:\\ProgramData\\sagefleet\\staging"
    assert STAGING_DIR.default == transfer.DEFAULT_STAGING_DIR
    assert DeployOptions().staging_dir == STAGING_DIR.default
    assert STAGING_DIR.default == diagnose.DEFAULT_STAGING
    assert for_host("h", {}).staging_dir == STAGING_DIR.default
    assert for_host("h", {STAGING_DIR.name: "D:\\stage"}).staging_dir == "D:\\stage"


# -- the facts snippet's parameter ----------------------------------------------------------


def test_the_facts_snippet_takes_service_name() -> None:
    assert "service_name" in FACTS_PARAMS and "agent_service" not in FACTS_PARAMS
    assert offline.default_params(service_name="X")["service_name"] == "X"
    prepared = preflight.prepare("h", {"sagefleet_agent_service_name": "X"})
    assert prepared.facts_params()["service_name"] == "X"
    script = (ROOT / "src/sagefleet/snippets/facts.ps1").read_text(encoding="utf-8")
    assert "Get-SfParam service_name" in script and "Get-SfParam agent_service" not in script


# -- retries and settings through the declaration ---------------------------------------


@pytest.mark.parametrize(
    ("field", "given", "message"),
    [
        ("sagefleet_winrm_retries", -1, "must be a whole number of retries from 0 to 10"),
        ("sagefleet_winrm_retries", "three", "must be a whole number of retries from 0 to 10"),
        ("sagefleet_winrm_retries", "2.5", "must be a whole number of retries from 0 to 10"),
        ("sagefleet_winrm_retries", "11", "must be a whole number of retries from 0 to 10"),
        ("sagefleet_winrm_retries", True, "must be a whole number of retries from 0 to 10"),
        ("sagefleet_winrm_retry_backoff_s", 61, "must be a number of seconds from 0 to 60"),
        ("sagefleet_winrm_retry_backoff_s", "1s", "must be a number of seconds from 0 to 60"),
        ("sagefleet_winrm_retry_backoff_s", "nan", "must be a number of seconds from 0 to 60"),
    ],
)
def test_a_bad_retry_variable_names_host_field_and_value(
    field: str, given: Any, message: str
) -> None:
    with pytest.raises(InputError) as refused:
        retry_from("sage01", {field: given})
    error = refused.value
    assert (error.host, error.field, error.value) == ("sage01", field, repr(given))
    assert error.message == message


def test_a_number_given_as_text_is_read_as_a_number() -> None:
    # -e name=value gives text; Ansible's own argument spec reads "3" as 3 for an int.
    policy = retry_from(
        "sage01", {"sagefleet_winrm_retries": "3", "sagefleet_winrm_retry_backoff_s": "0.5"}
    )
    assert (policy.retries, policy.backoff_s) == (3, 0.5)


def test_retries_default_as_declared() -> None:
    policy = retry_from("sage01", {})
    assert (policy.retries, policy.backoff_s) == (2, 1.0)
    assert retry_from("sage01", {"sagefleet_winrm_retry_backoff_s": 2}).backoff_s == 2.0


def test_a_bad_settings_source_says_what_each_source_does() -> None:
    with pytest.raises(InputError) as refused:
        settings_options("sage01", {"sagefleet_settings_source": "file"})
    error = refused.value
    assert (error.host, error.field, error.value) == (
        "sage01",
        "sagefleet_settings_source",
        "'file'",
    )
    assert error.fix is not None and error.fix.startswith("vendor: merge the settings.json")
    assert settings_options("sage01", {"sagefleet_settings_source": ""}).source == "vendor"
    with pytest.raises(InputError) as refused:
        settings_options("sage01", {"sagefleet_settings_drop_connections": "sometimes"})
    assert refused.value.fix == (
        "write sagefleet_settings_drop_connections: true only to remove connections the "
        "vendor files lack"
    )


# -- the playbooks' own defaults -----------------------------------------------------------

_PLAYBOOK_DEFAULT = re.compile(r"\b(sagefleet_\w+) \| default\(([^\n]*?)\)\s*(?:\}\}|\|)")


def _literal(arguments: str) -> Any:
    """The value of ``default(value[, boolean])`` as Python, or UNSET when it is not a
    literal (omit, an expression)."""
    text = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", arguments))
    try:
        return ast.literal_eval(f"({text},)")[0]
    except (ValueError, SyntaxError):
        return variables.UNSET


def test_a_playbook_default_of_a_declared_variable_is_its_declared_default() -> None:
    """A play outside the roles sees no role defaults, so playbooks/ repeats a few of them
    in `| default(...)`: each such literal must be the declaration's (one default)."""
    seen = {}
    for playbook in sorted((ROOT / "playbooks").glob("*.yml")):
        for name, argument in _PLAYBOOK_DEFAULT.findall(playbook.read_text()):
            declared = variables.declared().get(name)
            given = _literal(argument)
            if declared is None or given is variables.UNSET or declared.default is variables.UNSET:
                continue
            seen[name] = given
            assert given == declared.default, f"{playbook.name}: {name} | default({argument})"
    # The ones this test is for: it must not pass by reading none (deploy.yml's report
    # reads each blocked host's sagefleet_deploy_fail_on_blocked, its declared default).
    assert {"sagefleet_deploy_waves", "sagefleet_verify_workers"} <= set(seen), seen
