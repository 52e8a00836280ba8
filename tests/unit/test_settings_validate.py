"""Specification of entity validation: every bad input says where, what and how to fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.entities import spc_entity as base_entity

from sagefleet.errors import InputError, SagefleetError
from sagefleet.settings import (
    MASK,
    Entity,
    ValidationFailed,
    check_fleet,
    entities_for_host,
    validate_fleet,
    validate_host,
)

HOST = "sage-bijou-01"
SAGE_SECRET = "Sage-Pa55-w0rd-XYZ"
SQL_SECRET = "Sql-S3cret-Value-QRS"
DATA = Path(__file__).parent / "settings_data"


def spc_entity(**changes: Any) -> dict[str, Any]:
    return base_entity(
        **{
            "sage_password": SAGE_SECRET,
            "sql_password": SQL_SECRET,
            "mae_path": "\\\\spc-fs01\\Dossiers\\BIJOU.MAE",
            **changes,
        }
    )


def onprem_entity(**changes: Any) -> dict[str, Any]:
    entity = spc_entity(
        name="Bijou Local",
        edition="onpremise",
        sql_instance="SRV-SQL\\SAGE",
        mae_path="D:\\Sage\\BIJOULOC.MAE",
    )
    del entity["azure_sql_server"]
    del entity["database"]
    entity.update(changes)
    return entity


def without(field: str, base: Callable[..., dict[str, Any]] = spc_entity) -> dict[str, Any]:
    entity = base()
    del entity[field]
    return entity


def host_vars(*entities: dict[str, Any]) -> dict[str, Any]:
    return {"sagefleet_entities": list(entities)}


def assert_no_secret(text: str) -> None:
    assert SAGE_SECRET not in text
    assert SQL_SECRET not in text


# (id, entities, expected entity label, expected field)
BAD_INPUTS: list[tuple[str, list[Any], str | None, str]] = [
    ("analytic plan zero", [spc_entity(analytic_plan=0)], "Bijou SAS", "analytic_plan"),
    ("analytic plan negative", [spc_entity(analytic_plan=-2)], "Bijou SAS", "analytic_plan"),
    ("analytic plan boolean", [spc_entity(analytic_plan=True)], "Bijou SAS", "analytic_plan"),
    ("analytic plan text", [spc_entity(analytic_plan="abc")], "Bijou SAS", "analytic_plan"),
    ("analytic plan quoted number", [spc_entity(analytic_plan="1")], "Bijou SAS", "analytic_plan"),
    ("analytic plan fraction", [spc_entity(analytic_plan=1.5)], "Bijou SAS", "analytic_plan"),
    ("analytic plan too big", [spc_entity(analytic_plan=100)], "Bijou SAS", "analytic_plan"),
    ("edition unknown", [spc_entity(edition="cloud")], "Bijou SAS", "edition"),
    ("edition missing", [without("edition")], "Bijou SAS", "edition"),
    ("name missing", [without("name")], "#1", "name"),
    ("name blank", [spc_entity(name="  ")], "#1", "name"),
    ("name with control char", [spc_entity(name="Bijou\x07")], "#1", "name"),
    ("company code with space", [spc_entity(company_code="BI JOU")], "Bijou SAS", "company_code"),
    ("company code empty", [spc_entity(company_code="")], "Bijou SAS", "company_code"),
    ("spc without server", [without("azure_sql_server")], "Bijou SAS", "azure_sql_server"),
    ("spc without database", [without("database")], "Bijou SAS", "database"),
    (
        "server uppercase",
        [spc_entity(azure_sql_server="XIYXU8Z271")],
        "Bijou SAS",
        "azure_sql_server",
    ),
    (
        "server leading hyphen",
        [spc_entity(azure_sql_server="-xiy")],
        "Bijou SAS",
        "azure_sql_server",
    ),
    (
        "server trailing hyphen",
        [spc_entity(azure_sql_server="xiy-")],
        "Bijou SAS",
        "azure_sql_server",
    ),
    ("server too long", [spc_entity(azure_sql_server="a" * 64)], "Bijou SAS", "azure_sql_server"),
    (
        "server privatelink fqdn",
        [spc_entity(azure_sql_server="xiy.privatelink.database.windows.net")],
        "Bijou SAS",
        "azure_sql_server",
    ),
    (
        "server with underscore",
        [spc_entity(azure_sql_server="xiy_u8")],
        "Bijou SAS",
        "azure_sql_server",
    ),
    ("database with bracket", [spc_entity(database="xim]drop")], "Bijou SAS", "database"),
    ("database with control char", [spc_entity(database="xim\nx")], "Bijou SAS", "database"),
    ("database too long", [spc_entity(database="d" * 129)], "Bijou SAS", "database"),
    ("database trailing dot", [spc_entity(database="xim.")], "Bijou SAS", "database"),
    (
        "onpremise without instance",
        [without("sql_instance", onprem_entity)],
        "Bijou Local",
        "sql_instance",
    ),
    (
        "onpremise instance with space",
        [onprem_entity(sql_instance="SRV SQL")],
        "Bijou Local",
        "sql_instance",
    ),
    (
        "onpremise with azure server",
        [onprem_entity(azure_sql_server="xiyxu8z271")],
        "Bijou Local",
        "azure_sql_server",
    ),
    ("spc with sql instance", [spc_entity(sql_instance="SRV-SQL")], "Bijou SAS", "sql_instance"),
    ("sage password missing", [without("sage_password")], "Bijou SAS", "sage_password"),
    ("sage password number", [spc_entity(sage_password=1234)], "Bijou SAS", "sage_password"),
    ("sql password empty", [spc_entity(sql_password="")], "Bijou SAS", "sql_password"),
    ("sql password null", [spc_entity(sql_password=None)], "Bijou SAS", "sql_password"),
    ("sql user missing", [without("sql_user")], "Bijou SAS", "sql_user"),
    ("sage user empty", [spc_entity(sage_user="")], "Bijou SAS", "sage_user"),
    ("mae path relative", [spc_entity(mae_path="BIJOU.MAE")], "Bijou SAS", "mae_path"),
    ("mae path posix", [spc_entity(mae_path="/srv/sage/BIJOU.MAE")], "Bijou SAS", "mae_path"),
    (
        "mae path wrong extension",
        [spc_entity(mae_path="C:\\Sage\\BIJOU.gcm")],
        "Bijou SAS",
        "mae_path",
    ),
    ("mae path drive relative", [spc_entity(mae_path="C:BIJOU.MAE")], "Bijou SAS", "mae_path"),
    (
        "mae path bad character",
        [spc_entity(mae_path="C:\\Sa|ge\\BIJOU.MAE")],
        "Bijou SAS",
        "mae_path",
    ),
    ("pdf storage relative", [spc_entity(pdf_storage="receipts")], "Bijou SAS", "pdf_storage"),
    ("pdf storage boolean", [spc_entity(pdf_storage=True)], "Bijou SAS", "pdf_storage"),
    ("unknown field", [spc_entity(colour="blue")], "Bijou SAS", "colour"),
    ("misspelt password field", [spc_entity(sql_pasword=SQL_SECRET)], "Bijou SAS", "sql_pasword"),
    (
        "unrendered template",
        [spc_entity(sql_password="{{ sagefleet_vault_sql }}")],
        "Bijou SAS",
        "sql_password",
    ),
    ("entity not a mapping", ["Bijou SAS"], "#1", "sagefleet_entities"),
    (
        "vendor settings missing file",
        [spc_entity(vendor_settings="does-not-exist.json")],
        "Bijou SAS",
        "vendor_settings",
    ),
    (
        "vendor package missing file",
        [spc_entity(vendor_package="does-not-exist.zip")],
        "Bijou SAS",
        "vendor_package",
    ),
    ("vendor package not a path", [spc_entity(vendor_package=7)], "Bijou SAS", "vendor_package"),
    (
        "vendor settings and package both given",
        [spc_entity(vendor_settings={"Connections": []}, vendor_package="Setup.zip")],
        "Bijou SAS",
        "vendor_package",
    ),
    ("same name twice", [spc_entity(), spc_entity(analytic_plan=2)], "Bijou SAS", "name"),
    (
        "same name differing case",
        [spc_entity(), spc_entity(name="BIJOU SAS", database="other")],
        "BIJOU SAS",
        "name",
    ),
    (
        "same database twice",
        [spc_entity(), spc_entity(name="Copy", company_code="COPY", mae_path="C:\\S\\COPY.MAE")],
        "Copy",
        "database",
    ),
    (
        "same mae file twice",
        [spc_entity(), spc_entity(name="Copy", database="other")],
        "Copy",
        "mae_path",
    ),
]


@pytest.mark.parametrize(
    ("entities", "entity", "field"),
    [
        pytest.param(entities, entity, field, id=case)
        for case, entities, entity, field in BAD_INPUTS
    ],
)
def test_bad_input_is_reported_with_host_entity_field_and_no_secret(
    entities: list[Any], entity: str, field: str
) -> None:
    errors = validate_fleet({HOST: host_vars(*entities)})

    if field == "sagefleet_entities":  # a non-mapping entity has no field of its own
        assert [(e.host, e.entity, e.field) for e in errors] == [(HOST, entity, None)]
    else:
        assert (HOST, entity, field) in [(e.host, e.entity, e.field) for e in errors]
    for error in errors:
        assert isinstance(error, InputError)
        assert error.fix
        assert_no_secret(error.render())


def test_there_are_at_least_thirty_distinct_bad_inputs() -> None:
    assert len({case for case, *_ in BAD_INPUTS}) >= 30


def test_valid_spc_entity_has_no_error() -> None:
    assert validate_fleet({HOST: host_vars(spc_entity())}) == []


def test_valid_onpremise_entity_without_database_has_no_error() -> None:
    assert validate_fleet({HOST: host_vars(onprem_entity())}) == []


def test_empty_sage_password_is_accepted() -> None:
    assert validate_fleet({HOST: host_vars(spc_entity(sage_password=""))}) == []


def test_unc_mae_path_and_lowercase_extension_are_accepted() -> None:
    entity = spc_entity(mae_path="\\\\fs01\\Sage\\Dossiers\\bijou.mae")
    assert validate_fleet({HOST: host_vars(entity)}) == []


def test_host_without_entities_variable_is_skipped() -> None:
    assert validate_fleet({"bastion": {"ansible_connection": "local"}}) == []


def test_empty_entity_list_is_an_error() -> None:
    errors = validate_fleet({HOST: host_vars()})
    assert [(e.host, e.field) for e in errors] == [(HOST, "sagefleet_entities")]


def test_entities_variable_not_a_list_is_an_error() -> None:
    errors = validate_fleet({HOST: {"sagefleet_entities": {"name": "Bijou SAS"}}})
    assert [(e.host, e.field) for e in errors] == [(HOST, "sagefleet_entities")]


def test_secret_of_wrong_type_is_masked_in_value() -> None:
    errors = validate_fleet({HOST: host_vars(spc_entity(sql_password=987654321))})
    assert [e.value for e in errors if e.field == "sql_password"] == [MASK]
    assert "987654321" not in errors[0].render()


def test_misspelt_field_suggests_the_right_name_without_showing_its_value() -> None:
    errors = validate_fleet({HOST: host_vars(spc_entity(sql_pasword="hunter2hunter2"))})
    unknown = [e for e in errors if e.field == "sql_pasword"]
    assert unknown[0].fix is not None and "sql_password" in unknown[0].fix
    assert "hunter2hunter2" not in unknown[0].render()


def test_offending_value_is_shown_for_non_secret_fields() -> None:
    errors = validate_fleet({HOST: host_vars(spc_entity(azure_sql_server="XIYXU8Z271"))})
    assert errors[0].value == "'XIYXU8Z271'"


def test_all_errors_are_collected_not_only_the_first() -> None:
    entity = spc_entity(analytic_plan=0, edition="onpremise", mae_path="x", pdf_storage="y")
    fields = {e.field for e in validate_fleet({HOST: host_vars(entity)})}
    assert {"analytic_plan", "sql_instance", "mae_path", "pdf_storage"} <= fields


def test_errors_of_every_host_are_collected() -> None:
    errors = validate_fleet(
        {
            "host-a": host_vars(spc_entity(analytic_plan=0)),
            "host-b": host_vars(spc_entity(edition="x")),
        }
    )
    assert [(e.host, e.field) for e in errors] == [
        ("host-a", "analytic_plan"),
        ("host-b", "edition"),
    ]


def test_required_field_for_edition_says_which_edition() -> None:
    errors = validate_fleet({HOST: host_vars(without("database"))})
    assert "for edition spc" in errors[0].message


def test_identical_duplicate_entities_collapse() -> None:
    result = validate_host(HOST, host_vars(spc_entity(), spc_entity()))
    assert result.errors == []
    assert [e.name for e in result.entities] == ["Bijou SAS"]


def test_same_database_conflict_names_both_entities_and_differing_fields_only() -> None:
    other = spc_entity(name="Copy", company_code="COPY", mae_path="C:\\S\\COPY.MAE")
    errors = validate_fleet({HOST: host_vars(spc_entity(), other)})
    assert len(errors) == 1
    assert "'Bijou SAS'" in errors[0].message
    assert "company_code" in errors[0].message and "mae_path" in errors[0].message


def test_azure_fqdn_is_shortened_with_a_note() -> None:
    entity = spc_entity(azure_sql_server="xiyxu8z271.database.windows.net")
    result = validate_host(HOST, host_vars(entity))
    assert result.errors == []
    assert result.entities[0].azure_sql_server == "xiyxu8z271"
    assert len(result.notes) == 1 and "shortened" in result.notes[0]


def test_analytic_plan_written_as_whole_float_becomes_int() -> None:
    result = validate_host(HOST, host_vars(spc_entity(analytic_plan=2.0)))
    assert result.entities[0].analytic_plan == 2
    assert isinstance(result.entities[0].analytic_plan, int)


def test_entity_repr_hides_secrets() -> None:
    result = validate_host(HOST, host_vars(spc_entity()))
    assert_no_secret(repr(result.entities[0]))


def test_input_mapping_is_not_modified() -> None:
    entity = spc_entity(azure_sql_server="xiyxu8z271.database.windows.net")
    vars_ = host_vars(entity)
    before = json.dumps(vars_, sort_keys=True)
    validate_host(HOST, vars_)
    assert json.dumps(vars_, sort_keys=True) == before


def test_vendor_settings_file_is_loaded_relative_to_base_dir() -> None:
    entity = spc_entity(vendor_settings="vendor_bijou.json")
    result = validate_host(HOST, host_vars(entity), base_dir=DATA)
    assert result.errors == []
    assert result.entities[0].vendor_settings is not None
    assert result.entities[0].vendor_source == str(DATA / "vendor_bijou.json")


def test_vendor_settings_with_duplicate_key_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "dup.json").write_text('{"schemaVersion": 1, "schemaVersion": 2}')
    errors = validate_fleet(
        {HOST: host_vars(spc_entity(vendor_settings="dup.json"))}, base_dir=tmp_path
    )
    assert errors[0].field == "vendor_settings"
    assert "duplicate key 'schemaVersion'" in errors[0].message


def test_vendor_settings_too_deep_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 40 + "]" * 40)
    errors = validate_fleet(
        {HOST: host_vars(spc_entity(vendor_settings="deep.json"))}, base_dir=tmp_path
    )
    assert "nesting depth" in errors[0].message


def test_vendor_settings_of_two_entities_that_conflict_are_reported_before_touching_hosts() -> None:
    first = {"Connections": [{"CompanyName": "BIJOU", "Sql": {"Password": SQL_SECRET}}]}
    second = {"Connections": [{"CompanyName": "BIJOU", "Sql": {"Password": SAGE_SECRET}}]}
    errors = validate_fleet(
        {
            HOST: host_vars(
                spc_entity(vendor_settings=first),
                onprem_entity(vendor_settings=second),
            )
        }
    )
    assert [e.field for e in errors] == ["Connections[CompanyName=BIJOU].Sql.Password"]
    assert "entity Bijou SAS" in errors[0].message and "entity Bijou Local" in errors[0].message
    assert_no_secret("\n".join(e.render() for e in errors))


def test_a_vendor_file_is_never_checked_against_the_template_schema() -> None:
    vendor = {"Connections": [{"CompanyName": "BIJOU", "Sql": {"Password": 42}}]}
    result = validate_host(HOST, host_vars(spc_entity(vendor_settings=vendor)))
    assert result.errors == []


def test_check_fleet_returns_entities_per_host() -> None:
    fleet = check_fleet({HOST: host_vars(spc_entity(), onprem_entity()), "bastion": {}})
    assert list(fleet) == [HOST]
    assert all(isinstance(e, Entity) for e in fleet[HOST].entities)


def test_check_fleet_raises_one_error_carrying_every_problem() -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_fleet({"a": host_vars(spc_entity(analytic_plan=0)), "b": host_vars(without("name"))})
    assert isinstance(raised.value, SagefleetError)
    assert len(raised.value.errors) == 2
    lines = str(raised.value).splitlines()
    assert lines[0].endswith("2 problem(s)")
    assert lines[1].startswith("  - host a, entity Bijou SAS, field analytic_plan")
    assert_no_secret(str(raised.value))


def test_entities_for_host_without_variable_is_an_error() -> None:
    with pytest.raises(ValidationFailed) as raised:
        entities_for_host(HOST, {})
    assert raised.value.errors[0].field == "sagefleet_entities"


def test_vendor_settings_given_as_its_json_text_is_read_and_never_shown() -> None:
    """A vault variable holding the vendor's file is a string: its JSON text, not a path."""
    document = {"Connections": [{"CompanyName": "BIJOU", "Sql": {"Pwd": SQL_SECRET}}]}
    result = validate_host(HOST, host_vars(spc_entity(vendor_settings=json.dumps(document))))
    assert result.errors == []
    assert result.entities[0].vendor_settings == document
    broken = json.dumps(document)[:-5]
    errors = validate_fleet({HOST: host_vars(spc_entity(vendor_settings=broken))})
    assert errors[0].field == "vendor_settings" and "not valid JSON" in errors[0].message
    assert_no_secret("\n".join(e.render() for e in errors))


