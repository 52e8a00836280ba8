"""Action plugin: aggregate per-host results into the fleet report (console, JSON, JUnit, HTML).

It never fails the run itself: it returns each host's status and reason (``statuses``,
``reasons``, from sagefleet.report.outcome_table), and sagefleet_outcome then ends each
host with its status, so that PLAY RECAP names them whatever ``--limit`` says.
"""

from __future__ import annotations

from typing import Any

from ansible.utils.display import Display

from sagefleet import outcomes
from sagefleet.ansible.action import SagefleetAction
from sagefleet.outcomes import Outcome
from sagefleet.preflight import fleet_report
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.report import FORMATS, render_console, write_reports
from sagefleet.report.outcome_table import host_reason, host_report
from sagefleet.report.runs import RunFolder, clear_stale, link_latest, open_for_play
from sagefleet.variables import aliases_of, value

display = Display()


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
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
        # Left out: the sagefleet_lang of the host the task runs for.
        "lang": {"type": "str", "choices": ["en", "fr"]},
        "show": {"type": "bool", "default": True},
        "missing": {
            "type": "str",
            "default": "no result: the host was unreachable or failed before preflight",
        },
        # deploy.yml's sagefleet_deploy_fail_on_blocked: a blocked host fails the run too.
        "fail_on_blocked": {"type": "bool", "default": False},
        "missing_status": {
            "type": "str",
            "choices": [Outcome.UNREACHABLE.value, Outcome.NOT_RUN.value],
            "default": Outcome.UNREACHABLE.value,
        },
    }
    _supports_check_mode = True  # writes only on the bastion, reports are wanted in check mode
    _requires_connection = False

    def read_variables(self) -> dict[str, Any]:
        """The results this report reads, by host."""
        names = [n for n in (self.args["result_var"], self.args["wave_var"]) if n]
        return self.registered(self.args["hosts"], names)

    def _lang(self) -> str:
        if self.args["lang"]:
            return str(self.args["lang"])
        names = ["sagefleet_lang", *aliases_of("sagefleet_lang")]
        given = {n: self.template(self.task_vars[n]) for n in names if n in self.task_vars}
        return str(value(self.host, given, "sagefleet_lang"))

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        args = self.args
        reports = [
            host_report(
                host,
                variables.get(args["result_var"]),
                variables.get(args["wave_var"]) if args["wave_var"] else None,
                args["missing"],
                args["missing_status"],
            )
            for host, variables in inputs.items()
        ]
        report = fleet_report(
            reports,
            lang=self._lang(),
            title=args["title"],
            fail_on_blocked=args["fail_on_blocked"],
        )
        if args["folder"]:
            run = RunFolder.from_dict(args["folder"])
        else:
            run = open_for_play(args["job"], args["dest"], self.report_vars())
        # A folder named explicitly: what an earlier run left there goes first.
        clear_stale(run)
        written = write_reports(report, run.path, args["formats"])
        latest = link_latest(run)
        if args["show"]:
            display.display(render_console(report, colour=False))
            where = written.get("html") or next(iter(written.values()))
            display.display(f"Report: {where}" + (f" (also {latest}/)" if latest else ""))
        counts = report.host_status_counts
        fail_on = [*outcomes.FAILED, *([Outcome.BLOCKED.value] if args["fail_on_blocked"] else [])]
        return {
            "changed": False,
            "folder": str(run.path),
            "latest": str(latest) if latest else None,
            "files": {k: str(v) for k, v in written.items()},
            "counts": counts,
            "blocked": [h.host for h in report.hosts if h.status == Outcome.BLOCKED],
            "statuses": {h.host: h.status for h in report.hosts},
            "reasons": {h.host: host_reason(h) for h in report.hosts},
            # The statuses sagefleet_outcome fails (fail_on) and, with those it marks
            # unreachable, every status it marks (the others end ok).
            "fail_on": fail_on,
            "marked": [*fail_on, *outcomes.UNREACHABLE],
            "msg": ", ".join(f"{k}: {v}" for k, v in counts.items()),
        }
