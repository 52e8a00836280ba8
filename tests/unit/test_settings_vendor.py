"""Specification of a host's settings.json from the vendor's files (the default source).

Each entity names the settings.json the vendor's form produced for its connection
(``vendor_settings``) or the connection's Setup.zip (``vendor_package``); sagefleet
merges them and adds nothing the vendor did not write, except what the agent
profile says the installer adds. Rendering sagefleet's own layout is an explicit
choice (``sagefleet_settings_source: template``).
"""

from __future__ import annotations

import json
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.agent.profile import MergeKey
from sagefleet.errors import InputError
from sagefleet.settings import (
    ValidationFailed,
    build_host_settings,
    settings_options,
    validate_host,
)

HOST = "sage-multi"
VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor_settings"
SQL_SECRET = "Sql-S3cret-Value-QRS"


def entity(name: str = "BIJOU", **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": name,
        "company_code": name,
        "analytic_plan": 1,
        "edition": "spc",
        "azure_sql_server": "xiyxu8z271",
        "database": f"db_{name}",
        "sage_user": "<administrateur>",
        "sage_password": "",
        "sql_user": "spendesk",
        "sql_password": SQL_SECRET,
        "mae_path": f"\\\\spc-fs01\\Dossiers\\{name}.MAE",
        "pdf_storage": "filestream",
    }
    item.update(changes)
    return item


def two_entities(**variables: Any) -> dict[str, Any]:
    return {
        "sagefleet_entities": [
            entity("BIJOU", vendor_settings=str(VENDOR / "bijou.settings.json")),
            entity("CHOCO", vendor_settings=str(VENDOR / "choco.settings.json")),
        ],
        **variables,
    }


