"""Install or upgrade: stage and extract the package, stage settings.json beside the
installer, then stop, back up, install and start in one snippet; or, for a settings
change, write settings.json and restart (docs/deploy.md, docs/transfer.md)."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from sagefleet import transfer, versions
from sagefleet.agent.service import run_restart
from sagefleet.deploy.backups import Backups
from sagefleet.deploy.gate import HealthGate
from sagefleet.deploy.inputs import installer_arguments
from sagefleet.deploy.result import DeployResult, finding, killed_note
from sagefleet.deploy.rollback import Rollback
from sagefleet.outcomes import Outcome
from sagefleet.remote import RemoteError, SnippetFailed
from sagefleet.remote.errors import UNANSWERED
from sagefleet.settings.host import settings_target, write_settings

#: What the stage step records of how the package reached the host.
STAGE_DETAILS = ("method", "encoding", "streams", "bytes_sent", "skipped", "resumed_from")


class Install(HealthGate, Rollback, Backups):
    """The stages that change the host, each ending in the health gate."""

    def _settings_only(self, settings: Any, action: str) -> DeployResult:
        self.touched = True  # a settings write, then a restart
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
            self.step(
                "settings",
                backup=outcome.backup,
                kept=list(outcome.kept),
                leftovers=list(outcome.leftovers),
            )
        answer = self._query({"kind": "service", "name": self.service})[0]
        restart = run_restart(
            self.session,
            self.service,
            answer,
            self.options.stop_timeout_s,
            self.options.start_timeout_s,
        )
        self.step(
            "restart",
            state=restart.get("state"),
            before=answer.get("state"),
            killed_pid=restart.get("killed_pid"),
            stopped=restart.get("stopped"),
        )
        self.result.version = self.result.previous_version
        if restart.get("stopped") and restart.get("error"):
            return self.done(
                Outcome.FAILED,
                changed=True,
                reason=f"agent not restarted after the settings change: {restart['error']}",
            )
        problem = self._connection_gate() if restart.get("state") == "Running" else None
        if problem is not None:
            return self.done(
                Outcome.FAILED,
                changed=True,
                reason=f"agent does not connect after the settings change: {problem}",
            )
        if restart.get("state") != "Running":
            return self.done(
                Outcome.FAILED,
                changed=True,
                reason=f"agent does not start after the settings change: {restart.get('error')}",
                findings=[
                    finding(
                        "SF603", False, "Agent running at target", f"service {restart.get('state')}"
                    )
                ],
            )
        done, said = {
            "settings": (Outcome.SETTINGS_UPDATED, "settings updated, restarted"),
            "restart": (Outcome.RESTARTED, "restarted to read settings.json"),
        }.get(action, (Outcome.STARTED, "started"))
        if restart.get("stopped"):
            said += f" ({restart['stopped']})"
        return self.done(
            done, changed=True, findings=[finding("SF603", True, "Agent running at target", said)]
        )

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
        self.step("stage", **{name: getattr(staged, name) for name in STAGE_DETAILS})
        folder = staged.path.rsplit("\\", 1)[0] + "\\package"
        self.touched = True  # the package extracted, then the installer
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
            "backup_dir": self.options.backup_dir,
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
        except UNANSWERED as exc:
            return self._stopped_install(exc, settings, staged.path)
        if outcome.get("state_error"):
            outcome = self._state_again(outcome)
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
        if outcome.get("error") and not outcome.get("failed_step"):
            # Every step went through, yet the snippet has something to say (the staged
            # settings.json it could not delete): recorded, not fatal.
            self.step("install-note", error=outcome["error"])
        problem = self._gate(outcome)
        if problem is None:
            self.result.version = self.target
            # Ended well: no rollback needs an older backup now (never this run's). They go
            # in the staging cleanup's command, not in one of their own.
            prune = self._prune_plan(outcome)
            cleaned = self._cleanup(staged.path, prune.removing if prune else ())
            for item in cleaned.left if cleaned else ():
                # A file held open (a log) keeps its old version folder: reported, not fatal.
                self.step(
                    "cleanup-left", folder=item["folder"], path=item["path"], error=item["error"]
                )
            verb = {"install": Outcome.INSTALLED, "downgrade": Outcome.DOWNGRADED}.get(
                action, Outcome.UPGRADED
            )
            self._pruned(prune, cleaned)
            if self.result.reboot_required:
                self.result.plan += " — reboot required (not done: plan it with the client)"
            return self.done(
                verb,
                changed=True,
                findings=[
                    finding(
                        "SF601",
                        True,
                        "Agent installed or upgraded",
                        f"{self.result.plan} (exit code {outcome.get('exit_code')})"
                        + killed_note(outcome, self.service),
                    ),
                    finding(
                        "SF603",
                        True,
                        "Agent running at target",
                        f"{self.service} running {self.target}",
                    ),
                ],
            )
        return self._rollback(outcome, problem, settings)

    def _stopped_install(self, exc: RemoteError, settings: Any, staged_path: str) -> DeployResult:
        """The install command never answered: its Receive failed, timed out or lost its
        connection, so the session stopped it (the terminate Signal kills its process where
        it is: an agent stopped, a backup half copied, files half replaced), or its answer
        was lost after it ended. Its shell is deleted first, so that it surely runs no more
        (the Signal may have been lost too); a host that does not confirm it may still run
        the install: nothing more is done there, and the deploy lock stays (``_unconfirmed``).
        Then what it left is read again: the previous agent still in place is started
        again if it stopped (rolled back); one still running, or none on a fresh host,
        fails the host, nothing installed; anything else is said as found (a fresh
        install's recorded, ``_rollback`` without a backup). Raises ``exc`` when the host
        cannot be read."""
        problem = f"install stopped part way: {exc}"
        if not self.session.end_commands():
            raise self._unconfirmed(exc, problem, f"check {self.service} and the installer's log")
        self._discard_staged(staged_path)
        problem += self._protect_installed(settings)
        try:
            found = self._query({"kind": "service", "name": self.service})[0]
        except RemoteError as again:
            raise type(exc)(
                self.host,
                f"{problem}; the agent's state could not be read ({again}): the host may hold "
                "a half-done install, check it before deploying again",
            ) from None
        state = found.get("state") if found.get("exists") else None
        version = found.get("version") if found.get("exists") else None
        self.step("install-stopped", error=str(exc), state=state, version=version)
        said = f"{self.service} found {state} at {version}" if state else "no agent service"
        previous = self.result.previous_version
        if previous is None and state is None:
            return self.done(
                Outcome.FAILED,
                changed=True,
                reason=(
                    f"{problem}; {said}: no agent installed (the installer may have left "
                    "files in the agent's folder; the next deploy installs over them)"
                ),
            )
        if previous is None or not versions.same(version, previous):
            restore = f"restore {previous} from {self.options.backup_dir}" if previous else ""
            note = f"; {restore}" if restore else ""
            if state == "Running" and versions.same(version, self.target):
                # Its answer lost after it ended, most likely: the exit code went with it,
                # so nothing says the install did all it should (a next deploy finds the
                # target in place and leaves it after an upgrade; a fresh install's is
                # recorded as failed, which the operator may accept).
                note = (
                    ", the target: the install may have ended, its exit code lost with its "
                    "answer; read the installer's log (playbooks/diagnose.yml) and check the "
                    "agent (playbooks/verify.yml)" + (f", or {restore}" if restore else "")
                )
            return self._rollback(
                {"state": state, "version": version, "answer_lost": True},
                f"{problem}; {said}{note}",
                settings,
            )
        if state != "Running":
            restart = run_restart(
                self.session,
                self.service,
                found,
                self.options.stop_timeout_s,
                self.options.start_timeout_s,
            )
            self.step(
                "restart", state=restart.get("state"), before=state, stopped=restart.get("stopped")
            )
            if restart.get("state") != "Running":
                self.result.version = previous
                return self.done(
                    Outcome.FAILED,
                    changed=True,
                    reason=f"{problem}; {said}, does not start again: {restart.get('error')}",
                )
            said += f", started again, running {previous}"
        else:
            self.result.version = previous
            return self.done(
                Outcome.FAILED,
                changed=True,
                reason=f"{problem}; {said}, running as before: nothing installed",
            )
        self.result.version = previous
        return self.done(
            Outcome.ROLLED_BACK,
            changed=True,
            reason=f"{problem}; {said}",
            findings=[
                finding("SF601", False, "Agent installed or upgraded", problem),
                finding("SF604", True, "Rollback to the previous version", said),
            ],
        )

    def _state_again(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """The install snippet could not read the service at its end (WMI not answering):
        read it again in a command of its own; when that fails too, the state is unknown,
        which the health gate refuses (the backup in ``outcome`` then rolls the host back)."""
        self.step("install-state", error=outcome["state_error"])
        try:
            answer = self._query({"kind": "service", "name": self.service})[0]
        except RemoteError as exc:
            if outcome.get("failed_step"):
                return outcome
            reason = f"{outcome['state_error']}; read again: {exc}"
            return {**outcome, "failed_step": "state", "error": reason}
        if not answer.get("exists"):
            return outcome
        found = {k: answer.get(k) for k in ("state", "version", "account")}
        return {**outcome, **found}

    def _cleanup(
        self, staged_path: str, remove_backups: tuple[str, ...]
    ) -> transfer.CleanupResult | None:
        """The staging cleanup after the gate passed, the older backups in its command. One
        that fails (the connection lost, the script refused) does not undo the upgrade: a
        warning says so, and what it removed is not known (None)."""
        try:
            return transfer.cleanup(
                self.session,
                self.options.staging_dir,
                keep=self.options.keep_staged,
                current=staged_path,
                backup_dir=self.options.backup_dir,
                remove_backups=remove_backups,
            )
        except (RemoteError, transfer.TransferError) as exc:
            self._warn(
                f"staging cleanup in {self.options.staging_dir} not done: {exc} (the upgrade "
                "itself went through; the next deploy that ends well cleans up)"
            )
            return None

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
