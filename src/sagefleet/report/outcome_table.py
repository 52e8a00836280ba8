"""The fleet table of a deploy: each host's report from its registered task result,
its wave's verification, and the status and reason that end the host's run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sagefleet.findings import Finding, FleetReport, HostReport
from sagefleet.outcomes import HostOutcome, Outcome


def host_report(
    host: str,
    registered: Any,
    wave: Any,
    missing: str,
    missing_status: str,
    after: Any = None,
) -> HostReport:
    """One host's report from its registered result (and its wave's verification).

    A host without an outcome is ``missing_status`` (``unreachable`` or ``not-run``)
    with ``missing`` as its reason, unless its task ran and failed on its own.
    ``after`` is the registered result of a task that followed on the host (the
    settings' restart): it may fail the host (:func:`_with_after`).
    """
    result = registered if isinstance(registered, Mapping) else {}
    data = result.get("host_report")
    report = HostReport.from_dict(data) if isinstance(data, Mapping) else None
    if result.get("outcome"):
        outcome = HostOutcome.from_dict(result, status_key="outcome")
        base = report or HostReport(host=host, reachable=outcome.status != Outcome.UNREACHABLE)
        report = replace(base, outcome=outcome)
    elif report is None:
        report = _without_outcome(host, result, missing, missing_status)
    verdicts = wave.get("verify") if isinstance(wave, Mapping) else None
    verdict = verdicts.get(host) if isinstance(verdicts, Mapping) else None
    if isinstance(verdict, Mapping):
        report = _with_verification(report, verdict)
    if isinstance(after, Mapping) and not after.get("skipped"):
        report = _with_after(report, after)
    return report


def _with_after(report: HostReport, after: Mapping[str, Any]) -> HostReport:
    """A host whose outcome passed, and whose following task (the agent's restart after
    its settings changed) failed, is ``failed`` (``unreachable`` when that task could not
    reach it), with that task's message as its reason; one that passed adds its message
    to the plan."""
    outcome = report.outcome
    if outcome is None or Outcome(outcome.status).recap != "ok":
        return report
    said = str(after.get("msg") or "")
    if after.get("unreachable") or after.get("failed"):
        status = Outcome.UNREACHABLE if after.get("unreachable") else Outcome.FAILED
        outcome = replace(outcome, status=status.value, reason=said or status.value)
        return replace(report, outcome=outcome)
    plan = "; ".join(part for part in (outcome.plan, said) if part)
    return replace(report, outcome=replace(outcome, plan=plan))


def _without_outcome(
    host: str, result: Mapping[str, Any], missing: str, missing_status: str
) -> HostReport:
    reason = str(result.get("msg") or missing)
    if result.get("unreachable"):
        status = Outcome.UNREACHABLE.value
    elif missing_status == Outcome.NOT_RUN and result and not result.get("skipped"):
        status = Outcome.FAILED.value  # the task ran and ended without an outcome: its own error
    else:
        status = missing_status
    if status != Outcome.UNREACHABLE:
        return HostReport(host=host, reachable=True, outcome=HostOutcome(status, reason=reason))
    report = HostReport(host=host, reachable=False, error=reason)
    if missing_status == Outcome.NOT_RUN:
        report = replace(report, outcome=HostOutcome(status, reason=reason))
    return report


def _with_verification(report: HostReport, verdict: Mapping[str, Any]) -> HostReport:
    """The wave's testinfra findings added to the host; a failed verification of a host
    the deploy changed (or left as it was) makes it ``verify-failed``, one that could not
    reach it ``unreachable`` (the reason says the deploy was done)."""
    findings = report.findings + tuple(
        Finding.from_dict(f) for f in verdict.get("findings") or () if isinstance(f, Mapping)
    )
    outcome = report.outcome
    status = verdict.get("status")
    if (
        status in (Outcome.VERIFY_FAILED, Outcome.UNREACHABLE)
        and outcome is not None
        and Outcome(outcome.status).recap == "ok"
    ):
        reason = str(verdict.get("reason") or "the wave's verification failed")
        outcome = replace(outcome, status=Outcome(status).value, reason=reason)
    return replace(report, findings=findings, outcome=outcome)


def host_reason(host: HostReport) -> str:
    """The one line that says why a host ends as it does (the outcome's, else the error,
    the blocking checks, or the failed checks)."""
    if host.outcome is not None and host.outcome.detail:
        return host.outcome.detail
    if host.error:
        return host.error
    if host.status == Outcome.BLOCKED:
        return host.blocked_reason
    return " ".join(host.failed_check_ids)


def blocked_rule(report: FleetReport, labels: Mapping[str, str]) -> str | None:
    """The sentence that says which blocked hosts this run fails (each host's own
    fail_on_blocked), naming those it lets pass when it fails the others, for a report
    whose outcomes hold a blocked host (a deploy's); None otherwise."""
    blocked = sorted(
        h.host for h in report.hosts if h.outcome is not None and h.status == Outcome.BLOCKED
    )
    if not blocked:
        return None
    passed = [name for name in blocked if not report.fail_on_blocked_for(name)]
    if not passed:
        return labels["blocked.fails"]
    if len(passed) == len(blocked):
        return labels["blocked.passes"]
    return labels["blocked.fails_except"].replace("{hosts}", ", ".join(passed))
