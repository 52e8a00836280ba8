"""The simulator's side of the package transfer: a command whose client went away runs
on the stdin it received, and the stage_push model in both encodings, whole or in pieces."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from tests.support.wire import run_snippet_wire
from tests.support.wsman import find, open_shell, request

from sagefleet import transfer
from sagefleet.package import PackageInfo
from sagefleet.remote.command import decode_clixml, snippet_invocation
from sagefleet.sim.commands.dispatch import run_command
from sagefleet.sim.commands.stdin import Stdin
from sagefleet.sim.host import WindowsHost, host_from_profile, load_profile, private_folder_acl
from sagefleet.sim.protocol import wsman

ROOT = transfer.DEFAULT_STAGING_DIR
ENCODINGS = pytest.mark.parametrize("encoding", transfer.ENCODINGS)


# -- simulator: a command whose client went away ------------------------------------


def run_interrupted(how: str, end: bool = False) -> tuple[bytes, bool]:
    """Drive ShellService directly: Command, one Send, then ``how``; what the runner saw."""
    seen: list[tuple[bytes, bool]] = []
    ran = threading.Event()

    def runner(
        line: str, stdin: Stdin, *, cmd_shell: bool, killed: threading.Event
    ) -> tuple[int, bytes, bytes]:
        seen.append((stdin.data, stdin.ended_abruptly))
        ran.set()
        return 0, b"", b""

    service = wsman.ShellService("SRV", runner, reads_stdin=lambda line: True)
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


# -- simulator: the stage_push model in both encodings ------------------------------


@pytest.fixture
def model() -> WindowsHost:
    return host_from_profile("sage01", "127.0.0.2", "admin", "pw", load_profile("healthy-onprem"))


DATA = bytes((i * 7) % 256 for i in range(5000))
STAGED = ROOT + r"\9.9.9\Setup.zip"


def model_params(offset: int = 0, encoding: str | None = "binary") -> dict[str, Any]:
    package = PackageInfo("Setup.zip", hashlib.sha256(DATA).hexdigest(), len(DATA), (), True)
    params = transfer.push_params(STAGED, package, offset, encoding or "binary")
    if encoding is None:
        del params["encoding"]
    return params


def run_push(
    host: WindowsHost, params: dict[str, Any], stdin: bytes, *, abrupt: bool = False
) -> tuple[int, str]:
    """Run stage_push as the simulated host runs a command; ``abrupt``: stdin was cut."""

    rc, stdout, stderr = run_snippet_wire(host, "stage_push", params, stdin, abrupt=abrupt)
    return rc, stdout.decode() if rc == 0 else decode_clixml(stderr)


@ENCODINGS
def test_model_stages_the_exact_bytes_in_either_encoding(model: WindowsHost, encoding: str) -> None:
    stdin = b"".join(transfer.encode(io.BytesIO(DATA), encoding, 999))
    rc, out = run_push(model, model_params(0, encoding), stdin)
    assert rc == 0, out
    assert model.fs.read(STAGED) == DATA and not model.fs.exists(STAGED + ".part")
    assert json.loads(out)["received_bytes"] == len(DATA)


def test_model_reads_binary_when_the_encoding_is_not_given(model: WindowsHost) -> None:
    rc, out = run_push(model, model_params(0, None), DATA)
    assert rc == 0, out
    assert model.fs.read(STAGED) == DATA


@ENCODINGS
def test_model_cut_mid_transfer_keeps_a_prefix_then_resumes(
    model: WindowsHost, encoding: str
) -> None:
    stdin = b"".join(transfer.encode(io.BytesIO(DATA), encoding, 999))
    cut = len(stdin) // 2 + 7  # in the middle of a block or line
    rc, out = run_push(model, model_params(0, encoding), stdin[:cut], abrupt=True)
    assert rc == 1 and "stopped before the end of its input" in out
    kept = model.fs.read(STAGED + ".part")
    if encoding == "binary":
        assert kept == DATA[:cut]  # every byte that arrived
    else:
        whole_lines = stdin[:cut].count(b"\n")
        assert kept == DATA[: whole_lines * 999]  # whole lines only
    assert not model.fs.exists(STAGED)
    rest = b"".join(transfer.encode(io.BytesIO(DATA[len(kept) :]), encoding, 999))
    rc, out = run_push(model, model_params(len(kept), encoding), rest)
    assert rc == 0, out
    assert json.loads(out)["received_bytes"] == len(DATA) - len(kept)
    assert model.fs.read(STAGED) == DATA


@pytest.mark.parametrize("encoding", ["gzip", "Binary", "BASE64"])
def test_model_refuses_an_unknown_encoding_before_touching_the_part(
    model: WindowsHost, encoding: str
) -> None:
    params = {**model_params(), "encoding": encoding}
    rc, out = run_push(model, params, DATA)
    assert rc == 1 and f"unknown stdin encoding '{encoding}'" in out
    assert not model.fs.exists(STAGED + ".part")


@ENCODINGS
def test_model_behind_the_stdin_bootstrap_reads_the_package_from_its_first_byte(
    model: WindowsHost, encoding: str
) -> None:
    # The bootstrap reads exactly the script's bytes from the raw stream: the package
    # that follows reaches stage_push whole, raw or in base64 lines.
    params = model_params(0, encoding)
    data = b"".join(transfer.encode(io.BytesIO(DATA), encoding, 999))
    rc, stdout, stderr = run_snippet_wire(model, "stage_push", params, data)
    assert rc == 0, decode_clixml(stderr)
    assert model.fs.read(STAGED) == DATA


def test_model_refuses_a_script_cut_short_on_stdin(model: WindowsHost) -> None:
    line, prefix = snippet_invocation("stage_push", model_params(0, "binary"))
    rc, _, stderr = run_command(model, line, prefix[:-10])
    assert rc == 1 and "stdin ended before the whole script" in decode_clixml(stderr)
    assert not model.fs.exists(STAGED + ".part")


@ENCODINGS
def test_model_disk_full_during_the_push_removes_the_part(
    model: WindowsHost, encoding: str
) -> None:
    big = bytes(300_000)
    package = PackageInfo("Setup.zip", hashlib.sha256(big).hexdigest(), len(big), (), True)
    model.fs.drives["C:"].volume.free_bytes = 100_000
    stdin = b"".join(transfer.encode(io.BytesIO(big), encoding))
    rc, out = run_push(model, transfer.push_params(STAGED, package, 0, encoding), stdin)
    assert rc == 1 and "not enough space on the disk" in out
    assert not model.fs.exists(STAGED + ".part")
    assert model.fs.free_bytes("C:\\") == 100_000


# -- simulator: pushes in pieces ----------------------------------------------------------


def push_pieces(model: WindowsHost, cuts: list[int], encoding: str = "binary") -> list[str]:
    """Push DATA as the bastion does over several connections: each piece into its own
    file, the .part's range last with the pieces to append. The outputs, in order."""
    package = PackageInfo("Setup.zip", hashlib.sha256(DATA).hexdigest(), len(DATA), (), True)
    bounds = [0, *cuts, len(DATA)]
    pieces = [transfer.Piece(a, 0, b) for a, b in zip(bounds, bounds[1:], strict=False)]
    outputs = []
    for piece in pieces[1:]:
        stdin = b"".join(transfer.encode(io.BytesIO(DATA[piece.start : piece.end]), encoding, 999))
        rc, out = run_push(model, transfer.piece_params(STAGED, piece, encoding), stdin)
        assert rc == 0, out
        outputs.append(out)
    first = b"".join(transfer.encode(io.BytesIO(DATA[: bounds[1]]), encoding, 999))
    params = transfer.push_params(STAGED, package, 0, encoding, pieces[1:])
    rc, out = run_push(model, params, first)
    outputs.append(f"{rc} {out}")
    return outputs


