"""WS-Management shell protocol: parse SOAP requests, keep shells, build replies.

Protocol only: commands are handed to a runner (commands/dispatch.run_command)
with their stdin as a ``Stdin`` object, when Windows would have their process
running: at Command for one that reads no stdin, at the end of its stdin for one
that does (``reads_stdin``, commands/dispatch.reads_stdin), whether or not a
Receive ever comes. Replies follow the structure of real Windows answers
(same elements, attributes and namespaces) as the real clients read them.
"""

from __future__ import annotations

import base64
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from xml.sax.saxutils import escape

from sagefleet.sim.commands.stdin import Stdin

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
ACTION_SEND = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
ACTION_RECEIVE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
ACTION_SIGNAL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"
STATE_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
STATE_RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"

# WS-Management fault codes the clients act on.
FAULT_OPERATION_TIMEOUT = 2150858793
FAULT_INVALID_SELECTORS = 2150858843
FAULT_QUOTA_MAX_OPERATIONS = 0x803381A6
FAULT_UNSUPPORTED = 2150858853
FAULT_INTERNAL = 1359  # ERROR_INTERNAL_ERROR
WMI_ERROR_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError"


class Runner(Protocol):
    """Runs one command line to its end: the command layer (commands/dispatch.py).

    ``cmd_shell``: WinRS runs the line as ``cmd.exe /c <line>`` unless the
    Command's option ``WINRS_SKIP_CMD_SHELL`` is TRUE (MS-WSMV 3.1.4.11);
    pywinrm's run_command sends FALSE by default and ansible-core never sets it.

    ``killed`` is set when the command's process is terminated (a Signal, its shell
    deleted): the runner stops at its next effect point, what it did so far stays
    (docs/simulator.md, ledger row 43).
    """

    def __call__(
        self, command_line: str, stdin: Stdin, *, cmd_shell: bool, killed: threading.Event
    ) -> tuple[int, bytes, bytes]: ...


# How long an interrupted command may take to act on the stdin it received
# before the request that interrupted it is answered (or its connection cut).
ABORT_WAIT_SECONDS = 30.0

class ShellHooks(Protocol):
    """What the layer above (listener: statistics, injected faults) sees of each request.

    Either hook may raise: ``WSManFault`` becomes a fault reply, anything else
    is the server's business (e.g. dropping the connection).
    """

    def on_operation(self, operation: str) -> None: ...

    def on_stdin(self, count: int) -> None: ...


class WSManFault(Exception):
    """A fault sent back as HTTP 500 with a SOAP body."""

    def __init__(self, code: int, reason: str, subcode: str = "w:InternalError") -> None:
        self.code = code
        self.reason = reason
        self.subcode = subcode
        super().__init__(f"WSMan fault {code}: {reason}")


@dataclass
class Request:
    action: str
    message_id: str
    shell_id: str | None
    operation_timeout: float
    body: ET.Element
    options: dict[str, str]