@pytest.mark.parametrize("value", [__import__("datetime").date(2026, 1, 31), float("nan")])
def test_an_inline_vendor_document_with_a_value_json_has_not_is_refused(value: Any) -> None:
    """A YAML date or .nan would be written as no JSON reader takes it (or not at all)."""
    document = {"Created": value, "Connections": [{"CompanyName": "BIJOU", "Pwd": SQL_SECRET}]}
    errors = validate_fleet({HOST: host_vars(spc_entity(vendor_settings=document))})
    assert [e.field for e in errors] == ["vendor_settings"]
    assert "a value JSON has not" in errors[0].message
    assert_no_secret("\n".join(e.render() for e in errors))


def test_a_conflict_inside_a_secret_member_is_masked() -> None:
    first = {"Credentials": {"Value": SQL_SECRET}}
    second = {"Credentials": {"Value": SAGE_SECRET}}
    errors = validate_fleet(
        {HOST: host_vars(spc_entity(vendor_settings=first), onprem_entity(vendor_settings=second))}
    )
    assert [e.field for e in errors] == ["Credentials.Value"]
    assert_no_secret("\n".join(e.render() for e in errors))


def test_entities_given_as_text_are_never_shown() -> None:
    """A lookup of a JSON file without from_json gives the entities as one string."""
    text = json.dumps([spc_entity()])
    errors = validate_fleet({HOST: {"sagefleet_entities": text}})
    assert [e.field for e in errors] == ["sagefleet_entities"]
    assert f"a string of {len(text)} characters, not shown" in errors[0].render()
    assert_no_secret("\n".join(e.render() for e in errors))
