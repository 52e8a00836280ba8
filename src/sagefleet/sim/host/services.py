"""Windows services as the Service Control Manager holds and drives them."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import sagefleet.sim.host.process as process
from sagefleet.sim.host.errors import ModelError, ServiceError, ServiceTimeout

if TYPE_CHECKING:
    from sagefleet.sim.host.events import EventRecord

WAIT_TIMEOUT = "Time out has expired and the operation has not been completed."
#: Win32 error 1069 (ERROR_SERVICE_LOGON_FAILED).
LOGON_FAILURE = "The service did not start due to a logon failure."
#: Accounts that always hold SeServiceLogonRight (and the names they go by).
BUILTIN_SERVICE_ACCOUNTS = frozenset(
    {
        "localsystem",
        ".\\localsystem",
        "nt authority\\system",
        "system",
        "nt authority\\localservice",
        "nt authority\\local service",
        "nt authority\\networkservice",
        "nt authority\\network service",
    }
)


SERVICE_STATES = ("Running", "Stopped", "StartPending", "StopPending")
START_MODES = ("Auto", "Manual", "Disabled")
# Win32_Service.State spells the pending states with a space.
WMI_STATES = {"StartPending": "Start Pending", "StopPending": "Stop Pending"}


#: The fields of a service a host profile may set (its ``services:`` entries).
PROFILE_FIELDS = frozenset(
    {
        "name",
        "display_name",
        "state",
        "start_mode",
        "account",
        "binary_path",
        "version",
        "start_seconds",
        "stop_seconds",
        "start_failure",
        "stop_failure",
        "stuck",
        "process_id",
    }
)
#: Services of a Windows Server 2016-2022 installation (name, display name, program under
#: C:\Windows, start mode, account), as `Get-CimInstance Win32_Service` lists them. Not
#: every one a server has (about 200), but enough that a loose pattern matches several.
_SVCHOST = "system32\\svchost.exe -k "
_LOCAL = "NT AUTHORITY\\LocalService"
_NETWORK = "NT AUTHORITY\\NetworkService"
WINDOWS_SERVICES: tuple[tuple[str, str, str, str, str], ...] = (
    ("BFE", "Base Filtering Engine", _SVCHOST + "LocalServiceNoNetworkFirewall -p", "Auto", _LOCAL),
    (
        "BITS",
        "Background Intelligent Transfer Service",
        _SVCHOST + "netsvcs -p",
        "Manual",
        "LocalSystem",
    ),
    ("CryptSvc", "Cryptographic Services", _SVCHOST + "NetworkService -p", "Auto", _NETWORK),
    ("Dhcp", "DHCP Client", _SVCHOST + "LocalServiceNetworkRestricted -p", "Auto", _LOCAL),
    ("Dnscache", "DNS Client", _SVCHOST + "NetworkService -p", "Auto", _NETWORK),
    (
        "EventLog",
        "Windows Event Log",
        _SVCHOST + "LocalServiceNetworkRestricted -p",
        "Auto",
        _LOCAL,
    ),
    ("LanmanServer", "Server", _SVCHOST + "netsvcs -p", "Auto", "LocalSystem"),
    ("LanmanWorkstation", "Workstation", _SVCHOST + "NetworkService -p", "Auto", _NETWORK),
    (
        "MpsSvc",
        "Windows Defender Firewall",
        _SVCHOST + "LocalServiceNoNetworkFirewall -p",
        "Auto",
        _LOCAL,
    ),
    ("MSDTC", "Distributed Transaction Coordinator", "System32\\msdtc.exe", "Auto", _NETWORK),
    ("RpcSs", "Remote Procedure Call (RPC)", _SVCHOST + "rpcss -p", "Auto", _NETWORK),
    ("Schedule", "Task Scheduler", _SVCHOST + "netsvcs -p", "Auto", "LocalSystem"),
    ("Spooler", "Print Spooler", "System32\\spoolsv.exe", "Auto", "LocalSystem"),
    ("TermService", "Remote Desktop Services", _SVCHOST + "NetworkService", "Manual", _NETWORK),
    (
        "TrustedInstaller",
        "Windows Modules Installer",
        "servicing\\TrustedInstaller.exe",
        "Manual",
        "LocalSystem",
    ),
    ("W32Time", "Windows Time", _SVCHOST + "LocalService", "Auto", _LOCAL),
    (
        "WinHttpAutoProxySvc",
        "WinHTTP Web Proxy Auto-Discovery Service",
        _SVCHOST + "LocalServiceNetworkRestricted -p",
        "Manual",
        _LOCAL,
    ),
    (
        "Winmgmt",
        "Windows Management Instrumentation",
        _SVCHOST + "netsvcs -p",
        "Auto",
        "LocalSystem",
    ),
    (
        "WinRM",
        "Windows Remote Management (WS-Management)",
        _SVCHOST + "NetworkService -p",
        "Auto",
        _NETWORK,
    ),
    ("wuauserv", "Windows Update", _SVCHOST + "netsvcs -p", "Manual", "LocalSystem"),
)


@dataclass
class Service:
    """A Windows service as the Service Control Manager holds it."""

    name: str
    display_name: str = ""
    state: str = "Stopped"
    start_mode: str = "Auto"
    account: str = "LocalSystem"
    binary_path: str = ""
    version: str | None = None
    start_seconds: float = 0.0
    stop_seconds: float = 0.0
    # When set, start (or stop) fails with this message, as `Start-Service` would.
    start_failure: str | None = None
    stop_failure: str | None = None
    # "StopPending" or "StartPending": a stop (start) request leaves the service in that
    # state for ever, until its process is killed (a service that hangs in OnStop).
    stuck: str | None = None
    # Win32_Service.ProcessId: the process while the service is not Stopped, else 0.
    process_id: int = 0
    # The account the running process was started as: Win32_Service.Change changes
    # the configuration (``account``), not a process already running.
    process_account: str | None = None
    # When the service's process started (host clock, UTC): Process.StartTime.
    process_started: dt.datetime | None = None
    # Win32_Service.ServiceType: "Own Process", or "Share Process" for a service hosted
    # in a svchost.exe with others (killing that process would stop them all).
    service_type: str = "Own Process"

    @property
    def wmi_state(self) -> str:
        return WMI_STATES.get(self.state, self.state)

    @property
    def executable(self) -> str:
        """The program of ``binary_path`` (PathName without quotes and arguments)."""
        text = self.binary_path.strip()
        if text.startswith('"'):
            return text[1:].split('"', 1)[0]
        match = re.match(r"(?i)^(.*?\.exe)(?:\s|$)", text)
        return match.group(1) if match else text


class ServiceControl:
    """The Service Control Manager's side of a host (mixed into WindowsHost)."""

    services: dict[str, Service]
    service_logon_right: set[str]
    hostname: str
    next_pid: int
    lock: Any

    if TYPE_CHECKING:

        def utc_now(self) -> dt.datetime: ...

        def record(self, entry: dict[str, Any]) -> None: ...

        def sleep(self, seconds: float) -> None: ...

        def hang(self, reason: str) -> NoReturn: ...

        def scm_event(self, event_id: int, service_name: str, **details: Any) -> EventRecord: ...

    # services
    def service(self, name: str) -> Service | None:
        return self.services.get(name.lower())

    def find_service(
        self,
        name: str | None,
        image_path_pattern: str | None = None,
        display_name_pattern: str | None = None,
    ) -> tuple[Service | None, str | None, list[str]]:
        """The agent profile's lookup, as the facts and query snippets do it: the exact
        name first; else the services whose PathName (ImagePath) or DisplayName matches a
        pattern (PowerShell's -match: case-insensitive), the agent only when one does.

        Returns (service, "name" | "image_path" | "display_name" | None, candidates): the
        candidates are the matching names when several match (then no service).
        """
        found = self.service(name) if name else None
        if found is not None:
            return found, "name", []
        patterns = []
        for pattern in (image_path_pattern, display_name_pattern):
            try:
                patterns.append(re.compile(pattern, re.I) if pattern else None)
            except re.error as exc:
                # -match throws on a pattern .NET cannot parse; a Python-only failure refuses.
                raise ModelError(f'parsing "{pattern}" - {exc}') from None
        image, display = patterns
        if image is None and display is None:
            return None, None, []
        hits = sorted(
            (
                s
                for s in self.services.values()
                if (image is not None and image.search(s.binary_path))
                or (display is not None and display.search(s.display_name))
            ),
            key=lambda s: s.name.lower(),
        )
        if len(hits) == 1:
            by = (
                "image_path"
                if image is not None and image.search(hits[0].binary_path)
                else ("display_name")
            )
            return hits[0], by, []
        return None, None, [s.name for s in hits]

    def _require_service(self, name: str) -> Service:
        found = self.service(name)
        if found is None:
            raise ServiceError(f"Cannot find any service with service name '{name}'.")
        return found

    def install_windows_services(self) -> None:
        """The services every Windows Server runs, as Windows names them: a pattern an
        agent profile gives (ImagePath, DisplayName) meets them as on a real server."""
        for name, display, path, mode, account in WINDOWS_SERVICES:
            if self.service(name) is None:
                state = "Running" if mode == "Auto" else "Stopped"
                self.install_service(
                    Service(name, display, state, mode, account, f"C:\\Windows\\{path}")
                )

    def install_service(self, service: Service) -> Service:
        process.checkpoint()
        with self.lock:
            if service.state not in SERVICE_STATES or service.start_mode not in START_MODES:
                raise ServiceError(f"invalid service state/start mode for {service.name!r}")
            if service.state != "Stopped" and not service.process_id:
                # A service that runs has a process, started now.
                service.process_id = self._new_pid()
                service.process_account = service.process_account or service.account
                service.process_started = self.utc_now()
            self.services[service.name.lower()] = service
            return service

    def remove_service(self, name: str) -> None:
        process.checkpoint()
        with self.lock:
            self.services.pop(self._require_service(name).name.lower())

    def _new_pid(self) -> int:
        self.next_pid += 4
        return self.next_pid

    def _account_key(self, account: str) -> str:
        name = account.strip().lower()
        if name.startswith(".\\"):
            name = self.hostname.lower() + name[1:]
        return name

    def has_service_logon_right(self, account: str) -> bool:
        """Whether ``account`` may log on as a service (Win32_Service.Change never grants it)."""
        name = self._account_key(account)
        return (
            name in BUILTIN_SERVICE_ACCOUNTS
            or name.startswith("nt service\\")
            or name in self.service_logon_right
        )

    def grant_service_logon_right(self, account: str) -> None:
        process.checkpoint()
        with self.lock:
            self.service_logon_right.add(self._account_key(account))
            self.record({"kind": "grant", "right": "SeServiceLogonRight", "account": account})

    def _cannot(self, service: Service, verb: str, reason: str) -> ServiceError:
        return ServiceError(
            f"Service '{service.display_name or service.name} ({service.name})' cannot be "
            f"{verb} due to the following error: {reason}",
            reason,
        )

    def start_service(self, name: str, timeout_s: float | None = None) -> Service:
        """Start the service and wait until it runs.

        ``timeout_s`` None waits as ``Start-Service`` does, without bound: a service
        that stays StartPending (``stuck``) hangs the script (``hang``). With a timeout,
        as ``ServiceController.WaitForStatus``: ``ServiceTimeout``, the service left
        StartPending. An account without "Log on as a service" fails at once with
        error 1069, the service still Stopped.
        """
        process.checkpoint()
        with self.lock:
            service = self._require_service(name)
            if service.state == "Running":
                return service
            if service.state == "StopPending":
                raise self._cannot(
                    service, "started", "An instance of the service is already running."
                )
            if service.state == "Stopped":
                if service.start_mode == "Disabled":
                    raise self._cannot(
                        service,
                        "started",
                        "The service cannot be started, either because it is disabled or "
                        "because it has no enabled devices associated with it.",
                    )
                if not self.has_service_logon_right(service.account):
                    raise self._cannot(service, "started", LOGON_FAILURE)
                service.state = "StartPending"
                service.process_id = self._new_pid()
                service.process_account = service.account
                service.process_started = self.utc_now()
        self._wait_pending(service, "StartPending", service.start_seconds, timeout_s)
        with self.lock:
            if service.start_failure:
                self._stopped(service)
                self.scm_event(7000, service.name, error=service.start_failure)
                raise self._cannot(service, "started", service.start_failure)
            service.state = "Running"
            return service

    def stop_service(self, name: str, timeout_s: float | None = None) -> Service:
        """Stop the service and wait until it is stopped (``timeout_s``: as ``start_service``)."""
        process.checkpoint()
        with self.lock:
            service = self._require_service(name)
            if service.state == "Stopped":
                return service
            if service.state == "StartPending":
                raise self._cannot(
                    service, "stopped", "The service cannot accept control messages at this time."
                )
            service.state = "StopPending"
        self._wait_pending(service, "StopPending", service.stop_seconds, timeout_s)
        with self.lock:
            if service.stop_failure:
                service.state = "Running"
                raise self._cannot(service, "stopped", service.stop_failure)
            self._stopped(service)
            return service

    @staticmethod
    def _stopped(service: Service) -> None:
        service.state = "Stopped"
        service.process_id = 0
        service.process_account = None
        service.process_started = None

    def _wait_pending(
        self, service: Service, pending: str, seconds: float, timeout_s: float | None
    ) -> None:
        """Wait while the service is ``pending`` for ``seconds``, as the cmdlet (no
        ``timeout_s``) or ``WaitForStatus`` does: a stuck service never settles."""
        if service.stuck == pending:
            cmdlet = "Start-Service" if pending == "StartPending" else "Stop-Service"
            self._wait_stuck(service, cmdlet, timeout_s)
        if timeout_s is not None and seconds > timeout_s:
            self.sleep(timeout_s)
            if not process.killed():  # a killed script waits no more: the service settles
                raise ServiceTimeout(WAIT_TIMEOUT, WAIT_TIMEOUT)
        self.sleep(seconds)

    def _wait_stuck(self, service: Service, cmdlet: str, timeout_s: float | None) -> NoReturn:
        if timeout_s is None:
            self.hang(
                f"{cmdlet} waits without bound while service '{service.name}' stays "
                f"{service.state} (it polls for ever, warning every 2 seconds)"
            )
        self.sleep(timeout_s)
        raise ServiceTimeout(WAIT_TIMEOUT, WAIT_TIMEOUT)

    def kill_process(self, pid: int) -> str:
        """Stop-Process -Force: a service whose process it was is Stopped (the SCM sees it die)."""
        process.checkpoint()
        with self.lock:
            for service in self.services.values():
                if pid and service.process_id == pid:
                    self._stopped(service)
                    self.record({"kind": "kill", "pid": pid, "service": service.name})
                    return service.name
        raise ModelError(f"Cannot find a process with the process identifier {pid}.")

    def reboot(self) -> None:
        """Windows restarted: every service back to its boot state, files and registry kept.

        A service that starts automatically is Running again (Stopped when its
        start fails), any other one is Stopped. The listener side of a restart
        (open shells lost, port closed meanwhile) is ``Fleet.host_down``/``host_up``.
        """
        with self.lock:
            for service in self.services.values():
                self._stopped(service)
                auto = (
                    service.start_mode == "Auto"
                    and not service.start_failure
                    and self.has_service_logon_right(service.account)
                )
                if auto:
                    service.state = "StartPending" if service.stuck == "StartPending" else "Running"
                    service.process_id = self._new_pid()
                    service.process_account = service.account
                    service.process_started = self.utc_now()
            self.record({"kind": "reboot"})
