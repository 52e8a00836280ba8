"""Action plugin: decide after each wave whether the rollout may go on.

Ansible's max_fail_percentage aborts the playbook, and with it the fleet
summary; this gate instead stops new waves (the hosts left are reported as
"not run") and lets the summary play report everything and fail the run.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

ARGUMENT_SPEC: dict[str, Any] = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "result_var": {"type": "str", "default": "sagefleet_agent_result"},
    "max_fail_percentage": {"type": "float", "default": 20.0},
}

FAILED = ("rolled-back", "failed")


def wave_verdict(outcomes: dict[str, str], max_fail_percentage: float) -> tuple[bool, str]:
    """(stop, message) for one wave: unreachable and skipped hosts are not failures."""
    failed = sorted(h for h, o in outcomes.items() if o in FAILED)
    share = 100.0 * len(failed) / max(1, len(outcomes))
    stop = share > max_fail_percentage
    message = (
        f"wave of {len(outcomes)}: {len(failed)} failed ({share:.0f}%, limit "
        f"{max_fail_percentage:g}%)" + (f": {', '.join(failed)}" if failed else "")
    )
    return stop, message + ("; rollout stopped, no new wave starts" if stop else "")


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
        stop, message = wave_verdict(outcomes, args["max_fail_percentage"])
        result.update(changed=False, stop=stop, msg=message, outcomes=outcomes)
        return result
