"""Rollback: a failed install or upgrade restores the backup, and proves the previous
version runs again (SF604, docs/deploy.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagefleet import versions
from sagefleet.deploy.result import DeployResult, finding
from sagefleet.deploy.state import DeployState
from sagefleet.outcomes import Outcome
from sagefleet.settings.host import SettingsTarget


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
            return self.done(
                Outcome.FAILED,
                changed=True,
                reason=problem + self._left_behind(outcome),
                findings=[failure],
            )
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

    def _left_behind(self, outcome: Mapping[str, Any]) -> str:
        """What a failed fresh install left on the host, which nothing restores: no earlier
        agent was backed up, and the vendor's uninstaller is not known to sagefleet. A
        next run would take an agent left running at the target as installed."""
        if self.result.previous_version is not None:
            return ""
        state, version = outcome.get("state"), outcome.get("version")
        if not state and not version:
            return "; no earlier agent to restore, and the installer left no agent service"
        at = f" at {version}" if version else ""
        return (
            f"; no earlier agent to restore, and the installer left {self.service} "
            f"{state or 'in an unknown state'}{at} on the host: uninstall it (Programs and "
            "Features) and read the installer log before deploying again (a next run "
            "would take that agent as installed)"
        )
