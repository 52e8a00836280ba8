"""Action plugin: aggregate per-host results into the fleet report (console, JSON, JUnit, HTML).

It never fails the run itself: it returns each host's status and reason (``statuses``,
``reasons``, from sagefleet.report.outcome_table) and the statuses that fail it
(``fail_on``: a blocked host by its own ``fail_on_blocked_var``), and sagefleet_outcome
then ends each host with its status, so that PLAY RECAP names them whatever ``--limit``
says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.utils.display import Display

from sagefleet import outcomes
from sagefleet.ansible.action import SagefleetAction
from sagefleet.errors import InputError
from sagefleet.findings import HostReport
from sagefleet.outcomes import Outcome
from sagefleet.preflight import fleet_report
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.report import FORMATS, render_console, write_reports
from sagefleet.report.outcome_table import host_reason, host_report
from sagefleet.report.runs import RunFolder, clear_stale, link_latest, open_for_play
from sagefleet.variables import aliases_of, declared, value

display = Display()


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "result_var": {"type": "str", "default": "sagefleet_preflight_result"},
        "wave_var": {"type": "str"},
        # A task that followed on each host (settings.yml's restart): its failure fails
        # a host whose outcome passed.
        "after_var": {"type": "str"},
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
        # Every blocked host fails the run too; or, by host, the variable that says so
        # (deploy.yml's sagefleet_deploy_fail_on_blocked), read from each host's variables.
        "fail_on_blocked": {"type": "bool"},
        "fail_on_blocked_var": {"type": "str"},
        # The task that registered result_var ended each host itself (preflight's checks
        # task, by the host's own fail_on_blocked_var as it saw it, play and role variables
        # included): a blocked host fails the run when its result failed, as PLAY RECAP says.
        "ended_in_result": {"type": "bool", "default": False},
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
        args = self.args
        names = [n for n in (args["result_var"], args["wave_var"], args["after_var"]) if n]
        return self.registered(self.args["hosts"], names)

    def prepare(self, variables: dict[str, Any]) -> dict[str, Any]:
        name = self.args["fail_on_blocked_var"]
        if not name:
            return variables
        var = declared().get(name)
        if var is None or var.type != "bool":
            raise InputError(
                "fail_on_blocked_var must name a declared boolean variable",
                field="fail_on_blocked_var",
                value=name,
                fix="name a variable such as sagefleet_deploy_fail_on_blocked",
            )
        if self.args["fail_on_blocked"] is not None:
            raise InputError(
                "give fail_on_blocked or fail_on_blocked_var, not both",
                field="fail_on_blocked",
                fix="leave fail_on_blocked out: each host's variable decides",
            )
        return variables

    def _fail_on_blocked(
        self, reports: list[HostReport], inputs: dict[str, dict[str, Any]]
    ) -> bool | frozenset[str]:
        """fail_on_blocked, or the blocked hosts whose own fail_on_blocked_var is true (its
        declared default for a host that sets none), or with ended_in_result those whose
        result failed. Only a blocked host's value decides how the run ends it: the
        others' are not read (hostvars costs 0.5-1 ms a host); without a blocked host, the
        value of the host this task runs for."""
        name = self.args["fail_on_blocked_var"]
        if not name:
            return bool(self.args["fail_on_blocked"])
        blocked = [r.host for r in reports if r.status == Outcome.BLOCKED]
        if not blocked:
            return bool(self.own_value(name))
        if self.args["ended_in_result"]:
            results = {host: inputs[host].get(self.args["result_var"]) for host in blocked}
            return frozenset(
                host for host, result in results.items()
                if isinstance(result, Mapping) and result.get("failed")
            )
        names = {name, *aliases_of(name)}
        given = self.hosts_variables(blocked, select=names.__contains__)
        return frozenset(host for host in blocked if value(host, given[host], name))

    def _lang(self) -> str:
        return str(self.args["lang"] or self.own_value("sagefleet_lang"))

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        args = self.args
        reports = [
            host_report(
                host,
                variables.get(args["result_var"]),
                variables.get(args["wave_var"]) if args["wave_var"] else None,
                args["missing"],
                args["missing_status"],
                variables.get(args["after_var"]) if args["after_var"] else None,
            )
            for host, variables in inputs.items()
        ]
        report = fleet_report(
            reports,
            lang=self._lang(),
            title=args["title"],
            fail_on_blocked=self._fail_on_blocked(reports, inputs),
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
        blocked = [Outcome.BLOCKED.value]
        fail_on = {
            h.host: [*outcomes.FAILED, *(blocked if report.fail_on_blocked_for(h.host) else [])]
            for h in report.hosts
        }
        return {
            "changed": False,
            "folder": str(run.path),
            "latest": str(latest) if latest else None,
            "files": {k: str(v) for k, v in written.items()},
            "counts": counts,
            "blocked": [h.host for h in report.hosts if h.status == Outcome.BLOCKED],
            "statuses": {h.host: h.status for h in report.hosts},
            "reasons": {h.host: host_reason(h) for h in report.hosts},
            # By host, the statuses sagefleet_outcome fails (fail_on) and, with those it
            # marks unreachable, every status it marks (the others end ok).
            "fail_on": fail_on,
            "marked": {host: [*ends, *outcomes.UNREACHABLE] for host, ends in fail_on.items()},
            "msg": ", ".join(f"{k}: {v}" for k, v in counts.items()),
        }
