"""Action plugin: end a host's run with its outcome, so that PLAY RECAP names the host.

The fleet report is written once, on the bastion; this task then runs on each
host of the play (whatever ``--limit`` selected) and fails the hosts the run
left behind (failed, rolled back, verify failed, not run: Ansible's exit code
2) or marks them unreachable (exit code 4), each with its reason. It touches
no host: it only reads the status it is given.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from sagefleet import outcomes

ARGUMENT_SPEC: dict[str, Any] = {
    "status": {"type": "str", "required": True, "choices": list(outcomes.STATUSES)},
    "reason": {"type": "str", "default": ""},
    "fail_on": {"type": "list", "elements": "str", "default": list(outcomes.FAILED)},
    "unreachable_on": {"type": "list", "elements": "str", "default": ["unreachable"]},
}


def verdict(
    status: str, reason: str, fail_on: list[str], unreachable_on: list[str]
) -> dict[str, Any]:
    """The task result for a host ending in ``status``."""
    message = f"{status}: {reason}" if reason else status
    result: dict[str, Any] = {"changed": False, "status": status, "msg": message}
    if status in unreachable_on:
        result["unreachable"] = True
    elif status in fail_on:
        result["failed"] = True
    return result


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        unknown = sorted(set(args["fail_on"] + args["unreachable_on"]) - set(outcomes.STATUSES))
        if unknown:
            result.update(
                failed=True,
                msg=f"fail_on/unreachable_on: unknown status {', '.join(unknown)}; "
                f"choose among {', '.join(outcomes.STATUSES)}",
            )
            return result
        result.update(
            verdict(args["status"], args["reason"], args["fail_on"], args["unreachable_on"])
        )
        return result
