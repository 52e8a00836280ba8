"""Specification of the structural settings merge: keyed by connection, any layout, no last win."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sagefleet.agent.profile import MergeKey
from sagefleet.errors import InputError
from sagefleet.settings import (
    MASK,
    MergeConflict,
    MergeFailed,
    ValidationFailed,
    dumps,
    merge_documents,
    merge_settings,
)
from sagefleet.settings.keys import parse_key_path
from sagefleet.settings.layer import layer
from sagefleet.settings.merge import connections
from sagefleet.settings.vendor import load_vendor_settings


def conn(name: str, **members: Any) -> dict[str, Any]:
    return {"name": name, **members}


def doc(*connections: dict[str, Any]) -> dict[str, Any]:
    return {"schemaVersion": 1, "connections": list(connections)}


def test_connections_with_different_names_are_united_and_sorted_by_name() -> None:
    merged = merge_settings([doc(conn("B")), doc(conn("A"))])
    assert [c["name"] for c in merged["connections"]] == ["A", "B"]


def test_members_of_the_same_connection_are_merged_deeply() -> None:
    merged = merge_settings([doc(conn("A", sql={"user": "u"})), doc(conn("A", sql={"x": 1}))])
    assert merged["connections"] == [{"name": "A", "sql": {"user": "u", "x": 1}}]


def test_identical_duplicates_collapse() -> None:
    assert merge_settings([doc(conn("A", x=1)), doc(conn("A", x=1))]) == doc(conn("A", x=1))


def test_members_keep_the_order_the_vendor_wrote_them_in() -> None:
    merged = merge_settings([{"b": 1, "a": {"d": 1, "c": 2}}])
    assert list(merged) == ["b", "a"] and list(merged["a"]) == ["d", "c"]


def test_members_found_only_in_another_document_come_after() -> None:
    merged = merge_settings([{"b": 1, "a": 2}, {"b": 1, "z": 3, "c": 4}])
    assert list(merged) == ["b", "a", "z", "c"]


def test_a_list_the_documents_give_alike_keeps_their_order() -> None:
    first = doc(conn("Z", x=1), conn("A"))
    assert names(merge_settings([first])) == ["Z", "A"]
    assert names(merge_settings([first, doc(conn("Z"), conn("A", y=2))])) == ["Z", "A"]


def test_a_list_the_documents_give_differently_is_sorted_by_key() -> None:
    first = doc(conn("Z"), conn("A"))
    assert names(merge_settings([first, doc(conn("A"), conn("Z"))])) == ["A", "Z"]
    assert names(merge_settings([first, doc(conn("Z"))])) == ["A", "Z"]


def names(document: dict[str, Any]) -> list[str]:
    return [c["name"] for c in document["connections"]]


def test_conflict_names_both_sources_and_key_path() -> None:
    with pytest.raises(MergeFailed) as raised:
        merge_settings(
            [doc(conn("A", sql={"user": "u1"})), doc(conn("A", sql={"user": "u2"}))],
            ["a.json", "b.json"],
        )
    (conflict,) = raised.value.conflicts
    assert conflict.field == "connections[name=A].sql.user"
    assert conflict.first_source == "a.json" and conflict.second_source == "b.json"
    assert '"u1"' in conflict.message and '"u2"' in conflict.message


def test_conflict_names_the_source_that_set_the_value_not_the_previous_document() -> None:
    with pytest.raises(MergeFailed) as raised:
        merge_settings([{"a": 1}, {"b": 2}, {"a": 3}], ["one", "two", "three"])
    assert raised.value.conflicts[0].first_source == "one"
    assert raised.value.conflicts[0].second_source == "three"


def test_every_conflict_is_reported() -> None:
    with pytest.raises(MergeFailed) as raised:
        merge_settings([{"a": 1, "b": 1}, {"a": 2, "b": 2}])
    assert [c.field for c in raised.value.conflicts] == ["a", "b"]


def test_conflicting_secret_values_are_masked() -> None:
    with pytest.raises(MergeFailed) as raised:
        merge_settings(
            [
                doc(conn("A", sql={"password": "first-secret"})),
                doc(conn("A", sql={"password": "second-secret"})),
            ]
        )
    text = str(raised.value)
    assert "first-secret" not in text and "second-secret" not in text
    assert MASK in text


def test_object_against_scalar_is_a_conflict() -> None:
    with pytest.raises(MergeFailed):
        merge_settings([{"a": {"b": 1}}, {"a": 1}])


def test_boolean_and_integer_are_not_equal() -> None:
    with pytest.raises(MergeFailed):
        merge_settings([{"a": True}, {"a": 1}])


def test_null_is_a_value_that_conflicts() -> None:
    with pytest.raises(MergeFailed):
        merge_settings([{"a": None}, {"a": "x"}])


def test_plain_lists_must_be_identical() -> None:
    assert merge_settings([{"a": [1, 2]}, {"a": [1, 2]}]) == {"a": [1, 2]}
    with pytest.raises(MergeFailed):
        merge_settings([{"a": [1, 2]}, {"a": [2, 1]}])


def test_a_list_with_duplicate_names_is_not_keyed_by_name() -> None:
    # "a unique string member": two items named A make it a plain list, kept as it is.
    document = doc(conn("A", x=1), conn("A", x=2))
    assert merge_settings([document]) == document
    with pytest.raises(MergeFailed):
        merge_settings([document, doc(conn("A", x=1))])


def test_non_object_document_is_rejected() -> None:
    with pytest.raises(MergeFailed):
        documents: list[Any] = [{"a": 1}, [1, 2]]
        merge_settings(documents)


def test_conflict_is_an_input_error_with_a_fix() -> None:
    with pytest.raises(MergeFailed) as raised:
        merge_settings([{"a": 1}, {"a": 2}], host="h1")
    conflict = raised.value.conflicts[0]
    assert isinstance(conflict, MergeConflict)
    assert conflict.host == "h1" and conflict.fix


# --- properties --------------------------------------------------------------------------------

NAMES = st.sampled_from(["A", "B", "C"])
KEYS = st.sampled_from(["user", "server", "mode", "password"])
SCALARS = st.one_of(st.sampled_from([1, 2, "x", "y", True, None]))


def members(depth: int) -> st.SearchStrategy[Any]:
    if depth == 0:
        return SCALARS
    return st.one_of(
        SCALARS,
        st.dictionaries(KEYS, members(depth - 1), max_size=3),
        st.lists(SCALARS, max_size=2),
    )


CONNECTIONS = st.builds(
    lambda name, extra: {"name": name, **extra},
    NAMES,
    st.dictionaries(KEYS, members(2), max_size=3),
)
DOCUMENTS = st.fixed_dictionaries(
    {"connections": st.lists(CONNECTIONS, max_size=3, unique_by=lambda c: c["name"])},
    optional={"schemaVersion": st.sampled_from([1, 2]), "mode": members(1)},
)
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


def outcome(documents: list[dict[str, Any]]) -> Any:
    """The merge result, or the set of conflicting paths when it fails."""
    try:
        return merge_settings(documents)
    except MergeFailed as failed:
        return ("conflict", frozenset(c.field for c in failed.conflicts))


def failed(result: Any) -> bool:
    return isinstance(result, tuple)


def verdict(result: Any) -> Any:
    """Which conflicts are listed may depend on order; that a conflict exists must not."""
    return "conflict" if failed(result) else result


@PROPERTY_SETTINGS
@given(DOCUMENTS)
def test_merging_a_document_with_itself_changes_nothing(a: dict[str, Any]) -> None:
    assert verdict(outcome([a, a])) == verdict(outcome([a]))


@PROPERTY_SETTINGS
@given(DOCUMENTS)
def test_merging_a_merged_document_again_is_a_fixed_point(a: dict[str, Any]) -> None:
    once = outcome([a])
    if not failed(once):
        assert merge_settings([once]) == once


@PROPERTY_SETTINGS
@given(DOCUMENTS)
def test_one_document_comes_out_as_it_went_in(a: dict[str, Any]) -> None:
    assert dumps(merge_settings([a]), sort_keys=False) == dumps(a, sort_keys=False)


@PROPERTY_SETTINGS
@given(DOCUMENTS, DOCUMENTS)
def test_merge_order_does_not_matter(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert verdict(outcome([a, b])) == verdict(outcome([b, a]))


@PROPERTY_SETTINGS
@given(DOCUMENTS, DOCUMENTS, DOCUMENTS)
def test_merge_is_associative(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    flat = outcome([a, b, c])
    ab, bc = outcome([a, b]), outcome([b, c])
    left = ab if failed(ab) else outcome([ab, c])
    right = bc if failed(bc) else outcome([a, bc])
    if failed(flat):
        assert failed(left) and failed(right)
    else:
        assert left == flat == right


@PROPERTY_SETTINGS
@given(DOCUMENTS, DOCUMENTS)
def test_merged_result_contains_each_input(a: dict[str, Any], b: dict[str, Any]) -> None:
    merged = outcome([a, b])
    if not failed(merged):
        assert merge_settings([merged, a]) == merged
        assert merge_settings([merged, b]) == merged


@PROPERTY_SETTINGS
@given(DOCUMENTS, NAMES, KEYS, st.sampled_from([1, "x"]), st.sampled_from([2, "y"]))
def test_changing_one_value_is_always_detected_as_a_conflict(
    a: dict[str, Any], name: str, key: str, old: Any, new: Any
) -> None:
    assume(all(c["name"] != name for c in a["connections"]))
    left = {**a, "connections": [*a["connections"], {"name": name, key: old}]}
    right = {**a, "connections": [*a["connections"], {"name": name, key: new}]}
    result = outcome([left, right])
    assert failed(result)
    assert f"connections[name={name}].{key}" in result[1] or failed(outcome([left]))


# --- vendor files: any layout ------------------------------------------------------------------

VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor_settings"
SECRET_PREFIXES = ("Vendor-", "vendor-")


def vendor(name: str) -> Any:
    return load_vendor_settings(VENDOR / name)


def merged_text(*names: str, keys: tuple[MergeKey, ...] = ()) -> str:
    merged = merge_settings([vendor(n) for n in names], list(names), keys=keys)
    return dumps(merged, sort_keys=False)


def assert_no_vendor_secret(text: str) -> None:
    for name in VENDOR.glob("*.json"):
        for secret in re.findall(r'"((?:Vendor|vendor)-[^"]+)"', name.read_text("utf-8-sig")):
            assert secret not in text, secret
    assert "Vendor-Conn-Secret" not in text


def test_connections_keyed_by_company_name_are_detected_and_united() -> None:
    merged = merge_settings([vendor("choco.settings.json"), vendor("bijou.settings.json")])
    assert [c["CompanyName"] for c in merged["Connections"]] == ["BIJOU", "CHOCO"]
    assert merged["Environment"] == {"Region": "eu-west-3", "Queue": "spendesk-sage-agent"}
    assert merged["Connections"][1]["Receipts"]["Folder"] == "D:\\Spendesk\\Receipts\\CHOCO"


def test_nothing_is_added_to_what_the_vendor_wrote() -> None:
    merged = merge_settings([vendor("bijou.settings.json"), vendor("choco.settings.json")])
    assert set(merged) == {"FormatVersion", "Environment", "Connections"}
    assert "schemaVersion" not in merged and "connections" not in merged


def test_a_byte_order_mark_is_accepted_on_read() -> None:
    assert (VENDOR / "choco.settings.json").read_bytes().startswith(b"\xef\xbb\xbf")
    assert vendor("choco.settings.json")["Connections"][0]["CompanyName"] == "CHOCO"


def test_one_vendor_file_comes_out_with_its_members_in_its_own_order() -> None:
    document = vendor("bijou.settings.json")
    assert merged_text("bijou.settings.json") == json.dumps(document, indent=2) + "\n"


def test_one_vendor_file_keeps_the_order_of_its_connections_and_of_their_lists() -> None:
    document = vendor("two-companies.settings.json")
    assert merged_text("two-companies.settings.json") == json.dumps(document, indent=2) + "\n"
    (zephyr, atelier) = merge_settings([document])["Connections"]
    assert (zephyr["CompanyName"], atelier["CompanyName"]) == ("ZEPHYR", "ATELIER")
    assert [j["Code"] for j in zephyr["Journals"]] == ["VTE", "ACH"]


def test_keys_are_case_preserving_two_spellings_are_two_connections() -> None:
    merged = merge_settings(
        [vendor("bijou.settings.json"), vendor("bijou-lowercase.settings.json")]
    )
    assert [c["CompanyName"] for c in merged["Connections"]] == ["BIJOU", "bijou"]


def test_a_regenerated_connection_conflicts_naming_the_key_path_and_both_files() -> None:
    with pytest.raises(MergeFailed) as raised:
        merge_settings(
            [vendor("bijou.settings.json"), vendor("bijou-regenerated.settings.json")],
            ["bijou.settings.json", "bijou-regenerated.settings.json"],
        )
    fields = [c.field for c in raised.value.conflicts]
    assert fields == [
        "Connections[CompanyName=BIJOU].Sql.Login",
        "Connections[CompanyName=BIJOU].Sql.Pwd",
    ]
    text = str(raised.value)
    assert "bijou.settings.json" in text and "bijou-regenerated.settings.json" in text
    assert '"spendesk_bijou"' in text and MASK in text
    assert_no_vendor_secret(text)


def test_a_connection_string_conflict_never_shows_its_password() -> None:
    first = {"Connections": [{"CompanyName": "A", "Db": "Server=s;Password=Vendor-One;"}]}
    second = {"Connections": [{"CompanyName": "A", "Db": "Server=s;Password=Vendor-Two;"}]}
    with pytest.raises(MergeFailed) as raised:
        merge_settings([first, second])
    assert "Vendor-One" not in str(raised.value) and "Vendor-Two" not in str(raised.value)
    assert "Password=********" in str(raised.value)


def test_a_top_level_list_of_connections_is_merged() -> None:
    merged = merge_settings(
        [vendor("list-garage.settings.json"), vendor("list-atelier.settings.json")]
    )
    assert [c["ConnectionName"] for c in merged] == ["ATELIER", "GARAGE"]


def test_a_top_level_list_against_an_object_is_a_conflict_at_the_root() -> None:
    with pytest.raises(MergeFailed) as raised:
        merge_settings([vendor("list-atelier.settings.json"), vendor("bijou.settings.json")])
    assert raised.value.conflicts[0].field == "(document root)"


def test_nested_lists_are_detected_at_any_depth() -> None:
    merged = merge_settings([vendor("nested-b.settings.json"), vendor("nested-a.settings.json")])
    items = merged["Agent"]["Sites"]["Items"]
    assert [i["Code"] for i in items] == ["BIJOU", "CHOCO"]
    assert items[0]["Tables"] == [{"Name": "F_COMPTEG"}]


def test_two_candidate_members_are_refused_with_a_request_to_declare() -> None:
    with pytest.raises(ValidationFailed) as raised:
        merge_settings(
            [vendor("ambiguous-a.settings.json"), vendor("ambiguous-b.settings.json")],
            ["a.json", "b.json"],
            host="srv1",
        )
    (error,) = raised.value.errors
    assert error.host == "srv1" and error.field == "merge key Connections"
    assert "CompanyName or ConnectionId" in error.message
    assert error.fix is not None and "--key Connections=CompanyName" in error.fix
    assert "sagefleet_settings_merge_keys" in error.fix


def test_a_declared_key_settles_the_ambiguity() -> None:
    keys = (MergeKey("Connections", "ConnectionId"),)
    merged = merge_settings(
        [vendor("ambiguous-b.settings.json"), vendor("ambiguous-a.settings.json")], keys=keys
    )
    assert [c["ConnectionId"] for c in merged["Connections"]] == ["c-001", "c-002"]


def test_a_declared_key_on_a_nested_path() -> None:
    keys = (MergeKey("Agent.Sites.Items", "Code"), MergeKey("Agent.Sites.Items[].Tables", "Name"))
    merged = merge_settings(
        [vendor("nested-a.settings.json"), vendor("nested-b.settings.json")], keys=keys
    )
    assert [i["Code"] for i in merged["Agent"]["Sites"]["Items"]] == ["BIJOU", "CHOCO"]


def test_a_declared_key_for_the_document_root() -> None:
    keys = (MergeKey(".", "ConnectionName"),)
    merged = merge_settings(
        [vendor("list-atelier.settings.json"), vendor("list-garage.settings.json")], keys=keys
    )
    assert len(merged) == 2


def test_a_declared_key_that_items_lack_is_refused_naming_path_item_and_file() -> None:
    with pytest.raises(ValidationFailed) as raised:
        merge_settings(
            [vendor("bijou.settings.json")], ["bijou.json"], keys=(MergeKey("Connections", "Id"),)
        )
    (error,) = raised.value.errors
    assert error.field == "merge key Connections=Id" and error.value == "bijou.json"
    assert "item #1 of the list has no string member Id" in error.message


def test_a_declared_key_shared_by_two_items_of_one_file_is_refused() -> None:
    document = {"Connections": [{"CompanyName": "A", "x": 1}, {"CompanyName": "A", "x": 2}]}
    with pytest.raises(ValidationFailed, match="two items of the list have CompanyName=A"):
        merge_settings([document], keys=(MergeKey("Connections", "CompanyName"),))


def test_two_members_declared_for_one_list_is_an_input_error() -> None:
    keys = (MergeKey("Connections", "CompanyName"), MergeKey("Connections", "Id"))
    with pytest.raises(InputError, match="two members declared for the list Connections"):
        merge_settings([{}], keys=keys)


@pytest.mark.parametrize("bad", ["", "a..b", ".a", "a. b"])
def test_a_malformed_key_path_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a key path"):
        parse_key_path(bad)


def test_a_scalar_document_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="not a JSON object or list"):
        merge_settings([{"a": 1}, "text"])


FILES = sorted(p.name for p in VENDOR.glob("*.json"))
PAIRS = [
    ("bijou.settings.json", "choco.settings.json"),
    ("bijou.settings.json", "bijou-lowercase.settings.json"),
    ("list-atelier.settings.json", "list-garage.settings.json"),
    ("nested-a.settings.json", "nested-b.settings.json"),
]


@pytest.mark.parametrize("name", [n for n in FILES if not n.startswith("ambiguous")])
def test_merging_a_vendor_file_with_itself_gives_the_file(name: str) -> None:
    assert merge_settings([vendor(name), vendor(name)]) == vendor(name)
    assert merged_text(name, name) == merged_text(name)


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_the_order_of_vendor_files_never_changes_a_byte(a: str, b: str) -> None:
    assert merged_text(a, b) == merged_text(b, a)


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_merging_the_merged_file_again_changes_nothing(a: str, b: str) -> None:
    once = merge_settings([vendor(a), vendor(b)])
    assert merge_settings([once]) == once
    assert merge_settings([once, vendor(a)]) == once


def test_connections_are_listed_by_their_key_path() -> None:
    result = merge_documents([vendor("bijou.settings.json"), vendor("choco.settings.json")])
    assert result.plan == {("Connections",): "CompanyName"}
    assert connections(result.document, result.plan) == [
        "Connections[CompanyName=BIJOU]",
        "Connections[CompanyName=CHOCO]",
    ]


def test_dropped_connections_are_the_ones_the_current_file_holds_and_the_new_one_lacks() -> None:
    new = merge_documents([vendor("bijou.settings.json")])
    current = merge_settings([vendor("bijou.settings.json"), vendor("choco.settings.json")])
    assert layer(current, new, keep=False).dropped == ("Connections[CompanyName=CHOCO]",)
    assert layer(vendor("bijou.settings.json"), new, keep=False).dropped == ()
    nested = merge_documents([vendor("nested-a.settings.json")])
    assert layer(
        merge_settings([vendor("nested-a.settings.json"), vendor("nested-b.settings.json")]),
        nested,
        keep=False,
    ).dropped == ("Agent.Sites.Items[Code=CHOCO]",)
