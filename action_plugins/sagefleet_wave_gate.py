"""Action plugin: decide after each wave whether the rollout may go on.

It only gathers the wave's registered results; the verdict (stop, failed hosts, each
verified host's verdict) is sagefleet.deploy.waves' (docs/deploy.md, step 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sagefleet.ansible.action import SagefleetAction
from sagefleet.deploy.waves import judge_wave
from sagefleet.remote.ansible import AnsibleSession

#: The share of failed hosts in a wave that stops the rollout.
MAX_FAIL = "sagefleet_deploy_max_fail_percentage"


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "result_var": {"type": "str", "default": "sagefleet_agent_result"},
        # Unset: the play's sagefleet_deploy_max_fail_percentage (sagefleet.variables).
        "max_fail_percentage": {"type": "float"},
        "verify": {"type": "dict"},
        "verify_report": {"type": "path"},
    }
    _requires_connection = False

    def read_variables(self) -> dict[str, Any]:
        """Each host's registered deploy result (None: it has none), and the share of
        failed hosts that stops the rollout."""
        name = self.args["result_var"]
        found = self.registered(self.args["hosts"], [name])
        share = self.args["max_fail_percentage"]
        if share is None:
            share = self.own_value(MAX_FAIL)
        return {
            "results": {host: found[host].get(name) for host in self.args["hosts"]},
            "share": float(share),
        }

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        report = self.args["verify_report"]
        verdict = judge_wave(
            inputs["results"],
            inputs["share"],
            run=self.args["verify"] or {},
            report_folder=Path(report) if report else None,
        )
        return verdict.to_result()
