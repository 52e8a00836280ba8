"""Action plugin: preflight of one Windows host: facts in one round trip, checks on the bastion.

In the role's fleet mode (sagefleet.preflight_play) the facts of this host are
gathered by the process the fleet task started before this one: this task waits
for the host's result there and contacts nothing.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from sagefleet import preflight
from sagefleet.errors import SagefleetError
from sagefleet.preflight_play import (
    FLEET_RESULT_VAR,
    Results,
    host_variables,
    preflight_vars,
    task_result,
)
from sagefleet.remote import AuthenticationFailed, HostUnreachable
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.variables import module_spec

display = Display()

# Ansible imports this module in its controller process before forking a worker per
# host: load the checks and catalogs here, once, instead of in every worker.
preflight.warm_up()

# Every option stands for an inventory variable (sagefleet.variables) and overrides it;
# none has a default: left out, the host's variable (or its declared default) is in force.
ARGUMENT_SPEC: dict[str, Any] = module_spec("sagefleet_preflight")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # read-only
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = str(task_vars.get("inventory_hostname"))
        # Arguments given to this task change what is checked: the fleet task, which read
        # the host's variables only, did not check that.
        overridden = any(args.get(name) is not None for name in ARGUMENT_SPEC)
        fleet = None if overridden else Results.from_value(task_vars.get(FLEET_RESULT_VAR))
        if fleet is not None and host in fleet.index:
            handed = fleet.take(host)
            if handed is not None:  # gathered by the fleet task's process: nothing to contact
                result.update(handed)
                return result
            display.warning(
                f"{host}: the fleet task's process ended without this host's result: "
                "gathering it from this task"
            )
        variables = host_variables(task_vars, self._templar.template)
        try:
            prepared = preflight.prepare(host, preflight_vars(args, variables))
        except SagefleetError as exc:
            result.update(failed=True, msg=f"invalid input, host not contacted: {exc}")
            return result
        session = AnsibleSession(host, self._connection)
        try:
            report, _ = preflight.run(session, prepared, address=self._address(task_vars, host))
        except (HostUnreachable, AuthenticationFailed) as exc:  # raised outside run()
            raise AnsibleConnectionFailure(str(exc)) from None
        result.update(task_result(report))
        return result

    def _address(self, task_vars: dict[str, Any], host: str) -> str:
        """The address the connection reaches the host at (the fleet task reports the same)."""
        try:
            return str(self._connection.get_option("remote_addr"))
        except (AttributeError, KeyError):  # a connection plugin without that option
            return str(self._templar.template(task_vars.get("ansible_host", host)))