@ENCODINGS
def test_model_assembles_pieces_in_order_and_leaves_only_the_package(
    model: WindowsHost, encoding: str
) -> None:
    outputs = push_pieces(model, [1200, 2500, 4000], encoding)
    assert [json.loads(o)["size"] for o in outputs[:-1]] == [1300, 1500, 1000]
    assert outputs[-1].startswith("0 ")
    assert model.fs.read(STAGED) == DATA
    assert model.fs.listdir(ROOT + r"\9.9.9") == ["Setup.zip"]
    status = transfer.parse_status(
        "h", run_snippet_on(model, "stage_status", transfer.status_params(STAGED))
    )
    assert status.exists and status.segments == {}


def run_snippet_on(model: WindowsHost, name: str, params: dict[str, Any]) -> Any:
    rc, stdout, stderr = run_snippet_wire(model, name, params)
    assert rc == 0, decode_clixml(stderr)
    return json.loads(stdout)


def test_model_status_lists_the_pieces_and_ignores_other_names(model: WindowsHost) -> None:
    folder = ROOT + r"\9.9.9"
    model.fs.mkdir(ROOT, acl=private_folder_acl())  # as a previous run created it
    model.fs.mkdir(folder)
    model.fs.write(STAGED + ".part", b"a" * 10)
    model.fs.write(STAGED + ".part.1200", b"b" * 30)
    model.fs.write(STAGED + ".part.x1", b"c")
    model.fs.write(STAGED + ".part.12.3", b"c")
    doc = run_snippet_on(model, "stage_status", transfer.status_params(STAGED))
    assert doc["part_size"] == 10 and doc["segments"] == [{"start": 1200, "size": 30}]


