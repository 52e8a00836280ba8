"""Action plugin: install or upgrade the agent on one host (see sagefleet.deploy)."""

from __future__ import annotations

from typing import Any

from sagefleet.ansible.action import SagefleetAction
from sagefleet.deploy import deploy_host, warm_up
from sagefleet.errors import SagefleetError
from sagefleet.outcomes import Outcome
from sagefleet.package import info_from_dict
from sagefleet.remote.ansible import AnsibleSession

# Ansible imports this module in its bastion process before forking a worker per
# host: load what a deploy needs here, once, instead of in every worker.
warm_up()


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {"package": {"type": "dict", "required": True}}
    _supports_check_mode = True  # check mode plans without touching the host

    def read_variables(self) -> dict[str, Any]:
        return self.sagefleet_variables()

    def prepare(self, variables: dict[str, Any]) -> Any:
        return variables, info_from_dict(self.args["package"])

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        variables, package = inputs
        # Input errors raise before the host is touched (refused below).
        outcome = deploy_host(
            session,
            self.host,
            variables,
            package,
            check_mode=bool(self._play_context.check_mode),
            diff=bool(self._task.diff),
        )
        result = outcome.to_dict()
        result["host_report"] = outcome.report.to_dict() if outcome.report else None
        if outcome.diff:
            result["diff"] = {"prepared": outcome.diff}
        summary = outcome.plan or outcome.outcome.value
        result["msg"] = f"{outcome.outcome.value}: {summary}" + (
            f" ({outcome.reason})" if outcome.reason else ""
        )
        if outcome.warnings:
            result["warnings"] = list(outcome.warnings)
        if outcome.failed:
            result["failed"] = True
        return result

    def refused(self, exc: SagefleetError) -> dict[str, Any]:
        # An outcome, so the fleet summary counts the host as failed (and the run fails).
        reason = f"invalid input, host not touched: {exc}"
        return {
            "failed": True,
            "host": self.host,
            "outcome": Outcome.FAILED.value,
            "reason": reason,
            "msg": reason,
        }

    failed = refused