def parse_request(data: bytes) -> Request:
    """Read what a shell operation needs from a SOAP envelope."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise WSManFault(FAULT_UNSUPPORTED, f"request is not XML: {exc}") from exc
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None:
        raise WSManFault(FAULT_UNSUPPORTED, "request is not a SOAP envelope")
    action = (header.findtext("a:Action", default="", namespaces=NS) or "").strip()
    message_id = (header.findtext("a:MessageID", default="", namespaces=NS) or "").strip()
    shell_id = None
    for selector in header.findall("w:SelectorSet/w:Selector", NS):
        if selector.get("Name") == "ShellId":
            shell_id = (selector.text or "").strip()
    timeout_text = header.findtext("w:OperationTimeout", default="PT20S", namespaces=NS) or ""
    options = {
        o.get("Name", ""): (o.text or "") for o in header.findall("w:OptionSet/w:Option", NS)
    }
    return Request(
        action=action,
        message_id=message_id,
        shell_id=shell_id,
        operation_timeout=_duration(timeout_text),
        body=body,
        options=options,
    )


def _duration(text: str) -> float:
    text = text.strip().upper()
    if text.startswith("PT") and text.endswith("S"):
        try:
            return float(text[2:-1])
        except ValueError:
            pass
    return 20.0


def envelope(action: str, relates_to: str, body: str) -> bytes:
    message_id = f"uuid:{str(uuid.uuid4()).upper()}"
    return (
        '<s:Envelope xml:lang="en-US"'
        f' xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:x="{NS["x"]}"'
        f' xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}" xmlns:p="{NS["p"]}">'
        "<s:Header>"
        f"<a:Action>{escape(action)}</a:Action>"
        f"<a:MessageID>{message_id}</a:MessageID>"
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
        "</s:Header>"
        f"<s:Body>{body}</s:Body>"
        "</s:Envelope>"
    ).encode()


def fault_envelope(fault: WSManFault, relates_to: str, machine: str) -> bytes:
    body = (
        "<s:Fault>"
        "<s:Code><s:Value>s:Receiver</s:Value>"
        f"<s:Subcode><s:Value>{escape(fault.subcode)}</s:Value></s:Subcode></s:Code>"
        f'<s:Reason><s:Text xml:lang="en-US">{escape(fault.reason)}</s:Text></s:Reason>'
        f"<s:Detail>{_fault_detail(fault, machine)}</s:Detail></s:Fault>"
    )
    return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def _fault_detail(fault: WSManFault, machine: str) -> str:
    """The Detail element: WSManFault, or MSFT_WmiError for a quota fault as Windows sends.

    ansible-core recognises the operation quota only through
    ``MSFT_WmiError/error_Code`` (pywinrm's ``wmierror_code``), then re-creates
    the shell.
    """
    if fault.code == FAULT_QUOTA_MAX_OPERATIONS:
        return (
            f'<p:MSFT_WmiError b:IsCIM_Error="true" xmlns:p="{WMI_ERROR_NS}"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            ' xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"'
            ' xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common"'
            ' xsi:type="p:MSFT_WmiError_Type">'
            '<p:CIMStatusCode xsi:type="cim:cimUnsignedInt">27</p:CIMStatusCode>'
            '<p:CIMStatusCodeDescription xsi:type="cim:cimString" xsi:nil="true"/>'
            '<p:ErrorSource xsi:type="cim:cimString" xsi:nil="true"/>'
            '<p:ErrorSourceFormat xsi:type="cim:cimUnsignedShort">0</p:ErrorSourceFormat>'
            '<p:ErrorType xsi:type="cim:cimUnsignedShort">0</p:ErrorType>'
            f'<p:Message xsi:type="cim:cimString">{escape(fault.reason)}</p:Message>'
            f'<p:MessageID xsi:type="cim:cimString">HRESULT 0x{fault.code:08x}</p:MessageID>'
            '<p:OtherErrorSourceFormat xsi:type="cim:cimString" xsi:nil="true"/>'
            '<p:OtherErrorType xsi:type="cim:cimString" xsi:nil="true"/>'
            '<p:OwningEntity xsi:type="cim:cimString" xsi:nil="true"/>'
            '<p:PerceivedSeverity xsi:type="cim:cimUnsignedShort">0</p:PerceivedSeverity>'
            '<p:ProbableCause xsi:type="cim:cimUnsignedShort">0</p:ProbableCause>'
            '<p:ProbableCauseDescription xsi:type="cim:cimString" xsi:nil="true"/>'
            '<p:error_Category xsi:type="cim:cimUnsignedInt">30</p:error_Category>'
            f'<p:error_Code xsi:type="cim:cimUnsignedInt">{fault.code}</p:error_Code>'
            '<p:error_Type xsi:type="cim:cimString">HRESULT</p:error_Type>'
            '<p:error_WindowsErrorMessage xsi:type="cim:cimString">'
            f"{escape(fault.reason)}</p:error_WindowsErrorMessage>"
            "</p:MSFT_WmiError>"
        )
    return (
        f'<f:WSManFault xmlns:f="{NS["f"]}" Code="{fault.code}" Machine="{escape(machine)}">'
        f"<f:Message>{escape(fault.reason)}</f:Message></f:WSManFault>"
    )


@dataclass
class Command:
    command_id: str
    command_line: str
    stdin: bytearray = field(default_factory=bytearray)
    stdin_closed: bool = False
    thread: threading.Thread | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[int, bytes, bytes] | None = None
    delivered: bool = False
    # The client went away before the end of stdin (see Stdin.ended_abruptly).
    stdin_abrupt: bool = False
    # Started with WINRS_CONSOLEMODE_STDIN=TRUE: no Send feeds it (see Stdin.never_comes).
    console_stdin: bool = False
    # Started through cmd.exe (no WINRS_SKIP_CMD_SHELL=TRUE; see Runner).
    cmd_shell: bool = True
    # Its process reads stdin (started when stdin ends), or not (started at Command).
    reads_stdin: bool = True
    # A Receive came for it: the client waits for its end itself.
    awaited: bool = False
    # Set when its process is terminated (Signal, Delete): the runner stops there.
    killed: threading.Event = field(default_factory=threading.Event)

    def received(self) -> Stdin:
        """The stdin the command's process read, and how it ended."""
        return Stdin(
            bytes(self.stdin),
            ended_abruptly=self.stdin_abrupt,
            never_comes=self.console_stdin and not self.stdin and not self.stdin_closed,
        )


@dataclass
class Shell:
    shell_id: str
    owner: str
    codepage: str
    commands: dict[str, Command] = field(default_factory=dict)
    operations: int = 0


class ShellService:
    """The shells of one host; thread-safe, one instance per simulated host.

    ``reads_stdin`` tells from a command line whether its process reads stdin
    (commands/dispatch.reads_stdin): one that does not starts at Command.
    """

    def __init__(
        self,
        machine: str,
        runner: Runner,
        max_operations: int = 1500,
        hooks: ShellHooks | None = None,
        *,
        reads_stdin: Callable[[str], bool],
    ) -> None:
        self.machine = machine
        self.runner = runner
        self.reads_stdin = reads_stdin
        self.max_operations = max_operations
        self.hooks = hooks
        self.shells: dict[str, Shell] = {}
        self._lock = threading.Lock()

    def handle(self, data: bytes, user: str, client: str) -> bytes:
        """Answer one SOAP request; raises WSManFault for a fault reply."""
        request = parse_request(data)
        handlers = {
            ACTION_CREATE: self._create,
            ACTION_DELETE: self._delete,
            ACTION_COMMAND: self._command,
            ACTION_SEND: self._send,
            ACTION_RECEIVE: self._receive,
            ACTION_SIGNAL: self._signal,
        }
        handler = handlers.get(request.action)
        if handler is None:
            raise WSManFault(
                FAULT_UNSUPPORTED,
                f"the simulator does not implement the action {request.action!r}",
                "w:ActionNotSupported",
            )
        if self.hooks is not None:
            self.hooks.on_operation(request.action.rsplit("/", 1)[-1])
        return handler(request, user, client)

    def fault_reply(self, data: bytes, fault: WSManFault) -> bytes:
        try:
            relates = parse_request(data).message_id
        except WSManFault:
            relates = ""
        return fault_envelope(fault, relates, self.machine)

    def _shell(self, request: Request) -> Shell:
        with self._lock:
            shell = self.shells.get(request.shell_id or "")
        if shell is None:
            raise WSManFault(
                FAULT_INVALID_SELECTORS,
                "The request for the Windows Remote Shell with ShellId "
                f"{request.shell_id} failed because the shell was not found on the server.",
                "w:InvalidSelectors",
            )
        return shell

    def _create(self, request: Request, user: str, client: str) -> bytes:
        shell_id = str(uuid.uuid4()).upper()
        codepage = request.options.get("WINRS_CODEPAGE", "437")
        with self._lock:
            self.shells[shell_id] = Shell(shell_id=shell_id, owner=user, codepage=codepage)
        body = (
            "<x:ResourceCreated>"
            f"<a:Address>http://{escape(self.machine)}:5985/wsman</a:Address>"
            "<a:ReferenceParameters>"
            f"<w:ResourceURI>{SHELL_URI}</w:ResourceURI>"
            f'<w:SelectorSet><w:Selector Name="ShellId">{shell_id}</w:Selector></w:SelectorSet>'
            "</a:ReferenceParameters></x:ResourceCreated>"
            f'<rsp:Shell xmlns:rsp="{NS["rsp"]}">'
            f"<rsp:ShellId>{shell_id}</rsp:ShellId>"
            f"<rsp:ResourceUri>{SHELL_URI}</rsp:ResourceUri>"
            f"<rsp:Owner>{escape(user)}</rsp:Owner>"
            f"<rsp:ClientIP>{escape(client)}</rsp:ClientIP>"
            "<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>"
            "<rsp:InputStreams>stdin</rsp:InputStreams>"
            "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
            "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>"
            "<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity>"
            "</rsp:Shell>"
        )
        return envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
            request.message_id,
            body,
        )

    def _delete(self, request: Request, user: str, client: str) -> bytes:
        shell = self._shell(request)
        with self._lock:
            self.shells.pop(request.shell_id or "", None)
        # Deleting a shell kills its processes: each one has acted on its stdin so far.
        for command in list(shell.commands.values()):
            self._kill(command)
        return envelope(
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", request.message_id, ""
        )

    def _command(self, request: Request, user: str, client: str) -> bytes:
        shell = self._shell(request)
        line = request.body.find("rsp:CommandLine", NS)
        if line is None:
            raise WSManFault(FAULT_UNSUPPORTED, "Command without rsp:CommandLine")
        command = (line.findtext("rsp:Command", default="", namespaces=NS) or "").strip()
        arguments = [(a.text or "") for a in line.findall("rsp:Arguments", NS)]
        full = " ".join([command, *arguments]).strip()
        with self._lock:
            shell.operations += 1
            if shell.operations > self.max_operations:
                raise WSManFault(
                    FAULT_QUOTA_MAX_OPERATIONS,
                    "The WS-Management service cannot process the request. This user is "
                    "allowed a maximum number of operations for this shell.",
                    "w:InternalError",
                )
            command_id = str(uuid.uuid4()).upper()
            console = request.options.get("WINRS_CONSOLEMODE_STDIN", "").upper() == "TRUE"
            skip = request.options.get("WINRS_SKIP_CMD_SHELL", "").upper() == "TRUE"
            created = Command(
                command_id=command_id,
                command_line=full,
                console_stdin=console,
                cmd_shell=not skip,
                reads_stdin=self.reads_stdin(full),
            )
            shell.commands[command_id] = created
            # WinRS creates the process before it answers (WSManRunShellCommand).
            if not created.reads_stdin:
                self._start(created)
        body = (
            f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId>"
            "</rsp:CommandResponse>"
        )
        return envelope(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse",
            request.message_id,
            body,
        )

    def _find_command(self, shell: Shell, command_id: str | None) -> Command:
        command = shell.commands.get(command_id or "")
        if command is None:
            raise WSManFault(
                FAULT_INVALID_SELECTORS, f"unknown CommandId {command_id}", "w:InvalidSelectors"
            )
        return command

    def _send(self, request: Request, user: str, client: str) -> bytes:
        shell = self._shell(request)
        stream = request.body.find("rsp:Send/rsp:Stream", NS)
        if stream is None:
            raise WSManFault(FAULT_UNSUPPORTED, "Send without rsp:Stream")
        command = self._find_command(shell, stream.get("CommandId"))
        # A command that reads stdin started early (a Receive before its end) takes no
        # more; one that reads none takes it into a pipe it never reads.
        if command.stdin_closed or (command.thread is not None and command.reads_stdin):
            raise WSManFault(170, "The requested resource is in use.", "w:InternalError")
        data = base64.b64decode(stream.text) if stream.text else b""
        if self.hooks is not None:
            self.hooks.on_stdin(len(data))
        with self._lock:
            command.stdin.extend(data)
            if (stream.get("End") or "").lower() == "true":
                command.stdin_closed = True
                # The process has read its whole input: it runs to its end now, whether
                # or not the client ever sends a Receive.
                if command.thread is None:
                    self._start(command)
        return envelope(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SendResponse",
            request.message_id,
            "<rsp:SendResponse/>",
        )

    def connection_lost(self, data: bytes) -> None:
        """The connection carrying request ``data`` was cut before any reply.

        Called by the server when it drops a connection. A Send that never
        arrived leaves its command with the stdin received before it: the
        process has read those lines already, so it runs now on them (see
        ``Stdin.ended_abruptly``) and the host shows what Windows would show
        when the client comes back. Other requests change nothing here.
        """
        try:
            request = parse_request(data)
        except WSManFault:
            return
        if request.action != ACTION_SEND:
            return
        stream = request.body.find("rsp:Send/rsp:Stream", NS)
        with self._lock:
            shell = self.shells.get(request.shell_id or "")
            command = None
            if shell is not None and stream is not None:
                command = shell.commands.get(stream.get("CommandId") or "")
        if command is not None:
            self._interrupt(command)

    def _interrupt(self, command: Command) -> None:
        """Run a command that received stdin but was never started, as its process would have.

        A command whose stdin was cut acted on what it had read (one whose stdin
        is complete, or that reads none, already runs: see ``_command``, ``_send``).
        Unless a Receive already waited for it, waits (bounded) for the model, so
        that the client's next request sees the effects, as it would on Windows
        where they happened as data arrived.
        """
        with self._lock:
            if command.thread is None:
                if not command.stdin:
                    return
                command.stdin_abrupt = not command.stdin_closed
                self._start(command)
            elif command.awaited:
                return
        command.done.wait(timeout=ABORT_WAIT_SECONDS)

    def _kill(self, command: Command) -> None:
        """Terminate the command's process (a Signal ``terminate``, its shell deleted).

        One not started yet, that received stdin, acts on it first (``_interrupt``). One
        that runs stops where it is: its runner stops at its next effect point
        (``killed``), what it did so far stays, nothing after happens; waits (bounded)
        for it to stop, so the next request sees the host as the kill left it. One that
        ended before the Signal came ran to its end, as on Windows (the same race).
        """
        with self._lock:
            started = command.thread is not None
        if not started:
            self._interrupt(command)
            return
        command.killed.set()
        command.done.wait(timeout=ABORT_WAIT_SECONDS)

    def _start(self, command: Command) -> None:
        def work() -> None:
            try:
                command.result = self.runner(
                    command.command_line,
                    command.received(),
                    cmd_shell=command.cmd_shell,
                    killed=command.killed,
                )
            except Exception as exc:  # noqa: BLE001 - surfaced to the client as rc 1
                message = f"sagefleet simulator internal error: {type(exc).__name__}: {exc}"
                command.result = (1, b"", message.encode("utf-8"))
            finally:
                command.done.set()

        command.thread = threading.Thread(target=work, name=f"cmd-{command.command_id}")
        command.thread.daemon = True
        command.thread.start()

    def _receive(self, request: Request, user: str, client: str) -> bytes:
        shell = self._shell(request)
        desired = request.body.find("rsp:Receive/rsp:DesiredStream", NS)
        command = self._find_command(
            shell, desired.get("CommandId") if desired is not None else None
        )
        with self._lock:
            command.awaited = True
            # Not started yet: stdin not ended (a console that nothing feeds, or a
            # client that reads before it ends stdin).
            if command.thread is None:
                self._start(command)
        if not command.done.wait(timeout=max(0.5, min(request.operation_timeout, 25.0))):
            raise WSManFault(
                FAULT_OPERATION_TIMEOUT,
                "The WS-Management service cannot complete the operation within the time "
                "specified in OperationTimeout.",
                "w:TimedOut",
            )
        assert command.result is not None
        rc, stdout, stderr = command.result
        cid = command.command_id
        parts = ["<rsp:ReceiveResponse>"]
        if not command.delivered:
            if stdout:
                parts.append(
                    f'<rsp:Stream Name="stdout" CommandId="{cid}">'
                    f"{base64.b64encode(stdout).decode()}</rsp:Stream>"
                )
            if stderr:
                parts.append(
                    f'<rsp:Stream Name="stderr" CommandId="{cid}">'
                    f"{base64.b64encode(stderr).decode()}</rsp:Stream>"
                )
            command.delivered = True
        parts.append(f'<rsp:Stream Name="stdout" CommandId="{cid}" End="true"></rsp:Stream>')
        parts.append(f'<rsp:Stream Name="stderr" CommandId="{cid}" End="true"></rsp:Stream>')
        parts.append(
            f'<rsp:CommandState CommandId="{cid}" State="{STATE_DONE}">'
            f"<rsp:ExitCode>{rc}</rsp:ExitCode></rsp:CommandState>"
        )
        parts.append("</rsp:ReceiveResponse>")
        return envelope(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse",
            request.message_id,
            "".join(parts),
        )

    def _signal(self, request: Request, user: str, client: str) -> bytes:
        shell = self._shell(request)
        signal = request.body.find("rsp:Signal", NS)
        command_id = signal.get("CommandId") if signal is not None else None
        with self._lock:
            command = shell.commands.pop(command_id or "", None)
        if command is not None:
            # Terminate: the process is killed, after acting on the stdin it read.
            self._kill(command)
        return envelope(
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse",
            request.message_id,
            "<rsp:SignalResponse/>",
        )
