"""Action plugin: end a host's run with its outcome, so that PLAY RECAP names the host.

It runs on each host of the report play, touches no host, and fails or marks
unreachable the hosts the run left behind (sagefleet.outcomes.end_host;
docs/deploy.md#outcomes-reports-and-exit-codes).
"""

from __future__ import annotations

from typing import Any

from sagefleet import outcomes
from sagefleet.ansible.action import SagefleetAction
from sagefleet.remote.ansible import AnsibleSession


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        "status": {"type": "str", "required": True, "choices": list(outcomes.STATUSES)},
        "reason": {"type": "str", "default": ""},
        "fail_on": {"type": "list", "elements": "str", "default": list(outcomes.FAILED)},
        "unreachable_on": {
            "type": "list",
            "elements": "str",
            "default": list(outcomes.UNREACHABLE),
        },
    }
    _requires_connection = False

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        args = self.args
        unknown = sorted(set(args["fail_on"] + args["unreachable_on"]) - set(outcomes.STATUSES))
        if unknown:
            return {
                "failed": True,
                "msg": f"fail_on/unreachable_on: unknown status {', '.join(unknown)}; "
                f"choose among {', '.join(outcomes.STATUSES)}",
            }
        return outcomes.end_host(
            args["status"], args["reason"], args["fail_on"], args["unreachable_on"]
        )
