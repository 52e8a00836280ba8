"""Windows helpers on top of testinfra's ``host.run``, using the ``query`` snippet."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sagefleet.remote.command import CMD_LINE_LIMIT, parse_result, snippet_invocation
from sagefleet.remote.winrm import WinRMTarget


def testinfra_host(target: WinRMTarget) -> Any:
    """A testinfra Host over testinfra's own winrm backend, with the inventory's settings.

    testinfra's backend only takes ``no_ssl``/``no_verify_ssl``; the transport,
    CA bundle and message encryption of the inventory are set on its pywinrm
    arguments so verification reaches hosts exactly as ansible-playbook does.
    """
    from testinfra.host import Host

    address = f"[{target.address}]" if ":" in target.address else target.address
    backend = _backend_class()(
        f"sagefleet@{address}:{target.port}",
        no_ssl=target.scheme == "http",
        no_verify_ssl=target.server_cert_validation == "ignore",
        read_timeout_sec=target.read_timeout,
        operation_timeout_sec=target.operation_timeout,
    )
    backend.conn_args.update(
        username=target.username,
        password=target.password,
        transport=target.transport,
        message_encryption=target.message_encryption,
    )
    if target.ca_trust_path and target.server_cert_validation != "ignore":
        backend.conn_args["ca_trust_path"] = target.ca_trust_path
    return Host(backend)


def _backend_class() -> Any:
    """testinfra's winrm backend plus one method: run a command with stdin.

    testinfra's ``host.run`` sends a command line only, through cmd.exe, whose
    limit (8191 characters) no sagefleet snippet fits: the script travels on
    stdin behind the bootstrap, as on every other path. Built lazily so that
    testinfra stays an optional import.
    """
    import winrm
    from testinfra.backend.winrm import WinRMBackend

    class SagefleetWinRMBackend(WinRMBackend):  # type: ignore[misc]
        def run_with_stdin(self, command: str, stdin: bytes) -> Any:
            protocol = winrm.protocol.Protocol(**self.conn_args)
            shell_id = protocol.open_shell()
            try:
                command_id = protocol.run_command(shell_id, command, console_mode_stdin=False)
                protocol.send_command_input(shell_id, command_id, stdin, end=True)
                stdout, stderr, rc = protocol.get_command_output(shell_id, command_id)
                protocol.cleanup_command(shell_id, command_id)
            finally:
                protocol.close_shell(shell_id)
            return self.result(rc, self.encode(command), stdout, stderr)

    return SagefleetWinRMBackend


@dataclass(frozen=True)
class ServiceState:
    exists: bool
    name: str | None = None
    state: str | None = None
    start_mode: str | None = None
    account: str | None = None
    path: str | None = None
    version: str | None = None
    #: How the agent profile's lookup found it: "name", "image_path" or "display_name".
    matched_by: str | None = None
    #: The services a pattern matched when several did (then none is the agent).
    candidates: tuple[str, ...] = ()
    #: When its process started (Process.StartTime, UTC, 'o' format); None without one.
    started_utc: str | None = None

    @property
    def is_running(self) -> bool:
        return self.state == "Running"


@dataclass(frozen=True)
class RegistryValue:
    exists: bool
    value: Any = None
    type: str | None = None


@dataclass(frozen=True)
class AclRule:
    identity: str  # the name, in the host's UI language
    rights: str
    type: str
    sid: str | None = None


@dataclass(frozen=True)
class FileState:
    exists: bool
    size: int | None = None
    modified: str | None = None
    sha256: str | None = None
    owner: str | None = None
    protected: bool | None = None
    rules: tuple[AclRule, ...] = ()
    owner_sid: str | None = None

    @property
    def identities(self) -> set[str]:
        return {r.identity for r in self.rules if r.type == "Allow"}

    @property
    def sids(self) -> set[str]:
        """SIDs granted access: unlike names, the same whatever the host's language."""
        return {(r.sid or r.identity).upper() for r in self.rules if r.type == "Allow"}


@dataclass(frozen=True)
class TcpState:
    ok: bool
    error: str | None = None
    elapsed_ms: int | None = None


