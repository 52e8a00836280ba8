"""Specification of the structural settings merge: keyed by connection name, never last-one-wins."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagefleet.settings import MASK, MergeConflict, MergeFailed, merge_settings


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


def test_keys_come_out_sorted() -> None:
    merged = merge_settings([{"b": 1, "a": {"d": 1, "c": 2}}])
    assert list(merged) == ["a", "b"] and list(merged["a"]) == ["c", "d"]


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


def test_duplicate_names_inside_one_document_that_differ_are_a_conflict() -> None:
    with pytest.raises(MergeFailed):
        merge_settings([doc(conn("A", x=1), conn("A", x=2))])


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
    {"connections": st.lists(CONNECTIONS, max_size=3)},
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
    left = {**a, "connections": [*a["connections"], {"name": name, key: old}]}
    right = {**a, "connections": [*a["connections"], {"name": name, key: new}]}
    result = outcome([left, right])
    assert failed(result)
    assert f"connections[name={name}].{key}" in result[1] or failed(outcome([left]))