def package(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def profile_with(tmp_path: Path, **settings: Any) -> str:
    """An agent profile file: the shipped one with ``settings`` members replaced."""
    text = resources.files("sagefleet.catalog").joinpath("agent-profile.yml").read_text("utf-8")
    data = yaml.safe_load(text)
    data["settings"].update(settings)
    path = tmp_path / "agent-profile.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def errors_of(host_vars: dict[str, Any], **kwargs: Any) -> list[InputError]:
    with pytest.raises(ValidationFailed) as raised:
        build_host_settings(HOST, host_vars, **kwargs)
    return raised.value.errors


# -- the two sources ----------------------------------------------------------------


def test_the_default_source_merges_the_entities_vendor_files() -> None:
    settings = build_host_settings(HOST, two_entities())
    assert settings.source == "vendor"
    assert [c["CompanyName"] for c in settings.document["Connections"]] == ["BIJOU", "CHOCO"]
    assert "schemaVersion" not in settings.text and '"connections"' not in settings.text
    assert settings.plan == {("Connections",): "CompanyName"}


def test_the_vendor_text_keeps_the_vendors_member_order() -> None:
    text = build_host_settings(HOST, two_entities()).text
    assert text.index('"FormatVersion"') < text.index('"Environment"') < text.index('"Connections"')


def test_an_entity_without_a_vendor_file_is_an_error_naming_host_entity_field_and_the_fix() -> None:
    variables = two_entities()
    del variables["sagefleet_entities"][1]["vendor_settings"]
    (error,) = errors_of(variables)
    assert (error.host, error.entity, error.field) == (HOST, "CHOCO", "vendor_settings")
    assert error.fix is not None
    assert "vendor_package" in error.fix and "sagefleet_settings_source: template" in error.fix
    assert "Spendesk settings page" in error.fix


def test_preflight_validation_does_not_require_vendor_files() -> None:
    result = validate_host(HOST, {"sagefleet_entities": [entity()]})
    assert result.errors == [] and len(result.entities) == 1


def test_the_template_source_renders_the_assumed_layout_when_chosen() -> None:
    variables = {"sagefleet_entities": [entity()], "sagefleet_settings_source": "template"}
    settings = build_host_settings(HOST, variables)
    assert settings.document["schemaVersion"] == 1
    assert settings.plan == {("connections",): "name"}


def test_the_template_source_refuses_a_vendor_file_instead_of_mixing_layouts() -> None:
    variables = two_entities(sagefleet_settings_source="template")
    errors = errors_of(variables)
    assert [(e.entity, e.field) for e in errors] == [
        ("BIJOU", "vendor_settings"),
        ("CHOCO", "vendor_settings"),
    ]
    assert "sagefleet_settings_source is template" in errors[0].message


@pytest.mark.parametrize("value", ["Vendor", "file", 1])
def test_an_unknown_source_is_refused(value: Any) -> None:
    with pytest.raises(InputError) as raised:
        settings_options(HOST, {"sagefleet_settings_source": value})
    assert raised.value.field == "sagefleet_settings_source"
    assert raised.value.value == repr(value)


def test_drop_connections_must_be_a_boolean() -> None:
    with pytest.raises(InputError, match="must be true or false"):
        settings_options(HOST, {"sagefleet_settings_drop_connections": "sometimes"})


# -- vendor_package -------------------------------------------------------------------


def test_a_vendor_package_gives_its_settings_json(tmp_path: Path) -> None:
    setup = package(
        tmp_path / "Setup.zip",
        {
            "Setup/settings.json": (VENDOR / "choco.settings.json").read_bytes(),
            "Setup/installer v11.0/Setup.exe": b"MZ",
        },
    )
    variables = two_entities()
    variables["sagefleet_entities"][1] = entity("CHOCO", vendor_package=str(setup))
    settings = build_host_settings(HOST, variables)
    assert [c["CompanyName"] for c in settings.document["Connections"]] == ["BIJOU", "CHOCO"]
    result = validate_host(HOST, variables)
    assert result.entities[1].vendor_source == f"{setup}!Setup/settings.json"


def test_a_relative_vendor_package_is_read_from_the_base_dir(tmp_path: Path) -> None:
    package(tmp_path / "Setup.zip", {"settings.json": b'{"Connections": []}'})
    result = validate_host(
        HOST, {"sagefleet_entities": [entity(vendor_package="Setup.zip")]}, base_dir=tmp_path
    )
    assert result.errors == [] and result.entities[0].vendor_settings == {"Connections": []}


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"Setup.exe": b"MZ"}, "holds 0 settings.json file(s)"),
        (
            {"a/settings.json": b"{}", "b/Settings.JSON": b"{}"},
            "holds 2 settings.json file(s) (a/settings.json, b/Settings.JSON)",
        ),
        ({"settings.json": b'{"a": 1, "a": 2}'}, "duplicate key 'a'"),
        ({"settings.json": b'"text"'}, "not a JSON object or list"),
    ],
)
def test_an_unusable_vendor_package_is_an_error_naming_the_package(
    tmp_path: Path, members: dict[str, bytes], message: str
) -> None:
    setup = package(tmp_path / "Setup.zip", members)
    result = validate_host(HOST, {"sagefleet_entities": [entity(vendor_package=str(setup))]})
    (error,) = result.errors
    assert (error.entity, error.field) == ("BIJOU", "vendor_package")
    assert message in error.message and str(setup) in (error.value or "")


def test_a_relative_vendor_file_is_read_from_the_inventorys_folder() -> None:
    variables = {
        "sagefleet_entities": [entity(vendor_settings="bijou.settings.json")],
        "inventory_dir": str(VENDOR),
    }
    settings = build_host_settings(HOST, variables)
    assert settings.document["Connections"][0]["CompanyName"] == "BIJOU"


def test_a_file_that_is_not_a_zip_is_an_unusable_package(tmp_path: Path) -> None:
    fake = tmp_path / "Setup.zip"
    fake.write_bytes(b"MZ" + b"\0" * 64)
    result = validate_host(HOST, {"sagefleet_entities": [entity(vendor_package=str(fake))]})
    assert "not a readable zip archive" in result.errors[0].message


