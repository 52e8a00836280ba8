"""Specification of redaction, canonical text, hashing, diff and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sagefleet.errors import InputError
from sagefleet.settings import (
    MASK,
    diff,
    dumps,
    is_secret_key,
    is_secret_path,
    loads_strict,
    redact,
    settings_sha256,
    write_atomic,
)

SETTINGS = {
    "schemaVersion": 1,
    "connections": [
        {
            "name": "A",
            "sql": {"user": "u", "password": "sql-secret"},
            "sage": {"user": "<administrateur>", "Password": ""},
            "apiToken": "tok-secret",
        },
    ],
}


@pytest.mark.parametrize(
    "key",
    [
        "password", "Password", "PASSWORD", "sqlPassword", "client_secret", "token", "apiToken",
        # A secret word anywhere in the name, plurals included: a vendor's spelling is unknown.
        "Passwords", "Password_Sage", "SqlPasswordEncrypted", "Secrets", "PwdSage", "SqlPwd",
        # Masking a value that was not secret costs nothing.
        "passwordPolicy", "tokens_count",
    ],
)  # fmt: skip
def test_secret_key_names_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["user", "name", "CompanyName", "MaeFile", "Server", "cmdPath", "Endpoints"]
)
def test_ordinary_key_names_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)


def test_a_value_inside_a_secret_member_is_secret() -> None:
    assert is_secret_path(["Credentials", "Value"])
    assert is_secret_path(["Connections", ("CompanyName", "BIJOU"), "Sql", "Pwd"])
    assert not is_secret_path(["Connections", ("CompanyName", "BIJOU"), "MaeFile"])


def test_redact_masks_every_secret_and_keeps_the_structure() -> None:
    redacted = redact(SETTINGS)
    connection = redacted["connections"][0]
    assert connection["sql"] == {"user": "u", "password": MASK}
    assert connection["sage"] == {"user": "<administrateur>", "Password": MASK}
    assert connection["apiToken"] == MASK


def test_redact_does_not_modify_its_input() -> None:
    redact(SETTINGS)
    assert SETTINGS["connections"][0]["sql"]["password"] == "sql-secret"  # type: ignore[index]


def test_redact_secret_keys_are_configurable() -> None:
    assert redact({"pin": "1234", "password": "x"}, secret_keys=["pin"]) == {
        "pin": MASK,
        "password": "x",
    }


def test_redact_masks_passwords_inside_connection_strings() -> None:
    redacted = redact({"connectionString": "Server=s;User Id=u;Password=abc;Encrypt=True"})
    assert "abc" not in redacted["connectionString"]
    assert "Encrypt=True" in redacted["connectionString"]


def test_dumps_is_canonical_utf8_with_trailing_newline() -> None:
    text = dumps({"b": "é", "a": [1]})
    assert text == '{\n  "a": [\n    1\n  ],\n  "b": "é"\n}\n'


def test_dumps_ignores_key_order() -> None:
    assert dumps({"a": 1, "b": 2}) == dumps({"b": 2, "a": 1})


def test_sha256_is_of_the_utf8_bytes() -> None:
    assert settings_sha256("é\n") == settings_sha256("é\n".encode())
    assert settings_sha256("") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_diff_shows_changes_with_headers_and_no_secret() -> None:
    after = {**SETTINGS, "schemaVersion": 2}
    text = diff(dumps(SETTINGS), dumps(after))
    assert text.startswith("--- before/settings.json\n+++ after/settings.json\n")
    assert '-  "schemaVersion": 1' in text and '+  "schemaVersion": 2' in text
    assert "sql-secret" not in text and "tok-secret" not in text


def test_diff_says_a_secret_changed_without_showing_it() -> None:
    after = redact(SETTINGS, secret_keys=[])  # deep copy
    after["connections"][0]["sql"]["password"] = "new-secret"
    text = diff(dumps(SETTINGS), dumps(after))
    assert f'+        "password": "{MASK} (changed)"' in text
    assert "new-secret" not in text and "sql-secret" not in text


def test_diff_of_identical_documents_is_empty() -> None:
    assert diff(dumps(SETTINGS), dumps(SETTINGS)) == ""


def test_diff_ignores_formatting_only_changes() -> None:
    compact = '{"schemaVersion":1,"connections":[]}'
    assert diff(compact, dumps({"connections": [], "schemaVersion": 1})) == ""


def test_diff_from_missing_file_shows_everything_added() -> None:
    text = diff(None, dumps(SETTINGS), before_name="a", after_name="b")
    assert text.startswith("--- a\n+++ b\n")
    assert f'"password": "{MASK}"' in text and "sql-secret" not in text


def test_diff_never_shows_a_side_that_is_not_json() -> None:
    """Its secrets cannot be told from the rest: a truncated file, one line of JSON."""
    for broken in (
        '{\n  "password": "old-secret",\n  "x": 1,\n',
        '{"Connections":[{"CompanyName":"BIJOU","Sql":{"Pwd":"old-secret"}},',
    ):
        text = diff(broken, dumps({"x": 2}))
        assert "old-secret" not in text
        assert f"-(not valid JSON, {len(broken)} bytes: not shown" in text
        assert '+  "x": 2' in text


def test_loads_strict_rejects_duplicate_keys() -> None:
    with pytest.raises(InputError, match="duplicate key 'a'"):
        loads_strict('{"a": 1, "a": 2}', source="x.json")


def test_loads_strict_rejects_nan() -> None:
    with pytest.raises(InputError):
        loads_strict('{"a": NaN}', source="x.json")


def test_loads_strict_rejects_oversized_documents() -> None:
    with pytest.raises(InputError, match="bytes"):
        loads_strict('"' + "x" * 100 + '"', source="x.json", max_bytes=50)


def test_loads_strict_counts_brackets_inside_strings_as_text() -> None:
    assert loads_strict('{"a": "' + "[" * 100 + '"}', source="x.json") == {"a": "[" * 100}


def test_loads_strict_reports_syntax_errors_with_position() -> None:
    with pytest.raises(InputError, match="line 2 column 1"):
        loads_strict('{"a": 1,\n}', source="x.json")


def test_write_atomic_creates_a_private_file(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    assert write_atomic(target, "{}\n") is True
    assert target.read_text() == "{}\n"
    assert os.stat(target).st_mode & 0o777 == 0o600


def test_write_atomic_leaves_identical_content_untouched(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    write_atomic(target, "{}\n")
    os.utime(target, (1, 1))
    assert write_atomic(target, "{}\n") is False
    assert os.stat(target).st_mtime == 1


def test_write_atomic_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_atomic(tmp_path / "settings.json", "{}\n")
    write_atomic(tmp_path / "settings.json", "[]\n")
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('Server=s;Password="S3cr;et-SQL";Database=d', "Server=s;Password=********;Database=d"),
        ("Server=s;Pwd={S3cr;et-SQL};Database=d", "Server=s;Pwd=********;Database=d"),
        ("Password='S3cr;''et';Database=d", "Password=********;Database=d"),
        ("Password=S3cret;User Id=u", "Password=********;User Id=u"),
        ("mssql://spendesk:S3cret@sql01/db", "mssql://spendesk:********@sql01/db"),
        ("https://sqs.eu-west-1.amazonaws.com/queue", "https://sqs.eu-west-1.amazonaws.com/queue"),
    ],
)
def test_a_connection_strings_password_is_masked_whole(text: str, shown: str) -> None:
    """Quoted and braced values hold ';' (ODBC, SqlClient); a URL carries user:password@."""
    assert redact({"connection": text}) == {"connection": shown}
