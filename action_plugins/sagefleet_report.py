"""Action plugin: aggregate per-host results into the fleet report (console, JSON, JUnit, HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from sagefleet.findings import HostReport
from sagefleet.preflight import fleet_report, unreachable
from sagefleet.report import FORMATS, render_console, write_reports

display = Display()

ARGUMENT_SPEC: dict[str, Any] = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "result_var": {"type": "str", "default": "sagefleet_preflight_result"},
    "dest": {"type": "path", "required": True},
    "formats": {
        "type": "list",
        "elements": "str",
        "default": list(FORMATS),
        "choices": list(FORMATS),
    },
    "title": {"type": "str", "default": "sagefleet preflight"},
    "lang": {"type": "str", "choices": ["en", "fr"], "default": "en"},
    "fail_on_blocked": {"type": "bool", "default": False},
    "show": {"type": "bool", "default": True},
    "fail_on_outcomes": {"type": "list", "elements": "str", "default": []},
    "missing": {
        "type": "str",
        "default": "no result: the host was unreachable or failed before preflight",
    },
}

OUTCOMES = (
    "installed",
    "upgraded",
    "settings",
    "unchanged",
    "planned",
    "rolled-back",
    "failed",
    "skipped",
    "unreachable",
    "not run",
)


def outcome_table(rows: list[dict[str, Any]]) -> str:
    """Per-host deploy outcomes with reasons and durations, then counts by outcome."""
    width = max([len(r["host"]) for r in rows] + [4])
    lines = [f"{'HOST':<{width}}  {'OUTCOME':<12} {'FROM':<9} {'TO':<9} {'SECONDS':>7}  REASON"]
    for row in sorted(
        rows,
        key=lambda r: (OUTCOMES.index(r["outcome"]) if r["outcome"] in OUTCOMES else 99, r["host"]),
    ):
        lines.append(
            f"{row['host']:<{width}}  {row['outcome']:<12} {row.get('previous_version') or '-':<9} "
            f"{row.get('version') or '-':<9} {row.get('duration_s', 0):>7.1f}  "
            f"{row.get('reason') or row.get('plan') or ''}"
        )
    counts = {o: sum(1 for r in rows if r["outcome"] == o) for o in OUTCOMES}
    lines.append("Deploy: " + ", ".join(f"{o} {n}" for o, n in counts.items() if n))
    return "\n".join(lines)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # writes only on the controller, reports are wanted in check mode
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hostvars = (task_vars or {}).get("hostvars", {})
        reports = []
        outcomes: list[dict[str, Any]] = []
        # One read per host, untemplated: reading a registered result through
        # hostvars[host] would template (copy) the whole result, about 2 ms a host.
        # A registered result is module output, never a template, so nothing is lost.
        results = {
            h: hostvars.raw_get(h).get(args["result_var"]) if h in hostvars else None
            for h in args["hosts"]
        }
        any_outcome = any(isinstance(r, dict) and r.get("outcome") for r in results.values())
        for host, registered in results.items():
            data = registered.get("host_report") if isinstance(registered, dict) else None
            if isinstance(registered, dict) and registered.get("outcome"):
                outcomes.append(dict(registered))
            if isinstance(data, dict):
                reports.append(HostReport.from_dict(data))
            else:
                reason = args["missing"]
                if isinstance(registered, dict) and registered.get("msg"):
                    reason = str(registered["msg"])
                reports.append(unreachable(host, reason))
                if any_outcome and not (isinstance(registered, dict) and registered.get("outcome")):
                    outcomes.append({"host": host, "outcome": "not run", "reason": reason})
        report = fleet_report(reports, lang=args["lang"], title=args["title"])
        written = write_reports(report, Path(args["dest"]), args["formats"])
        if args["show"]:
            display.display(render_console(report, colour=False))
            if outcomes:
                display.display(outcome_table(outcomes))
        counts = report.host_status_counts
        result.update(
            changed=False,
            files={k: str(v) for k, v in written.items()},
            counts=counts,
            blocked=[h.host for h in report.hosts if h.status == "blocked"],
            outcomes={o["host"]: o["outcome"] for o in outcomes},
        )
        bad = sorted(o["host"] for o in outcomes if o["outcome"] in args["fail_on_outcomes"])
        if bad:
            result["failed"] = True
            result["msg"] = f"{len(bad)} host(s) not deployed as planned: {', '.join(bad)}"
        elif args["fail_on_blocked"] and (counts.get("blocked") or counts.get("unreachable")):
            result["failed"] = True
            result["msg"] = (
                f"{counts.get('blocked', 0)} host(s) blocked, {counts.get('unreachable', 0)} "
                "unreachable: see the report"
            )
        else:
            result["msg"] = ", ".join(f"{k}: {v}" for k, v in counts.items())
        return result
