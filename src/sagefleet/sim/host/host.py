"""The simulated Windows host: its state, and the calls snippet models make on it.

State only, no protocol code (docs/simulator.md, "Layers"). Each subsystem has
its own module beside this one: registry, accounts, filesystem, services,
network, installer; ``profile`` builds a host from a YAML profile.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import sagefleet.sim.host.process as process
from sagefleet.sim.host.accounts import (
    ADMINISTRATORS,
    AUTHENTICATED_USERS,
    BUILTIN_AUTHORITIES,
    EVERYONE,
    NOT_MAPPED,
    SERVICE_PSEUDO_NAMES,
    USERS,
    WELL_KNOWN_NAMES,
    IdentityNotMapped,
    is_sid,
    rid,
)
from sagefleet.sim.host.errors import ProfileError, ScriptHung
from sagefleet.sim.host.events import EventRecord, scm_event
from sagefleet.sim.host.filesystem import FileSystem
from sagefleet.sim.host.installer import Installer
from sagefleet.sim.host.network import NetworkPolicy
from sagefleet.sim.host.products import USER_SID, AgentBehaviour
from sagefleet.sim.host.registry import Registry
from sagefleet.sim.host.services import Service, ServiceControl
from sagefleet.sim.host.x509 import CertStores


@dataclass
class WinRMService:
    """How the host's WinRM listener is configured (the part clients see)."""

    allow_basic: bool = True
    allow_unencrypted: bool = False
    # CredSSP or Kerberos delegation: the session holds credentials for other machines.
    # False (the default, as NTLM and plain Kerberos): shares and web servers that want
    # Windows authentication refuse the session (the second hop).
    delegation: bool = False


