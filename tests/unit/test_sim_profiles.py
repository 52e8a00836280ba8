"""Host profiles: one schema for shipped profiles, profile files and host overrides.

The schema (schemas/sim-profile.schema.json) and the host model (sim/host/)
must agree: every field the schema declares is built by the model (the
every-field fixture), every closed object is closed in both, and the enums are
the model's own constants.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.agent import profile as agent_profile
from sagefleet.sim import host as model
from sagefleet.sim import host_profiles, vendor_layout
from sagefleet.sim.host import ProfileError, host_from_profile, load_profile, profile_names
from sagefleet.sim.host import profile as built
from sagefleet.sim.host.products import NDP_V4, SAGE_PRODUCTS, sage_brand
from sagefleet.sim.host_profiles import ProfileLibrary, check, with_overrides

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sim" / "every-field.yml"
SCHEMA = host_profiles.schema()


def build(profile: dict[str, Any]) -> model.WindowsHost:
    return host_from_profile("h1", "127.0.0.2", "admin", "pw", profile)


def every_field() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    return data


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def schema_paths(
    node: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """(path, schema) of every object the schema declares; "*" any key, "[]" any item."""
    node = resolve(node)
    for branch in node.get("oneOf", []) + node.get("anyOf", []) + node.get("allOf", []):
        yield from schema_paths(branch, path)
    if "properties" in node or node.get("additionalProperties") is False:
        yield path, node
    for name, sub in (node.get("properties") or {}).items():
        yield from schema_paths(sub, (*path, name))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from schema_paths(extra, (*path, "*"))
    if isinstance(node.get("items"), dict):
        yield from schema_paths(node["items"], (*path, "[]"))


def declared_fields() -> set[tuple[str, ...]]:
    fields = set()
    for path, node in schema_paths(SCHEMA):
        fields |= {(*path, name) for name in node.get("properties") or {}}
    return fields


def containers(data: Any, path: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """The mappings of ``data`` found at a schema path."""
    if not path:
        if isinstance(data, dict):
            yield data
        return
    head, rest = path[0], path[1:]
    if head == "[]":
        for item in data if isinstance(data, list) else []:
            yield from containers(item, rest)
    elif head == "*":
        for item in data.values() if isinstance(data, dict) else []:
            yield from containers(item, rest)
    elif isinstance(data, dict) and head in data:
        yield from containers(data[head], rest)


# -- schema and model agree --------------------------------------------------------------


@pytest.mark.parametrize("name", profile_names())
def test_every_shipped_profile_follows_the_schema(name: str) -> None:
    check(load_profile(name), f"profile {name}")


def test_the_every_field_fixture_uses_every_field_the_schema_declares() -> None:
    data = every_field()
    missing = [
        ".".join(field)
        for field in sorted(declared_fields())
        if not any(field[-1] in c for c in containers(data, field[:-1]))
    ]
    assert missing == []


def test_the_schema_accepts_and_the_model_builds_every_field() -> None:
    data = every_field()
    check(data, str(FIXTURE))
    host = build(data)
    assert host.hostname == "SAGE-ALL" and host.winrm.delegation is True


@pytest.mark.parametrize(
    "path",
    sorted({p for p, node in schema_paths(SCHEMA) if node.get("additionalProperties") is False}),
    ids=lambda p: ".".join(p) or "(top)",
)
def test_an_unknown_field_is_refused_by_the_schema_and_by_the_model(
    path: tuple[str, ...],
) -> None:
    data = copy.deepcopy(every_field())
    target = next(containers(data, path))
    target["bogus_field"] = 1
    with pytest.raises(ProfileError, match="bogus_field"):
        check(data, "fixture")
    with pytest.raises(ProfileError):
        build(data)


def test_the_schema_top_level_fields_are_the_models() -> None:
    accepted = built._FIELDS | built._SECTIONS | {"profile", "description", "winrm"}
    assert set(SCHEMA["properties"]) == accepted


def test_the_schema_enums_are_the_models_constants() -> None:
    defs, props = SCHEMA["$defs"], SCHEMA["properties"]
    assert tuple(defs["serviceState"]["enum"]) == model.SERVICE_STATES
    assert tuple(defs["startMode"]["enum"]) == model.START_MODES
    assert tuple(defs["tcpResult"]["enum"]) == model.TCP_RESULTS
    assert tuple(defs["dnsStatus"]["enum"]) == model.DNS_STATUSES
    assert tuple(defs["tlsProtocols"]["items"]["enum"]) == model.TLS_PROTOCOLS
    assert tuple(props["ui_language"]["enum"]) == model.UI_LANGUAGES
    assert tuple(props["drives"]["items"]["properties"]["type"]["enum"]) == model.DRIVE_TYPES
    products = props["sage"]["properties"]["products"]["items"]["enum"]
    assert sorted(products) == sorted(SAGE_PRODUCTS)
    kinds = props["registry"]["additionalProperties"]["additionalProperties"]["oneOf"][2]
    assert tuple(kinds["properties"]["type"]["enum"]) == model.REG_KINDS


# -- overrides --------------------------------------------------------------------------


def test_overrides_merge_into_a_profile_section_and_keep_the_rest() -> None:
    merged = with_overrides(load_profile("agent-old"), {"agent": {"state": "Stopped"}}, "sage01")
    assert merged["agent"] == {
        "version": "2.3.0",
        "state": "Stopped",
        "account": "CORP\\svc-spendesk",
    }
    assert build(merged).service("SpendeskSageAgent").state == "Stopped"  # type: ignore[union-attr]


def test_an_override_list_replaces_the_profiles() -> None:
    mae = [{"path": "C:\\Sage\\Societes\\CHOCO.MAE", "server": "SAGE-AGENT23\\SAGE100"}]
    merged = with_overrides(load_profile("agent-old"), {"mae": mae}, "sage01")
    assert merged["mae"] == mae


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"agent": {"state": "Runing"}},
            "host sage01: sagefleet_sim_overrides (over profile 'agent-old'): field "
            'agent.state: "Runing" is not one of "Running", "Stopped", "StartPending", '
            '"StopPending"',
        ),
        (
            {"sage": {"version": 11.2}},
            "field sage.version: 11.2 is not a string (quote it in YAML",
        ),
        ({"agent": {"versoin": "3.1.0"}}, "field agent.versoin: unknown field (known: account,"),
        ({"mae": [{"path": "C:\\X.MAE"}]}, "field mae[0].server: missing (required)"),
        ({"dotnet_release": "4.8"}, 'field dotnet_release: "4.8" is not an integer or null'),
        (
            {"registry": {"HKLM\\SOFTWARE\\X": {"On": True}}},
            "field registry.HKLM\\SOFTWARE\\X.On: ",
        ),
        (["agent"], 'must be a mapping of profile fields, not ["agent"]'),
    ],
)
def test_a_bad_override_is_one_line_naming_host_field_and_value(
    overrides: Any, expected: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        with_overrides(load_profile("agent-old"), overrides, "sage01")
    text = str(caught.value)
    assert text.startswith("host sage01: sagefleet_sim_overrides")
    assert expected in text and "\n" not in text


# -- profile files -----------------------------------------------------------------------


def test_a_profile_file_is_named_by_its_file_name(tmp_path: Path) -> None:
    path = tmp_path / "client-srv1.yml"
    shipped = {k: v for k, v in load_profile("healthy-onprem").items() if k != "profile"}
    path.write_text(yaml.safe_dump(shipped))
    library = ProfileLibrary([path])
    assert library.custom_names == ["client-srv1"]
    assert library.get("client-srv1")["hostname"] == "SAGE-ONPREM"
    assert library.get(str(path))["profile"] == "client-srv1"
    assert library.reference("client-srv1") == str(path.resolve())
    assert library.reference("healthy-spc") == "healthy-spc"


def test_a_profile_file_with_a_yaml_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("hostname: SAGE-X\nagent: {version: '3.1.0'\nmae: []\n")
    with pytest.raises(ProfileError) as caught:
        ProfileLibrary([path])
    assert str(caught.value).startswith(f"profile file {path}: YAML syntax error at line 3")


def test_a_profile_file_with_a_bad_value_names_the_file_field_and_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("hostname: SAGE-X\nedition: cloud\n")
    with pytest.raises(ProfileError) as caught:
        ProfileLibrary([path])
    assert str(caught.value) == (
        f'profile file {path}: field edition: "cloud" is not one of "onpremise", "spc"'
    )


def test_a_profile_file_may_not_take_a_shipped_profiles_name(tmp_path: Path) -> None:
    path = tmp_path / "healthy-spc.yml"
    path.write_text("hostname: SAGE-X\n")
    with pytest.raises(ProfileError, match="its name 'healthy-spc' is a shipped profile's"):
        ProfileLibrary([path])


def test_an_unknown_profile_name_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="unknown simulator profile 'nope' .*healthy-spc"):
        ProfileLibrary().get("nope")


# -- what profiles build -------------------------------------------------------------------


AGENT_PROFILES = [n for n in profile_names() if load_profile(n).get("agent")]


def test_some_shipped_profiles_have_an_agent() -> None:
    assert "agent-old" in AGENT_PROFILES


@pytest.mark.parametrize("name", AGENT_PROFILES)
def test_an_installed_agent_has_the_vendors_settings_json_in_a_non_template_layout(
    name: str,
) -> None:
    profile = load_profile(name)
    host = build(profile)
    raw = host.fs.read(agent_profile.default().settings_path())
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    document = json.loads(raw.decode("utf-8-sig"))
    assert "schemaVersion" not in document and "connections" not in document
    codes = [c["CompanyName"] for c in document["Connections"]]
    assert codes == [vendor_layout.company_code(m["path"]) for m in profile["mae"]]
    servers = [c["Database"]["Server"] for c in document["Connections"]]
    assert servers == [m["server"] for m in profile["mae"]]


def test_a_host_without_agent_has_no_settings_json() -> None:
    host = build(load_profile("healthy-onprem"))
    assert not host.fs.exists(agent_profile.default().settings_path())


def test_an_agent_profile_may_give_its_settings_or_none() -> None:
    given = {"Connections": [{"CompanyName": "X"}], "Version": "9"}
    host = build(with_overrides(load_profile("agent-old"), {"agent": {"settings": given}}, "h"))
    path = agent_profile.default().settings_path()
    assert json.loads(host.fs.read(path).decode("utf-8-sig")) == given
    host = build(with_overrides(load_profile("agent-old"), {"agent": {"settings": None}}, "h"))
    assert not host.fs.exists(path)


def test_entities_of_a_profile_follow_its_mae_files() -> None:
    spc = vendor_layout.entities_for(load_profile("healthy-spc"))
    assert [(e["name"], e["edition"], e["azure_sql_server"]) for e in spc] == [
        ("BIJOU", "spc", "xiyxu8z271")
    ]
    multi = vendor_layout.entities_for(load_profile("two-entities"))
    assert [(e["company_code"], e["sql_instance"]) for e in multi] == [
        ("BIJOU", "SAGE-MULTI\\SAGE100"),
        ("CHOCO", "SAGE-MULTI\\SAGE100"),
    ]


@pytest.mark.parametrize(
    ("major", "brand"),
    [
        (3, "Sage 100c"),
        (4, "Sage 100cloud"),
        (6, "Sage 100cloud"),
        (9, "Sage 100cloud"),
        (10, "Sage 100"),
        (11, "Sage 100"),
    ],
)
def test_sage_uninstall_entries_carry_the_brand_of_their_version(major: int, brand: str) -> None:
    assert sage_brand(major) == brand


@pytest.mark.parametrize(
    ("release", "version"), [(461814, "4.7.03062"), (528049, "4.8.03761"), (528449, "4.8.04161")]
)
def test_the_dotnet_version_value_matches_its_release(release: int, version: str) -> None:
    host = build({**load_profile("healthy-onprem"), "dotnet_release": release})
    assert host.registry.get(NDP_V4, "Version") == version


def test_an_unknown_dotnet_release_gets_no_made_up_version() -> None:
    host = build({**load_profile("healthy-onprem"), "dotnet_release": 394802})
    assert host.registry.get(NDP_V4, "Release") == 394802
    assert host.registry.get(NDP_V4, "Version") is None
