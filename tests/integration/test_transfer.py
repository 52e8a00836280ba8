"""Staging the agent package on a simulated host over the real clients (pywinrm, and
ansible-core's winrm connection through AnsibleSession), in both stdin encodings."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from sagefleet import transfer
from sagefleet.package import PackageInfo, build_test_package, inspect
from sagefleet.remote import (
    AuthenticationFailed,
    HostSession,
    HostUnreachable,
    SnippetFailed,
    TransportError,
)
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.remote.command import snippet_invocation
from sagefleet.remote.retry import Backoff
from sagefleet.remote.winrm import WinRMSession
from sagefleet.sim.fleet import Fleet
from sagefleet.sim.host import WindowsHost, private_folder_acl
from tests.support.fleets import FleetFactory, session_for

HOST = "sage01"
PAYLOAD_BYTES = 2 * 1024 * 1024
NO_WAIT = Backoff(retries=2, backoff_s=0.0)
STAGED = r"C:\ProgramData\sagefleet\staging\3.2.0\Setup.zip"
ENCODINGS = pytest.mark.parametrize("encoding", transfer.ENCODINGS)


def make_package(
    folder: Path, agent_version: str = "3.2.0", payload: int = PAYLOAD_BYTES
) -> PackageInfo:
    """A test package of a few MB: the usual files plus an incompressible entry."""
    path = build_test_package(
        folder / f"Setup-{agent_version}-{payload}.zip",
        agent_version=agent_version,
        labels=("v11.0", "v12.0"),
        installer_bytes=64 * 1024,
        payload_bytes=payload,
    )
    return inspect(path)


@pytest.fixture
def package(tmp_path: Path) -> PackageInfo:
    """Big enough for a transfer of a dozen lines, cut halfway."""
    return make_package(tmp_path)


@pytest.fixture
def small(tmp_path: Path) -> PackageInfo:
    """For behaviour that does not depend on the size."""
    return make_package(tmp_path, payload=64 * 1024)


@pytest.fixture
def fleet(make_fleet: FleetFactory) -> Fleet:
    return make_fleet()


def host_of(fleet: Fleet) -> WindowsHost:
    return fleet.host(HOST)


def stdin_bytes(fleet: Fleet) -> int:
    """Bytes of stdin past the scripts themselves (which travel on stdin too)."""
    return fleet.listeners[HOST].stats.stdin_bytes - host_of(fleet).script_bytes


def set_free_space(host: WindowsHost, free: int) -> None:
    host.fs.drives["C:"].volume.free_bytes = free


# -- push ---------------------------------------------------------------------------------


@ENCODINGS
def test_first_push_puts_the_exact_package_on_the_host(
    fleet: Fleet, package: PackageInfo, encoding: str
) -> None:
    with session_for(fleet, HOST) as session:
        result = transfer.stage(session, package, encoding=encoding)
    assert result.path == STAGED and result.encoding == encoding
    assert (result.bytes_sent, result.skipped, result.resumed_from) == (package.size, False, 0)
    assert host_of(fleet).fs.read(STAGED) == Path(package.path).read_bytes()
    assert host_of(fleet).fs.sha256(STAGED).lower() == package.sha256
    assert not host_of(fleet).fs.exists(STAGED + ".part")
    assert stdin_bytes(fleet) == transfer.wire_bytes(package.size, encoding=encoding)
    pushes = [e for e in host_of(fleet).journal if e.get("name") == "stage_push"]
    assert [e["params"]["encoding"] for e in pushes] == [encoding]


def test_binary_is_the_default_and_sends_the_package_size_on_stdin(
    fleet: Fleet, package: PackageInfo
) -> None:
    with session_for(fleet, HOST) as session:
        result = transfer.stage(session, package)
    assert result.encoding == "binary"
    assert stdin_bytes(fleet) == package.size  # not 4/3 of it
    assert host_of(fleet).fs.read(STAGED) == Path(package.path).read_bytes()


@ENCODINGS
def test_second_push_of_the_same_package_sends_nothing(
    fleet: Fleet, package: PackageInfo, encoding: str
) -> None:
    with session_for(fleet, HOST) as session:
        transfer.stage(session, package, encoding=encoding)
        before = stdin_bytes(fleet)
        again = transfer.stage(session, package, encoding=encoding)
    assert again.skipped and again.bytes_sent == 0 and not again.changed
    assert stdin_bytes(fleet) == before


def test_check_mode_reports_the_transfer_without_sending(
    fleet: Fleet, package: PackageInfo
) -> None:
    with session_for(fleet, HOST) as session:
        result = transfer.stage(session, package, check_mode=True)
    assert result.changed and result.bytes_sent == 0
    assert stdin_bytes(fleet) == 0
    assert not host_of(fleet).fs.exists(result.path)
    # Nor the private staging root: a status creates nothing.
    assert not host_of(fleet).fs.exists(r"C:\ProgramData\sagefleet\staging")


def sends_before_the_drop(threshold: int, encoding: str, package: PackageInfo) -> int:
    """Raw bytes of the Sends answered before the one that reached ``threshold`` stdin
    bytes (the simulator drops that Send's connection: its data never arrives). The
    first Send carries the stage_push script itself."""
    chunk = transfer.default_chunk_bytes(encoding)
    per_send = transfer.wire_bytes(chunk, chunk, encoding)
    params = transfer.push_params(STAGED, package, 0, encoding)
    script = len(snippet_invocation("stage_push", params)[1])
    return (threshold - 1 - script) // per_send * chunk


@ENCODINGS
def test_interrupted_transfer_resumes_from_what_reached_the_host(
    fleet: Fleet, package: PackageInfo, encoding: str
) -> None:
    threshold = transfer.wire_bytes(package.size, encoding=encoding) // 2
    fleet.faults(HOST).set(drop_after_stdin_bytes=threshold)
    original = Path(package.path).read_bytes()
    with session_for(fleet, HOST) as session:
        with pytest.raises(HostUnreachable):
            transfer.stage(
                session, package, encoding=encoding, retry=Backoff(retries=0)
            )
        host = host_of(fleet)
        assert not host.fs.exists(STAGED)
        kept = host.fs.read(STAGED + ".part")
        # Every byte of the Sends that arrived, and nothing of the one cut.
        assert len(kept) == sends_before_the_drop(threshold, encoding, package)
        assert 0 < len(kept) < package.size
        assert kept == original[: len(kept)]

        before = stdin_bytes(fleet)
        result = transfer.stage(session, package, encoding=encoding)
    assert result.resumed_from == len(kept)
    assert result.bytes_sent == package.size - len(kept)
    rest = package.size - len(kept)
    assert stdin_bytes(fleet) - before == transfer.wire_bytes(rest, encoding=encoding)
    assert host.fs.read(STAGED) == original
    assert not host.fs.exists(STAGED + ".part")


@ENCODINGS
def test_stage_retries_a_dropped_transfer_and_resumes_on_its_own(
    fleet: Fleet, package: PackageInfo, encoding: str
) -> None:
    threshold = transfer.wire_bytes(package.size, encoding=encoding) // 2
    fleet.faults(HOST).set(drop_after_stdin_bytes=threshold)
    waits: list[float] = []
    with session_for(fleet, HOST) as session:
        result = transfer.stage(
            session, package, encoding=encoding, retry=NO_WAIT, sleep=waits.append
        )
    assert result.attempts == 2 and waits == [0.0]
    assert result.resumed_from == sends_before_the_drop(threshold, encoding, package)
    assert 0 < result.resumed_from < package.size
    assert host_of(fleet).fs.read(result.path) == Path(package.path).read_bytes()


def test_rejected_credentials_are_never_retried(fleet: Fleet, small: PackageInfo) -> None:
    waits: list[float] = []
    with session_for(fleet, HOST, password="wrong") as session, pytest.raises(AuthenticationFailed):
        transfer.stage(session, small, retry=NO_WAIT, sleep=waits.append)
    assert waits == []
    assert stdin_bytes(fleet) == 0


def test_content_that_does_not_verify_fails_and_leaves_no_file(
    fleet: Fleet, small: PackageInfo
) -> None:
    wrong = dataclasses.replace(small, sha256="0" * 64)
    with (
        session_for(fleet, HOST) as session,
        pytest.raises(SnippetFailed, match="does not match the expected SHA-256") as caught,
    ):
        transfer.stage(session, wrong, version="3.2.0")
    assert caught.value.host == HOST
    folder = r"C:\ProgramData\sagefleet\staging\3.2.0"
    assert host_of(fleet).fs.listdir(folder) == []


def test_volume_without_room_is_refused_before_sending(fleet: Fleet, package: PackageInfo) -> None:
    set_free_space(host_of(fleet), package.size)  # the package fits, the margin does not
    with session_for(fleet, HOST) as session, pytest.raises(transfer.InsufficientSpace) as caught:
        transfer.stage(session, package)
    message = str(caught.value)
    assert HOST in message and r"staging\3.2.0\Setup.zip" in message
    assert str(package.size + transfer.DEFAULT_FREE_MARGIN_BYTES) in message
    assert str(package.size) in message and "C:\\" in message
    assert stdin_bytes(fleet) == 0
    assert not host_of(fleet).fs.exists(r"C:\ProgramData\sagefleet\staging\3.2.0")


class DiskFillsUp(HostSession):
    """Another process fills the volume between the status check and the transfer."""

    def __init__(self, inner: HostSession, host: WindowsHost, free: int) -> None:
        super().__init__(inner.host)
        self.inner = inner
        self.model = host
        self.free = free

    def execute(
        self, command: str, stdin: Iterable[bytes] | None = None
    ) -> tuple[int, bytes, bytes]:
        blocks = list(stdin or ())
        if blocks and b"# sagefleet:stage_push/" in blocks[0][:100]:  # the script comes first
            set_free_space(self.model, self.free)
        return self.inner.execute(command, blocks)

    def close(self) -> None:
        self.inner.close()


@ENCODINGS
def test_disk_full_during_transfer_removes_the_part_and_leaves_no_file(
    fleet: Fleet, package: PackageInfo, encoding: str
) -> None:
    host = host_of(fleet)
    half = package.size // 2
    with session_for(fleet, HOST) as inner:
        session = DiskFillsUp(inner, host, free=half)
        with pytest.raises(SnippetFailed, match="not enough space on the disk"):
            transfer.stage(session, package, free_margin_bytes=0, encoding=encoding)
    path = r"C:\ProgramData\sagefleet\staging\3.2.0\Setup.zip"
    assert not host.fs.exists(path)
    assert not host.fs.exists(path + ".part")
    assert host.fs.free_bytes("C:\\") == half  # the space the .part took is given back


# -- over several connections at once --------------------------------------------------

PIECE = 512 * 1024  # the 2 MiB test package in 4 or 5 pieces


def pushes(fleet: Fleet) -> list[dict[str, object]]:
    return [e["params"] for e in host_of(fleet).journal if e.get("name") == "stage_push"]


def leftovers(fleet: Fleet) -> list[str]:
    return [n for n in host_of(fleet).fs.listdir(STAGED.rsplit("\\", 1)[0]) if n != "Setup.zip"]


@ENCODINGS
def test_push_over_four_connections_is_byte_exact_and_sends_each_byte_once(
    fleet: Fleet, package: PackageInfo, encoding: str
) -> None:
    with session_for(fleet, HOST) as session:
        result = transfer.stage(
            session, package, encoding=encoding, streams=4, min_piece_bytes=PIECE
        )
    assert (result.streams, result.bytes_sent, result.skipped) == (4, package.size, False)
    assert host_of(fleet).fs.read(STAGED) == Path(package.path).read_bytes()
    assert stdin_bytes(fleet) == sum(
        transfer.wire_bytes(p.missing, encoding=encoding)
        for p in transfer.plan_pieces(
            package.size,
            0,
            streams=4,
            min_piece_bytes=PIECE,
        )
    )
    # Three pieces into files of their own, then the .part's command appends them.
    done = pushes(fleet)
    assert [bool(p.get("piece")) for p in done] == [True, True, True, False]
    assert (
        [s["start"] for s in done[-1]["segments"]]
        == sorted(  # type: ignore[index]
            int(str(p["part"]).rsplit(".", 1)[1]) for p in done[:-1]
        )
    )
    assert leftovers(fleet) == []
    # One shell per connection (the status, then four pushes at once), each deleted.
    operations = fleet.listeners[HOST].stats.operations
    assert (operations["Create"], operations["Delete"]) == (4, 4)


def test_small_package_or_one_stream_uses_one_connection(
    fleet: Fleet, package: PackageInfo
) -> None:
    with session_for(fleet, HOST) as session:
        small = transfer.stage(session, package, streams=4)  # under the default piece size
    assert small.streams == 1 and not any(p.get("segments") for p in pushes(fleet))
    assert fleet.listeners[HOST].stats.operations["Create"] == 1


def test_push_over_several_connections_resumes_every_piece_after_a_cut(
    fleet: Fleet, package: PackageInfo
) -> None:
    """A Send dropped in the middle: the .part and the pieces keep what arrived, the next
    attempt sends only the rest, whichever connection was cut."""
    fleet.faults(HOST).set(drop_after_stdin_bytes=package.size // 2)
    original = Path(package.path).read_bytes()
    with session_for(fleet, HOST) as session:
        with pytest.raises(HostUnreachable):
            transfer.stage(
                session,
                package,
                streams=4,
                min_piece_bytes=PIECE,
                retry=Backoff(retries=0),
            )
        host = host_of(fleet)
        assert not host.fs.exists(STAGED)
        kept = {
            name: host.fs.read(STAGED.rsplit("\\", 1)[0] + "\\" + name) for name in leftovers(fleet)
        }
        # The cut piece's file is there unless the cut Send was its first: the simulator
        # runs a command once stdin arrived, where Windows would show an empty file.
        assert "Setup.zip.part" in kept and len(kept) in (3, 4)
        held = 0
        for name, data in kept.items():
            start = 0 if name.endswith(".part") else int(name.rsplit(".", 1)[1])
            assert data == original[start : start + len(data)]
            held += len(data)
        assert 0 < held < package.size
        before = stdin_bytes(fleet)
        result = transfer.stage(session, package, streams=4, min_piece_bytes=PIECE)
    assert result.resumed_from == held and result.bytes_sent == package.size - held
    assert stdin_bytes(fleet) - before == package.size - held
    assert host.fs.read(STAGED) == original
    assert leftovers(fleet) == []


@pytest.mark.parametrize(
    "fault",
    [
        {"drop_at": "Send", "drop_times": 1},
        {"fault_at": "Send", "fault_times": 1, "fault_code": "internal"},
        {"fault_at": "Send", "fault_times": 2, "fault_code": "quota"},
    ],
    ids=["dropped-send", "http-500-send", "quota-twice"],
)
def test_push_over_several_connections_retries_a_failed_send_and_resumes(
    fleet: Fleet, package: PackageInfo, fault: dict[str, object]
) -> None:
    """Whichever of the four connections the fault hits, the next attempt resumes every
    file and the package arrives whole, each byte sent at most twice."""
    fleet.faults(HOST).set(**fault)
    waits: list[float] = []
    with session_for(fleet, HOST) as session:
        result = transfer.stage(
            session,
            package,
            streams=4,
            min_piece_bytes=PIECE,
            retry=Backoff(retries=2, backoff_s=0.0),
            sleep=waits.append,
        )
    assert fleet.faults(HOST).counters.dropped + fleet.faults(HOST).counters.faults >= 1
    assert result.attempts >= 2 and len(waits) == result.attempts - 1
    assert result.resumed_from + result.bytes_sent == package.size
    assert package.size <= stdin_bytes(fleet) < 2 * package.size
    assert host_of(fleet).fs.read(STAGED) == Path(package.path).read_bytes()
    assert leftovers(fleet) == []


def test_pieces_left_on_the_host_are_resumed_over_one_connection(
    fleet: Fleet, package: PackageInfo, ansible_session: AnsibleSession
) -> None:
    """Pieces a cut push left, resumed over one connection (streams=1): each piece in
    turn, then the .part; a stale piece (inside the .part) is deleted."""
    original = Path(package.path).read_bytes()
    host = host_of(fleet)
    host.fs.mkdir(transfer.DEFAULT_STAGING_DIR, acl=private_folder_acl())  # a previous run's
    host.fs.mkdir(STAGED.rsplit("\\", 1)[0])
    third = package.size // 3
    host.fs.write(STAGED + ".part", original[:1000])
    host.fs.write(f"{STAGED}.part.{third}", original[third : third + 5000])
    host.fs.write(f"{STAGED}.part.{2 * third}", original[2 * third :])  # whole
    host.fs.write(f"{STAGED}.part.500", b"stale")
    result = transfer.stage(ansible_session, package, streams=1)
    assert result.streams == 1
    assert result.resumed_from == 1000 + 5000 + package.size - 2 * third
    assert stdin_bytes(fleet) == result.bytes_sent == package.size - result.resumed_from
    assert host.fs.read(STAGED) == original
    assert leftovers(fleet) == []
    done = pushes(fleet)
    assert [(p.get("piece"), p["offset"]) for p in done] == [(True, 5000), (None, 1000)]


@ENCODINGS
def test_push_over_four_ansible_connections_sends_the_part_as_a_piece_then_assembles(
    fleet: Fleet, package: PackageInfo, ansible_session: AnsibleSession, encoding: str
) -> None:
    """ansible's exec_command takes a command's whole stdin before starting it: the .part's
    range goes as a piece too, then a last command with no stdin assembles."""
    result = transfer.stage(
        ansible_session, package, encoding=encoding, streams=4, min_piece_bytes=PIECE
    )
    assert (result.streams, result.bytes_sent) == (4, package.size)
    assert host_of(fleet).fs.read(STAGED) == Path(package.path).read_bytes()
    assert stdin_bytes(fleet) == sum(
        transfer.wire_bytes(p.missing, encoding=encoding)
        for p in transfer.plan_pieces(package.size, 0, streams=4, min_piece_bytes=PIECE)
    )
    done = pushes(fleet)
    assert sorted(str(p["part"]).rsplit("\\", 1)[1] for p in done[:-1]) == sorted(
        ["Setup.zip.part", *(f"Setup.zip.part.{s['start']}" for s in done[-1]["segments"])]  # type: ignore[union-attr]
    )
    assert all(p.get("piece") for p in done[:-1])
    assert done[-1]["offset"] == done[-1]["segments"][0]["start"]  # type: ignore[index]
    assert leftovers(fleet) == []
    operations = fleet.listeners[HOST].stats.operations
    # The copies' shells are deleted; the task's own stays open for its next command.
    assert (operations["Create"], operations.get("Delete", 0)) == (4, 3)
    again = transfer.stage(ansible_session, package)
    assert again.skipped


def test_pieces_from_another_build_fail_verification_and_the_package_is_sent_whole(
    fleet: Fleet, package: PackageInfo
) -> None:
    original = Path(package.path).read_bytes()
    host = host_of(fleet)
    host.fs.mkdir(transfer.DEFAULT_STAGING_DIR, acl=private_folder_acl())  # a previous run's
    host.fs.mkdir(STAGED.rsplit("\\", 1)[0])
    half = package.size // 2
    host.fs.write(STAGED + ".part", original[:half])
    host.fs.write(f"{STAGED}.part.{half}", b"x" * 4096)  # same name, other bytes
    with session_for(fleet, HOST) as session:
        result = transfer.stage(session, package, streams=4, min_piece_bytes=PIECE)
    assert result.resumed_from == 0 and result.bytes_sent == package.size
    assert host.fs.read(STAGED) == original
    assert leftovers(fleet) == []


class FailsPieces(HostSession):
    """A WinRM session whose siblings' pushes fail as a full disk on the host would."""

    streams_stdin = True  # execute hands the stdin to WinRMSession as it comes

    def __init__(self, inner: WinRMSession, fail: bool = False) -> None:
        super().__init__(inner.host)
        self.inner = inner
        self.fail = fail

    def execute(
        self, command: str, stdin: Iterable[bytes] | None = None
    ) -> tuple[int, bytes, bytes]:
        if self.fail and stdin is not None:
            raise SnippetFailed(
                self.host, "stage_push", 1, "There is not enough space on the disk."
            )
        return self.inner.execute(command, stdin)

    def sibling(self) -> FailsPieces:
        return FailsPieces(self.inner.sibling(), fail=True)

    def close(self) -> None:
        self.inner.close()


def test_a_failed_piece_ends_the_part_command_without_assembling_and_is_raised(
    fleet: Fleet, package: PackageInfo
) -> None:
    with session_for(fleet, HOST) as inner:
        session = FailsPieces(inner)
        with pytest.raises(SnippetFailed, match="not enough space") as caught:
            transfer.stage(session, package, streams=4, min_piece_bytes=PIECE)
    assert caught.value.host == HOST
    host = host_of(fleet)
    assert not host.fs.exists(STAGED)
    # The .part's command was ended while it waited for the pieces: what it got is kept.
    interrupted = [e for e in host.journal if e.get("kind") == "stage_push_interrupted"]
    assert len(interrupted) == 1
    kept = host.fs.read(STAGED + ".part")
    assert kept == Path(package.path).read_bytes()[: len(kept)]


# -- through ansible-core's winrm connection (the action plugins' transport) -------------


@pytest.fixture
def ansible_session(fleet: Fleet) -> Iterator[AnsibleSession]:
    """AnsibleSession over ansible-core's winrm connection plugin, set up as the
    inventory sets it up: exec_command(in_data=...) chunks the stdin itself (200,000
    bytes per Send) and base64s it inside the SOAP body, whatever the bytes are."""
    from tests.support.ansible_leg import connect

    spec = fleet.spec(HOST)
    connection = connect(
        {
            "address": spec.address,
            "port": spec.port,
            "username": spec.username,
            "password": spec.password,
            "scheme": spec.scheme,
            "ca_file": str(fleet.ca_file),
        }
    )
    yield AnsibleSession(HOST, connection)
    connection.close()


@ENCODINGS
def test_push_through_ansible_winrm_connection_is_byte_exact(
    fleet: Fleet, package: PackageInfo, ansible_session: AnsibleSession, encoding: str
) -> None:
    result = transfer.stage(ansible_session, package, encoding=encoding)
    assert (result.bytes_sent, result.skipped, result.encoding) == (package.size, False, encoding)
    assert host_of(fleet).fs.read(STAGED) == Path(package.path).read_bytes()
    assert stdin_bytes(fleet) == transfer.wire_bytes(package.size, encoding=encoding)
    before = stdin_bytes(fleet)
    again = transfer.stage(ansible_session, package, encoding=encoding)
    assert again.skipped and again.bytes_sent == 0 and stdin_bytes(fleet) == before


@ENCODINGS
def test_push_through_ansible_winrm_connection_resumes_after_a_cut(
    fleet: Fleet, package: PackageInfo, ansible_session: AnsibleSession, encoding: str
) -> None:
    fleet.faults(HOST).set(
        drop_after_stdin_bytes=transfer.wire_bytes(package.size, encoding=encoding) // 2
    )
    # ansible's plugin reports the cut Send as "winrm send_input failed": a TransportError.
    with pytest.raises((HostUnreachable, TransportError)):
        transfer.stage(
            ansible_session, package, encoding=encoding, retry=Backoff(retries=0)
        )
    kept = host_of(fleet).fs.read(STAGED + ".part")
    original = Path(package.path).read_bytes()
    assert 0 < len(kept) < package.size and kept == original[: len(kept)]
    before = stdin_bytes(fleet)
    result = transfer.stage(ansible_session, package, encoding=encoding)
    assert result.resumed_from == len(kept)
    rest = package.size - len(kept)
    assert stdin_bytes(fleet) - before == transfer.wire_bytes(rest, encoding=encoding)
    assert host_of(fleet).fs.read(STAGED) == original


# -- pull ---------------------------------------------------------------------------------


class _PackageServer(http.server.ThreadingHTTPServer):
    def __init__(self, folder: Path) -> None:
        folder_text = str(folder)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=folder_text, **kwargs)  # type: ignore[arg-type]

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                server.hits += 1
                super().do_GET()

        server = self
        self.hits = 0
        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def http_server(tmp_path: Path, small: PackageInfo) -> Iterator[_PackageServer]:
    """An HTTP server on the bastion's loopback serving the package folder."""
    server = _PackageServer(Path(small.path).parent)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def url_of(server: _PackageServer, package: PackageInfo) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/{Path(package.path).name}"