# -- merge keys -------------------------------------------------------------------------


def ambiguous(**variables: Any) -> dict[str, Any]:
    return {
        "sagefleet_entities": [
            entity("BIJOU", vendor_settings=str(VENDOR / "ambiguous-a.settings.json")),
            entity("CHOCO", vendor_settings=str(VENDOR / "ambiguous-b.settings.json")),
        ],
        **variables,
    }


def test_an_ambiguous_list_asks_for_the_inventory_variable() -> None:
    (error,) = errors_of(ambiguous())
    assert error.host == HOST and error.field == "merge key Connections"
    assert "sagefleet_settings_merge_keys" in (error.fix or "")


def test_the_inventory_variable_declares_the_key() -> None:
    keys = [{"path": "Connections", "member": "ConnectionId"}]
    settings = build_host_settings(HOST, ambiguous(sagefleet_settings_merge_keys=keys))
    assert settings.plan == {("Connections",): "ConnectionId"}


def test_the_agent_profiles_keys_are_the_default(tmp_path: Path) -> None:
    profile = profile_with(tmp_path, merge_keys=[{"path": "Connections", "member": "CompanyName"}])
    settings = build_host_settings(HOST, ambiguous(sagefleet_agent_profile=profile))
    assert settings.options.keys == (MergeKey("Connections", "CompanyName"),)
    assert len(settings.document["Connections"]) == 2


@pytest.mark.parametrize(
    "value",
    [
        "Connections=CompanyName",
        [{"path": "Connections"}],
        [{"path": "Connections", "member": "CompanyName", "extra": 1}],
        [{"path": "a..b", "member": "Name"}],
        [{"path": "Connections", "member": "A"}, {"path": "Connections", "member": "B"}],
    ],
)
def test_a_malformed_merge_keys_variable_is_an_input_error(value: Any) -> None:
    with pytest.raises(InputError) as raised:
        settings_options(HOST, {"sagefleet_settings_merge_keys": value})
    assert raised.value.host == HOST
    assert raised.value.field == "sagefleet_settings_merge_keys"


# -- what the installer adds (agent profile) ---------------------------------------------


def test_the_shipped_profile_adds_nothing() -> None:
    settings = build_host_settings(HOST, two_entities())
    connection = settings.document["Connections"][0]
    assert connection == json.loads((VENDOR / "bijou.settings.json").read_text())["Connections"][0]


def test_installer_adds_puts_the_entitys_answers_where_the_profile_says(tmp_path: Path) -> None:
    adds = [
        {"path": "Connections[].MaeFile", "from": "mae_path"},
        {"path": "Connections.SageUser", "from": "sage_user"},
    ]
    variables = two_entities(sagefleet_agent_profile=profile_with(tmp_path, installer_adds=adds))
    settings = build_host_settings(HOST, variables)
    bijou, choco = settings.document["Connections"]
    assert bijou["MaeFile"] == "\\\\spc-fs01\\Dossiers\\BIJOU.MAE"
    assert choco["MaeFile"] == "\\\\spc-fs01\\Dossiers\\CHOCO.MAE"
    assert bijou["SageUser"] == "<administrateur>"
    assert list(bijou)[-2:] == ["MaeFile", "SageUser"]


def test_installer_adds_never_overrides_another_value_the_vendor_wrote(tmp_path: Path) -> None:
    adds = [{"path": "Connections.Label", "from": "sage_user"}]
    variables = two_entities(sagefleet_agent_profile=profile_with(tmp_path, installer_adds=adds))
    errors = errors_of(variables)
    assert [e.entity for e in errors] == ["BIJOU", "CHOCO"]
    assert errors[0].field == "settings.installer_adds Connections.Label (agent profile)"
    assert "already gives Connections.Label another value" in errors[0].message


