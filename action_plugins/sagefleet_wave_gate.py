"""Action plugin: decide after each wave whether the rollout may go on.

Ansible's max_fail_percentage aborts the playbook, and with it the fleet
summary; this gate instead says ``stop`` (the role then ends the play: the
hosts left are reported as "not run") and lets the report play report
everything and fail the hosts left behind. When the wave was verified with
the testinfra suites, it reads their report and returns each host's verdict
(``verify``): a host whose verification failed is "verify failed".
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

from sagefleet.report.runs import RunFolder, written

ARGUMENT_SPEC: dict[str, Any] = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "result_var": {"type": "str", "default": "sagefleet_agent_result"},
    "max_fail_percentage": {"type": "float", "default": 20.0},
    "verify": {"type": "dict"},
    "verify_report": {"type": "path"},
}

FAILED = ("rolled-back", "failed", "verify-failed")
# A host the deploy did not change or check has nothing the wave's suites could judge.
NOT_VERIFIED = ("blocked", "unreachable", "failed", "rolled-back", "planned")


def wave_verdict(outcomes: dict[str, str], max_fail_percentage: float) -> tuple[bool, str]:
    """(stop, message) for one wave: unreachable and blocked hosts are not failures."""
    failed = sorted(h for h, o in outcomes.items() if o in FAILED)
    share = 100.0 * len(failed) / max(1, len(outcomes))
    stop = share > max_fail_percentage
    message = (
        f"wave of {len(outcomes)}: {len(failed)} failed ({share:.0f}%, limit "
        f"{max_fail_percentage:g}%)" + (f": {', '.join(failed)}" if failed else "")
    )
    return stop, message + ("; rollout stopped, no new wave starts" if stop else "")


def verification(
    outcomes: dict[str, str], run: dict[str, Any], folder: Path
) -> dict[str, dict[str, Any]]:
    """Each verified host's verdict from the suites' report in ``folder``."""
    judged = [h for h, o in outcomes.items() if o not in NOT_VERIFIED]
    report = RunFolder(path=folder, job_dir=None, started=_started(run))
    if not written(report):
        reason = (
            f"the wave's verification wrote no report (pytest rc {run.get('rc')}): "
            + _last_line(run)
        )
        return {h: {"status": "verify-failed", "reason": reason, "findings": []} for h in judged}
    document = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    by_host = {h["host"]: h for h in document.get("hosts") or []}
    verdicts: dict[str, dict[str, Any]] = {}
    for host in judged:
        entry = by_host.get(host)
        if entry is None:
            verdicts[host] = {
                "status": "verify-failed",
                "reason": "the wave's verification has no result for this host",
                "findings": [],
            }
            continue
        findings = entry.get("findings") or []
        failing = [f for f in findings if f.get("status") in ("fail", "unknown")]
        verdicts[host] = {
            "status": "verify-failed" if failing or entry.get("error") else "verified",
            "reason": "verification failed: "
            + "; ".join(f"{f['check_id']} {f['message']}" for f in failing)
            if failing
            else entry.get("error"),
            "findings": findings,
        }
    return verdicts


def _started(run: dict[str, Any]) -> float:
    """When the verification task started (its ``start``, local time), epoch seconds."""
    try:
        return datetime.strptime(str(run.get("start")), "%Y-%m-%d %H:%M:%S.%f").timestamp()
    except ValueError:
        return 0.0


def _last_line(run: dict[str, Any]) -> str:
    if run.get("msg"):  # sagefleet_verify's own words: what happened, pytest's error
        return str(run["msg"])[:300]
    lines = [ln for ln in str(run.get("stdout") or run.get("stderr") or "").splitlines() if ln]
    return lines[-1][:300] if lines else "no output"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hostvars = (task_vars or {}).get("hostvars", {})
        outcomes = {}
        for host in args["hosts"]:
            registered = hostvars[host].get(args["result_var"]) if host in hostvars else None
            outcome = registered.get("outcome") if isinstance(registered, dict) else None
            outcomes[host] = str(outcome or "failed")
        verdicts: dict[str, dict[str, Any]] = {}
        run = args["verify"] or {}
        if run and not run.get("skipped") and args["verify_report"]:
            verdicts = verification(outcomes, run, Path(args["verify_report"]))
            for host, verdict in verdicts.items():
                if verdict["status"] == "verify-failed":
                    outcomes[host] = "verify-failed"
        stop, message = wave_verdict(outcomes, args["max_fail_percentage"])
        if any(v["status"] == "verify-failed" for v in verdicts.values()):
            stop = True
            if "rollout stopped" not in message:
                message += "; verification failed: rollout stopped, no new wave starts"
        result.update(changed=False, stop=stop, msg=message, outcomes=outcomes, verify=verdicts)
        return result
