"""Action plugin: install or upgrade the agent on one host (see sagefleet.deploy)."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from sagefleet import preflight
from sagefleet.deploy import deploy_host
from sagefleet.errors import SagefleetError
from sagefleet.inventory import sagefleet_var_names
from sagefleet.package import info_from_dict
from sagefleet.remote.ansible import AnsibleSession

# Ansible imports this module in its controller process before forking a worker per
# host: load what the preflight gate needs here, once, instead of in every worker.
preflight.warm_up()

ARGUMENT_SPEC: dict[str, Any] = {
    "package": {"type": "dict", "required": True},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # check mode plans without touching the host
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = str(task_vars.get("inventory_hostname"))
        # Secrets (entity and account passwords) are read here, never passed as arguments.
        variables = {
            n: self._templar.template(task_vars[n]) for n in sagefleet_var_names(task_vars)
        }
        try:
            package = info_from_dict(args["package"])
            outcome = deploy_host(
                AnsibleSession(host, self._connection),
                host,
                variables,
                package,
                check_mode=bool(self._play_context.check_mode),
                diff=bool(self._task.diff),
            )
        except SagefleetError as exc:
            # An outcome, so the fleet summary counts the host as failed (and the run fails).
            reason = f"invalid input, host not touched: {exc}"
            result.update(failed=True, host=host, outcome="failed", reason=reason, msg=reason)
            return result
        result.update(outcome.to_dict())
        result["host_report"] = outcome.report.to_dict() if outcome.report else None
        if outcome.diff:
            result["diff"] = {"prepared": outcome.diff}
        summary = outcome.plan or outcome.outcome
        result["msg"] = f"{outcome.outcome}: {summary}" + (
            f" ({outcome.reason})" if outcome.reason else ""
        )
        if outcome.failed:
            result["failed"] = True
        return result