@dataclass
class WindowsHost(ServiceControl, Installer):
    """One simulated server, reachable at ``address``."""

    name: str
    address: str
    username: str
    password: str
    profile: str = "healthy-onprem"
    hostname: str = "SAGE-SRV"
    os_caption: str = "Microsoft Windows Server 2019 Standard"
    os_version: str = "10.0.17763"
    os_build: int = 17763
    powershell_version: str = "5.1.17763.5576"
    clock_skew_s: float = 0.0
    edition: str = "onpremise"  # or "spc" (Sage Partner Cloud VM on Azure)
    domain: str | None = None  # None: WORKGROUP
    # $ExecutionContext.SessionState.LanguageMode of a WinRM session: FullLanguage, or
    # ConstrainedLanguage where an AppLocker/WDAC policy applies to it.
    language_mode: str = "FullLanguage"
    # The language Windows was installed in: it names the built-in principals.
    ui_language: str = "en-US"
    winrm: WinRMService = field(default_factory=WinRMService)
    registry: Registry = field(default_factory=Registry)
    fs: FileSystem = field(default_factory=FileSystem)
    services: dict[str, Service] = field(default_factory=dict)  # lower-case name -> service
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    # Real seconds slept per simulated second (service start/stop); 0 keeps tests fast.
    time_scale: float = 0.0
    # When set, the agent installer exits with this code and changes nothing.
    installer_failure: int | None = None
    installer_runs: list[dict[str, Any]] = field(default_factory=list)
    # SIDs the model made up for accounts it translated -> their names.
    accounts: dict[str, str] = field(default_factory=dict)
    # Every script the host was asked to run, for tests (name, params).
    journal: list[dict[str, Any]] = field(default_factory=list)
    # Bytes of stdin that carried scripts (the bootstrap's length line and script), so
    # tests can tell them from the data the scripts read.
    script_bytes: int = 0
    # Snippet name -> error text: that snippet fails as a PowerShell `throw` would.
    snippet_failures: dict[str, str] = field(default_factory=dict)
    # Event log records, oldest first (Get-WinEvent); the SCM adds its own (scm_event).
    events: list[EventRecord] = field(default_factory=list)
    # Test knob: name of a race point -> barrier every command reaching it waits at, so
    # two commands interleave there deterministically (e.g. "deploy_lock.stale").
    interleave: dict[str, threading.Barrier] = field(default_factory=dict)
    # Test knob: called with each journal entry once it is recorded, in the thread that
    # records it (a command's, before that command goes on), so that a test changes the
    # host or its faults at an exact point of a run instead of polling the journal.
    on_record: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    # Accounts holding "Log on as a service" (SeServiceLogonRight) besides the built-in
    # ones (BUILTIN_SERVICE_ACCOUNTS, NT SERVICE\\*); lower-case, ``.\\x`` as ``HOST\\x``.
    service_logon_right: set[str] = field(default_factory=set)
    # LocalMachine\AuthRoot and Root's own stores (the facts snippet's X509Chain reads them).
    cert_stores: CertStores = field(default_factory=CertStores)
    # Real seconds a script that Windows would leave waiting for ever is held before the
    # simulator ends it (rc 1, ScriptHung's text): the client sees it hang, then fail.
    hang_limit_s: float = 3.0
    # Whether the NetTCPIP module (Get-NetTCPConnection) exists: not on Server 2008 R2,
    # even with Windows Management Framework 5.1.
    nettcpip_module: bool = True
    agent_behaviour: AgentBehaviour = field(default_factory=AgentBehaviour)
    # Runtime of the simulated agent: process id -> log events already written.
    agent_log_written: dict[int, int] = field(default_factory=dict)
    next_pid: int = 4104
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # Builds this host again from its profile (set by host_from_profile): see reset().
    _rebuild: Callable[[], WindowsHost] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Files are stamped with the host's clock, as its processes are.
        self.fs.clock = self.utc_now

    def utc_now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_skew_s)

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.journal.append(entry)
            hooks = list(self.on_record)
        for hook in hooks:
            hook(entry)

    def reset(self) -> None:
        """Back to the profile's state, as if the server was rebuilt."""
        with self.lock:
            if self._rebuild is None:
                raise ProfileError(f"host {self.name!r} was not built from a profile")
            fresh = self._rebuild()
            for key, value in vars(fresh).items():
                if key != "lock":
                    setattr(self, key, value)
            self.fs.clock = self.utc_now

    def scm_event(self, event_id: int, service_name: str, **details: Any) -> EventRecord:
        """Log what the Service Control Manager logs about a service (by its display name)."""
        service = self.service(service_name)
        shown = (service.display_name or service.name) if service else service_name
        record = scm_event(event_id, shown, when=self.utc_now(), **details)
        with self.lock:
            self.events.append(record)
        return record

    def race_point(self, name: str, timeout_s: float = 10.0) -> int | None:
        """Where a command may be made to wait for another (``interleave`` knob).

        Returns the command's arrival index at the barrier (None without the
        knob, or when the other command never came).
        """
        barrier = self.interleave.get(name)
        if barrier is None:
            return None
        try:
            return barrier.wait(timeout_s)
        except threading.BrokenBarrierError:
            return None

    def sleep(self, seconds: float) -> None:
        """Let simulated time pass (scaled by ``time_scale``; instant by default)."""
        if seconds > 0 and self.time_scale > 0:
            process.wait(seconds * self.time_scale)

    # accounts
    def winrm_token(self) -> tuple[str, ...]:
        """The SIDs of a WinRM command's token, which a DACL is checked against: the WinRM
        account's own (every host's, as the proxy model names it) and its groups
        (Administrators: sagefleet's WinRM account is an administrator; Users, Everyone,
        Authenticated Users)."""
        return (USER_SID, ADMINISTRATORS, USERS, EVERYONE, AUTHENTICATED_USERS)

    def account_name(self, sid: str) -> str:
        """What SecurityIdentifier.Translate([NTAccount]) answers, in the UI language."""
        names = WELL_KNOWN_NAMES.get(sid.upper())
        if names is not None:
            return names[self.ui_language]
        return self.accounts.get(sid.upper(), sid)

    def translate(self, name: str) -> str:
        """NTAccount(name).Translate([SecurityIdentifier]): the SID, or IdentityNotMapped.

        Built-in principals are known only by their names in the UI language (an
        English name fails on a French server); ``.\\user``, ``LocalSystem`` and
        other service pseudo-names are not account names. The model has no account
        database: any other ``DOMAIN\\user`` maps to a made-up SID that stays the same.
        """
        text = name.strip()
        lower = text.lower()
        for sid, names in WELL_KNOWN_NAMES.items():
            local = names[self.ui_language]
            if lower in (local.lower(), local.rsplit("\\", 1)[-1].lower()):
                return sid
        domain, sep, user = text.rpartition("\\")
        if not sep or not user or domain in ("", ".") or domain.lower() in BUILTIN_AUTHORITIES:
            raise IdentityNotMapped(NOT_MAPPED)
        if domain.lower() == "nt service":
            sid = f"S-1-5-80-{rid(user)}"
        else:
            if domain.lower() == self.hostname.lower():
                domain = self.hostname
            sid = f"S-1-5-21-{rid(domain)}-{1000 + int(rid(user).split('-')[0]) % 100000}"
        self.accounts[sid] = f"{domain}\\{user}"
        return sid

    def resolve_principal(self, name: str) -> str:
        """The prelude's Resolve-SfPrincipal: a SID string as is, a service pseudo-name to
        its SID, ``.\\user`` to ``COMPUTERNAME\\user``, anything else through translate."""
        text = name.strip()
        if is_sid(text):
            return text.upper()
        pseudo = SERVICE_PSEUDO_NAMES.get(text.lower())
        if pseudo is not None:
            return pseudo
        if text.startswith(".\\"):
            text = self.hostname + text[1:]
        return self.translate(text)

    def hang(self, reason: str) -> NoReturn:
        """What Windows does for ever: the command is held ``hang_limit_s`` real seconds,
        then ended (ScriptHung), so the client sees a command that does not end."""
        self.record({"kind": "hang", "reason": reason})
        process.wait(self.hang_limit_s)
        process.checkpoint()  # killed while it waited: it stops there
        raise ScriptHung(
            f"sagefleet simulator: on Windows this script never ends: {reason} "
            f"(held {self.hang_limit_s:g} s here, then stopped)"
        )
