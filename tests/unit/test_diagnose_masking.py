"""A support bundle masks every form a host's file may hold a secret in (the bundle goes to
the vendor's support): as written, UTF-16, JSON-escaped, URL-encoded, XML-escaped, in the
ANSI code page, and base64 at any alignment; and refuses one where a form survived."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

import pytest

from sagefleet.diagnose import (
    Bundle,
    DiagnoseError,
    known_secrets,
    mask,
    scrub_text_file,
    write_zip,
)
from sagefleet.inventory import load, sagefleet_var_names

SECRET = "S3cr&t é;/pw+x <ok>"


@pytest.mark.parametrize(
    "form",
    [
        SECRET.encode("utf-8"),
        SECRET.encode("utf-16-le"),
        json.dumps(SECRET)[1:-1].encode(),
        json.dumps(SECRET, ensure_ascii=False)[1:-1].encode(),
        quote(SECRET, safe="").encode(),
        quote_plus(SECRET).encode(),
        escape(SECRET).encode(),
        SECRET.encode("cp1252"),
        *(base64.b64encode(b"ab"[:lead] + SECRET.encode()) for lead in range(3)),
    ],
)
def test_every_form_of_a_secret_is_masked(form: bytes) -> None:
    masked = mask(b"before " + form + b" after", [SECRET])
    assert masked.startswith(b"before ") and masked.endswith(b" after")
    assert b"********" in masked or "********".encode("utf-16-le") in masked
    assert form not in masked and SECRET.encode() not in masked


def test_a_short_secret_is_not_looked_for_in_base64_text_by_chance() -> None:
    assert mask(base64.b64encode(b"pw12" * 20), ["pw12"]) == base64.b64encode(b"pw12" * 20)


def test_the_hosts_secrets_under_every_name_are_known() -> None:
    found = known_secrets(
        {
            "ansible_winrm_pass": "winrm-alias-secret",
            "ansible_become_password": "become-secret",
            "sagefleet_ssh_jump": {"host": "j", "user": "u", "password": "jump-secret"},
            "sagefleet_entities": [{"name": "A", "sql_password": "sql-secret"}],
        }
    )
    assert set(found) == {"winrm-alias-secret", "become-secret", "jump-secret", "sql-secret"}


def test_a_bundle_holding_a_secret_in_base64_is_refused(tmp_path: Path) -> None:
    bundle = Bundle(host="sage01", collected_at="20261206T000000Z")
    bundle.files["agent.log"] = b"auth=" + base64.b64encode(SECRET.encode()) + b"\n"
    with pytest.raises(DiagnoseError, match="a secret remains in agent.log"):
        write_zip(bundle, tmp_path, [SECRET])


def test_every_password_name_is_read_with_the_hosts_variables(tmp_path: Path) -> None:
    """What known_secrets looks for must reach it: the inventory's reading (CLI) and the
    action plugins' (sagefleet_var_names) keep every password variable."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "sage_servers:\n  hosts:\n    sage01:\n      ansible_host: 127.0.0.1\n"
        "      ansible_winrm_pass: winrm-alias-secret\n      ansible_become_pass: become-secret\n"
    )
    (host,) = load([str(inventory)], connect=False)
    assert {"winrm-alias-secret", "become-secret"} <= set(known_secrets(host.variables))
    assert {"ansible_winrm_pass", "ansible_become_pass"} <= set(sagefleet_var_names(host.variables))


HOST_ONLY = "HostOnly-Pw9"


@pytest.mark.parametrize(
    "line",
    [
        "opening Server=SAGE\\SAGE100;Database=BIJOU;User Id=spendesk;Password=HostOnly-Pw9;",
        "login failed: Data Source=x;User ID=sa;PWD={HostOnly-Pw9};Encrypt=yes",
        'config {"Timeout":30,"SqlPassword":"HostOnly-Pw9","Server":"x"}',
        'config {"PASSWORD": "HostOnly-Pw9"}',
        'event {"message":"{\\"sagePassword\\":\\"HostOnly-Pw9\\"}"}',
        "calling https://agent:HostOnly-Pw9@api.example/v1",
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252"])
def test_a_password_the_inventory_does_not_hold_is_masked_in_a_hosts_log(
    line: str, encoding: str
) -> None:
    """The agent may log a password the inventory never held (its own settings, an old
    password, another login): masking the inventory's secrets by value cannot find it.
    utf-16-le without a mark: the tail of a UTF-16 log."""
    log = f"10:00:00 INFO started é\r\n10:00:01 {line}\r\n10:00:02 WARN heartbeat lost\r\n"
    scrubbed = scrub_text_file(log.encode(encoding)).decode(encoding)
    assert HOST_ONLY not in scrubbed and "********" in scrubbed
    assert scrubbed.startswith("10:00:00 INFO started é\r\n")
    assert scrubbed.endswith("\r\n10:00:02 WARN heartbeat lost\r\n")


def test_a_log_without_a_password_is_kept_byte_for_byte() -> None:
    log = b"10:00 caf\xe9 Server=x;Database=BIJOU;\r\n" + bytes(range(256))
    assert scrub_text_file(log) == log
    wide = "10:00 connected\r\n".encode("utf-16-le") + b"\x00"  # cut after an odd byte
    assert scrub_text_file(wide) == wide


def test_a_secret_of_one_character_leaves_the_bundle_readable_and_written(
    tmp_path: Path,
) -> None:
    """A Sage user's password may be one character: masking every "a" made the bundle
    unreadable (and the masks spelled the secret), and the manifest's SHA-256 digests,
    which hold an "a", had the bundle refused for every host with such a password."""
    bundle = Bundle(host="sage01", collected_at="2026-12-06T10:00:00+00:00")
    bundle.files["troubleshooting.txt"] = b"The agent is connected (step 5, a TCP connection)\n"
    path = write_zip(bundle, tmp_path, ["a", SECRET])
    with zipfile.ZipFile(path) as archive:
        assert archive.read("troubleshooting.txt") == bundle.files["troubleshooting.txt"]
        notes = json.loads(archive.read("manifest.json"))["notes"]
    assert any("fewer than 4 characters" in note for note in notes)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le"])
def test_a_short_secret_is_masked_where_it_stands_alone_not_inside_words_or_numbers(
    encoding: str,
) -> None:
    text = "Pwd=2026; '2026' at 20261206 in Sage2026 and 2026x, sha 0f2026aa"
    masked = mask(text.encode(encoding), ["2026"]).decode(encoding)
    assert masked == "Pwd=********; '********' at 20261206 in Sage2026 and 2026x, sha 0f2026aa"


def test_a_bundle_whose_date_holds_a_short_secret_is_written(tmp_path: Path) -> None:
    bundle = Bundle(host="sage01", collected_at="2026-12-06T10:00:00+00:00")
    bundle.files["service.json"] = b'{"state": "Running"}\n'
    assert write_zip(bundle, tmp_path, ["2026", "12"]).is_file()


def test_what_was_not_read_is_masked_in_the_manifest(tmp_path: Path) -> None:
    """An error the host gave for what it could not read may quote a secret."""
    bundle = Bundle(host="sage01", collected_at="2026-12-06T10:00:00+00:00")
    bundle.not_read = [f"events: login failed for sa with {SECRET}"]
    path = write_zip(bundle, tmp_path, [SECRET])
    with zipfile.ZipFile(path) as archive:
        manifest = archive.read("manifest.json")
    assert json.loads(manifest)["not_read"] == ["events: login failed for sa with ********"]
    assert SECRET.encode() not in manifest
