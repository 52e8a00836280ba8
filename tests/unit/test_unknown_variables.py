"""A sagefleet_* name that is a slip of a declared variable is refused, not silently
ignored: sagefleet_settings_sorce would leave sagefleet_settings_source's default in
force. Other sagefleet_* names are the inventory's own and pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.scenarios import entities_for

from sagefleet import preflight
from sagefleet.settings import ValidationFailed
from sagefleet.variables import RESULTS, declared_names, misspelt, unknown_variables

ROOT = Path(__file__).resolve().parents[2]
CANARY = "Sql-Canary-Passw0rd!"


def valid(**extra: Any) -> dict[str, Any]:
    return {"sagefleet_entities": entities_for("healthy-onprem"), **extra}


def _set_names(node: Any) -> set[str]:
    """The sagefleet_* names a task list registers, sets (set_fact) or binds (vars)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= _set_names(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "register" and isinstance(value, str):
                found.add(value)
            elif key in ("ansible.builtin.set_fact", "set_fact", "vars") and isinstance(
                value, dict
            ):
                found |= set(value)
            found |= _set_names(value)
    return {n for n in found if n.startswith("sagefleet_")}


def test_the_results_are_exactly_what_the_shipped_yaml_registers_and_sets() -> None:
    """RESULTS is declared once: every sagefleet_* name a playbook or role sets that the
    variables do not declare, and no other."""
    files = [*ROOT.glob("playbooks/*.yml"), *ROOT.glob("roles/*/tasks/*.yml")]
    files += [*ROOT.glob("roles/*/handlers/*.yml")]
    named: set[str] = set()
    for path in files:
        named |= _set_names(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert named - declared_names() == set(RESULTS)
    assert not [n for n in RESULTS if misspelt(n)]  # none looks like a slip


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("sagefleet_settings_sorce", "sagefleet_settings_source"),  # a letter dropped
        ("sagefleet_entites", "sagefleet_entities"),
        ("sagefleet_edtion", "sagefleet_edition"),
        ("sagefleet_deploy_fail_on_bloked", "sagefleet_deploy_fail_on_blocked"),
        ("sagefleet_preflight_fail_on_block", "sagefleet_preflight_fail_on_blocked"),
        ("sagefleet_agent_target_verison", "sagefleet_agent_target_version"),  # swapped
        ("sagefleet_waiver", "sagefleet_waivers"),
    ],
)
def test_a_misspelt_variable_is_refused_naming_host_field_and_the_declared_name(
    given: str, meant: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        preflight.prepare("sage01", valid(**{given: "x"}))
    (error,) = caught.value.errors
    assert (error.host, error.field) == ("sage01", given)
    assert str(error) == (
        f"host sage01, field {given}: not a sagefleet variable, so not read "
        f"(a slip of {meant}?). Fix: rename it {meant}"
    )


def test_a_misspelt_password_is_named_and_its_value_never_shown() -> None:
    with pytest.raises(ValidationFailed) as caught:
        preflight.prepare("sage01", valid(sagefleet_agent_service_pasword=CANARY))
    assert [e.field for e in caught.value.errors] == ["sagefleet_agent_service_pasword"]
    assert CANARY not in str(caught.value) + "".join(str(e) for e in caught.value.errors)


def test_the_inventorys_own_names_results_and_retired_names_pass() -> None:
    """The vault convention (sagefleet_sql_password_<entity>), the simulator's variables,
    the playbooks' results and declared or retired names are not slips."""
    own = {
        "sagefleet_sql_password_bijou": CANARY,
        "sagefleet_vault_winrm_password": CANARY,
        "sagefleet_sim_profile": "healthy-onprem",
        "sagefleet_sim_overrides": {},
        "sagefleet_my_own_setting": 1,
        "sagefleet_preflight_result": {"changed": False},
        "sagefleet_summary": {},
    }
    preflight.prepare("sage01", valid(**own))
    assert unknown_variables(["sagefleet_settings_source", "sagefleet_preflight_waivers"]) == []
