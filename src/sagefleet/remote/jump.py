"""Reach WinRM through a client's SSH jump host: one paramiko port forward per host.

``sagefleet_ssh_jump`` names the jump host; ``forwarded(hosts)`` serves ``sagefleet
doctor``, and ``sagefleet jump`` holds the forwards open behind an inventory overlay.
See docs/operations.md ("Jump hosts (SSH)").
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagefleet.errors import InputError, SagefleetError
from sagefleet.variables.declarations import SSH_JUMP

VAR = SSH_JUMP.name
_KEYS = {"host", "port", "user", "key_file", "password", "known_hosts", "host_key_checking"}


class JumpError(SagefleetError):
    """The jump host refused us, or its key is not the one we know."""


@dataclass(frozen=True)
class JumpConfig:
    host: str
    user: str
    port: int = 22
    key_file: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    known_hosts: str | None = None
    host_key_checking: bool = True

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.host, self.port, self.user)


def parse(host: str, value: Any) -> JumpConfig | None:
    """Validate ``sagefleet_ssh_jump`` of one host (None when unset)."""
    if value is None or value == {}:
        return None
    if not isinstance(value, Mapping):
        raise InputError(
            "must be a mapping {host, port, user, key_file|password, known_hosts}",
            host=host,
            field=VAR,
        )
    unknown = set(value) - _KEYS
    if unknown:
        raise InputError(f"unknown keys {sorted(unknown)}", host=host, field=VAR)
    for name in ("host", "user"):
        if not isinstance(value.get(name), str) or not value[name]:
            raise InputError("is required", host=host, field=f"{VAR}.{name}")
    port = value.get("port", 22)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InputError("must be a TCP port", host=host, field=f"{VAR}.port", value=repr(port))
    if not value.get("key_file") and value.get("password") is None:
        raise InputError(
            "needs key_file or password",
            host=host,
            field=VAR,
            fix="set key_file (a private key on the bastion) or password (vault)",
        )
    checking = value.get("host_key_checking", True)
    if not isinstance(checking, bool):
        raise InputError("must be true or false", host=host, field=f"{VAR}.host_key_checking")
    return JumpConfig(
        host=str(value["host"]),
        user=str(value["user"]),
        port=int(port),
        key_file=str(value["key_file"]) if value.get("key_file") else None,
        password=str(value["password"]) if value.get("password") is not None else None,
        known_hosts=str(value["known_hosts"]) if value.get("known_hosts") else None,
        host_key_checking=checking,
    )


def connect(config: JumpConfig, timeout: float = 15.0) -> Any:
    """An SSH client to the jump host; RejectPolicy unless host_key_checking is off."""
    import paramiko

    client = paramiko.SSHClient()
    if config.host_key_checking:
        client.load_system_host_keys()
        if config.known_hosts:
            client.load_host_keys(os.path.expanduser(config.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            config.host,
            port=config.port,
            username=config.user,
            password=config.password,
            key_filename=os.path.expanduser(config.key_file) if config.key_file else None,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
    except paramiko.SSHException as exc:
        client.close()
        raise JumpError(
            f"jump host {config.user}@{config.host}:{config.port}: {exc}"
            + (
                " (add its key to known_hosts; host key checking is on)"
                if "not found in known_hosts" in str(exc) or "host key" in str(exc).lower()
                else ""
            )
        ) from exc
    except OSError as exc:
        client.close()
        raise JumpError(f"jump host {config.host}:{config.port} unreachable: {exc}") from exc
    return client


class Forward:
    """127.0.0.1:<port> on the bastion, tunnelled to ``dest`` through one SSH client."""

    def __init__(self, client: Any, dest_host: str, dest_port: int) -> None:
        self.client = client
        self.dest = (dest_host, dest_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port: int = self.listener.getsockname()[1]
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept, name=f"jump-{self.port}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                local, peer = self.listener.accept()
            except OSError:
                return
            try:
                channel = self.client.get_transport().open_channel("direct-tcpip", self.dest, peer)
            except Exception:  # noqa: BLE001 - the jump refused this forward: drop the client
                local.close()
                continue
            pump = threading.Thread(target=self._pump, args=(local, channel), daemon=True)
            self._threads.append(pump)
            pump.start()

    def _pump(self, local: socket.socket, channel: Any) -> None:
        pump(local, channel, self._closed.is_set)

    @property
    def is_open(self) -> bool:
        return not self._closed.is_set()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):  # shutdown wakes the thread blocked in accept()
            self.listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.listener.close()
        self._thread.join(timeout=5)
        for pump in self._threads:
            pump.join(timeout=5)


class Forwards:
    """Every forward of a run: one SSH client per jump host, one forward per WinRM host."""

    def __init__(self) -> None:
        self.clients: dict[tuple[str, int, str], Any] = {}
        self.forwards: dict[str, Forward] = {}
        #: The jump hosts that could not be reached or refused us, with why.
        self.refused: dict[tuple[str, int, str], str] = {}

    def open(self, name: str, config: JumpConfig, dest_host: str, dest_port: int) -> Forward:
        client = self.clients.get(config.key)
        if client is None:
            if config.key in self.refused:  # tried once in this run: not again for each host
                raise JumpError(self.refused[config.key])
            try:
                client = self.clients[config.key] = connect(config)
            except JumpError as exc:
                self.refused[config.key] = str(exc)
                raise
        forward = self.forwards[name] = Forward(client, dest_host, dest_port)
        return forward

    def close(self) -> None:
        for forward in self.forwards.values():
            forward.close()
        for client in self.clients.values():
            client.close()

    def __enter__(self) -> Forwards:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def forwarded(
    hosts: Sequence[Any], unreachable: dict[str, str] | None = None
) -> Iterator[list[Any]]:
    """The inventory hosts, those behind a jump host pointed at their open forward.

    A jump host that cannot be reached or refuses us raises JumpError, unless
    ``unreachable`` is given: then each host behind it is left out, with the error,
    and the others go on (doctor reports those hosts unreachable)."""
    from sagefleet.inventory import InventoryHost

    result: list[Any] = []
    with Forwards() as forwards:
        for host in hosts:
            config = parse(host.name, host.variables.get(VAR))
            if config is None or host.target is None:
                result.append(host)
                continue
            try:
                forward = forwards.open(host.name, config, host.target.address, host.target.port)
            except JumpError as exc:
                if unreachable is None:
                    raise
                unreachable[host.name] = str(exc)
                continue
            target = dataclasses.replace(host.target, address="127.0.0.1", port=forward.port)
            result.append(InventoryHost(host.name, host.variables, target))
        yield result


def overlay(forwards: Forwards) -> dict[str, Any]:
    """Inventory overlay pointing each forwarded host at its local port."""
    return {
        "all": {
            "hosts": {
                name: {"ansible_host": "127.0.0.1", "ansible_port": forward.port}
                for name, forward in sorted(forwards.forwards.items())
            }
        }
    }


def pump(a: Any, b: Any, stopped: Callable[[], bool] = lambda: False) -> None:
    """Copy bytes both ways between two sockets or SSH channels until one side ends (or
    ``stopped()``), then close both."""
    try:
        while not stopped():
            ready, _, _ = select.select([a, b], [], [], 0.5)
            for source, sink in ((a, b), (b, a)):
                if source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    sink.sendall(data)
    except (OSError, EOFError):
        pass
    finally:
        for end in (a, b):  # closing a channel whose transport has gone raises EOFError
            with contextlib.suppress(OSError, EOFError):
                end.close()