class Windows:
    """Questions about one Windows host, answered over testinfra's ``host.run``."""

    def __init__(self, host: Any, name: str) -> None:
        self.host = host
        self.name = name

    def run_snippet(self, name: str, params: dict[str, Any]) -> Any:
        """Run one sagefleet snippet; its document, checked against the snippet's contract."""
        command, stdin = snippet_invocation(name, params)
        run_with_stdin = getattr(self.host.backend, "run_with_stdin", None)
        if run_with_stdin is None:
            raise TypeError(
                f"{self.name}: this testinfra backend cannot send stdin, and the {name} script "
                f"does not fit cmd.exe's {CMD_LINE_LIMIT} characters: build the host with "
                "sagefleet.verify.testinfra_host"
            )
        result = run_with_stdin(command, stdin)
        return parse_result(self.name, name, result.rc, result.stdout_bytes, result.stderr_bytes)

    def agent_connections(self, params: dict[str, Any]) -> dict[str, Any]:
        """The agent's connection evidence (``params`` from ``agent.connection.params``)."""
        document: dict[str, Any] = self.run_snippet("agent_connections", params)
        return document

    def ask(self, *questions: dict[str, Any]) -> list[dict[str, Any]]:
        """Run the query snippet once for all ``questions``; answers in the same order."""
        document = self.run_snippet("query", {"questions": list(questions)})
        answers = document["answers"]
        if isinstance(answers, dict):  # PowerShell 5.1 unwraps one-element arrays
            answers = [answers]
        return list(answers)

    def service(
        self,
        name: str | None,
        *,
        image_path_pattern: str | None = None,
        display_name_pattern: str | None = None,
    ) -> ServiceState:
        """A service by its exact name, else by a pattern on its ImagePath or DisplayName
        (as the agent profile gives them: ``windows.service(**expected.service_lookup)``)."""
        (answer,) = self.ask(
            {
                "kind": "service",
                "name": name,
                "image_path_pattern": image_path_pattern,
                "display_name_pattern": display_name_pattern,
            }
        )
        candidates = answer.pop("candidates", None) or ()
        if isinstance(candidates, str):  # PowerShell 5.1 unwraps one-element arrays
            candidates = (candidates,)
        return ServiceState(**answer, candidates=tuple(candidates))

    def registry_value(self, path: str, name: str, view: str = "64") -> RegistryValue:
        (answer,) = self.ask({"kind": "registry", "path": path, "name": name, "view": view})
        return RegistryValue(**answer)

    def file(self, path: str, *, hash: bool = True, acl: bool = True) -> FileState:
        (answer,) = self.ask({"kind": "file", "path": path, "hash": hash, "acl": acl})
        if not answer.get("exists"):
            return FileState(exists=False)
        acl_data = answer.get("acl") or {}
        rules = acl_data.get("rules") or []
        if isinstance(rules, dict):
            rules = [rules]
        return FileState(
            exists=True,
            size=answer.get("size"),
            modified=answer.get("modified"),
            sha256=answer.get("sha256"),
            owner=acl_data.get("owner"),
            protected=acl_data.get("protected"),
            rules=tuple(
                AclRule(str(r["identity"]), str(r["rights"]), str(r["type"]), r.get("sid"))
                for r in rules
            ),
            owner_sid=acl_data.get("owner_sid"),
        )

    def json_file(self, path: str) -> Any:
        """The parsed document, or None when the file does not exist."""
        (answer,) = self.ask({"kind": "json_file", "path": path})
        if not answer.get("exists"):
            return None
        return json.loads(answer["text"])

    def tcp(self, host: str, port: int, timeout_ms: int = 3000) -> TcpState:
        (answer,) = self.ask({"kind": "tcp", "host": host, "port": port, "timeout_ms": timeout_ms})
        return TcpState(**answer)

    def products(self, pattern: str) -> list[dict[str, str]]:
        (answer,) = self.ask({"kind": "product", "pattern": pattern})
        entries = answer.get("entries") or []
        return [entries] if isinstance(entries, dict) else list(entries)

    def listdir(self, path: str) -> list[dict[str, Any]] | None:
        (answer,) = self.ask({"kind": "dir", "path": path})
        if not answer.get("exists"):
            return None
        entries = answer.get("entries") or []
        return [entries] if isinstance(entries, dict) else list(entries)