def test_pull_has_the_host_download_and_verify_the_package(
    fleet: Fleet, small: PackageInfo, http_server: _PackageServer
) -> None:
    with session_for(fleet, HOST) as session:
        result = transfer.stage_pull(
            session,
            url_of(http_server, small),
            small.sha256,
            size=small.size,
            version="3.2.0",
        )
    assert result.method == "pull" and result.changed and result.bytes_sent == 0
    assert host_of(fleet).fs.read(result.path) == Path(small.path).read_bytes()
    assert http_server.hits == 1
    assert stdin_bytes(fleet) == 0


def test_pull_is_skipped_when_the_package_is_already_there(
    fleet: Fleet, small: PackageInfo, http_server: _PackageServer
) -> None:
    with session_for(fleet, HOST) as session:
        transfer.stage(session, small)
        result = transfer.stage_pull(
            session, url_of(http_server, small), small.sha256, version="3.2.0"
        )
    assert result.skipped
    assert http_server.hits == 0


def test_pull_of_content_that_does_not_verify_leaves_no_file(
    fleet: Fleet, small: PackageInfo, http_server: _PackageServer
) -> None:
    with (
        session_for(fleet, HOST) as session,
        pytest.raises(SnippetFailed, match="does not match the expected SHA-256"),
    ):
        transfer.stage_pull(session, url_of(http_server, small), "1" * 64, version="x")
    assert host_of(fleet).fs.listdir(r"C:\ProgramData\sagefleet\staging\x") == []


