"""HostSession over the Ansible connection of the current host (action plugins).

Commands go through ``connection.exec_command`` with the exact PowerShell
prefix ansible-core's winrm plugin passes through unchanged, never through
Ansible's module exec wrapper.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sagefleet.errors import SagefleetError
from sagefleet.remote.errors import (
    AuthenticationFailed,
    HostUnreachable,
    RemoteTimeout,
    TransportError,
)
from sagefleet.remote.session import HostSession, Stdin
from sagefleet.remote.winrm import WinRMTarget, remote_error

#: pywinrm transports a direct session (WinRMSession) reproduces (Kerberos manages a
#: ticket cache per process, CredSSP is left to the plugin).
DIRECT_TRANSPORTS = ("ntlm", "basic", "plaintext", "ssl", "certificate")
#: Names of ansible-core's winrm connection plugin.
WINRM_PLUGINS = frozenset({"winrm", "ansible.builtin.winrm", "ansible.legacy.winrm"})

#: What a Connection and a WinRMTarget both hold, under the same name.
_SAME_FIELDS = ("address", "username", "password", "port", "scheme", "path")
#: pywinrm options a WinRMTarget holds as fields of its own: (option, field, type).
_OPTION_FIELDS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("server_cert_validation", "server_cert_validation", str),
    ("ca_trust_path", "ca_trust_path", str),
    ("message_encryption", "message_encryption", str),
    ("operation_timeout_sec", "operation_timeout", int),
    ("read_timeout_sec", "read_timeout", int),
)
# A 401 status, never the digits of a port or an address (127.0.0.5:37401 is not one).
_AUTH = re.compile(r"credentials were rejected|(?<![\w.:])401(?![\w.:])|unauthori[sz]ed", re.I)
_TIMEOUT = re.compile(r"timed? ?out|timeout", re.I)


class AnsibleSession(HostSession):
    """A HostSession over an already configured Ansible connection plugin."""

    def __init__(self, host: str, connection: Any, *, _sibling: bool = False) -> None:
        super().__init__(host)
        self.connection = connection
        self._sibling = _sibling

    @contextmanager
    def quiet(self, sensitive: bool) -> Iterator[None]:
        """The play context's no_log set for a sensitive run, restored after.

        ansible-core's winrm plugin logs the raw stdout of every command at
        -vvvvv unless ``no_log`` is set on the play context.
        """
        context = getattr(self.connection, "_play_context", None)
        if not sensitive or context is None:
            yield
            return
        previous = context.no_log
        context.no_log = True
        try:
            yield
        finally:
            context.no_log = previous

    def sibling(self) -> AnsibleSession | None:
        """The same connection settings on a connection of its own (ansible-core's winrm
        plugin: a new pywinrm Protocol, NTLM context and shell when first used).

        None for any other connection plugin (its state is not known here), and for
        Kerberos, whose ticket cache the plugin manages in the process environment.
        """
        if not all(hasattr(self.connection, a) for a in ("protocol", "shell_id", "_connected")):
            return None
        if "kerberos" in (getattr(self.connection, "_winrm_transport", None) or ()):
            return None
        other = copy.copy(self.connection)
        other.protocol = None
        other.shell_id = None
        other._connected = False
        return AnsibleSession(self.host, other, _sibling=True)

    def close(self) -> None:
        """Close a connection this session opened as a sibling; the task's own connection
        is Ansible's to close."""
        if self._sibling:
            self.connection.close()

    def end_commands(self) -> bool:
        """The connection's shell deleted (ansible-core's winrm plugin: ``close``); the
        plugin opens a new one for the next command. Another connection plugin keeps what it
        holds unknown here: False."""
        if not all(hasattr(self.connection, a) for a in ("protocol", "shell_id", "_connected")):
            return False
        try:
            self.connection.close()
        except Exception:  # noqa: BLE001 - whatever the plugin or pywinrm raise: not confirmed
            return False
        return True

    def execute(self, command: str, stdin: Stdin = None) -> tuple[int, bytes, bytes]:
        from ansible.errors import AnsibleConnectionFailure, AnsibleError

        in_data = b"".join(stdin) if stdin is not None else None
        try:
            rc, stdout, stderr = self.connection.exec_command(command, in_data=in_data)
        except AnsibleConnectionFailure as exc:
            raise _classify(self.host, str(exc)) from None
        except AnsibleError as exc:
            text = str(exc)
            if _TIMEOUT.search(text):
                raise RemoteTimeout(self.host, text) from None
            raise TransportError(self.host, text) from None
        except Exception as exc:
            # ansible-core's winrm plugin lets pywinrm's own errors through (a WS-Management
            # fault on a command of an open shell, an operation timeout): typed like the rest.
            mapped = remote_error(self.host, exc)
            if mapped is None:
                raise
            raise mapped from None
        return int(rc), _as_bytes(stdout), _as_bytes(stderr)


