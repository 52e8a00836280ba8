"""WinRM through an SSH jump host: a paramiko SSH server on loopback in front of the fleet."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
import yaml

from sagefleet.cli import main
from sagefleet.inventory import load
from sagefleet.remote import jump
from sagefleet.remote.winrm import WinRMSession
from sagefleet.sim.fleet import Fleet
from tests.support.fleets import FleetFactory
from tests.support.scenarios import write_inventory

USER, PASSWORD = "jumper", "jump-only-not-a-secret"


class _Server(paramiko.ServerInterface):
    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.log = log
        self.destinations: dict[int, tuple[str, int]] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = (username, password) == (USER, PASSWORD)
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(
        self, chanid: int, origin: tuple[str, int], destination: tuple[str, int]
    ) -> int:
        if not destination[0].startswith("127."):  # loopback only, ever
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        self.destinations[chanid] = destination
        self.log.append(destination)
        return paramiko.OPEN_SUCCEEDED


class SSHJumpServer:
    """A jump host: password auth, direct-tcpip channels to loopback destinations."""

    def __init__(self) -> None:
        self.key = paramiko.RSAKey.generate(2048)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.opened: list[tuple[str, int]] = []
        self.transports: list[paramiko.Transport] = []
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def known_hosts(self, path: Path) -> Path:
        keys = paramiko.HostKeys()
        keys.add(f"[127.0.0.1]:{self.port}", self.key.get_name(), self.key)
        keys.save(str(path))
        return path

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(client,), daemon=True).start()

    def _session(self, client: socket.socket) -> None:
        transport = paramiko.Transport(client)
        self.transports.append(transport)
        transport.add_server_key(self.key)
        server = _Server(self.opened)
        try:
            transport.start_server(server=server)
        except (paramiko.SSHException, EOFError):
            return
        while transport.is_active() and not self.stop.is_set():
            channel = transport.accept(0.5)
            if channel is None:
                continue
            dest = server.destinations[channel.get_id()]
            upstream = socket.create_connection(dest)
            threading.Thread(target=jump.pump, args=(channel, upstream), daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        for transport in self.transports:
            transport.close()

    @property
    def active_sessions(self) -> int:
        return sum(1 for t in self.transports if t.is_active())


@pytest.fixture
def jump_server() -> Iterator[SSHJumpServer]:
    server = SSHJumpServer()
    yield server
    server.close()


@pytest.fixture
def fleet_inventory(
    make_fleet: FleetFactory, jump_server: SSHJumpServer, tmp_path: Path
) -> tuple[Fleet, Path]:
    # Plain HTTP behind the jump: NTLM encrypts every message end to end.
    fleet = make_fleet(1, profiles=("healthy-onprem",), scheme="http")
    config = {
        "host": "127.0.0.1",
        "port": jump_server.port,
        "user": USER,
        "password": PASSWORD,
        "known_hosts": str(jump_server.known_hosts(tmp_path / "known_hosts")),
    }
    inventory = write_inventory(
        fleet, tmp_path / "inventory" / "hosts.yml", {"sagefleet_ssh_jump": config}
    )
    return fleet, inventory


def test_snippet_runs_through_the_forward_and_the_forward_closes(
    fleet_inventory: tuple[Fleet, Path], jump_server: SSHJumpServer
) -> None:
    fleet, inventory = fleet_inventory
    hosts = load([inventory])
    with jump.forwarded(hosts) as through:
        (host,) = through
        assert host.target is not None and host.target.address == "127.0.0.1"
        port = host.target.port
        with WinRMSession(host.target) as session:
            info = session.run_snippet("host_info")
    assert info["hostname"] == fleet.host(hosts[0].name).hostname
    spec = fleet.spec(hosts[0].name)
    assert (spec.address, spec.port) in jump_server.opened
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_unknown_jump_host_key_is_refused_by_default(
    fleet_inventory: tuple[Fleet, Path], jump_server: SSHJumpServer, tmp_path: Path
) -> None:
    _, inventory = fleet_inventory
    hosts = load([inventory])
    (tmp_path / "empty_known_hosts").write_text("")
    config = dict(
        hosts[0].variables["sagefleet_ssh_jump"], known_hosts=str(tmp_path / "empty_known_hosts")
    )
    with pytest.raises(jump.JumpError, match="known_hosts"):
        jump.connect(jump.parse(hosts[0].name, config))  # type: ignore[arg-type]
    assert jump_server.opened == []


def test_doctor_reaches_hosts_behind_the_jump_host(
    fleet_inventory: tuple[Fleet, Path], jump_server: SSHJumpServer, tmp_path: Path
) -> None:
    _, inventory = fleet_inventory
    rc = main(["doctor", "-i", str(inventory), "--out", str(tmp_path / "r"), "--format", "json"])
    assert rc == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [h["status"] for h in report["hosts"]] == ["ready"]
    assert jump_server.opened


def test_jump_settings_are_validated() -> None:
    with pytest.raises(jump.InputError, match="key_file or password"):
        jump.parse("h", {"host": "j", "user": "u"})
    assert jump.parse("h", None) is None
    config = jump.parse("h", {"host": "j", "user": "u", "password": "p"})
    assert config is not None and config.host_key_checking is True and config.port == 22
    assert "password" not in repr(config)


def test_overlay_points_each_host_at_its_forward() -> None:
    forwards = jump.Forwards()
    fake = type("F", (), {"port": 40001})()
    forwards.forwards["sage-01"] = fake  # type: ignore[assignment]
    assert yaml.safe_dump(jump.overlay(forwards)).count("40001") == 1


@contextlib.contextmanager
def dead_jump_host(inventory: Path, names: list[str]) -> Iterator[int]:
    """``names`` behind a jump host that is down (a port nothing listens on), whose port
    this yields."""
    data = yaml.safe_load(inventory.read_text())
    hosts = data["all"]["children"]["sage_servers"]["hosts"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    for name in names:
        hosts[name]["sagefleet_ssh_jump"] = {
            "host": "127.0.0.1", "port": port, "user": USER, "password": PASSWORD,
        }  # fmt: skip
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        yield port
    finally:
        closed.close()


def test_doctor_reports_the_hosts_behind_a_jump_host_it_cannot_reach_and_goes_on(
    make_fleet: FleetFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A jump host down is not an input error: the hosts behind it are unreachable, with
    why, the others are diagnosed, and doctor exits 4 (a host not diagnosed)."""
    fleet = make_fleet(3, profiles=("healthy-onprem",), scheme="http")
    inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
    direct, *behind = sorted(spec.name for spec in fleet.specs)
    with dead_jump_host(inventory, behind) as port:
        rc = main(
            ["doctor", "-i", str(inventory), "--out", str(tmp_path / "r"), "--format", "json"]
        )
    assert rc == 4
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    status = {h["host"]: h["status"] for h in report["hosts"]}
    assert status == {direct: "ready", **dict.fromkeys(behind, "unreachable")}
    errors = {h["host"]: h["error"] for h in report["hosts"] if h["host"] in behind}
    assert all(e.startswith(f"jump host 127.0.0.1:{port} unreachable: ") for e in errors.values())
    assert f"2 host(s) unreachable, so not diagnosed: {', '.join(behind)}" in (
        capsys.readouterr().err
    )


def test_sagefleet_jump_with_its_jump_host_down_exits_4_naming_the_host(
    make_fleet: FleetFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tried and not reached: 4, as doctor; 2 would say nothing was contacted."""
    fleet = make_fleet(1, profiles=("healthy-onprem",), scheme="http")
    inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
    name = "sage01"
    overlay = tmp_path / "overlay.yml"
    with dead_jump_host(inventory, [name]) as port:
        rc = main(["jump", "-i", str(inventory), "--overlay", str(overlay)])
    assert rc == 4
    err = capsys.readouterr().err
    assert f"sagefleet: error: {name}: jump host 127.0.0.1:{port} unreachable: " in err
    assert not overlay.exists()
