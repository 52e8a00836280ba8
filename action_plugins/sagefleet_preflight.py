"""Action plugin: preflight of one Windows host: facts in one round trip, checks on the bastion.

In the role's fleet mode (sagefleet.ansible.preflight_play) this host's facts were gathered by
the fleet task's process: this task takes its result there and contacts nothing. Either way
it ends the host with its status (preflight_play.ended): a host that could not be diagnosed
is unreachable, a blocked one fails with sagefleet_preflight_fail_on_blocked. The play's
first host is ended unreachable after the report instead (SagefleetAction.unreachable_deferred).
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.utils.display import Display

from sagefleet import preflight
from sagefleet.ansible.action import Done, SagefleetAction
from sagefleet.ansible.preflight_play import (
    FLEET_RESULT_VAR,
    Results,
    ended,
    host_variables,
    preflight_vars,
    task_result,
)
from sagefleet.remote import HostSession
from sagefleet.variables import module_spec
from sagefleet.variables.jobs import FAIL_ON_BLOCKED

display = Display()

# Ansible imports this module in its bastion process before forking a worker per
# host: load the checks and catalogs here, once, instead of in every worker.
preflight.warm_up()


class ActionModule(SagefleetAction):
    # Every option stands for an inventory variable (sagefleet.variables) and overrides it;
    # none has a default: left out, the host's variable (or its declared default) is in force.
    ARGUMENT_SPEC: dict[str, Any] = module_spec("sagefleet_preflight")
    _supports_check_mode = True  # read-only
    # A transient fault is retried (sagefleet_winrm_retries), as doctor and the fleet mode
    # retry it: both modes report the same host the same way.
    RETRIES = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        run = super().run
        return self.unreachable_deferred(
            lambda: ended(run(tmp, task_vars), self._fail_on_blocked())
        )

    def _fail_on_blocked(self) -> bool:
        """The role's sagefleet_preflight_fail_on_blocked for this host (its argument spec
        refused anything but a boolean; ``-e name=true`` gives a string, read as Ansible's
        ``bool`` filter reads it); unset, as declared."""
        given = self.task_vars.get(FAIL_ON_BLOCKED.name, FAIL_ON_BLOCKED.default)
        return boolean(self.template(given), strict=False)

    def ready(self) -> Done | None:
        # Arguments given to this task change what is checked: the fleet task, which read
        # the host's variables only, did not check that.
        if any(self.args.get(name) is not None for name in self.ARGUMENT_SPEC):
            return None
        fleet = Results.from_value(self.task_vars.get(FLEET_RESULT_VAR))
        if fleet is None or self.host not in fleet.index:
            return None
        handed = fleet.take(self.host)
        if handed is not None:  # gathered by the fleet task's process: nothing to contact
            return Done(handed)
        display.warning(
            f"{self.host}: the fleet task's process ended without this host's result: "
            "gathering it from this task"
        )
        return None

    def read_variables(self) -> dict[str, Any]:
        return host_variables(self.task_vars, self.template)

    def prepare(self, variables: dict[str, Any]) -> preflight.PreparedHost:
        return preflight.prepare(self.host, preflight_vars(self.args, variables))

    def act(self, session: HostSession | None, inputs: Any) -> dict[str, Any]:
        assert session is not None  # this plugin connects (SagefleetAction)
        report, _ = preflight.run(session, inputs, address=self._address())
        return task_result(report)

    def _address(self) -> str:
        """The address the connection reaches the host at (the fleet task reports the same)."""
        try:
            return str(self._connection.get_option("remote_addr"))
        except (AttributeError, KeyError):  # a connection plugin without that option
            return str(self.template(self.task_vars.get("ansible_host", self.host)))
