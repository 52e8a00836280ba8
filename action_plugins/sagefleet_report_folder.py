"""Action plugin: open this run's report folder, or close it once its report is written.

``state: open`` creates ``reports/<inventory name>/<job>/<UTC time>/`` (or ``dest``);
``state: closed`` returns what this run wrote there, and only that
(sagefleet.report.runs; docs/deploy.md, report folders).
"""

from __future__ import annotations

import json
from typing import Any

from sagefleet.ansible.action import SagefleetAction
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.report.runs import (
    REPORT,
    RunFolder,
    check_for_play,
    clear_stale,
    discard,
    link_latest,
    open_for_play,
    written,
)


def close(run: RunFolder, report: str = REPORT) -> dict[str, Any]:
    """What this run wrote in its folder: the report's text and each host's status (a
    fleet report, ``report.json``), or only that it wrote ``report`` (another document,
    such as site.yml's ``host_info.json``)."""
    if not written(run, report):
        removed = discard(run)
        return {
            "written": False,
            "folder": str(run.path),
            "text": "",
            "statuses": {},
            "reasons": {},
            "msg": "this run wrote no report"
            + ("" if removed else f" in {run.path} (any file there is from an earlier run)"),
        }
    clear_stale(run)  # a folder named explicitly: what an earlier run left there
    # A fleet report also gives its text and each host's status; another document, only
    # that it was written.
    text, statuses, reasons = _read_fleet_report(run) if report == REPORT else ("", {}, {})
    latest = link_latest(run)
    return {
        "written": True,
        "folder": str(run.path),
        "latest": str(latest) if latest else None,
        "text": text,
        "statuses": statuses,
        "reasons": reasons,
        "msg": f"{'report' if report == REPORT else report} written to {run.path}",
    }


def _read_fleet_report(run: RunFolder) -> tuple[str, dict[str, str], dict[str, str]]:
    """The console text of the fleet report in ``run``, and each host's status and reason."""
    document = json.loads((run.path / REPORT).read_text(encoding="utf-8"))
    text_file = run.path / "report.txt"
    text = text_file.read_text(encoding="utf-8") if text_file.exists() else ""
    statuses, reasons = {}, {}
    for host in document.get("hosts") or []:
        statuses[host["host"]] = host["status"]
        failed = sorted(
            {
                f"{f['check_id']} {f['message']}"
                for f in host.get("findings") or ()
                if f.get("status") == "fail" and f.get("severity") != "info"  # a note
            }
        )
        outcome = host.get("outcome") or {}
        reasons[host["host"]] = outcome.get("reason") or host.get("error") or "; ".join(failed)
    return text, statuses, reasons


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        "state": {"type": "str", "choices": ["open", "closed"], "default": "open"},
        "job": {"type": "str"},
        "dest": {"type": "path"},
        "folder": {"type": "dict"},
        "report": {"type": "str", "default": REPORT},
    }
    _supports_check_mode = True  # writes only on the bastion, as the reports do
    _requires_connection = False

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        args = self.args
        if args["state"] == "open":
            if not args["job"]:
                return {
                    "failed": True,
                    "msg": "state open needs job (preflight, deploy, verify...)",
                }
            # A folder it cannot write is said now, naming the variable (a folder named
            # explicitly is made only by what writes into it, at the report).
            job, play = args["job"], self.report_vars()
            check_for_play(job, args["dest"], f"sagefleet_{job}_report_dir", play)
            run = open_for_play(job, args["dest"], play)
            return {
                "changed": False,
                "msg": f"reports of this run go to {run.path}",
                **run.to_dict(),
            }
        if not args["folder"]:
            return {"failed": True, "msg": "state closed needs folder (what state open returned)"}
        return {"changed": False, **close(RunFolder.from_dict(args["folder"]), args["report"])}