def test_installer_adds_needs_one_place_per_connection(tmp_path: Path) -> None:
    adds = [{"path": "Missing.MaeFile", "from": "mae_path"}]
    variables = two_entities(sagefleet_agent_profile=profile_with(tmp_path, installer_adds=adds))
    assert "has 0 object(s) at Missing" in errors_of(variables)[0].message


def test_installer_adds_of_the_service_account_needs_it_set(tmp_path: Path) -> None:
    adds = [{"path": "Connections.RunAs", "from": "service_account"}]
    profile = profile_with(tmp_path, installer_adds=adds)
    assert (
        "sagefleet_settings_service_account"
        in errors_of(two_entities(sagefleet_agent_profile=profile))[0].message
    )
    settings = build_host_settings(
        HOST,
        two_entities(
            sagefleet_agent_profile=profile, sagefleet_agent_service_account="CORP\\svc-spendesk"
        ),
    )
    assert settings.document["Connections"][0]["RunAs"] == "CORP\\svc-spendesk"


# -- what may be overwritten ---------------------------------------------------------------


def current(name: str) -> str:
    return (VENDOR / name).read_text(encoding="utf-8-sig")


def test_template_content_never_replaces_a_vendor_file() -> None:
    variables = {"sagefleet_entities": [entity()], "sagefleet_settings_source": "template"}
    settings = build_host_settings(HOST, variables)
    problem = settings.overwrite_problem(current("bijou.settings.json"))
    assert problem is not None and "not in sagefleet's template layout" in problem
    assert "sagefleet_settings_source: vendor" in problem
    assert "Vendor-" not in problem
    assert settings.overwrite_problem(settings.text) is None
    assert settings.overwrite_problem(None) is None
    assert settings.overwrite_problem("not json") is not None


def test_vendor_content_never_drops_a_connection_silently() -> None:
    variables = two_entities()
    del variables["sagefleet_entities"][1]
    settings = build_host_settings(HOST, variables)
    both = build_host_settings(HOST, two_entities()).text
    problem = settings.overwrite_problem(both)
    assert problem is not None and "Connections[CompanyName=CHOCO]" in problem
    assert "sagefleet_settings_drop_connections: true" in problem
    assert "Vendor-" not in problem
    assert settings.overwrite_problem(current("bijou.settings.json")) is None


def test_dropping_connections_is_allowed_when_asked() -> None:
    variables = two_entities(sagefleet_settings_drop_connections=True)
    del variables["sagefleet_entities"][1]
    settings = build_host_settings(HOST, variables)
    assert settings.overwrite_problem(build_host_settings(HOST, two_entities()).text) is None


def test_a_template_file_holds_connections_the_vendor_files_lack() -> None:
    template = build_host_settings(
        HOST, {"sagefleet_entities": [entity()], "sagefleet_settings_source": "template"}
    )
    problem = build_host_settings(HOST, two_entities()).overwrite_problem(template.text)
    assert problem is not None and "connections[name=BIJOU]" in problem


def test_the_current_file_is_read_with_the_new_documents_keys() -> None:
    # ambiguous-a alone could be keyed by CompanyName or ConnectionId: the merged
    # document's key (CompanyName) tells its connection, which is kept.
    settings = build_host_settings(HOST, two_entities())
    assert settings.overwrite_problem(current("ambiguous-a.settings.json")) is None


def test_a_current_file_whose_connections_cannot_be_told_is_not_replaced() -> None:
    settings = build_host_settings(HOST, two_entities())
    unclear = json.dumps({"Sites": [{"Name": "A", "Id": "1"}]})
    problem = settings.overwrite_problem(unclear)
    assert problem is not None and "cannot be told" in problem
    assert "sagefleet_settings_merge_keys" in problem
    broken = settings.overwrite_problem("{broken")
    assert broken is not None and "not valid JSON" in broken
