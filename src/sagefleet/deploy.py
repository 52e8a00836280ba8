"""Install or upgrade the agent on one host, never leaving it worse than it was.

Order of a deploy: validate everything on the controller (inventory, package,
installer for the host's Sage version, service account) → preflight (one
round trip; a blocked host is left alone) → plan (install, upgrade X→Y, settings
only, nothing) → in check mode, stop there → stage and extract the package →
write settings.json beside the installer → stop, back up, install, start (one
snippet) → health gate (service running, automatic, target version, settings
as rendered, and connected to the vendor's services within the window: SF513,
sagefleet.connection) → on any failure, roll back to the backup and prove the previous
version runs again.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagefleet import agent_profile, connection, preflight, transfer, versions
from sagefleet.checks import Context
from sagefleet.checks.agent import is_domain_account
from sagefleet.checks.sage import sage_version
from sagefleet.errors import InputError, SagefleetError
from sagefleet.facts import HostFacts, parse_facts
from sagefleet.findings import Finding, HostReport, Severity, Status
from sagefleet.outcomes import Outcome
from sagefleet.package import PackageInfo, choose_installer
from sagefleet.remote import (
    HostSession,
    RemoteError,
    RemoteTimeout,
    SnippetFailed,
    TransportError,
)
from sagefleet.remote.retry import RetryingSession, retry_from
from sagefleet.settings import (
    build_host_settings,
    settings_sha256,
)
from sagefleet.settings import (
    diff as settings_diff,
)
from sagefleet.settings.host import (
    SettingsOutcome,
    SettingsTarget,
    SettingsWriteFailed,
    settings_target,
    write_settings,
)
from sagefleet.variables import get, given_or_none, value

LOCAL_SYSTEM = "LocalSystem"
# What Windows Installer's exit codes mean (an .exe bootstrapper usually passes them on).
EXIT_CODES = {
    1603: "fatal error during installation: read the installer log",
    1618: "another installation is already in progress on the host: retry when it has ended",
    1641: "success, the installer started a reboot",
    3010: "success, a reboot is required",
}


def installer_arguments(
    profile: agent_profile.AgentProfile, technology: str, log: str
) -> list[str]:
    """The installer's command-line arguments for ``technology``, ``{log}`` replaced by
    the log's path: the profile's silent switches (or the inventory's
    ``sagefleet_agent_installer_arguments``). For ``msi`` these are the properties
    added after msiexec's own switches, which the install snippet passes itself.

    Raises InputError when the profile has no switches for that technology.
    """
    switches = profile.silent_args(technology)
    if switches is None:
        raise InputError(
            f"the agent profile gives no silent switches for a {technology} installer",
            field=profile.source_of("installer.silent_args"),
            value=technology,
            fix=f"add installer.silent_args.{technology} to the agent profile "
            "(docs/agent-profile.md), or set sagefleet_agent_installer_arguments",
        )
    return [a.replace("{log}", log) for a in switches]


@dataclass(frozen=True)
class DeployOptions:
    """How to install: the agent profile (with the inventory's overrides) and the role's
    variables."""

    profile: agent_profile.AgentProfile = field(default_factory=agent_profile.default, repr=False)
    staging_dir: str = "C:\\ProgramData\\sagefleet\\staging"
    backup_root: str = "C:\\ProgramData\\sagefleet\\backup"
    stop_timeout_s: int = 60
    start_timeout_s: int = 60
    installer_timeout_s: int = 1800
    service_account: str | None = None
    service_password: str | None = field(default=None, repr=False)
    keep_staged: int = 2
    keep_settings_backups: int = 5
    target_version: str | None = None
    # Pull mode: the host downloads the package from this URL (bastion or internal repository).
    package_url: str | None = None
    # Push mode: how the package travels on stdin, raw bytes or base64 lines (the fallback).
    transfer_encoding: str = transfer.DEFAULT_ENCODING
    # Push mode: connections that may carry a large package to one host at once.
    transfer_streams: int = transfer.DEFAULT_STREAMS
    lock_path: str = "C:\\ProgramData\\sagefleet\\deploy.lock"
    lock_ttl_s: int = 3600
    lock_wait_s: int = 0

    @property
    def service_name(self) -> str | None:
        """The agent's service name from the profile (None: the profile gives a pattern)."""
        return self.profile.service_name

    @property
    def install_dir(self) -> str:
        return self.profile.install_dir

    @property
    def settings_path(self) -> str:
        return self.profile.settings_path()

    @property
    def success_codes(self) -> tuple[int, ...]:
        return self.profile.success_codes

    @property
    def reboot_codes(self) -> tuple[int, ...]:
        return self.profile.reboot_codes


def run_owner() -> str:
    """Who holds a host's deploy lock: bastion, process and a random run id."""
    return f"{socket.gethostname()}:{os.getpid()}:{RUN_ID}"


RUN_ID = secrets.token_hex(4)


@dataclass
class DeployResult:
    """What happened on one host, in the words of the fleet summary (sagefleet.outcomes).

    ``previous_version`` is the version found before, ``target_version`` the one asked
    for, ``version`` the one running afterwards.
    """

    host: str
    outcome: str
    changed: bool = False
    plan: str = ""
    previous_version: str | None = None
    target_version: str | None = None
    version: str | None = None
    reboot_required: bool = False
    reason: str | None = None
    duration_s: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    diff: str | None = None
    #: Members only the host's settings.json had, kept in what is written (names only).
    settings_kept: list[str] = field(default_factory=list)
    report: HostReport | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in ("rolled-back", "failed")

    def as_outcome(self) -> Outcome:
        return Outcome(
            status=self.outcome,
            reason=self.reason,
            plan=self.plan,
            previous_version=self.previous_version,
            target_version=self.target_version,
            version=self.version,
            reboot_required=self.reboot_required,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "outcome": self.outcome,
            "changed": self.changed,
            "plan": self.plan,
            "previous_version": self.previous_version,
            "target_version": self.target_version,
            "version": self.version,
            "reboot_required": self.reboot_required,
            "reason": self.reason,
            "duration_s": round(self.duration_s, 3),
            "steps": self.steps,
            "settings_kept": self.settings_kept,
        }


class DeployLocked(SagefleetError):
    """Another run holds the host's deploy lock."""


def options_from(host: str, variables: Mapping[str, Any]) -> DeployOptions:
    """Options from inventory variables, checked before any host is touched."""
    profile = agent_profile.for_host(variables, host=host)

    def read(name: str) -> Any:
        return value(host, variables, name)

    account = read("sagefleet_agent_service_account")
    password = given_or_none(host, variables, "sagefleet_agent_service_password")
    if account and account.lower() not in ("localsystem", "nt authority\\system") and not password:
        raise InputError(
            "a service account needs its password",
            host=host,
            field="sagefleet_agent_service_password",
            value="(missing)",
            fix="put it in ansible-vault as sagefleet_agent_service_password",
        )
    version = given_or_none(host, variables, "sagefleet_agent_version")
    return DeployOptions(
        profile=profile,
        staging_dir=str(read("sagefleet_agent_staging_dir")),
        backup_root=str(read("sagefleet_agent_backup_dir")),
        stop_timeout_s=read("sagefleet_agent_stop_timeout_s"),
        start_timeout_s=read("sagefleet_agent_start_timeout_s"),
        service_account=account or None,
        service_password=str(password) if password else None,
        # Whole numbers as YAML or a command line's -e gives them.
        keep_staged=int(_as_given(host, variables, "sagefleet_agent_staging_keep")),
        keep_settings_backups=int(_as_given(host, variables, "sagefleet_settings_keep_backups")),
        target_version=str(version) if version is not None else None,
        package_url=_url(host, given_or_none(host, variables, "sagefleet_agent_package_url")),
        transfer_encoding=_encoding(
            host, given_or_none(host, variables, "sagefleet_agent_transfer_encoding")
        ),
        transfer_streams=read("sagefleet_agent_transfer_streams"),
        installer_timeout_s=read("sagefleet_agent_installer_timeout_s"),
        lock_ttl_s=read("sagefleet_deploy_lock_ttl_s"),
        lock_wait_s=read("sagefleet_deploy_lock_wait_s"),
    )


def _as_given(host: str, variables: Mapping[str, Any], name: str) -> Any:
    """The value as given, unchecked (converted by the caller), else the declared default."""
    found = given_or_none(host, variables, name)
    return get(name).default if found is None else found


def _url(host: str, found: Any) -> str | None:
    if found in (None, ""):
        return None
    if not isinstance(found, str) or not found.lower().startswith(("http://", "https://")):
        raise InputError(
            "must be an http:// or https:// URL",
            host=host,
            field="sagefleet_agent_package_url",
            value=repr(found),
            fix="serve Setup.zip from the bastion or the internal repository",
        )
    return found


def _encoding(host: str, found: Any) -> str:
    if found is None:
        return transfer.DEFAULT_ENCODING
    return transfer.check_encoding(found, host=host, field="sagefleet_agent_transfer_encoding")


def check_paths(host: str, o: DeployOptions) -> None:
    """Install folder, staging folder and account checked before the host is contacted,
    named by their inventory variable (they are otherwise checked only when used)."""
    try:
        try:
            settings_target(
                host,
                path=o.settings_path,
                service_account=o.service_account,
                keep_backups=o.keep_settings_backups,
            )
        except InputError as exc:
            if exc.field != "path":
                raise
            exc.field = o.profile.source_of("settings.path")
            if not o.profile.overridden("settings.path"):
                exc.field = o.profile.source_of("install.dir")
            raise
        settings_target(host, path=o.staging_dir + "\\0\\package\\settings.json", keep_backups=0)
        transfer.check_staging_dir(o.staging_dir)
    except InputError as exc:
        names = {
            "service_account": "sagefleet_agent_service_account",
            "path": "sagefleet_agent_staging_dir",
            "staging_dir": "sagefleet_agent_staging_dir",
            "keep_backups": "sagefleet_settings_keep_backups",
        }
        raise InputError(
            exc.message,
            host=host,
            field=names.get(exc.field or "", exc.field),
            value=exc.value,
            fix=exc.fix,
        ) from None


def check_installer_arguments(host: str, options: DeployOptions, package: PackageInfo) -> None:
    """Every installer of the package gets silent switches from the profile (or the
    inventory), before any host is touched. An .msi runs as ``msiexec.exe /i <file> /qn
    /norestart /l*v <log>``: its arguments can only add public properties (NAME=value); a
    switch makes msiexec show its usage dialog in session 0, where nobody can close it."""
    profile = options.profile
    for installer in package.installers:
        # What the file itself says (sagefleet.installer_file), never the profile's guess.
        technology = installer.technology
        try:
            arguments = installer_arguments(profile, technology, "{log}")
        except InputError as exc:
            exc.host = host
            exc.args = (exc.render(),)
            raise
        switches = [a for a in arguments if not agent_profile.is_msi_property(a)]
        if technology == "msi" and switches:
            raise InputError(
                "an .msi installer takes only properties (NAME=value): sagefleet runs "
                "msiexec.exe /i <file> /qn /norestart /l*v <log> itself",
                host=host,
                field=profile.source_of("installer.silent_args"),
                value=repr(switches)[:80],
                fix="remove the switches, keep NAME=value properties",
            )



def require_entities(host: str, variables: Mapping[str, Any]) -> None:
    """A host without entities is never deployed (preflight's SF903 fails it): the first
    play refuses it before any host is touched."""
    if not variables.get("sagefleet_entities"):
        raise InputError(
            "no entity: the agent would have no company file to connect",
            host=host,
            field="sagefleet_entities",
            fix=f"add sagefleet_entities to {host}'s host_vars (one per Sage company file); "
            "playbooks/discover.yml drafts them",
        )


def check_inputs(host: str, variables: Mapping[str, Any]) -> DeployOptions:
    """Every deploy input of one host, validated on the controller (raises InputError)."""
    options = options_from(host, variables)
    check_paths(host, options)
    retry_from(host, variables)
    return options


def _finding(
    check_id: str,
    ok: bool,
    title: str,
    message: str,
    remediation: str = "",
    severity: Severity = Severity.ERROR,
) -> Finding:
    return Finding(
        check_id=check_id,
        status=Status.PASS if ok else Status.FAIL,
        severity=severity,
        title=title,
        message=message,
        remediation=remediation,
    )


def _agent_version(report: HostReport) -> str | None:
    """The agent version preflight found, for a host it blocked (not installed: None)."""
    version = report.summary.get("agent")
    return version if version and version not in ("-", "?") else None


def _network_mae(facts: HostFacts) -> list[str]:
    return [m.path for m in facts.mae_files if m.on_network]


def _killed_note(outcome: Mapping[str, Any], service: str) -> str:
    """What the snippet did to a service stuck pending, for the report."""
    pid = outcome.get("killed_pid")
    if not pid:
        return ""
    return f"; {service} stayed pending past its timeout: its process {pid} was killed"


class Deployer:
    """One host's deploy over one HostSession (Ansible connection or direct WinRM)."""

    def __init__(
        self,
        session: HostSession,
        host: str,
        variables: Mapping[str, Any],
        package: PackageInfo,
        *,
        check_mode: bool = False,
        diff: bool = False,
    ) -> None:
        self.session = session
        self.host = host
        self.variables = variables
        self.package = package
        self.check_mode = check_mode
        self.want_diff = diff
        self.started = time.monotonic()
        # Everything below is validated before the host is contacted.
        require_entities(host, variables)
        self.prepared = preflight.prepare(host, variables)
        self.options = check_inputs(host, variables)
        check_installer_arguments(host, self.options, package)
        self.connection = connection.options_from(host, variables)
        # SF513 as the health gate saw it, added to the host's report.
        self.gate_findings: list[Finding] = []
        # The same document the settings playbook writes: vendor files merged, or the template.
        self.settings = build_host_settings(host, variables)
        # What is written: the document laid over the host's current file once it is read.
        self.settings_text = self.settings.text
        # The installed settings.json as read (and checked) before the plan: see run().
        self.probed: SettingsOutcome | None = None
        self.target = self.options.target_version or package.agent_version
        if not self.target:
            raise InputError(
                "the target agent version is unknown",
                host=host,
                field="sagefleet_agent_version",
                value="(unset)",
                fix="set sagefleet_agent_version to the package's agent version",
            )
        self.result = DeployResult(host=host, outcome="unchanged", target_version=self.target)
        # The chosen installer's technology, as its file says (sagefleet.installer_file).
        self.technology: str | None = None
        # The agent's service: the profile's name, or the one its pattern found (run()).
        self.service = self.options.service_name or ""
        # Unique per deploy of a host, so two runs (even in one process) never share a lock.
        self.owner = f"{run_owner()}:{secrets.token_hex(3)}"

    # -- helpers -----------------------------------------------------------
    def step(self, name: str, **details: Any) -> None:
        self.result.steps.append(
            {"step": name, "t": round(time.monotonic() - self.started, 3), **details}
        )

    def done(
        self,
        outcome: str,
        *,
        reason: str | None = None,
        changed: bool = False,
        findings: list[Finding] | None = None,
    ) -> DeployResult:
        result = self.result
        result.outcome, result.reason, result.changed = outcome, reason, changed
        result.duration_s = time.monotonic() - self.started
        base = result.report
        extra = tuple(findings or ()) + tuple(self.gate_findings)
        summary = dict(base.summary) if base else {}
        summary["deploy"] = outcome
        result.report = HostReport(
            host=self.host,
            reachable=outcome != "unreachable",
            findings=(tuple(base.findings) if base else ()) + extra,
            address=base.address if base else None,
            error=base.error if base and outcome == "unreachable" else None,
            summary=summary,
            duration_s=round(result.duration_s, 3),
            outcome=result.as_outcome(),
        )
        return result

    # -- the deploy ----------------------------------------------------------
    def run(self) -> DeployResult:
        report, document = preflight.run(self.session, self.prepared)
        self.result.report = report
        if not report.reachable:
            return self.done("unreachable", reason=report.error)
        if document is None or report.error:
            return self.done("failed", reason=report.error)
        if report.status == "blocked":
            self.result.previous_version = _agent_version(report)
            return self.done("blocked", reason="preflight: " + report.blocked_reason)
        facts = parse_facts(document)
        current = facts.agent.version if facts.agent.installed else None
        self.result.previous_version = current
        unresolved = self._resolve_service(facts)
        if unresolved:
            return self.done("blocked", reason=unresolved)
        found = sage_version(Context(host=self.host, facts=facts))
        installer = choose_installer(self.package, found[0] if found else "", host=self.host)
        self.technology = installer.technology
        network = _network_mae(facts)
        account = self.options.service_account or facts.agent.account or LOCAL_SYSTEM
        if network and not is_domain_account(account):
            return self.done(
                "blocked",
                reason=(
                    f".MAE files on the network ({', '.join(network)}) need a domain service "
                    f"account, not {account}: set sagefleet_agent_service_account"
                ),
            )
        settings = settings_target(
            self.host,
            path=self.options.settings_path,
            service_account=account,
            keep_backups=self.options.keep_settings_backups,
        )
        if current is not None or self._settings_left(settings):
            # The agent's settings.json (an installed agent's, or one left in the agent
            # folder without a service) is read before anything is planned: a vendor file is
            # never replaced by rendered content, nor a connection dropped (SettingsRefused,
            # the host left as it is), and what only it holds is kept, whatever the action.
            check = write_settings(
                self.session,
                settings,
                self.settings.text,
                check=True,
                want_diff=self.want_diff,
                guard=self.settings,
            )
            self.probed = check
            self.result.diff = check.diff
            self.result.settings_kept = list(check.kept)
            self.settings_text = check.text if check.text is not None else self.settings_text
        if current is None or self.probed is None:
            action = "install"
        else:
            check = self.probed
            running = (facts.agent.state or "").lower() == "running"
            if not versions.same(current, self.target):
                action = "upgrade"
            elif not check.changed and running:
                self.result.plan = (
                    f"nothing: agent {current} running, settings up to date" + check.kept_note
                )
                self.result.version = current
                return self.done("unchanged")
            else:
                action = "settings" if check.changed else "start"
        self.result.plan = {
            "install": f"install {self.target} ({installer.label})",
            "upgrade": f"upgrade {current} → {self.target} ({installer.label})",
            "settings": f"update settings.json and restart agent {current}",
            "start": f"start agent {current}",
        }[action]
        if action in ("settings", "start"):
            self.result.target_version = current
        if self.probed is not None:
            self.result.plan += self.probed.kept_note
        if self.check_mode:
            if action in ("install", "upgrade") and self.want_diff:
                self.result.diff = self._planned_diff(settings, action)
            self.result.version = current
            return self.done("planned", changed=True)
        self._acquire_lock()
        try:
            if action in ("settings", "start"):
                return self._settings_only(settings, action)
            return self._install(installer.path, action, settings)
        finally:
            self._release_lock()

    def _resolve_service(self, facts: HostFacts) -> str | None:
        """Take the agent's real service name from the facts (the profile may give a
        pattern); say why not when it cannot be told."""
        profile = self.options.profile
        if len(facts.agent.candidates) > 1:
            return (
                f"several services match the agent profile ({profile.describe_lookup()}): "
                f"{', '.join(facts.agent.candidates)}; set service.name in the profile or "
                "sagefleet_agent_service_name"
            )
        if facts.agent.installed and facts.agent.service_name:
            self.service = facts.agent.service_name
        elif not self.service:
            return (
                f"no service matches the agent profile ({profile.describe_lookup()}) and the "
                "profile names none for a fresh install: set service.name in the profile or "
                "sagefleet_agent_service_name"
            )
        return None

    def _lock(self, action: str) -> dict[str, Any]:
        result: dict[str, Any] = self.session.run_snippet(
            "deploy_lock",
            {
                "action": action,
                "path": self.options.lock_path,
                "owner": self.owner,
                "ttl_s": self.options.lock_ttl_s,
            },
        )
        return result

    def _acquire_lock(self) -> None:
        deadline = time.monotonic() + self.options.lock_wait_s
        while True:
            answer = self._lock("acquire")
            if answer.get("acquired"):
                if answer.get("recovered"):
                    stale = answer["recovered"] or {}
                    self.step(
                        "lock", recovered_from=stale.get("owner"), expired=stale.get("expires")
                    )
                else:
                    self.step("lock")
                return
            holder = answer.get("holder") or {}
            if time.monotonic() >= deadline:
                raise DeployLocked(
                    f"{self.host}: another deploy holds the lock {self.options.lock_path} "
                    f"(owner {holder.get('owner')}, since {holder.get('acquired')}, expires "
                    f"{holder.get('expires')}); wait for it, or set sagefleet_deploy_lock_wait_s"
                )
            time.sleep(min(5.0, max(0.1, deadline - time.monotonic())))

    def _release_lock(self) -> None:
        # An unreleased lock expires after its ttl and is recovered then.
        with contextlib.suppress(RemoteError):
            self._lock("release")

    def _planned_diff(self, settings: Any, action: str) -> str | None:
        """Redacted settings diff for check mode: against the file read (an installed
        agent's, or one left in the agent folder); a new install without one diffs
        against nothing."""
        if self.probed is not None:
            return self.probed.diff
        return settings_diff(None, self.settings_text)

    def _settings_left(self, settings: SettingsTarget) -> bool:
        """Whether a fresh install finds a settings.json in the agent folder (left by an
        earlier install): it is read and kept like an installed agent's."""
        answer = self._query({"kind": "file", "path": settings.path, "hash": False, "acl": False})
        return bool(answer[0].get("exists"))

    def _settings_only(self, settings: Any, action: str) -> DeployResult:
        if action == "settings":
            outcome = write_settings(
                self.session,
                settings,
                self.settings.text,
                want_diff=self.want_diff,
                guard=self.settings,
                probed=self.probed,
            )
            self.result.diff = outcome.diff
            self.step("settings", backup=outcome.backup, kept=list(outcome.kept))
        answer = self._query({"kind": "service", "name": self.service})[0]
        restart = self.session.run_snippet(
            "agent_restart",
            {
                "service_name": self.service,
                "stop_timeout_s": self.options.stop_timeout_s,
                "start_timeout_s": self.options.start_timeout_s,
            },
        )
        self.step(
            "restart",
            state=restart.get("state"),
            before=answer.get("state"),
            killed_pid=restart.get("killed_pid"),
        )
        self.result.version = self.result.previous_version
        problem = self._connection_gate() if restart.get("state") == "Running" else None
        if problem is not None:
            return self.done(
                "failed",
                changed=True,
                reason=f"agent does not connect after the settings change: {problem}",
            )
        if restart.get("state") != "Running":
            return self.done(
                "failed",
                changed=True,
                reason=f"agent does not start after the settings change: {restart.get('error')}",
                findings=[
                    _finding(
                        "SF603", False, "Agent running at target", f"service {restart.get('state')}"
                    )
                ],
            )
        return self.done(
            "settings-updated" if action == "settings" else "started",
            changed=True,
            findings=[
                _finding(
                    "SF603",
                    True,
                    "Agent running at target",
                    "settings updated, restarted" if action == "settings" else "started",
                )
            ],
        )

    def _query(self, *questions: dict[str, Any]) -> list[dict[str, Any]]:
        answers = self.session.run_snippet("query", {"questions": list(questions)})["answers"]
        return [answers] if isinstance(answers, dict) else list(answers)

    def _install(self, installer_member: str, action: str, settings: Any) -> DeployResult:
        if self.options.package_url:
            staged = transfer.stage_pull(
                self.session,
                self.options.package_url,
                self.package.sha256,
                size=self.package.size,
                version=self.package.agent_version,
                staging_dir=self.options.staging_dir,
            )
        else:
            staged = transfer.stage(
                self.session,
                self.package,
                staging_dir=self.options.staging_dir,
                encoding=self.options.transfer_encoding,
                streams=self.options.transfer_streams,
            )
        self.step(
            "stage",
            method=staged.method,
            encoding=staged.encoding,
            streams=staged.streams,
            bytes_sent=staged.bytes_sent,
            skipped=staged.skipped,
            resumed_from=staged.resumed_from,
        )
        folder = staged.path.rsplit("\\", 1)[0] + "\\package"
        transfer.extract(self.session, staged.path, folder)
        installer = folder + "\\" + installer_member.replace("/", "\\")
        self.step("extract", folder=folder)
        # Beside the installer, where it looks for settings.json: this replaces the file the
        # package carries (one connection's, from the vendor's form) with the host's document.
        staged_settings = installer.rsplit("\\", 1)[0] + "\\settings.json"
        write_settings(
            self.session,
            settings_target(
                self.host,
                path=staged_settings,
                service_account=settings.service_account,
                keep_backups=0,
            ),
            self.settings_text,
        )
        self.step("settings-staged", path=staged_settings, kept=list(self.result.settings_kept))
        log = f"{self.options.staging_dir}\\install-{self.target}.log"
        arguments = installer_arguments(self.options.profile, self.technology or "unknown", log)
        params = {
            "service_name": self.service,
            "installer": installer,
            "arguments": arguments,
            "installer_timeout_s": self.options.installer_timeout_s,
            "success_codes": list(self.options.success_codes),
            "reboot_codes": list(self.options.reboot_codes),
            "stop_timeout_s": self.options.stop_timeout_s,
            "start_timeout_s": self.options.start_timeout_s,
            "backup_root": self.options.backup_root,
            "account": self.options.service_account,
            "log_path": log,
            "staged_settings": staged_settings,
            "installed_settings": settings.path,
            "settings_acl": settings.acl(),
        }
        password = self.options.service_password or ""
        stdin = [base64.b64encode(password.encode()) + b"\r\n"]
        try:
            outcome = self.session.run_snippet("agent_install", params, stdin=stdin, sensitive=True)
        except SnippetFailed as exc:
            outcome = {"failed_step": "installer", "error": exc.error}
        except (TransportError, RemoteTimeout):
            self._discard_staged(staged.path)
            raise
        self.step(
            "install",
            technology=self.technology,
            exit_code=outcome.get("exit_code"),
            failed_step=outcome.get("failed_step"),
            state=outcome.get("state"),
            version=outcome.get("version"),
            killed_pid=outcome.get("killed_pid"),
            logon_right_granted=outcome.get("logon_right_granted"),
        )
        self.result.reboot_required = bool(outcome.get("reboot_required"))
        problem = self._gate(outcome)
        if problem is None:
            self.result.version = self.target
            cleaned = transfer.cleanup(
                self.session,
                self.options.staging_dir,
                keep=self.options.keep_staged,
                current=staged.path,
            )
            for item in cleaned.left:
                # A file held open (a log) keeps its old version folder: reported, not fatal.
                self.step(
                    "cleanup-left", folder=item["folder"], path=item["path"], error=item["error"]
                )
            verb = "installed" if action == "install" else "upgraded"
            if self.result.reboot_required:
                self.result.plan += " — reboot required (not done: plan it with the client)"
            return self.done(
                verb,
                changed=True,
                findings=[
                    _finding(
                        "SF601",
                        True,
                        "Agent installed or upgraded",
                        f"{self.result.plan} (exit code {outcome.get('exit_code')})"
                        + _killed_note(outcome, self.service),
                    ),
                    _finding(
                        "SF603",
                        True,
                        "Agent running at target",
                        f"{self.service} running {self.target}",
                    ),
                ],
            )
        return self._rollback(outcome, problem, settings)

    def _discard_staged(self, staged_path: str) -> None:
        """The install snippet never answered: its cleanup of the staged settings.json
        (it holds secrets) may not have run, so the staged version folder goes (best
        effort; the next run stages the package again)."""
        version = staged_path.rsplit("\\", 2)[-2]
        with contextlib.suppress(RemoteError):
            self.session.run_snippet(
                "stage_cleanup",
                {"root": self.options.staging_dir, "remove": [version], "remove_parts": []},
            )
            self.step("discard-staged", folder=version)

    def _gate(self, outcome: Mapping[str, Any]) -> str | None:
        """Why the new agent is not acceptable, or None: running, automatic, target version."""
        if outcome.get("failed_step"):
            reason = f"{outcome['failed_step']} failed: {outcome.get('error')}"
            meaning = EXIT_CODES.get(outcome.get("exit_code") or 0)
            if outcome["failed_step"] == "installer" and meaning:
                reason += f" ({meaning})"
            return reason + _killed_note(outcome, self.service)
        state, version = outcome.get("state"), outcome.get("version")
        if state != "Running":
            return f"service {self.service} is {state} after install"
        if not versions.same(version, self.target):
            return f"version reads {version} after install, expected {self.target}"
        answer = self._query(
            {
                "kind": "file",
                "path": self.options.settings_path,
                "hash": True,
                "acl": False,
            }
        )[0]
        if answer.get("sha256") != settings_sha256(self.settings_text):
            return "settings.json in the agent folder differs from the rendered settings"
        return self._connection_gate()

    def _connection_gate(self) -> str | None:
        """SF513 after start: wait up to the window for the agent to connect; why it did
        not (a wave whose agents run but never connect stops like a failed start), or
        None. An undecided check is reported unknown and does not stop the deploy."""
        verdict, _, looks = connection.wait_connected(
            lambda params: self.session.run_snippet("agent_connections", params),
            self.connection.for_service(self.service),
        )
        self.gate_findings = [verdict.finding(self.connection.lang)]
        self.step("connection", status=verdict.status.value, looks=looks, cause=verdict.cause)
        if verdict.status is Status.FAIL:
            return f"{connection.CHECK_ID}: {verdict.message}"
        return None

    def _rollback(
        self, outcome: Mapping[str, Any], problem: str, settings: SettingsTarget
    ) -> DeployResult:
        backup = outcome.get("backup_path")
        title = "Agent installed or upgraded"
        failure = _finding(
            "SF601",
            False,
            title,
            problem,
            "read the installer log in the support bundle (playbooks/diagnose.yml)",
        )
        if not backup:
            self.result.version = outcome.get("version")
            return self.done("failed", changed=True, reason=problem, findings=[failure])
        restored = self.session.run_snippet(
            "agent_rollback",
            {
                "service_name": self.service,
                "install_dir": outcome.get("install_dir") or self.options.install_dir,
                "backup_path": backup,
                "stop_timeout_s": self.options.stop_timeout_s,
                "start_timeout_s": self.options.start_timeout_s,
                # The restored settings.json is a copy: it gets the settings ACL again.
                "settings_path": settings.path,
                "settings_acl": settings.acl(),
            },
        )
        self.step(
            "rollback",
            state=restored.get("state"),
            version=restored.get("version"),
            error=restored.get("error"),
            killed_pid=restored.get("killed_pid"),
        )
        self.result.version = restored.get("version")
        ok = restored.get("state") == "Running" and versions.same(
            restored.get("version"), self.result.previous_version
        )
        rollback = _finding(
            "SF604",
            ok,
            "Rollback to the previous version",
            f"previous version {restored.get('version')} "
            f"{restored.get('state')}"
            + (f": {restored['error']}" if restored.get("error") else ""),
        )
        if ok:
            return self.done(
                "rolled-back",
                changed=True,
                reason=f"{problem}; previous version {restored.get('version')} restored, running",
                findings=[failure, rollback],
            )
        return self.done(
            "failed",
            changed=True,
            findings=[failure, rollback],
            reason=f"{problem}; rollback failed: {restored.get('error')}",
        )


def deploy_host(
    session: HostSession,
    host: str,
    variables: Mapping[str, Any],
    package: PackageInfo,
    *,
    check_mode: bool = False,
    diff: bool = False,
) -> DeployResult:
    """Deploy one host; input errors raise before the host is touched.

    Snippet runs go through a RetryingSession (``sagefleet_winrm_retries``):
    transient WinRM faults and timeouts are retried, rejected credentials never.
    """
    retrying = RetryingSession(session, retry_from(host, variables))
    deployer = Deployer(retrying, host, variables, package, check_mode=check_mode, diff=diff)
    try:
        return deployer.run()
    except (SettingsWriteFailed, transfer.TransferError, DeployLocked) as exc:
        return deployer.done("failed", reason=str(exc))
    except RemoteError as exc:
        if exc.kind in ("unreachable", "authentication", "timeout"):
            return deployer.done("unreachable", reason=str(exc))
        return deployer.done("failed", reason=str(exc))
