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
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # writes only on the controller, reports are wanted in check mode
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hostvars = (task_vars or {}).get("hostvars", {})
        reports = []
        for host in args["hosts"]:
            registered = hostvars[host].get(args["result_var"]) if host in hostvars else None
            data = registered.get("host_report") if isinstance(registered, dict) else None
            if isinstance(data, dict):
                reports.append(HostReport.from_dict(data))
            else:
                reason = "no result: the host was unreachable or failed before preflight"
                if isinstance(registered, dict) and registered.get("msg"):
                    reason = str(registered["msg"])
                reports.append(unreachable(host, reason))
        report = fleet_report(reports, lang=args["lang"], title=args["title"])
        written = write_reports(report, Path(args["dest"]), args["formats"])
        if args["show"]:
            display.display(render_console(report, colour=False))
        counts = report.host_status_counts
        result.update(
            changed=False,
            files={k: str(v) for k, v in written.items()},
            counts=counts,
            blocked=[h.host for h in report.hosts if h.status == "blocked"],
        )
        if args["fail_on_blocked"] and (counts.get("blocked") or counts.get("unreachable")):
            result["failed"] = True
            result["msg"] = (
                f"{counts.get('blocked', 0)} host(s) blocked, {counts.get('unreachable', 0)} "
                "unreachable: see the report"
            )
        else:
            result["msg"] = ", ".join(f"{k}: {v}" for k, v in counts.items())
        return result