# ansible-core's winrm connection names the transport before each transport's error.
_TRANSPORT_PREFIX = re.compile(r"^(?:ntlm|basic|plaintext|ssl|certificate|kerberos|credssp): ")


def _classify(host: str, text: str) -> Exception:
    """A connection failure in the words sagefleet's own sessions use (remote/winrm.py), so
    that a report says the same whichever way the host was reached."""
    if _TRANSPORT_PREFIX.match(text) and not re.search(r", \w+: ", text):  # one transport
        text = _TRANSPORT_PREFIX.sub("", text, count=1)
    if _AUTH.search(text):
        return AuthenticationFailed(host, f"credentials rejected: {text}")
    if re.search(r"read timed out|operation timed out", text, re.I):
        return RemoteTimeout(host, text)
    if re.match(r"HTTPS?ConnectionPool\(", text):  # requests' text: as WinRMSession words it
        if "SSLError" in text:
            cause = "TLS handshake failed"
        elif "ConnectTimeout" in text:
            cause = "connection timed out"
        else:
            cause = "cannot connect"
        text = text if len(text) <= 300 else text[:297] + "..."
        return HostUnreachable(host, f"{cause}: {text}")
    return HostUnreachable(host, text)


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


@dataclass(frozen=True)
class Connection:
    """ansible-core's winrm connection of one host, as its plugin resolved it."""

    address: str
    port: int
    scheme: str
    path: str
    transports: tuple[str, ...]
    username: str | None
    password: str | None = field(repr=False)
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    connection_timeout: int | None = None

    def target(self, host: str) -> WinRMTarget | str:
        """The WinRMTarget a direct session reaches the host with, or why it cannot."""
        if len(self.transports) != 1:
            return (
                f"ansible_winrm_transport lists {len(self.transports)} transports "
                f"({', '.join(self.transports)}): the winrm plugin tries each in turn"
            )
        transport = self.transports[0]
        if transport not in DIRECT_TRANSPORTS:
            return f"transport {transport}: left to the winrm connection plugin"
        if not self.username or self.password is None:
            return "no WinRM user or password: the winrm connection plugin reports it"
        options = dict(self.options)
        if self.connection_timeout:  # as the plugin does: both timeouts from one option
            options["operation_timeout_sec"] = self.connection_timeout
            options["read_timeout_sec"] = self.connection_timeout + 10
        fields: dict[str, Any] = {name: getattr(self, name) for name in _SAME_FIELDS}
        for option, name, convert in _OPTION_FIELDS:
            if option in options:
                fields[name] = convert(options.pop(option))
        return WinRMTarget(
            host=host, transport=transport, options=tuple(sorted(options.items())), **fields
        )


class AnsibleWinRM:
    """Each host's winrm connection settings, resolved by ansible-core's own winrm plugin
    as the task executor would set them for the host's task, without connecting.

    One plugin object serves every host in turn: its options are set afresh each time.
    """

    def __init__(self, task: Any, play_context: Any) -> None:
        from ansible.plugins.loader import connection_loader

        self._plugin = connection_loader.get("winrm", play_context, new_stdin=None)
        if self._plugin is None:  # pragma: no cover - part of ansible-core
            raise SagefleetError("ansible-core's winrm connection plugin is not available")
        # What the task executor gives the connection besides the host's variables: the
        # play's and task's keywords (remote_user, port, ...), the connection timeout and
        # a password from the command line (--ask-pass), never the task's retries.
        keys = dict(task.dump_attrs())
        keys["timeout"] = play_context.timeout
        if play_context.password:
            keys["password"] = play_context.password
        keys.pop("retries", None)
        self._task_keys = keys

    def connection(self, variables: Mapping[str, Any], templar: Any) -> Connection:
        plugin = self._plugin
        options = plugin._resolve_option_variables(variables, templar)
        plugin.set_options(task_keys=self._task_keys, var_options=options)
        return connection_of(plugin)


def connection_of(plugin: Any) -> Connection:
    """The settings of an ansible-core winrm connection plugin whose options are set (by
    the task executor, or AnsibleWinRM), computed by the plugin's own code."""
    plugin._build_winrm_kwargs()  # what the plugin computes before connecting; no I/O
    kwargs = dict(plugin._winrm_kwargs)
    return Connection(
        address=str(plugin._winrm_host),
        port=int(plugin._winrm_port),
        scheme=str(plugin._winrm_scheme),
        path=str(plugin._winrm_path),
        transports=tuple(str(t) for t in plugin._winrm_transport),
        username=kwargs.pop("username", None),
        password=kwargs.pop("password", None),
        options=kwargs,
        connection_timeout=plugin._winrm_connection_timeout or None,
    )
