"""The failed-install record on the host (snippet failed_install, deploy/record.py) and
what the simulator holds against it (docs/simulator.md, ledger row 36)."""

from __future__ import annotations

import pytest
from tests.support.records import PATH, ROOT, failed_record

from sagefleet.deploy import record
from sagefleet.remote.errors import SnippetFailed
from sagefleet.sim.host import (
    ADMINISTRATORS,
    SYSTEM,
    USERS,
    WindowsHost,
    host_from_profile,
    load_profile,
)
from sagefleet.sim.session import SimSession

FAILED = failed_record("installer failed: installer exit code 1603 — échec")


def make_host() -> WindowsHost:
    return host_from_profile("sage01", "127.0.0.2", "admin", "pw", load_profile("healthy-onprem"))


def test_a_record_is_written_without_a_bom_in_a_private_folder_and_read_back() -> None:
    host = make_host()
    session = SimSession(host)
    assert record.read_record(session, PATH) is None
    assert not host.fs.exists(ROOT)  # a read creates nothing
    record.write_record(session, PATH, FAILED)
    data = host.fs.read(PATH)
    assert not data.startswith(b"\xef\xbb\xbf") and "échec".encode() in data
    acl = host.fs.acl_of(PATH)
    assert acl.owner in (ADMINISTRATORS, SYSTEM)
    assert not acl.may_read(USERS) and not acl.may_write(USERS)
    assert record.read_record(session, PATH) == FAILED
    record.remove_record(session, PATH)
    assert not host.fs.exists(PATH) and record.read_record(session, PATH) is None


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_record_saved_again_by_an_editor_is_read_by_its_byte_order_mark(encoding: str) -> None:
    """ReadAllText decodes by the byte order mark (Notepad's "Unicode" is UTF-16 LE)."""
    host = make_host()
    record.write_record(SimSession(host), PATH, FAILED)
    host.fs.write(PATH, FAILED.to_text().encode(encoding))
    assert record.read_record(SimSession(host), PATH) == FAILED


def test_writing_with_encoding_utf8_puts_a_bom_the_reader_must_not_see() -> None:
    """[Text.Encoding]::UTF8 writes its preamble: the model writes it too."""
    host = make_host()

    def with_bom(script: str) -> str:
        utf8 = "[System.Text.Encoding]::UTF8"
        return script.replace("[string]$P.text, $utf8)", f"[string]$P.text, {utf8})")

    record.write_record(SimSession(host, rewrite=with_bom), PATH, FAILED)
    assert host.fs.read(PATH).startswith(b"\xef\xbb\xbf")
    assert record.read_record(SimSession(host), PATH) == FAILED


def test_a_read_the_simulator_does_not_model_fails_loudly() -> None:
    host = make_host()
    record.write_record(SimSession(host), PATH, FAILED)

    def get_content(script: str) -> str:
        return script.replace(
            "[System.IO.File]::ReadAllText($path, [System.Text.Encoding]::UTF8)",
            "Get-Content -LiteralPath $path -Raw",
        )

    with pytest.raises(record.RecordUnreadable, match="simulator models the failed-install"):
        record.read_record(SimSession(host, rewrite=get_content), PATH)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"run": "cut sho', "not JSON"),
        ("[]", "not a record of schema 1"),
        ('{"schema": 2}', "not a record of schema 1"),
    ],
)
def test_a_corrupt_record_is_reported_naming_the_file(text: str, why: str) -> None:
    host = make_host()
    record.write_record(SimSession(host), PATH, FAILED)
    host.fs.write(PATH, text.encode())
    with pytest.raises(record.RecordUnreadable) as caught:
        record.read_record(SimSession(host), PATH)
    message = str(caught.value)
    assert f"the failed-install record {PATH} cannot be read ({why}" in message
    assert "sagefleet_agent_accept_failed_install: true" in message


def test_a_record_in_a_folder_users_may_write_is_refused() -> None:
    host = make_host()
    host.fs.mkdir(ROOT)  # inherits ProgramData's DACL: Users read and create
    host.fs.write(PATH, FAILED.to_text().encode())
    with pytest.raises(record.RecordUnreadable) as caught:
        record.read_record(SimSession(host), PATH)
    assert f"refusing to use the folder '{ROOT}'" in str(caught.value)
    with pytest.raises(SnippetFailed, match="refusing to use the folder"):
        record.write_record(SimSession(host), PATH, FAILED)


def test_a_read_only_record_cannot_be_removed() -> None:
    """File.Delete refuses a read-only file (Remove-Item -Force would clear it)."""
    host = make_host()
    record.write_record(SimSession(host), PATH, FAILED)
    host.fs.set_attributes(PATH, readonly=True)
    with pytest.raises(SnippetFailed, match="Access to the path .* is denied"):
        record.remove_record(SimSession(host), PATH)
    assert host.fs.exists(PATH)


def test_an_unknown_action_fails_loudly() -> None:
    with pytest.raises(SnippetFailed, match="unknown action 'forget'"):
        SimSession(make_host()).run_snippet("failed_install", {"action": "forget", "path": PATH})


def test_a_record_script_that_does_not_check_its_folder_is_not_simulated() -> None:
    """Without Confirm-SfPrivateFolder the script would trust a folder anyone may have made."""
    host = make_host()

    def unchecked(script: str) -> str:
        return script.replace("function Confirm-SfPrivateFolder", "function Confirm-SfAnyFolder")

    with pytest.raises(SnippetFailed, match="does not check the failed-install record's folder"):
        record.write_record(SimSession(host, rewrite=unchecked), PATH, FAILED)
    assert not host.fs.exists(PATH)
