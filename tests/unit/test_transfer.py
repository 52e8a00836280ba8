"""Controller side of the package transfer: lines, parameters, decisions, retries."""

from __future__ import annotations

import base64
import io
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_sim_wsman import find, open_shell, request

from sagefleet import transfer
from sagefleet.errors import InputError
from sagefleet.package import PackageInfo, sha256_file
from sagefleet.remote import (
    AuthenticationFailed,
    HostSession,
    HostUnreachable,
    SnippetFailed,
    TransportError,
)
from sagefleet.sim import wsman

ROOT = transfer.DEFAULT_STAGING_ROOT


def package_at(tmp_path: Path, size: int = 1000) -> PackageInfo:
    path = tmp_path / "Setup.zip"
    path.write_bytes(bytes(i % 251 for i in range(size)))
    return PackageInfo(str(path), sha256_file(path), size, (), True)


def status(path: str, **values: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "path": path,
        "exists": False,
        "size": None,
        "sha256": None,
        "part": path + ".part",
        "part_exists": False,
        "part_size": 0,
        "volume": "C:\\",
        "free_bytes": 10 << 30,
    }
    doc.update(values)
    return doc


class FakeSession(HostSession):
    """Answers snippets from a script of replies (documents or exceptions)."""

    def __init__(self, replies: list[Any]) -> None:
        super().__init__("srv01")
        self.replies = list(replies)
        self.calls: list[tuple[str, dict[str, Any], bytes]] = []
        self.closed = 0

    def run_snippet(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        stdin: Iterable[bytes] | None = None,
        *,
        sensitive: bool = False,
    ) -> Any:
        data = b"".join(stdin) if stdin is not None else b""
        self.calls.append((name, dict(params or {}), data))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply(params, data) if callable(reply) else reply

    def execute(
        self, command: str, stdin: Iterable[bytes] | None = None
    ) -> tuple[int, bytes, bytes]:
        raise AssertionError("not used")

    def close(self) -> None:
        self.closed += 1


def pushed(package: PackageInfo) -> Any:
    def reply(params: dict[str, Any], data: bytes) -> dict[str, Any]:
        return {
            "path": params["path"],
            "sha256": package.sha256,
            "size": package.size,
            "offset": params["offset"],
            "received_bytes": package.size - params["offset"],
        }

    return reply


# -- lines and sizes ------------------------------------------------------------------


def test_lines_are_base64_of_whole_chunks_that_decode_back_to_the_data() -> None:
    data = bytes(range(256)) * 40
    lines = list(transfer.encode_lines(io.BytesIO(data), chunk_bytes=999))
    assert all(line.endswith(b"\r\n") for line in lines)
    assert [len(base64.b64decode(line)) for line in lines] == [999] * 10 + [250]
    assert b"".join(base64.b64decode(line) for line in lines) == data


def test_lines_start_at_the_stream_position_for_a_resume() -> None:
    stream = io.BytesIO(b"abcdefghij")
    stream.seek(6)
    assert [base64.b64decode(x) for x in transfer.encode_lines(stream, 3)] == [b"ghi", b"j"]


@pytest.mark.parametrize("chunk", [0, -3, 1000])
def test_chunk_size_must_be_a_positive_multiple_of_three(chunk: int) -> None:
    with pytest.raises(ValueError, match="multiple of 3"):
        list(transfer.encode_lines(io.BytesIO(b"x"), chunk))


@pytest.mark.parametrize("raw", [0, 1, 2, 3, 998, 999, 1000, 5000])
def test_wire_bytes_counts_exactly_what_the_lines_take(raw: int) -> None:
    lines = transfer.encode_lines(io.BytesIO(b"\x01" * raw), 999)
    assert transfer.wire_bytes(raw, 999) == sum(len(line) for line in lines)


# -- paths and parameters -------------------------------------------------------------


def test_staged_path_is_versioned_by_agent_version_else_by_hash() -> None:
    sha = "AB" * 32
    assert transfer.staged_path(sha, "3.2.0") == ROOT + r"\3.2.0\Setup.zip"
    assert transfer.staged_path(sha) == ROOT + r"\abababababab\Setup.zip"
    assert transfer.staged_path(sha, None, "D:\\stage\\") == r"D:\stage\abababababab\Setup.zip"


@pytest.mark.parametrize("root", [r"\\fs01\share\stage", "stage", r"C:\a\..\b", "/srv/stage"])
def test_staging_root_must_be_a_local_absolute_path(root: str) -> None:
    with pytest.raises(InputError, match="local drive"):
        transfer.staged_path("a" * 64, "1.0", root)


@pytest.mark.parametrize("version", ["..", "a\\b", "x y", "-rf", "é"])
def test_folder_name_refuses_what_could_leave_the_root(version: str) -> None:
    with pytest.raises(InputError, match="folder name"):
        transfer.version_folder("a" * 64, version)


