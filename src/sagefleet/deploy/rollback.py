"""Rollback: a failed install or upgrade restores the backup, and proves the previous
version runs again (SF604, docs/deploy.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagefleet import versions
from sagefleet.deploy.record import FailedInstall, now_utc, write_record
from sagefleet.deploy.result import DeployResult, finding
from sagefleet.deploy.state import DeployState
from sagefleet.findings import Finding
from sagefleet.outcomes import Outcome
from sagefleet.remote import RemoteError
from sagefleet.remote.errors import UNANSWERED
from sagefleet.settings.host import SettingsTarget, SettingsWriteFailed, protect_settings


class Rollback(DeployState):
    """Put the host back as it was before the install."""

    def _rollback(
        self, outcome: Mapping[str, Any], problem: str, settings: SettingsTarget
    ) -> DeployResult:
        backup = outcome.get("backup_path")
        title = "Agent installed or upgraded"
        failure = finding(
            "SF601",
            False,
            title,
            problem,
            "read the installer log in the support bundle (playbooks/diagnose.yml)",
        )
        if not backup:
            self.result.version = outcome.get("version")
            left = self._left_behind(outcome) + self._record_failure(outcome, problem)
            return self.done(
                Outcome.FAILED, changed=True, reason=problem + left, findings=[failure]
            )
        try:
            restored = self._run_rollback(outcome, backup, settings)
        except UNANSWERED as exc:
            install_dir = outcome.get("install_dir") or self.options.install_dir
            return self._stopped_rollback(exc, backup, install_dir, problem, failure, settings)
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
        rollback = finding(
            "SF604",
            ok,
            "Rollback to the previous version",
            f"previous version {restored.get('version')} "
            f"{restored.get('state')}"
            + (f": {restored['error']}" if restored.get("error") else ""),
        )
        if ok:
            return self.done(
                Outcome.ROLLED_BACK,
                changed=True,
                reason=f"{problem}; previous version {restored.get('version')} restored, running",
                findings=[failure, rollback],
            )
        return self.done(
            Outcome.FAILED,
            changed=True,
            findings=[failure, rollback],
            reason=f"{problem}; rollback failed: {restored.get('error')}",
        )

    def _run_rollback(
        self, outcome: Mapping[str, Any], backup: str, settings: SettingsTarget
    ) -> dict[str, Any]:
        restored: dict[str, Any] = self.session.run_snippet(
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
        return restored

    def _stopped_rollback(
        self,
        exc: RemoteError,
        backup: str,
        install_dir: str,
        problem: str,
        failure: Finding,
        settings: SettingsTarget,
    ) -> DeployResult:
        """The rollback command never answered: its Receive failed, timed out or lost its
        connection, so the session stopped it (the terminate Signal kills it where it is:
        the agent stopped, its folder emptied or half restored), or its answer was lost
        after it ended. Its shell is deleted first, so that it surely runs no more; a host
        that does not confirm it may still run the rollback (``_unconfirmed``: the lock
        stays). The restored settings.json gets its private ACL (``_protect_installed``).
        Then the service is read again and said as found: the previous version
        running is a rollback that ended (rolled back); anything else fails the host,
        naming the backup to restore. Raises ``exc`` when the host cannot be read."""
        stopped = f"{problem}; rollback stopped part way: {exc}"
        restore = (
            f"restore {self.result.previous_version} by hand: stop {self.service}, copy the "
            f"contents of the backup {backup} into {install_dir}, start it"
        )
        if not self.session.end_commands():
            raise self._unconfirmed(exc, stopped, f"once nothing runs, {restore}")
        stopped += self._protect_installed(settings)
        try:
            found = self._query({"kind": "service", "name": self.service})[0]
        except RemoteError as again:
            raise type(exc)(
                self.host,
                f"{stopped}; the agent's state could not be read ({again}): the agent may be "
                f"stopped or half restored; {restore}",
            ) from None
        state = found.get("state") if found.get("exists") else None
        version = found.get("version") if found.get("exists") else None
        self.step("rollback-stopped", error=str(exc), state=state, version=version, backup=backup)
        at = f"at {version}" if version else "with no version readable (its program missing)"
        said = f"{self.service} found {state} {at}" if state else "no agent service"
        self.result.version = version
        ok = state == "Running" and versions.same(version, self.result.previous_version)
        rollback = finding("SF604", ok, "Rollback to the previous version", said)
        if ok:
            return self.done(
                Outcome.ROLLED_BACK,
                changed=True,
                reason=f"{stopped}; {said}: restored, running",
                findings=[failure, rollback],
            )
        return self.done(
            Outcome.FAILED,
            changed=True,
            reason=f"{stopped}; {said}: the agent may be half restored; {restore}",
            findings=[failure, rollback],
        )

    def _protect_installed(self, settings: SettingsTarget) -> str:
        """The install or rollback snippet never answered: the private ACL it sets on the
        copy of settings.json it put in the agent's folder (passwords; an installer's copy
        and Copy-Item's inherit the folder's DACL, which lets Users read) may not have been
        set. Set again here, on the file if there; what the reason says of it ("" when the
        file was the previous agent's, already private, or is not there)."""
        try:
            existed = protect_settings(self.session, settings)
        except (RemoteError, SettingsWriteFailed) as exc:
            self.step("settings-protect", path=settings.path, error=str(exc))
            return (
                f"; {settings.path} (it holds passwords) may be readable by the host's users, "
                f"its access not restricted ({exc}): restrict it to administrators, SYSTEM "
                "and the service account"
            )
        self.step("settings-protect", path=settings.path, existed=existed)
        if not existed or self.result.previous_version is not None:
            return ""
        return (
            f"; the installer left its copy of settings.json in {settings.path}: readable by "
            "administrators, SYSTEM and the service account only"
        )

    def _left_behind(self, outcome: Mapping[str, Any]) -> str:
        """What a failed fresh install left on the host, which nothing restores: no earlier
        agent was backed up, and the vendor's uninstaller is not known to sagefleet."""
        if self.result.previous_version is not None:
            return ""
        state, version = outcome.get("state"), outcome.get("version")
        if not state and not version:
            return "; no earlier agent to restore, and the installer left no agent service"
        at = f" at {version}" if version else ""
        if (
            outcome.get("answer_lost")
            and state == "Running"
            and versions.same(version, self.target)
        ):
            # The install may have ended well, its answer lost: the operator decides.
            return (
                "; no earlier agent to restore: if the installer's log shows it ended well, "
                "keep it (deploy once with sagefleet_agent_accept_failed_install: true), else "
                "uninstall it (Programs and Features) before deploying again"
            )
        return (
            f"; no earlier agent to restore, and the installer left {self.service} "
            f"{state or 'in an unknown state'}{at} on the host: uninstall it (Programs and "
            "Features) and read the installer log before deploying again"
        )

    def _record_failure(self, outcome: Mapping[str, Any], problem: str) -> str:
        """A failed fresh install is recorded on the host (deploy/record.py): a next run
        would otherwise take the agent it left as installed. What the reason adds."""
        if self.result.previous_version is not None:
            return ""
        state, version = outcome.get("state"), outcome.get("version")
        failed = FailedInstall(
            run=self.owner,
            recorded_utc=now_utc(),
            target_version=self.target,
            reason=problem,
            service=self.service if state or version else None,
            state=state,
            version=version,
        )
        try:
            write_record(self.session, self.record_path, failed)
        except RemoteError as exc:
            self.step("failed-install-record", written=False, error=str(exc))
            return (
                f"; this failure could not be recorded on the host ({exc}): a next run would "
                "take an agent it left as installed"
            )
        self.step("failed-install-record", written=True)
        return (
            f"; recorded in {self.record_path}: the next deploy fails this host while an "
            "agent is there"
        )
