"""Action plugin: open this run's report folder, or close it once its report is written.

``state: open`` creates ``reports/<inventory name>/<job>/<UTC time>/`` (or uses
the folder named by ``dest`` as is) before anything writes into it; ``state:
closed`` checks that the run really wrote its report there, points
``latest`` at it, and returns the report (text and per-host statuses). A run
that wrote nothing says so, and its time folder is removed: no report
of another run is ever shown as this run's (sagefleet.report.runs).
"""

from __future__ import annotations

import json
from typing import Any

from ansible.plugins.action import ActionBase

from sagefleet.report.runs import (
    PLAY_VARS,
    RunFolder,
    discard,
    link_latest,
    open_for_play,
    written,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "state": {"type": "str", "choices": ["open", "closed"], "default": "open"},
    "job": {"type": "str"},
    "dest": {"type": "path"},
    "folder": {"type": "dict"},
}


def close(run: RunFolder) -> dict[str, Any]:
    """What this run wrote in its folder: the report's text and each host's status."""
    if not written(run):
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
    document = json.loads((run.path / "report.json").read_text(encoding="utf-8"))
    text_file = run.path / "report.txt"
    text = text_file.read_text(encoding="utf-8") if text_file.exists() else ""
    statuses, reasons = {}, {}
    for host in document.get("hosts") or []:
        statuses[host["host"]] = host["status"]
        failed = sorted(
            {
                f"{f['check_id']} {f['message']}"
                for f in host.get("findings") or ()
                if f.get("status") == "fail"
            }
        )
        outcome = host.get("outcome") or {}
        reasons[host["host"]] = outcome.get("reason") or host.get("error") or "; ".join(failed)
    latest = link_latest(run)
    return {
        "written": True,
        "folder": str(run.path),
        "latest": str(latest) if latest else None,
        "text": text,
        "statuses": statuses,
        "reasons": reasons,
        "msg": f"report written to {run.path}",
    }


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # writes only on the controller, as the reports do
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args["state"] == "open":
            if not args["job"]:
                result.update(
                    failed=True, msg="state open needs job (preflight, deploy, verify...)"
                )
                return result
            run = open_for_play(
                args["job"],
                args["dest"],
                {
                    k: self._templar.template(v)
                    for k, v in (task_vars or {}).items()
                    if k in PLAY_VARS
                },
            )
            result.update(
                changed=False, msg=f"reports of this run go to {run.path}", **run.to_dict()
            )
            return result
        if not args["folder"]:
            result.update(failed=True, msg="state closed needs folder (what state open returned)")
            return result
        result.update(changed=False, **close(RunFolder.from_dict(args["folder"])))
        return result
