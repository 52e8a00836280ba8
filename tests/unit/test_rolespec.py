"""A role's argument spec checked for every host at once (sagefleet.ansible.rolespec)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sagefleet import inventory
from sagefleet.ansible import rolespec

ROOT = Path(__file__).resolve().parents[2]
PREFLIGHT_ROLE = ROOT / "roles" / "sagefleet_preflight"


def test_the_options_are_those_of_the_main_entry_point() -> None:
    spec = rolespec.options(PREFLIGHT_ROLE)
    assert spec["sagefleet_preflight_lang"]["choices"] == ["en", "fr"]
    assert "sagefleet_preflight_min_free_mb" in spec


def test_valid_values_and_other_variables_give_no_error() -> None:
    spec = rolespec.options(PREFLIGHT_ROLE)
    variables = {
        "sagefleet_preflight_lang": "fr",
        "sagefleet_preflight_min_free_mb": "800",  # Ansible converts, as its own check would
        "sagefleet_dns_port": "not checked here",  # not an option of this role
    }
    assert rolespec.check("sage01", variables, spec, role="sagefleet_preflight") == []


def test_each_refused_value_names_host_field_value_and_role() -> None:
    spec = rolespec.options(PREFLIGHT_ROLE)
    errors = rolespec.check(
        "sage01",
        {"sagefleet_preflight_lang": "de", "sagefleet_preflight_timeout_ms": "fast"},
        spec,
        role="sagefleet_preflight",
    )
    assert [(e.host, e.field, e.value) for e in errors] == [
        ("sage01", "sagefleet_preflight_lang", "'de'"),
        ("sage01", "sagefleet_preflight_timeout_ms", "'fast'"),
    ]
    text = str(errors[0])
    assert "host sage01" in text and "argument spec of role sagefleet_preflight" in text
    assert "en, fr" in text and "README" in text


def test_a_secret_value_never_shows(tmp_path: Path) -> None:
    role = tmp_path / "demo_role"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(
        yaml.safe_dump(
            {"argument_specs": {"main": {"options": {"demo_sql_password": {"type": "int"}}}}}
        )
    )
    canary = "Sql-Canary-Passw0rd!"
    errors = rolespec.check(
        "sage01", {"demo_sql_password": canary}, rolespec.options(role), role="demo_role"
    )
    assert len(errors) == 1 and errors[0].field == "demo_sql_password"
    assert canary not in str(errors[0])


MAIN_INPUTS = {
    "sagefleet_agent": {
        "sagefleet_entities",
        "sagefleet_agent_target_version",
        "sagefleet_agent_package",
        "sagefleet_agent_service_account",
        "sagefleet_agent_service_password",
        "sagefleet_agent_installer_arguments",
        "sagefleet_deploy_waves",
    },
    "sagefleet_preflight": {
        "sagefleet_entities",
        "sagefleet_agent_target_version",
        "sagefleet_agent_service_account",
    },
}


def test_roles_declare_their_main_inputs() -> None:
    for role, names in MAIN_INPUTS.items():
        assert names <= set(rolespec.options(ROOT / "roles" / role)), role


def test_entities_and_passwords_are_no_log_in_the_specs() -> None:
    spec = rolespec.options(ROOT / "roles" / "sagefleet_agent")
    assert spec["sagefleet_entities"]["no_log"] is True
    assert spec["sagefleet_agent_service_password"]["no_log"] is True


def test_a_refused_no_log_value_never_shows() -> None:
    spec = rolespec.options(ROOT / "roles" / "sagefleet_agent")
    canary = "Sql-Canary-Passw0rd!"
    entity = {"name": "BIJOU", "sql_password": canary}
    errors = rolespec.check("sage01", {"sagefleet_entities": entity}, spec, role="sagefleet_agent")
    assert [e.field for e in errors] == ["sagefleet_entities"]
    assert canary not in str(errors[0])


@pytest.mark.parametrize("source", ["demo", "example"])
def test_the_shipped_inventories_satisfy_every_role_spec(source: str) -> None:
    hosts = inventory.load([ROOT / "inventory" / source], connect=False)
    assert hosts
    for role in MAIN_INPUTS:
        spec = rolespec.options(ROOT / "roles" / role)
        for host in hosts:
            assert rolespec.check(host.name, host.variables, spec, role=role) == []
