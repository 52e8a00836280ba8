"""Bastion side of the package transfer: blocks and lines, parameters, decisions,
retries, cleanup, sibling sessions (the simulator's side: test_transfer_simulator.py)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest

from sagefleet import snippets, transfer
from sagefleet.errors import InputError
from sagefleet.package import PackageInfo, sha256_file
from sagefleet.remote import (
    AuthenticationFailed,
    HostUnreachable,
    SnippetFailed,
    TransportError,
)
from sagefleet.remote.command import (
    CMD_LINE_LIMIT,
    STDIN_BOOTSTRAP,
    command_line,
    snippet_invocation,
    stdin_script,
)
from sagefleet.remote.retry import Backoff
from sagefleet.sim.host import private_folder_acl
from sagefleet.sim.session import SimSession, simulated

ROOT = transfer.DEFAULT_STAGING_DIR
ENCODINGS = pytest.mark.parametrize("encoding", transfer.ENCODINGS)


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


def scripted(replies: list[Any]) -> SimSession:
    """A session whose snippets answer from ``replies``, in order (documents or exceptions)."""
    return simulated(name="srv01", replies=replies)


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


# -- blocks, lines and sizes ----------------------------------------------------------


def test_default_is_binary_in_blocks_of_256_kib_and_base64_lines_of_192_kib() -> None:
    assert transfer.DEFAULT_ENCODING == "binary"
    assert transfer.default_chunk_bytes() == 256 * 1024
    assert transfer.default_chunk_bytes("base64") == 192 * 1024
    # Either way one Send carries about 350 KB of base64 in its SOAP envelope.
    binary_soap = len(base64.b64encode(b"\0" * transfer.default_chunk_bytes("binary")))
    line = next(transfer.encode_lines(io.BytesIO(b"\0" * (192 * 1024))))
    assert binary_soap == 349_528 and len(base64.b64encode(line)) == 349_528


def test_blocks_are_the_raw_bytes_in_whole_chunks() -> None:
    data = bytes(range(256)) * 40
    blocks = list(transfer.encode_blocks(io.BytesIO(data), chunk_bytes=1000))
    assert [len(b) for b in blocks] == [1000] * 10 + [240]
    assert b"".join(blocks) == data
    assert list(transfer.encode(io.BytesIO(data), "binary", 1000)) == blocks


def test_lines_are_base64_of_whole_chunks_that_decode_back_to_the_data() -> None:
    data = bytes(range(256)) * 40
    lines = list(transfer.encode_lines(io.BytesIO(data), chunk_bytes=999))
    assert all(line.endswith(b"\r\n") for line in lines)
    assert [len(base64.b64decode(line)) for line in lines] == [999] * 10 + [250]
    assert b"".join(base64.b64decode(line) for line in lines) == data
    assert list(transfer.encode(io.BytesIO(data), "base64", 999)) == lines


def test_blocks_and_lines_start_at_the_stream_position_for_a_resume() -> None:
    stream = io.BytesIO(b"abcdefghij")
    stream.seek(6)
    assert [base64.b64decode(x) for x in transfer.encode_lines(stream, 3)] == [b"ghi", b"j"]
    stream.seek(6)
    assert list(transfer.encode_blocks(stream, 3)) == [b"ghi", b"j"]


@pytest.mark.parametrize("chunk", [0, -3, 1000])
def test_line_chunk_size_must_be_a_positive_multiple_of_three(chunk: int) -> None:
    with pytest.raises(ValueError, match="multiple of 3"):
        list(transfer.encode_lines(io.BytesIO(b"x"), chunk))


@pytest.mark.parametrize("chunk", [0, -1, True])
def test_block_size_must_be_positive(chunk: int) -> None:
    with pytest.raises(ValueError, match="positive number of bytes"):
        list(transfer.encode_blocks(io.BytesIO(b"x"), chunk))
    assert list(transfer.encode_blocks(io.BytesIO(b"xyz"), 1000)) == [b"xyz"]  # any size


@ENCODINGS
@pytest.mark.parametrize("raw", [0, 1, 2, 3, 998, 999, 1000, 5000])
def test_wire_bytes_counts_exactly_what_the_stdin_takes(raw: int, encoding: str) -> None:
    stdin = transfer.encode(io.BytesIO(b"\x01" * raw), encoding, 999)
    assert transfer.wire_bytes(raw, 999, encoding) == sum(len(part) for part in stdin)


@ENCODINGS
def test_wire_bytes_with_the_default_chunk(encoding: str) -> None:
    raw = 3 * transfer.default_chunk_bytes(encoding) + 12345
    stdin = transfer.encode(io.BytesIO(b"\x02" * raw), encoding)
    assert transfer.wire_bytes(raw, encoding=encoding) == sum(len(part) for part in stdin)


def test_binary_stdin_is_the_payload_and_base64_a_third_more() -> None:
    raw = 50 * 2**20
    assert transfer.wire_bytes(raw) == raw
    # 266 whole lines of 192 KiB and one of 128 KiB (padded), each with its CRLF.
    lines = 266 * (262_144 + 2) + (4 * 43_691 + 2)
    assert transfer.wire_bytes(raw, encoding="base64") == lines == 69_905_602
    assert 4 / 3 < lines / raw < 4 / 3 + 0.0001


@pytest.mark.parametrize("encoding", ["Binary", "base-64", "", None, 1])
def test_an_unknown_encoding_is_refused(encoding: Any) -> None:
    with pytest.raises(InputError, match="unknown transfer encoding") as caught:
        transfer.check_encoding(encoding)
    assert caught.value.field == "encoding" and "'binary'" in (caught.value.fix or "")
    with pytest.raises(InputError):
        transfer.wire_bytes(10, encoding=encoding)


# -- paths and parameters -------------------------------------------------------------


def test_staged_path_is_versioned_by_agent_version_else_by_hash() -> None:
    sha = "AB" * 32
    assert transfer.staged_path(sha, "3.2.0") == ROOT + r"\3.2.0\Setup.zip"
    assert transfer.staged_path(sha) == ROOT + r"\abababababab\Setup.zip"
    assert transfer.staged_path(sha, None, "D:\\stage\\") == r"D:\stage\abababababab\Setup.zip"


@pytest.mark.parametrize("root", [r"\\fs01\share\stage", "stage", r"C:\a\..\b", "/srv/stage"])
def test_staging_dir_must_be_a_local_absolute_path(root: str) -> None:
    with pytest.raises(InputError, match="local drive"):
        transfer.staged_path("a" * 64, "1.0", root)


def longest_roots() -> dict[str, str]:
    """Staging roots of the greatest length accepted, in the characters that take the
    most room in the JSON parameters (backslashes double, the rest become \\uXXXX)."""
    room = transfer.MAX_STAGING_DIR_CHARS - len("C:\\")
    return {
        "ascii": "C:\\" + "a" * room,
        "backslashes": "C:\\" + ("a\\" * room)[: room - 1] + "a",
        "accents": "C:\\" + "é" * room,
        "outside the BMP": "C:\\" + "\U0001f600" * (room // 2) + "a" * (room % 2),
        "quotes and dollars": "C:\\" + "'$`" * (room // 3) + "a" * (room % 3),
    }


@pytest.mark.parametrize("kind", list(longest_roots()))
def test_push_of_the_longest_staging_dir_sends_the_fixed_bootstrap_line(kind: str) -> None:
    root = longest_roots()[kind]
    assert transfer.check_staging_dir(root) == root  # accepted, at the limit
    with pytest.raises(InputError, match="characters long"):
        transfer.check_staging_dir(root + "x")
    # The longest folder name, a package size (and offsets) of 2 GiB, ten digits, and the
    # most pieces a resume may list: the script grows, the command line does not.
    path = transfer.staged_path("a" * 64, "v" * 64, root)
    package = PackageInfo("Setup.zip", "a" * 64, 2**31, (), True)
    most = [transfer.Piece(package.size, 0, package.size)] * transfer.MAX_PIECES
    params = transfer.push_params(path, package, package.size, "binary", most)
    line, prefix = snippet_invocation("stage_push", params)
    assert line == command_line(STDIN_BOOTSTRAP) and len(line) <= CMD_LINE_LIMIT
    assert prefix == stdin_script(snippets.render("stage_push", params))


@pytest.mark.parametrize("version", ["..", "a\\b", "x y", "-rf", "é"])
def test_folder_name_refuses_what_could_leave_the_root(version: str) -> None:
    with pytest.raises(InputError, match="folder name"):
        transfer.version_folder("a" * 64, version)


@ENCODINGS
def test_push_parameters_carry_offset_size_lowercase_hash_and_encoding(
    tmp_path: Path, encoding: str
) -> None:
    package = package_at(tmp_path)
    params = transfer.push_params(ROOT + r"\1\Setup.zip", package, 300, encoding)
    assert params == {
        "root": ROOT,
        "path": ROOT + r"\1\Setup.zip",
        "part": ROOT + r"\1\Setup.zip.part",
        "offset": 300,
        "size": 1000,
        "sha256": package.sha256.lower(),
        "encoding": encoding,
    }


def test_status_is_parsed_and_a_missing_part_counts_as_zero() -> None:
    parsed = transfer.parse_status("h", status("C:\\x", exists=True, size=5, sha256="AA" * 32))
    assert parsed.sha256 == "aa" * 32 and parsed.part_size == 0 and parsed.free_bytes == 10 << 30
    with pytest.raises(transfer.TransferError, match="unexpected stage_status answer"):
        transfer.parse_status("h", {"nope": 1})


@pytest.mark.parametrize(("part_size", "offset"), [(0, 0), (400, 400), (1000, 1000), (1200, 0)])
def test_one_stream_resumes_a_part_that_can_be_a_prefix(part_size: int, offset: int) -> None:
    seen = transfer.parse_status(
        "h", status("C:\\x", part_exists=part_size > 0, part_size=part_size)
    )
    assert transfer.plan_pieces(1000, seen.part_size) == [transfer.Piece(0, offset, 1000)]


def test_plan_cuts_what_is_missing_into_even_pieces_one_per_stream() -> None:
    plan = transfer.plan_pieces(1000, 100, streams=4, min_piece_bytes=10)
    # 900 missing: 4 pieces of 225; the .part keeps its 100 bytes.
    assert plan == [
        transfer.Piece(0, 100, 325),
        transfer.Piece(325, 0, 550),
        transfer.Piece(550, 0, 775),
        transfer.Piece(775, 0, 1000),
    ]
    assert sum(p.missing for p in plan) == 900
    # Not worth a second connection: one piece, the .part.
    assert transfer.plan_pieces(1000, 100, streams=4, min_piece_bytes=900) == [
        transfer.Piece(0, 100, 1000)
    ]
    # Pieces of at least min_piece_bytes, even when that means fewer than the streams.
    assert [p.start for p in transfer.plan_pieces(1000, 0, streams=8, min_piece_bytes=400)] == [
        0,
        500,
    ]
    assert len(transfer.plan_pieces(1000, 0, streams=8, min_piece_bytes=501)) == 1


def test_plan_resumes_every_piece_the_host_holds_and_drops_stale_ones() -> None:
    # A cut push of 4 pieces: the .part and the pieces at 250 and 500 got some bytes, the
    # piece at 750 is whole; one file starts inside the .part (stale), one past the end.
    held = {250: 100, 500: 0, 750: 250, 50: 10, 1000: 5}
    # A piece that starts where a whole .part ends is kept.
    assert transfer.plan_pieces(1000, 250, {250: 10})[1] == transfer.Piece(250, 10, 1000)
    plan = transfer.plan_pieces(1000, 120, held, streams=4, min_piece_bytes=1000)
    assert plan == [
        transfer.Piece(0, 120, 250),
        transfer.Piece(250, 100, 500),
        transfer.Piece(500, 0, 750),
        transfer.Piece(750, 250, 1000),
    ]
    assert [p.missing for p in plan] == [130, 150, 250, 0]
    # A piece longer than its range (a different cut) keeps only its range.
    assert transfer.plan_pieces(1000, 0, {500: 900})[1] == transfer.Piece(500, 500, 1000)
    # More pieces than a command line carries: start afresh from the .part.
    many = {100 + i: 1 for i in range(transfer.MAX_PIECES + 1)}
    assert transfer.plan_pieces(1000, 50, many) == [transfer.Piece(0, 50, 1000)]


def test_status_segments_are_parsed_in_any_shape_powershell_gives() -> None:
    listed = status("C:\\x", segments=[{"start": 5, "size": 2}, {"start": 9, "size": 0}])
    assert transfer.parse_status("h", listed).segments == {5: 2, 9: 0}
    one = status("C:\\x", segments={"start": 5, "size": 2})
    assert transfer.parse_status("h", one).segments == {5: 2}
    wrapped = status("C:\\x", segments={"value": [{"start": 5, "size": 2}], "Count": 1})
    assert transfer.parse_status("h", wrapped).segments == {5: 2}
    assert transfer.parse_status("h", status("C:\\x")).segments == {}
    with pytest.raises(transfer.TransferError, match="unexpected stage_status segments"):
        transfer.parse_status("h", status("C:\\x", segments=[{"start": "x"}]))


def test_space_check_names_host_path_volume_and_numbers() -> None:
    seen = transfer.parse_status("srv01", status(r"C:\s\1\Setup.zip", free_bytes=500))
    with pytest.raises(transfer.InsufficientSpace) as caught:
        transfer.check_space("srv01", seen, 1000, margin=24)
    text = str(caught.value)
    assert text.startswith("srv01: ")
    assert r"C:\s\1\Setup.zip" in text and "1024 bytes needed" in text and "500 bytes free" in text
    assert (caught.value.needed, caught.value.free) == (1024, 500)


def test_retry_delay_doubles_up_to_a_cap() -> None:
    policy = Backoff(retries=4, backoff_s=1.0, max_backoff_s=3.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError):
        Backoff(retries=-1)


# -- stage decisions ------------------------------------------------------------------


def test_same_hash_on_the_host_skips_without_pushing(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    path = transfer.staged_path(package.sha256)
    session = scripted([status(path, exists=True, size=1000, sha256=package.sha256)])
    result = transfer.stage(session, package)
    assert result.skipped and result.bytes_sent == 0
    assert [c[0] for c in session.calls] == ["stage_status"]


@ENCODINGS
def test_push_resumes_at_the_part_size_and_sends_only_the_rest(
    tmp_path: Path, encoding: str
) -> None:
    package = package_at(tmp_path)
    path = transfer.staged_path(package.sha256)
    session = scripted([status(path, part_exists=True, part_size=600), pushed(package)])
    result = transfer.stage(session, package, chunk_bytes=300, encoding=encoding)
    name, params, data = session.calls[1]
    assert name == "stage_push" and params["offset"] == 600
    assert params["encoding"] == encoding
    rest = Path(package.path).read_bytes()[600:]
    if encoding == "binary":
        assert data == rest
    else:
        assert data == b"".join(transfer.encode_lines(io.BytesIO(rest), 300))
    assert len(data) == transfer.wire_bytes(400, 300, encoding)
    assert (result.resumed_from, result.bytes_sent, result.encoding) == (600, 400, encoding)


def test_push_is_binary_by_default(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    session = scripted([status(transfer.staged_path(package.sha256)), pushed(package)])
    result = transfer.stage(session, package)
    assert session.calls[1][1]["encoding"] == "binary" and result.encoding == "binary"
    assert session.calls[1][2] == Path(package.path).read_bytes()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"encoding": "gzip"}, InputError),
        ({"encoding": "base64", "chunk_bytes": 1000}, ValueError),
        ({"encoding": "binary", "chunk_bytes": 0}, ValueError),
        ({"streams": 0}, InputError),
        ({"streams": 17}, InputError),
        ({"min_piece_bytes": 0}, ValueError),
    ],
)
def test_bad_encoding_or_chunk_is_refused_before_touching_the_host(
    tmp_path: Path, options: dict[str, Any], error: type[Exception]
) -> None:
    session = scripted([])
    with pytest.raises(error):
        transfer.stage(session, package_at(tmp_path), **options)
    assert session.calls == []


def test_an_unreadable_package_is_refused_before_touching_the_host(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    Path(package.path).unlink()
    session = scripted([])
    with pytest.raises(InputError, match="cannot read the package") as caught:
        transfer.stage(session, package)
    assert caught.value.field == "sagefleet_agent_package"
    assert session.calls == []


def test_an_assembling_command_with_no_bytes_of_its_own_starts_after_the_pieces(
    tmp_path: Path,
) -> None:
    """On Windows its process would not wait for the end of a stdin it does not read: it
    must not start before every piece is there."""
    package = package_at(tmp_path)
    # stdin read as the command runs (as WinRMSession's); each command takes a moment.
    session = simulated(name="srv01", streams_stdin=True, delay=0.025)
    # The .part holds the first 500 bytes, and an empty piece starts where it ends.
    staged = transfer.staged_path(package.sha256)
    session.sim.fs.mkdir(ROOT, acl=private_folder_acl())
    session.sim.fs.mkdir(staged.rpartition("\\")[0])
    session.sim.fs.write(staged + ".part", Path(package.path).read_bytes()[:500])
    session.sim.fs.write(staged + ".part.500", b"")
    result = transfer.stage(session, package, streams=2, min_piece_bytes=10)
    log = [
        (event, "piece" if params.get("piece") else "part")
        for event, name, params in session.timeline
        if name == "stage_push"
    ]
    assert result.streams == 2 and result.resumed_from == 500
    ends = [i for i, e in enumerate(log) if e == ("end", "piece")]
    assert len(ends) == 2 and log.index(("start", "part")) > max(ends)
    assert session.sim.fs.read(staged) == Path(package.path).read_bytes()


def test_check_mode_reads_the_status_only(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    session = scripted([status(transfer.staged_path(package.sha256))])
    result = transfer.stage(session, package, check_mode=True)
    assert result.changed and result.check_mode and len(session.calls) == 1


def test_transport_failures_are_retried_on_a_new_shell_with_backoff(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    path = transfer.staged_path(package.sha256)
    session = scripted(
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
    policy = Backoff(retries=2, backoff_s=0.5)
    result = transfer.stage(session, package, retry=policy, sleep=waits.append)
    assert waits == [0.5, 1.0] and session.closed == 2
    assert (result.attempts, result.resumed_from) == (3, 600)


def test_the_last_transport_failure_is_raised_as_is(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    session = scripted([HostUnreachable("srv01", "down")] * 2)
    with pytest.raises(HostUnreachable, match="down"):
        transfer.stage(session, package, retry=Backoff(1, 0), sleep=lambda s: None)


def test_rejected_credentials_stop_at_once(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    session = scripted([AuthenticationFailed("srv01", "rejected"), status("x")])
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
    session = scripted([status(path, part_exists=True, part_size=600), mismatch, pushed(package)])
    result = transfer.stage(session, package)
    assert [c[1].get("offset") for c in session.calls[1:]] == [600, 0]
    assert (result.resumed_from, result.bytes_sent) == (0, 1000)


def test_a_host_side_failure_from_offset_zero_is_not_retried(tmp_path: Path) -> None:
    package = package_at(tmp_path)
    failed = SnippetFailed("srv01", "stage_push", 1, "There is not enough space on the disk.")
    session = scripted([status(transfer.staged_path(package.sha256)), failed])
    with pytest.raises(SnippetFailed):
        transfer.stage(session, package)
    assert len(session.calls) == 2


def test_pull_refuses_a_bad_hash_or_scheme_before_touching_the_host() -> None:
    session = scripted([])
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
    folder(
        "3.0", "2024-03-01T00:00:00.0000000Z", "Setup.zip", "Setup.zip.part", "Setup.zip.part.9"
    ),
    folder(
        "2.0",
        "2024-02-01T00:00:00.0000000Z",
        "Setup.zip",
        "Setup.zip.part",
        "Setup.zip.part.26214400",
        "Setup.zip.part.old",
    ),
]


def test_plan_keeps_the_newest_and_removes_parts_of_other_kept_versions() -> None:
    kept, remove, parts = transfer.plan_cleanup(LISTING, keep=2, current="3.0")
    assert (kept, remove) == (["3.0", "2.0"], ["1.0"])
    # The .part and its pieces of a transfer that is over; the current version's are kept.
    assert parts == [r"2.0\Setup.zip.part", r"2.0\Setup.zip.part.26214400"]


def test_plan_never_removes_the_current_version_even_the_oldest() -> None:
    kept, remove, _ = transfer.plan_cleanup(LISTING, keep=2, current="1.0")
    assert kept == ["1.0", "3.0"] and remove == ["2.0"]


def test_plan_needs_to_keep_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        transfer.plan_cleanup(LISTING, keep=0, current=None)


def test_cleanup_takes_the_current_version_as_a_name_or_a_path_under_the_root() -> None:
    for current in ("3.0", ROOT + r"\3.0", ROOT + r"\3.0\Setup.zip"):
        session = scripted([{"folders": LISTING}, {"removed": ["1.0"], "removed_parts": []}])
        result = transfer.cleanup(session, ROOT, keep=1, current=current)
        assert result.kept == ("3.0",)
        assert session.calls[1][1]["remove"] == ["2.0", "1.0"]
    with pytest.raises(InputError, match="not under the staging folder"):
        transfer.cleanup(scripted([]), ROOT, current=r"D:\other\3.0")


def test_cleanup_in_check_mode_only_lists() -> None:
    session = scripted([{"folders": LISTING}])
    result = transfer.cleanup(session, ROOT, keep=1, current="3.0", check_mode=True)
    assert result.removed == ("2.0", "1.0") and len(session.calls) == 1


# -- sessions that open more connections ------------------------------------------------


class PluginConnection:
    """The state ansible-core's winrm connection plugin keeps (what a copy must reset)."""

    def __init__(self, transport: list[str]) -> None:
        self.protocol: object | None = object()
        self.shell_id: str | None = "SHELL"
        self._connected = True
        self._winrm_transport = transport
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_an_ansible_session_copies_a_winrm_connection_for_a_sibling() -> None:
    from sagefleet.remote.ansible import AnsibleSession

    task = PluginConnection(["ntlm"])
    session = AnsibleSession("srv01", task)
    other = session.sibling()
    assert other is not None and other.host == "srv01"
    copy = other.connection
    assert copy is not task and copy._winrm_transport == ["ntlm"]
    assert (copy.protocol, copy.shell_id, copy._connected) == (None, None, False)
    assert (task.shell_id, task._connected) == ("SHELL", True)  # the task's is untouched
    other.close()
    session.close()
    assert (copy.closed, task.closed) == (1, 0)  # the task's connection is Ansible's


def test_no_sibling_over_kerberos_or_another_connection_plugin() -> None:
    from sagefleet.remote.ansible import AnsibleSession

    assert AnsibleSession("srv01", PluginConnection(["kerberos"])).sibling() is None
    assert AnsibleSession("srv01", object()).sibling() is None
