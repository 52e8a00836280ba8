"""The output contract: a schema per snippet, and errors that name host, snippet and member."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sagefleet import snippets
from sagefleet.remote import SnippetFailed
from sagefleet.remote.command import parse_result
from sagefleet.remote.contracts import (
    ContractViolation,
    _checker,
    _validator,
    load_schema,
    schema_names,
    validate_output,
)

HOST_INFO: dict[str, Any] = {
    "hostname": "SAGE-ONPREM",
    "os_caption": "Microsoft Windows Server 2019 Standard",
    "os_version": "10.0.17763",
    "os_build": 17763,
    "powershell_version": "5.1.17763.5576",
    "language_mode": "FullLanguage",
    "utc_now": "2025-03-01T10:15:00.1234567Z",
}


def violation(name: str, document: Any) -> ContractViolation:
    # The fast check refuses it too: a document both refuse is refused, with
    # jsonschema's words (the fast check never decides alone to refuse).
    checker = _checker(name)
    assert checker is not None and checker.is_valid(document) is False
    with pytest.raises(ContractViolation) as caught:
        validate_output("sage01", name, document)
    return caught.value


def test_the_fast_check_accepts_what_jsonschema_accepts() -> None:
    documents = [
        ("host_info", HOST_INFO),
        ("query", {"answers": {"exists": True, "name": "Spooler", "state": "Running"}}),
        ("query", {"answers": [{"exists": False}]}),
    ]
    for name, document in documents:
        validator, checker = _validator(name), _checker(name)
        assert validator is not None and checker is not None
        assert validator.is_valid(document) and checker.is_valid(document), name


def test_every_shipped_snippet_has_a_valid_draft_2020_12_schema() -> None:
    assert schema_names() == snippets.available()
    for name in schema_names():
        schema = load_schema(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)


def test_objects_accept_members_the_schema_does_not_list() -> None:
    """Snippets may grow: every object of every schema allows more members."""

    def objects(node: Any) -> list[dict[str, Any]]:
        found = []
        if isinstance(node, dict):
            types = node.get("type")
            if types == "object" or (isinstance(types, list) and "object" in types):
                found.append(node)
            for value in node.values():
                found += objects(value)
        elif isinstance(node, list):
            for value in node:
                found += objects(value)
        return found

    for name in schema_names():
        for node in objects(load_schema(name)):
            assert node.get("additionalProperties", True) is True, name
    validate_output("sage01", "host_info", {**HOST_INFO, "language_mode": "FullLanguage"})


def test_a_missing_member_names_host_snippet_and_member() -> None:
    document = {k: v for k, v in HOST_INFO.items() if k != "os_build"}
    error = violation("host_info", document)
    assert (error.host, error.snippet, error.pointer) == ("sage01", "host_info", "/os_build")
    assert "sage01" in str(error) and "host_info" in str(error) and "/os_build" in str(error)
    assert "expected a member 'os_build'" in str(error) and "missing" in str(error)


def test_a_wrong_type_says_what_was_expected_and_found() -> None:
    error = violation("host_info", {**HOST_INFO, "os_build": "17763"})
    assert error.pointer == "/os_build"
    assert "expected integer, found a string of 5 characters" in str(error)


def test_a_nested_member_is_named_by_its_json_pointer() -> None:
    document = {
        "answers": [
            {"exists": False},
            {"exists": True, "acl": {"owner": "x", "protected": "yes", "rules": []}},
        ]
    }
    error = violation("query", document)
    assert error.pointer == "/answers/1/acl/protected"
    assert "expected boolean" in str(error)


def test_null_is_refused_where_the_snippet_never_emits_it() -> None:
    status = {
        "path": "C:\\S\\Setup.zip",
        "exists": False,
        "size": None,
        "sha256": None,
        "part": "C:\\S\\Setup.zip.part",
        "part_exists": False,
        "part_size": 0,
        "segments": [],
        "volume": "C:\\",
        "free_bytes": None,
    }
    error = violation("stage_status", status)
    assert error.pointer == "/free_bytes" and "expected integer, found null" in str(error)
    validate_output("sage01", "stage_status", {**status, "free_bytes": 10})


def test_a_one_element_array_unwrapped_by_powershell_is_accepted_where_the_bastion_is() -> None:
    answer = {"exists": True, "name": "Spooler", "state": "Running"}
    validate_output("sage01", "query", {"answers": answer})
    segments = {"value": [{"start": 1024, "size": 10}], "Count": 1}
    validate_output(
        "sage01",
        "stage_status",
        {
            "path": "C:\\S\\Setup.zip",
            "exists": False,
            "size": None,
            "sha256": None,
            "part": "C:\\S\\Setup.zip.part",
            "part_exists": True,
            "part_size": 1024,
            "segments": segments,
            "volume": "C:\\",
            "free_bytes": 10,
        },
    )


def test_found_never_quotes_text_the_output_may_hold_a_secret() -> None:
    secret = "Sql-Canary-Passw0rd!"
    document = {
        "action": "write",
        "path": "C:\\A\\settings.json",
        "existed": True,
        "changed": True,
        "previous_sha256": None,
        "sha256": None,
        "backup": None,
        "restored": None,
        "pruned": [],
        "backups": [],
        "leftovers": [],
        "previous": secret,
        "content": None,
        "now_utc": "2026-12-06T02:31:59.1234567Z",
        "written_utc": None,
        "agent": None,
    }
    error = violation("settings_write", document)
    assert error.pointer == "/previous" and "a string of 20 characters" in str(error)
    assert secret not in str(error)
    error = violation("agent_restart", {"state": "Running", "error": {"detail": secret}})
    assert secret not in str(error) and "an object with members detail" in str(error)


def test_parse_result_applies_the_contract_as_a_snippet_failure() -> None:
    stdout = json.dumps({**HOST_INFO, "os_build": None}).encode()
    with pytest.raises(SnippetFailed) as caught:
        parse_result("sage01", "host_info", 0, stdout, b"")
    error = caught.value
    assert isinstance(error, ContractViolation)
    assert (error.host, error.snippet, error.rc) == ("sage01", "host_info", 0)
    assert error.kind == "snippet"
    assert "/os_build" in error.error and "expected integer, found null" in error.error
    assert parse_result("sage01", "host_info", 0, json.dumps(HOST_INFO).encode(), b"") == HOST_INFO


def test_a_name_without_a_schema_has_no_contract() -> None:
    validate_output("sage01", "not_a_snippet", ["anything"])
