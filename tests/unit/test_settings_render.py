"""Specification of rendering entities into settings.json with the (overridable) template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.entities import spc_entity

from sagefleet.errors import InputError
from sagefleet.settings import (
    Entity,
    ValidationFailed,
    dumps,
    render_entity,
    render_host_settings,
)


def entity(**changes: Any) -> Entity:
    values = spc_entity(sql_password='p"w\\d;é', mae_path="\\\\spc-fs01\\Dossiers\\BIJOU.MAE")
    values.update(changes)
    return Entity(**values)


def test_spc_entity_renders_the_assumed_layout() -> None:
    assert render_entity(entity()) == {
        "schemaVersion": 1,
        "connections": [
            {
                "name": "Bijou SAS",
                "companyCode": "BIJOU",
                "analyticPlan": 1,
                "edition": "spc",
                "database": {"server": "xiyxu8z271", "name": "xim9mokrk4q_AS274AY1ZH"},
                "sage": {"user": "<administrateur>", "password": ""},
                "sql": {"user": "spendesk", "password": 'p"w\\d;é'},
                "maeFile": "\\\\spc-fs01\\Dossiers\\BIJOU.MAE",
                "pdfStorage": {"mode": "filestream"},
            }
        ],
    }


def test_onpremise_entity_without_database_omits_the_database_name() -> None:
    local = entity(
        edition="onpremise", azure_sql_server=None, database=None, sql_instance="SRV-SQL\\SAGE"
    )
    assert render_entity(local)["connections"][0]["database"] == {"instance": "SRV-SQL\\SAGE"}


def test_pdf_folder_is_rendered_as_folder_mode() -> None:
    rendered = render_entity(entity(pdf_storage="D:\\Receipts"))
    assert rendered["connections"][0]["pdfStorage"] == {"mode": "folder", "folder": "D:\\Receipts"}


def test_two_entities_merge_into_one_document_sorted_by_name() -> None:
    merged = render_host_settings(
        [entity(name="Zeta", database="db2", mae_path="C:\\Z.MAE"), entity()]
    )
    assert [c["name"] for c in merged["connections"]] == ["Bijou SAS", "Zeta"]


def test_rendering_is_deterministic_whatever_the_entity_order() -> None:
    first, second = entity(), entity(name="Zeta", database="db2", mae_path="C:\\Z.MAE")
    assert dumps(render_host_settings([first, second])) == dumps(
        render_host_settings([second, first])
    )


def test_template_can_be_overridden_by_path(tmp_path: Path) -> None:
    template = tmp_path / "custom.json.j2"
    template.write_text(
        '{"schemaVersion": 1, "connections": [{"name": {{ entity.name | json }}, '
        '"fqdn": {{ entity.azure_sql_fqdn | json }}}]}'
    )
    rendered = render_entity(entity(), template=template)
    assert rendered["connections"][0]["fqdn"] == "xiyxu8z271.database.windows.net"


def test_template_producing_invalid_json_is_an_input_error(tmp_path: Path) -> None:
    template = tmp_path / "broken.json.j2"
    template.write_text('{"schemaVersion": 1, "connections": [{"name": {{ entity.name }}}]}')
    with pytest.raises(InputError) as raised:
        render_entity(entity(), template=template, host="h")
    assert raised.value.entity == "Bijou SAS" and raised.value.field == "template"


def test_template_using_an_unknown_variable_is_an_input_error(tmp_path: Path) -> None:
    template = tmp_path / "unknown.json.j2"
    template.write_text("{{ entity.no_such_field | json }}")
    with pytest.raises(InputError, match="failed"):
        render_entity(entity(), template=template)


def test_template_output_off_schema_is_reported(tmp_path: Path) -> None:
    template = tmp_path / "offschema.json.j2"
    template.write_text('{"connections": []}')
    with pytest.raises(ValidationFailed, match="schemaVersion"):
        render_entity(entity(), template=template)


def test_missing_template_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        render_entity(entity(), template=tmp_path / "missing.j2")


def test_template_syntax_error_names_the_line(tmp_path: Path) -> None:
    template = tmp_path / "syntax.json.j2"
    template.write_text("{\n{% if %}\n")
    with pytest.raises(InputError, match="line 2"):
        render_entity(entity(), template=template)


def test_rendered_secret_round_trips_through_json() -> None:
    text = dumps(render_host_settings([entity()]))
    assert json.loads(text)["connections"][0]["sql"]["password"] == 'p"w\\d;é'