def test_simulated_host_refuses_to_download_outside_loopback(
    fleet: Fleet, small: PackageInfo
) -> None:
    with (
        session_for(fleet, HOST) as session,
        pytest.raises(SnippetFailed, match="only fetches http\\(s\\) URLs on loopback"),
    ):
        transfer.stage_pull(session, "http://192.0.2.10/Setup.zip", small.sha256)


# -- extract ------------------------------------------------------------------------------


def test_extraction_keeps_settings_json_beside_the_installers(
    fleet: Fleet, small: PackageInfo
) -> None:
    with session_for(fleet, HOST) as session:
        staged = transfer.stage(session, small)
        folder = staged.path.rsplit("\\", 1)[0] + "\\package"
        result = transfer.extract(session, staged.path, folder, sha256=small.sha256)
        again = transfer.extract(session, staged.path, folder)
    names = {f.rsplit("\\", 1)[1] for f in result.files}
    assert {"settings.json", "Spendesk Sage Agent Setup v11.0.exe"} <= names
    assert all(f.rsplit("\\", 1)[0] == folder for f in result.files)
    packaged = host_of(fleet).fs.read(folder + "\\settings.json")
    assert json.loads(packaged.decode("utf-8-sig"))["Connections"]  # the vendor's file
    assert result.changed and again.skipped and again.files == result.files


