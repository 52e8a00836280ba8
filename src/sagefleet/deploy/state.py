"""One host's deploy in progress: its validated inputs, its session, the result so far."""

from __future__ import annotations

import secrets
import time
from typing import Any

from sagefleet.deploy.inputs import DeployInputs
from sagefleet.deploy.record import SETTLED, record_path, remove_record
from sagefleet.deploy.result import DeployResult, run_owner
from sagefleet.findings import Finding, HostReport
from sagefleet.outcomes import Outcome
from sagefleet.remote import HostSession, RemoteError
from sagefleet.remote.errors import END_NOT_CONFIRMED
from sagefleet.settings.host import SettingsOutcome


class DeployState:
    """What every stage of a deploy reads and writes (install, health gate, rollback)."""

    def __init__(
        self, session: HostSession, inputs: DeployInputs, *, check_mode: bool, diff: bool
    ) -> None:
        self.session = session
        self.inputs = inputs
        self.check_mode = check_mode
        self.want_diff = diff
        self.started = time.monotonic()
        self.host, self.package, self.target = inputs.host, inputs.package, inputs.target
        self.options, self.settings = inputs.options, inputs.settings
        self.connection = inputs.connection
        # SF513 as the health gate saw it, added to the host's report.
        self.gate_findings: list[Finding] = []
        # What is written: the document laid over the host's current file once it is read.
        self.settings_text = self.settings.text
        # The installed settings.json as read (and checked) before the plan: see run().
        self.probed: SettingsOutcome | None = None
        self.result = DeployResult(host=self.host, outcome=Outcome.UNCHANGED)
        # Set before the first command that changes the host for good (the package's
        # extraction, a settings write, a restart): a run that fails after it reports
        # changed, whatever ended it.
        self.touched = False
        #: The deploy lock left on the host at the end: a command it did not confirm ended.
        self.lock_kept = False
        self.result.target_version = self.target
        # The chosen installer's technology, as its file says (sagefleet.installer_file).
        self.technology: str | None = None
        # The agent's service: the profile's name, or the one its pattern found (run()).
        self.service = self.options.service_name or ""
        # Unique per deploy of a host, so two runs (even in one process) never share a lock.
        self.owner = f"{run_owner()}:{secrets.token_hex(3)}"
        # The failed-install record as read before the plan (deploy/record.py): what to say
        # of it in the plan when the run goes on (None: no record on the host).
        self.record_path = record_path(self.options.backup_dir)
        self.record_note: str | None = None

    def step(self, name: str, **details: Any) -> None:
        self.result.steps.append(
            {"step": name, "t": round(time.monotonic() - self.started, 3), **details}
        )

    def done(
        self,
        outcome: Outcome,
        *,
        reason: str | None = None,
        changed: bool = False,
        findings: list[Finding] | None = None,
    ) -> DeployResult:
        result = self.result
        if self.record_note is not None and outcome in (*SETTLED, Outcome.PLANNED):
            result.plan += self._settle_record(outcome)
        result.outcome, result.reason, result.changed = outcome, reason, changed or self.touched
        result.duration_s = time.monotonic() - self.started
        base = result.report
        extra = tuple(findings or ()) + tuple(self.gate_findings)
        summary = dict(base.summary) if base else {}
        summary["deploy"] = outcome.value
        unreachable = outcome is Outcome.UNREACHABLE
        result.report = HostReport(
            host=self.host,
            reachable=not unreachable,
            findings=(tuple(base.findings) if base else ()) + extra,
            address=base.address if base else None,
            error=base.error if base and unreachable else None,
            summary=summary,
            duration_s=round(result.duration_s, 3),
            outcome=result.as_outcome(),
        )
        return result

    def _settle_record(self, outcome: Outcome) -> str:
        """The host holds the agent as asked: the failed-install record goes (not in check
        mode, which never writes). What the plan says of it."""
        said, self.record_note = f"; {self.record_note}", None
        if self.check_mode:
            return f"{said}: its record ({self.record_path}) goes after a successful run"
        try:
            remove_record(self.session, self.record_path)
        except RemoteError as exc:
            self.step("failed-install-record", removed=False, error=str(exc))
            return (
                f"{said}; its record {self.record_path} could not be removed ({exc}): delete "
                "it, or the next deploy fails this host"
            )
        self.step("failed-install-record", removed=True)
        return f"{said}: its record removed"

    def _unconfirmed(self, exc: RemoteError, problem: str, check: str) -> RemoteError:
        """The error of a command that never answered (``problem``, from ``exc``) and whose
        end the host did not confirm (``HostSession.end_commands``): it may still run, so
        nothing more is read or started, and the deploy lock stays on the host until it
        expires, so that no other deploy starts there meanwhile. ``check``: what the
        operator checks first."""
        self.lock_kept = True
        self.step("lock-kept", error=str(exc))
        return type(exc)(
            self.host,
            f"{problem}; {END_NOT_CONFIRMED}: it may still run. The deploy lock "
            f"{self.options.lock_path} stays until "
            f"it expires ({self.options.lock_ttl_s} s, sagefleet_deploy_lock_ttl_s): {check} on "
            "the host, delete the lock once nothing runs, then deploy again",
        )

    def _query(self, *questions: dict[str, Any]) -> list[dict[str, Any]]:
        answers = self.session.run_snippet("query", {"questions": list(questions)})["answers"]
        return [answers] if isinstance(answers, dict) else list(answers)