def test_model_refuses_to_assemble_a_piece_that_is_not_whole_and_keeps_every_file(
    model: WindowsHost,
) -> None:
    package = PackageInfo("Setup.zip", hashlib.sha256(DATA).hexdigest(), len(DATA), (), True)
    model.fs.mkdir(ROOT, acl=private_folder_acl())
    model.fs.mkdir(ROOT + r"\9.9.9")
    model.fs.write(STAGED + ".part.3000", DATA[3000:3500])  # 500 of its 2000 bytes
    params = transfer.push_params(
        STAGED, package, 0, "binary", [transfer.Piece(3000, 0, len(DATA))]
    )
    rc, out = run_push(model, params, DATA[:3000])
    assert rc == 1
    assert f"cannot append the piece '{STAGED}.part.3000' (500 bytes, expected 2000)" in out
    assert "every file is kept" in out
    assert model.fs.read(STAGED + ".part") == DATA[:3000]
    assert model.fs.read(STAGED + ".part.3000") == DATA[3000:3500]
    assert not model.fs.exists(STAGED)


def test_model_pieces_that_do_not_verify_are_removed_with_the_part(model: WindowsHost) -> None:
    package = PackageInfo("Setup.zip", hashlib.sha256(DATA).hexdigest(), len(DATA), (), True)
    model.fs.mkdir(ROOT, acl=private_folder_acl())
    model.fs.mkdir(ROOT + r"\9.9.9")
    model.fs.write(STAGED + ".part.3000", bytes(2000))  # whole, but other bytes
    model.fs.write(STAGED + ".part.9", b"stale")
    params = transfer.push_params(
        STAGED, package, 0, "binary", [transfer.Piece(3000, 0, len(DATA))]
    )
    rc, out = run_push(model, params, DATA[:3000])
    assert rc == 1 and "does not match the expected SHA-256" in out
    assert model.fs.listdir(ROOT + r"\9.9.9") == []


def test_model_piece_push_writes_its_own_file_and_verifies_only_its_length(
    model: WindowsHost,
) -> None:
    piece = transfer.Piece(1000, 200, 3000)
    model.fs.mkdir(ROOT, acl=private_folder_acl())
    model.fs.mkdir(ROOT + r"\9.9.9")
    model.fs.write(STAGED + ".part.1000", DATA[1000:1300])  # 100 bytes past what it keeps
    rc, out = run_push(model, transfer.piece_params(STAGED, piece), DATA[1200:3000])
    assert rc == 0, out
    assert json.loads(out) == {
        "path": STAGED + ".part.1000",
        "size": 2000,
        "offset": 200,
        "received_bytes": 1800,
    }
    assert model.fs.read(STAGED + ".part.1000") == DATA[1000:3000]
    assert not model.fs.exists(STAGED) and not model.fs.exists(STAGED + ".part")
    # Too few bytes: the piece is refused and its file removed, as the .part would be.
    rc, out = run_push(model, transfer.piece_params(STAGED, piece), DATA[1200:2000])
    assert rc == 1 and "received 1000 bytes in all, expected 2000" in out
    assert not model.fs.exists(STAGED + ".part.1000")
