"""Every inventory variable declared once (sagefleet.variables) and what is generated from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from sagefleet import preflight, variables
from sagefleet.ansible import roledocs
from sagefleet.ansible.preflight_play import preflight_vars
from sagefleet.errors import InputError
from sagefleet.variables import DeprecatedVariable, value

ROOT = Path(__file__).resolve().parents[2]


def test_the_generated_files_match_the_declaration() -> None:
    stale = roledocs.sync_generated(ROOT, check=True)
    assert not stale, "run `make docs` (python -m sagefleet.ansible.roledocs all): " + ", ".join(
        str(p.relative_to(ROOT)) for p in stale
    )


@pytest.mark.parametrize(
    ("path", "edit"),
    [
        ("roles/sagefleet_preflight/defaults/main.yml", ("min_free_mb: 500", "min_free_mb: 400")),
        ("roles/sagefleet_preflight/meta/argument_specs.yml", ("default: 500", "default: 400")),
        ("library/sagefleet_preflight.py", ("else 500.", "else 400.")),
    ],
)
def test_a_generated_file_that_drifts_is_found(
    tmp_path: Path, path: str, edit: tuple[str, str]
) -> None:
    for folder in ("roles", "library"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    target = tmp_path / path
    text = target.read_text(encoding="utf-8")
    assert edit[0] in text
    target.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    assert roledocs.sync_generated(tmp_path, check=True) == [target]
    assert roledocs.sync_generated(tmp_path) == [target]  # regenerated
    assert target.read_text(encoding="utf-8") == text


def test_one_default_everywhere() -> None:
    """min_free_mb's 500 is written once: the role, its spec, the module and the checks agree."""
    declared = variables.get("sagefleet_preflight_min_free_mb").default
    defaults = yaml.safe_load((ROOT / "roles/sagefleet_preflight/defaults/main.yml").read_text())
    spec = yaml.safe_load((ROOT / "roles/sagefleet_preflight/meta/argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    assert defaults["sagefleet_preflight_min_free_mb"] == declared
    assert options["sagefleet_preflight_min_free_mb"]["default"] == declared
    assert preflight.PreparedHost("h", [], [], [], None).min_free_mb == declared  # type: ignore[arg-type]


def test_a_refused_value_names_host_field_value_and_fix() -> None:
    with pytest.raises(InputError) as refused:
        value("sage01", {"sagefleet_preflight_timeout_ms": 50}, "sagefleet_preflight_timeout_ms")
    error = refused.value
    assert (error.host, error.field, error.value) == (
        "sage01",
        "sagefleet_preflight_timeout_ms",
        "50",
    )
    assert "must be an integer >= 100" in str(error) and "README" in str(error)


def test_bounds_types_and_choices() -> None:
    streams = "sagefleet_agent_transfer_streams"
    assert value("h", {}, streams) == 4
    assert value("h", {streams: 16}, streams) == 16
    for wrong in (0, 17, True, "four", "17", "4.5"):
        with pytest.raises(InputError, match="a number of connections from 1 to 16"):
            value("h", {streams: wrong}, streams)
    with pytest.raises(InputError, match="must be en or fr"):
        value("h", {"sagefleet_lang": "de"}, "sagefleet_lang")
    restart = "sagefleet_diagnose_restart"
    for wrong in ("maybe", "", 2):
        with pytest.raises(InputError, match="must be true or false"):
            value("h", {restart: wrong}, restart)


def test_extra_vars_text_is_read_as_the_declared_type() -> None:
    """`-e name=value` gives text; Ansible's own argument spec reads it as the declared
    number or boolean, and so does sagefleet (a refusal names the value as given)."""
    streams, restart = "sagefleet_agent_transfer_streams", "sagefleet_diagnose_restart"
    assert value("h", {streams: "16"}, streams) == 16
    assert value("h", {streams: " 2 "}, streams) == 2
    for text, meant in (("true", True), ("False", False), ("yes", True), ("0", False)):
        assert value("h", {restart: text}, restart) is meant
    with pytest.raises(InputError) as refused:
        value("h", {streams: "17"}, streams)
    assert refused.value.value == "'17'"


def test_a_lists_choices_are_its_items() -> None:
    """The report formats: each item one of the formats the reports know (one list: the
    renderers', the variable's and the command line's), refused before any host."""
    from sagefleet.cli.common import REPORT_FORMATS
    from sagefleet.report import FORMATS

    formats = "sagefleet_preflight_report_formats"
    assert variables.get(formats).choices == FORMATS and list(FORMATS) == REPORT_FORMATS
    assert value("h", {formats: ["html", "json"]}, formats) == ["html", "json"]
    for wrong in (["[html]"], ["html", "pdf"], "html"):
        with pytest.raises(InputError, match="must be a list of console, json, junit, html"):
            value("h", {formats: wrong}, formats)


def test_a_secret_value_never_shows() -> None:
    canary = "Sql-Canary-Passw0rd!"
    entity = {"name": "BIJOU", "sql_password": canary}
    with pytest.raises(InputError) as refused:
        value("h", {"sagefleet_entities": entity}, "sagefleet_entities")
    assert canary not in str(refused.value)


def test_a_deprecated_name_is_read_with_a_warning_naming_the_new_one() -> None:
    warned = "sagefleet_preflight_lang.*rename it sagefleet_lang"
    with pytest.warns(DeprecatedVariable, match=warned):
        found = value(
            "sage02", {"sagefleet_lang": "fr", "sagefleet_preflight_lang": "en"}, "sagefleet_lang"
        )
    assert found == "en"  # as before: the role's name wins when it is set
    with (
        pytest.warns(DeprecatedVariable, match="sagefleet_preflight_lang"),
        pytest.raises(InputError) as refused,
    ):
        value("sage02", {"sagefleet_preflight_lang": "de"}, "sagefleet_lang")
    assert refused.value.field == "sagefleet_preflight_lang"  # named as it was given


def test_a_deprecated_module_option_still_works() -> None:
    spec = variables.module_spec("sagefleet_preflight")
    assert spec["service_name"]["aliases"] == ["agent_service"]
    assert [a["name"] for a in spec["service_name"]["deprecated_aliases"]] == ["agent_service"]


def test_a_task_argument_wins_over_the_variable_and_its_retired_name() -> None:
    merged = preflight_vars(
        {"lang": "fr", "min_free_mb": None},
        {"sagefleet_preflight_lang": "en", "sagefleet_preflight_min_free_mb": 800},
    )
    assert merged == {"sagefleet_lang": "fr", "sagefleet_preflight_min_free_mb": 800}


def test_every_role_option_and_module_option_is_declared_once() -> None:
    declared = variables.declared()
    for role in roledocs.roles(ROOT):
        for name in roledocs.load_spec(role)["main"].get("options") or {}:
            assert name in declared, f"{role.name}: {name}"
    for name, var in declared.items():
        assert var.doc and all(text.strip() for text in var.doc), name
        assert var.replaced_by is None or var.replaced_by in declared, name