def test_extraction_refuses_an_entry_escaping_the_folder(fleet: Fleet, tmp_path: Path) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("settings.json", "{}")
        archive.writestr("../../evil.txt", "pwned")
    from sagefleet.package import sha256_file

    evil = PackageInfo(str(path), sha256_file(path), path.stat().st_size, (), True)
    with session_for(fleet, HOST) as session:
        staged = transfer.stage(session, evil)
        with pytest.raises(SnippetFailed, match="zip-slip"):
            transfer.extract(session, staged.path, r"C:\ProgramData\sagefleet\out\pkg")
    assert not host_of(fleet).fs.exists(r"C:\ProgramData\sagefleet\out")
    assert not host_of(fleet).fs.exists(r"C:\ProgramData\sagefleet\evil.txt")


# -- cleanup ------------------------------------------------------------------------------


def test_cleanup_keeps_the_newest_versions_and_the_current_one(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = host_of(fleet)
    root = transfer.DEFAULT_STAGING_DIR
    packages = [make_package(tmp_path, v, payload=1024) for v in ("1.0.0", "2.0.0", "3.0.0")]
    with session_for(fleet, HOST) as session:
        staged = [transfer.stage(session, p) for p in packages]
        host.fs.write(root + r"\2.0.0\Setup.zip.part", b"stray")
        host.fs.write(root + r"\1.0.0\Setup.zip.part", b"resumable")
        # The current version is the oldest one (a rollback): it stays, with its .part.
        result = transfer.cleanup(session, root, keep=2, current=staged[0].path)
    assert result.kept == ("1.0.0", "3.0.0")
    assert result.removed == ("2.0.0",)
    assert sorted(host.fs.listdir(root)) == ["1.0.0", "3.0.0"]
    assert host.fs.exists(root + r"\1.0.0\Setup.zip.part")


def test_cleanup_removes_stray_parts_of_kept_versions(fleet: Fleet, tmp_path: Path) -> None:
    host = host_of(fleet)
    root = transfer.DEFAULT_STAGING_DIR
    packages = [make_package(tmp_path, v, payload=1024) for v in ("1.0.0", "2.0.0")]
    with session_for(fleet, HOST) as session:
        staged = [transfer.stage(session, p) for p in packages]
        host.fs.write(root + r"\1.0.0\Setup.zip.part", b"stray")
        host.fs.write(root + r"\1.0.0\Setup.zip.part.8388608", b"stray piece")
        preview = transfer.cleanup(session, root, keep=2, current=staged[1].path, check_mode=True)
        assert host.fs.exists(root + r"\1.0.0\Setup.zip.part")
        result = transfer.cleanup(session, root, keep=2, current=staged[1].path)
    assert preview.removed_parts == result.removed_parts
    assert sorted(result.removed_parts) == [
        r"1.0.0\Setup.zip.part",
        r"1.0.0\Setup.zip.part.8388608",
    ]
    assert result.removed == ()
    assert host.fs.listdir(root + r"\1.0.0") == ["Setup.zip"]
