"""Action plugin: aggregate per-host results into the fleet report (console, JSON, JUnit, HTML).

It never fails the run itself: it returns each host's status and reason
(``statuses``, ``reasons``), and a task on each host (``sagefleet_outcome``)
fails or marks unreachable the hosts that must be, so that PLAY RECAP names
them, whatever ``--limit`` says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from sagefleet import outcomes
from sagefleet.findings import Finding, HostReport
from sagefleet.outcomes import Outcome
from sagefleet.preflight import fleet_report, unreachable
from sagefleet.report import FORMATS, render_console, write_reports
from sagefleet.report.runs import PLAY_VARS, RunFolder, link_latest, open_for_play

display = Display()

ARGUMENT_SPEC: dict[str, Any] = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "result_var": {"type": "str", "default": "sagefleet_preflight_result"},
    "wave_var": {"type": "str"},
    "dest": {"type": "path"},
    "folder": {"type": "dict"},
    "job": {"type": "str", "default": "preflight"},
    "formats": {
        "type": "list",
        "elements": "str",
        "default": list(FORMATS),
        "choices": list(FORMATS),
    },
    "title": {"type": "str", "default": "sagefleet preflight"},
    "lang": {"type": "str", "choices": ["en", "fr"], "default": "en"},
    "show": {"type": "bool", "default": True},
    "missing": {
        "type": "str",
        "default": "no result: the host was unreachable or failed before preflight",
    },
    "missing_status": {
        "type": "str",
        "choices": ["unreachable", "not-run"],
        "default": "unreachable",
    },
}


def host_report(
    host: str,
    registered: Any,
    wave: Any,
    missing: str,
    missing_status: str,
) -> HostReport:
    """One host's report from its registered result (and its wave's verification)."""
    result = registered if isinstance(registered, Mapping) else {}
    data = result.get("host_report")
    report = HostReport.from_dict(data) if isinstance(data, Mapping) else None
    if result.get("outcome"):
        outcome = Outcome(
            status=str(result["outcome"]),
            reason=result.get("reason"),
            plan=str(result.get("plan") or ""),
            previous_version=result.get("previous_version"),
            target_version=result.get("target_version"),
            version=result.get("version"),
            reboot_required=bool(result.get("reboot_required")),
        )
        base = report or HostReport(host=host, reachable=outcome.status != "unreachable")
        report = _replace(base, outcome=outcome)
    elif report is None:
        reason = str(result.get("msg") or missing)
        if result.get("unreachable"):
            status = "unreachable"
        elif missing_status == "not-run" and result and not result.get("skipped"):
            status = "failed"  # the task ran and ended without an outcome: its own error
        else:
            status = missing_status
        if status == "unreachable":
            report = unreachable(host, reason)
            if missing_status == "not-run":
                report = _replace(report, outcome=Outcome(status="unreachable", reason=reason))
        else:
            report = HostReport(host=host, reachable=True, outcome=Outcome(status, reason=reason))
    verdicts = wave.get("verify") if isinstance(wave, Mapping) else None
    verdict = verdicts.get(host) if isinstance(verdicts, Mapping) else None
    if isinstance(verdict, Mapping):
        report = _with_verification(report, verdict)
    return report


def _replace(report: HostReport, **changes: Any) -> HostReport:
    fields = {
        "host": report.host,
        "reachable": report.reachable,
        "findings": report.findings,
        "address": report.address,
        "error": report.error,
        "summary": report.summary,
        "duration_s": report.duration_s,
        "outcome": report.outcome,
    }
    fields.update(changes)
    return HostReport(**fields)


def _with_verification(report: HostReport, verdict: Mapping[str, Any]) -> HostReport:
    """The wave's testinfra findings added to the host; a failed verification of a host
    the deploy changed (or left as it was) makes it ``verify-failed``."""
    findings = report.findings + tuple(
        Finding.from_dict(f) for f in verdict.get("findings") or () if isinstance(f, Mapping)
    )
    outcome = report.outcome
    if (
        verdict.get("status") == "verify-failed"
        and outcome is not None
        and outcomes.BY_NAME[outcome.status].recap == "ok"
    ):
        outcome = Outcome(
            status="verify-failed",
            reason=str(verdict.get("reason") or "the wave's verification failed"),
            plan=outcome.plan,
            previous_version=outcome.previous_version,
            target_version=outcome.target_version,
            version=outcome.version,
            reboot_required=outcome.reboot_required,
        )
    return _replace(report, findings=findings, outcome=outcome)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # writes only on the controller, reports are wanted in check mode
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        hostvars = task_vars.get("hostvars", {})
        # One read per host, untemplated: reading a registered result through
        # hostvars[host] would template (copy) the whole result, about 2 ms a host.
        # A registered result is module output, never a template, so nothing is lost.
        raw = {h: hostvars.raw_get(h) if h in hostvars else {} for h in args["hosts"]}
        reports = [
            host_report(
                host,
                variables.get(args["result_var"]),
                variables.get(args["wave_var"]) if args["wave_var"] else None,
                args["missing"],
                args["missing_status"],
            )
            for host, variables in raw.items()
        ]
        report = fleet_report(reports, lang=args["lang"], title=args["title"])
        if args["folder"]:
            run = RunFolder.from_dict(args["folder"])
        else:
            run = open_for_play(
                args["job"],
                args["dest"],
                {
                    k: self._templar.template(v)
                    for k, v in (task_vars or {}).items()
                    if k in PLAY_VARS
                },
            )
        written = write_reports(report, run.path, args["formats"])
        latest = link_latest(run)
        if args["show"]:
            display.display(render_console(report, colour=False))
            where = written.get("html") or next(iter(written.values()))
            display.display(f"Report: {where}" + (f" (also {latest}/)" if latest else ""))
        counts = report.host_status_counts
        result.update(
            changed=False,
            folder=str(run.path),
            latest=str(latest) if latest else None,
            files={k: str(v) for k, v in written.items()},
            counts=counts,
            blocked=[h.host for h in report.hosts if h.status == "blocked"],
            statuses={h.host: h.status for h in report.hosts},
            reasons={h.host: _reason(h) for h in report.hosts},
            msg=", ".join(f"{k}: {v}" for k, v in counts.items()),
        )
        return result


def _reason(host: HostReport) -> str:
    if host.outcome is not None and host.outcome.detail:
        return host.outcome.detail
    if host.error:
        return host.error
    if host.status == "blocked":
        return host.blocked_reason
    return " ".join(host.failed_check_ids)
