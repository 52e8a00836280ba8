"""One host's deploy, in order: preflight, plan, lock, then install, upgrade or a
settings change (docs/deploy.md#what-happens-in-order)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from sagefleet import preflight, transfer, versions
from sagefleet.checks import Context
from sagefleet.checks.agent import is_domain_account
from sagefleet.checks.sage import sage_version
from sagefleet.deploy.inputs import deploy_inputs
from sagefleet.deploy.install import Install
from sagefleet.deploy.record import read_record
from sagefleet.deploy.result import DeployLocked, DeployResult
from sagefleet.facts import HostFacts, parse_facts
from sagefleet.failed_install import ACCEPT, RecordUnreadable, agent_said, found_record
from sagefleet.findings import HostReport
from sagefleet.outcomes import Outcome
from sagefleet.package import PackageInfo, choose_installer
from sagefleet.remote import HostSession, RemoteError
from sagefleet.remote.retry import RetryingSession, retry_from
from sagefleet.settings import diff as settings_diff
from sagefleet.settings.host import (
    SettingsTarget,
    SettingsWriteFailed,
    reading_agent,
    settings_target,
    write_settings,
)

LOCAL_SYSTEM = "LocalSystem"


def _agent_version(report: HostReport) -> str | None:
    """The agent version preflight found, for a host it blocked (not installed: None)."""
    version = report.summary.get("agent")
    return version if version and version not in ("-", "?") else None


def _network_mae(facts: HostFacts) -> list[str]:
    return [m.path for m in facts.mae_files if m.on_network]


class Deployer(Install):
    """One host's deploy over one HostSession (Ansible connection or direct WinRM)."""

    # -- the deploy ----------------------------------------------------------
    def run(self) -> DeployResult:
        report, document = preflight.run(self.session, self.inputs.prepared)
        self.result.report = report
        if not report.reachable:
            return self.done(Outcome.UNREACHABLE, reason=report.error)
        if report.status == Outcome.BLOCKED:  # SF107 too: no script can run, no facts
            self.result.previous_version = _agent_version(report)
            # The agent a failed fresh install left (SF406) fails the host, blocked or not:
            # sagefleet_deploy_fail_on_blocked false cannot let it pass.
            refused = None if document is None else self._failed_install(parse_facts(document))
            if refused:
                self.result.version = self.result.previous_version
                return self.done(Outcome.FAILED, reason=refused)
            return self.done(Outcome.BLOCKED, reason="preflight: " + report.blocked_reason)
        if document is None or report.error:
            return self.done(Outcome.FAILED, reason=report.error)
        facts = parse_facts(document)
        current = facts.agent.version if facts.agent.installed else None
        self.result.previous_version = current
        unresolved = self._resolve_service(facts)
        if unresolved:
            return self.done(Outcome.BLOCKED, reason=unresolved)
        found = sage_version(Context(host=self.host, facts=facts))
        installer = choose_installer(self.package, found[0] if found else "", host=self.host)
        self.technology = installer.technology
        refused = self._failed_install(facts)
        if refused:
            self.result.version = current
            return self.done(Outcome.FAILED, reason=refused)
        network = _network_mae(facts)
        account = self.options.service_account or facts.agent.account or LOCAL_SYSTEM
        if network and not is_domain_account(account, facts.identity.hostname):
            return self.done(
                Outcome.BLOCKED,
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
        if current is not None:
            # The read below also says whether the running agent read the file since its
            # last write: a restart an earlier run owed is done ("restart").
            settings = reading_agent(settings, self.options.profile)
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
                # Going back a version: said so, never called an upgrade.
                action = "downgrade" if versions.older(self.target, current) else "upgrade"
            elif check.restart_pending and running:
                action = "restart"  # a restart an earlier run owed (settings.yml's)
            elif not check.changed and running:
                self.result.plan = (
                    f"nothing: agent {current} running, settings up to date" + check.kept_note
                )
                self.result.version = current
                return self.done(Outcome.UNCHANGED)
            else:
                action = "settings" if check.changed else "start"
        self.result.plan = {
            "install": f"install {self.target} ({installer.label})",
            "upgrade": f"upgrade {current} → {self.target} ({installer.label})",
            "downgrade": f"downgrade {current} → {self.target} ({installer.label})",
            "settings": f"update settings.json and restart agent {current}",
            "start": f"start agent {current}",
            "restart": f"restart agent {current}: {self.probed.agent_note if self.probed else ''}",
        }[action]
        if action in ("settings", "start", "restart"):
            self.result.target_version = current
        if self.probed is not None:
            self.result.plan += self.probed.kept_note
        if self.check_mode:
            if action in ("install", "upgrade", "downgrade"):
                # An upgrade takes a backup, the newest; a fresh install none.
                self._planned_prune(taking=action != "install")
                if self.want_diff:
                    self.result.diff = self._planned_diff(settings, action)
            self.result.version = current
            return self.done(Outcome.PLANNED, changed=True)
        self._acquire_lock()
        try:
            if action in ("settings", "start", "restart"):
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

    def _failed_install(self, facts: HostFacts) -> str | None:
        """The failed-install record, as the facts script read it before anything is
        planned (check mode too; preflight's SF406 reports it): while the agent an earlier
        failed fresh install left is there, why this host fails; else None, and what the
        plan will say of the record (self.record_note)."""
        accept = self.options.accept_failed_install
        read = facts.failed_install
        try:
            if read is None:  # facts without it: read in a command of its own
                found = read_record(self.session, self.record_path)
            else:
                found = found_record(
                    read.path, exists=read.exists, text=read.text, error=read.error
                )
        except RecordUnreadable as exc:
            if not accept:
                return str(exc)
            self.record_note = f"the unreadable failed-install record accepted ({ACCEPT})"
            return None
        if found is None:
            return None
        self.step("failed-install-record", run=found.run, recorded_utc=found.recorded_utc)
        if not facts.agent.installed:
            self.record_note = f"no agent left by the failed install of {found.run_said}"
            return None
        if accept:
            self.record_note = (
                f"the agent left by the failed install of {found.run_said} accepted "
                f"({ACCEPT})"
            )
            return None
        agent = facts.agent
        said = agent_said(agent.service_name or self.service, agent.state, agent.version)
        return found.refusal(self.record_path, said)

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
        # An unreleased lock expires after its ttl and is recovered then; one kept (a command
        # the host may still run) waits for that.
        if self.lock_kept:
            return
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
    inputs = deploy_inputs(host, variables, package)
    deployer = Deployer(retrying, inputs, check_mode=check_mode, diff=diff)
    try:
        return deployer.run()
    except (SettingsWriteFailed, transfer.TransferError, DeployLocked) as exc:
        return deployer.done(Outcome.FAILED, reason=str(exc))
    except RemoteError as exc:
        if exc.kind in ("unreachable", "authentication", "timeout"):
            return deployer.done(Outcome.UNREACHABLE, reason=str(exc))
        return deployer.done(Outcome.FAILED, reason=str(exc))