def test_push_parameters_carry_offset_size_and_lowercase_hash(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    params = transfer.push_params(ROOT + r"\1\Setup.zip", package, 300)
    assert params == {
        "path": ROOT + r"\1\Setup.zip",
        "part": ROOT + r"\1\Setup.zip.part",
        "offset": 300,
        "size": 1000,
        "sha256": package.sha256.lower(),
    }


def test_status_is_parsed_and_a_missing_part_counts_as_zero() -> None:
    parsed = transfer.parse_status("h", status("C:\\x", exists=True, size=5, sha256="AA" * 32))
    assert parsed.sha256 == "aa" * 32 and parsed.part_size == 0 and parsed.free_bytes == 10 << 30
    with pytest.raises(transfer.TransferError, match="unexpected stage_status answer"):
        transfer.parse_status("h", {"nope": 1})


@pytest.mark.parametrize(
    ("part_size", "resume", "offset"),
    [(0, True, 0), (400, True, 400), (1000, True, 1000), (1200, True, 0), (400, False, 0)],
)
def test_resume_offset_uses_a_part_that_can_be_a_prefix(
    part_size: int, resume: bool, offset: int
) -> None:
    seen = transfer.parse_status(
        "h", status("C:\\x", part_exists=part_size > 0, part_size=part_size)
    )
    assert transfer.resume_offset(seen, 1000, resume=resume) == offset


def test_space_check_names_host_path_volume_and_numbers() -> None:
    seen = transfer.parse_status("srv01", status(r"C:\s\1\Setup.zip", free_bytes=500))
    with pytest.raises(transfer.InsufficientSpace) as caught:
        transfer.check_space("srv01", seen, 1000, margin=24)
    text = str(caught.value)
    assert text.startswith("srv01: ")
    assert r"C:\s\1\Setup.zip" in text and "1024 bytes needed" in text and "500 bytes free" in text
    assert (caught.value.needed, caught.value.free) == (1024, 500)


def test_retry_delay_doubles_up_to_a_cap() -> None:
    policy = transfer.RetryPolicy(attempts=5, backoff_s=1.0, max_backoff_s=3.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError):
        transfer.RetryPolicy(attempts=0)


# -- stage decisions ------------------------------------------------------------------


def test_same_hash_on_the_host_skips_without_pushing(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    path = transfer.staged_path(package.sha256)
    session = FakeSession([status(path, exists=True, size=1000, sha256=package.sha256)])
    result = transfer.stage(session, package)
    assert result.skipped and result.bytes_sent == 0
    assert [c[0] for c in session.calls] == ["stage_status"]


def test_push_resumes_at_the_part_size_and_sends_only_the_rest(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    path = transfer.staged_path(package.sha256)
    session = FakeSession([status(path, part_exists=True, part_size=600), pushed(package)])
    result = transfer.stage(session, package, chunk_bytes=300)
    name, params, data = session.calls[1]
    assert name == "stage_push" and params["offset"] == 600
    assert data == b"".join(
        transfer.encode_lines(io.BytesIO(Path(package.path).read_bytes()[600:]), 300)
    )
    assert (result.resumed_from, result.bytes_sent) == (600, 400)


def test_check_mode_reads_the_status_only(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    session = FakeSession([status(transfer.staged_path(package.sha256))])
    result = transfer.stage(session, package, check_mode=True)
    assert result.changed and result.check_mode and len(session.calls) == 1


def test_transport_failures_are_retried_on_a_new_shell_with_backoff(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    path = transfer.staged_path(package.sha256)
    session = FakeSession(
        [
            status(path),
            HostUnreachable("srv01", "connection reset"),
            status(path, part_exists=True, part_size=300),
            TransportError("srv01", "HTTP 500"),
            status(path, part_exists=True, part_size=600),
            pushed(package),
        ]
    )
    waits: list[float] = []
    policy = transfer.RetryPolicy(attempts=3, backoff_s=0.5)
    result = transfer.stage(session, package, retry=policy, sleep=waits.append)
    assert waits == [0.5, 1.0] and session.closed == 2
    assert (result.attempts, result.resumed_from) == (3, 600)


def test_the_last_transport_failure_is_raised_as_is(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    session = FakeSession([HostUnreachable("srv01", "down")] * 2)
    with pytest.raises(HostUnreachable, match="down"):
        transfer.stage(session, package, retry=transfer.RetryPolicy(2, 0), sleep=lambda s: None)


def test_rejected_credentials_stop_at_once(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    session = FakeSession([AuthenticationFailed("srv01", "rejected"), status("x")])
    waits: list[float] = []
    with pytest.raises(AuthenticationFailed):
        transfer.stage(session, package, sleep=waits.append)
    assert waits == [] and len(session.calls) == 1


def test_a_resumed_transfer_that_does_not_verify_is_sent_whole_once(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    path = transfer.staged_path(package.sha256)
    mismatch = SnippetFailed(
        "srv01", "stage_push", 1, "the content does not match the expected SHA-256 (x)"
    )
    session = FakeSession(
        [status(path, part_exists=True, part_size=600), mismatch, pushed(package)]
    )
    result = transfer.stage(session, package)
    assert [c[1].get("offset") for c in session.calls[1:]] == [600, 0]
    assert (result.resumed_from, result.bytes_sent) == (0, 1000)


def test_a_host_side_failure_from_offset_zero_is_not_retried(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    failed = SnippetFailed("srv01", "stage_push", 1, "There is not enough space on the disk.")
    session = FakeSession([status(transfer.staged_path(package.sha256)), failed])
    with pytest.raises(SnippetFailed):
        transfer.stage(session, package)
    assert len(session.calls) == 2


def test_pull_refuses_a_bad_hash_or_scheme_before_touching_the_host() -> None:
    session = FakeSession([])
    with pytest.raises(InputError, match="SHA-256"):
        transfer.stage_pull(session, "http://127.0.0.1/x.zip", "abc")
    with pytest.raises(InputError, match="http"):
        transfer.stage_pull(session, "file:///etc/passwd", "a" * 64)
    assert session.calls == []


# -- cleanup decisions ----------------------------------------------------------------


def folder(name: str, modified: str, *files: str) -> dict[str, Any]:
    return {"name": name, "modified": modified, "files": [{"name": f, "size": 1} for f in files]}


LISTING = [
    folder("1.0", "2024-01-01T00:00:00.0000000Z", "Setup.zip"),
    folder("3.0", "2024-03-01T00:00:00.0000000Z", "Setup.zip", "Setup.zip.part"),
    folder("2.0", "2024-02-01T00:00:00.0000000Z", "Setup.zip", "Setup.zip.part"),
]


def test_plan_keeps_the_newest_and_removes_parts_of_other_kept_versions() -> None:
    kept, remove, parts = transfer.plan_cleanup(LISTING, keep=2, current="3.0")
    assert (kept, remove, parts) == (["3.0", "2.0"], ["1.0"], [r"2.0\Setup.zip.part"])


def test_plan_never_removes_the_current_version_even_the_oldest() -> None:
    kept, remove, _ = transfer.plan_cleanup(LISTING, keep=2, current="1.0")
    assert kept == ["1.0", "3.0"] and remove == ["2.0"]


def test_plan_needs_to_keep_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        transfer.plan_cleanup(LISTING, keep=0, current=None)


def test_cleanup_takes_the_current_version_as_a_name_or_a_path_under_the_root() -> None:
    for current in ("3.0", ROOT + r"\3.0", ROOT + r"\3.0\Setup.zip"):
        session = FakeSession([{"folders": LISTING}, {"removed": ["1.0"], "removed_parts": []}])
        result = transfer.cleanup(session, ROOT, keep=1, current=current)
        assert result.kept == ("3.0",)
        assert session.calls[1][1]["remove"] == ["2.0", "1.0"]
    with pytest.raises(InputError, match="not under the staging root"):
        transfer.cleanup(FakeSession([]), ROOT, current=r"D:\other\3.0")


def test_cleanup_in_check_mode_only_lists() -> None:
    session = FakeSession([{"folders": LISTING}])
    result = transfer.cleanup(session, ROOT, keep=1, current="3.0", check_mode=True)
    assert result.removed == ("2.0", "1.0") and len(session.calls) == 1


# -- simulator: a command whose client went away ------------------------------------


def run_interrupted(how: str, end: bool = False) -> tuple[bytes, bool]:
    """Drive ShellService directly: Command, one Send, then ``how``; what the runner saw."""
    seen: list[tuple[bytes, bool]] = []
    ran = threading.Event()

    def runner(line: str, stdin: bytes) -> tuple[int, bytes, bytes]:
        seen.append((stdin, wsman.stdin_ended_abruptly()))
        ran.set()
        return 0, b"", b""

    service = wsman.ShellService("SRV", runner)
    shell_id = open_shell(service)
    data, _ = request(wsman.ACTION_COMMAND, shell_id, {"rsp:CommandLine": {"rsp:Command": "x"}})
    command_id = find(ET.fromstring(service.handle(data, "u", "c")), "CommandId").text
    stream: dict[str, Any] = {
        "@Name": "stdin",
        "@CommandId": command_id,
        "#text": base64.b64encode(b"line1\nline2\npart").decode(),
    }
    if end:
        stream["@End"] = "true"
    send, _ = request(wsman.ACTION_SEND, shell_id, {"rsp:Send": {"rsp:Stream": stream}})
    service.handle(send, "u", "c")
    if how == "delete":
        data, _ = request(wsman.ACTION_DELETE, shell_id)
        service.handle(data, "u", "c")
    elif how == "signal":
        data, _ = request(
            wsman.ACTION_SIGNAL,
            shell_id,
            {"rsp:Signal": {"@CommandId": command_id, "rsp:Code": "terminate"}},
        )
        service.handle(data, "u", "c")
    else:
        again, _ = request(wsman.ACTION_SEND, shell_id, {"rsp:Send": {"rsp:Stream": stream}})
        service.connection_lost(again)
    assert ran.wait(5), "the interrupted command never ran"
    return seen[0]


@pytest.mark.parametrize("how", ["drop", "delete", "signal"])
def test_interrupted_command_runs_on_the_stdin_it_received(how: str) -> None:
    assert run_interrupted(how) == (b"line1\nline2\npart", True)


def test_command_with_complete_stdin_runs_normally_when_its_shell_is_deleted() -> None:
    assert run_interrupted("delete", end=True) == (b"line1\nline2\npart", False)
