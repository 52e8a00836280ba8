"""Action plugin: restart the agent so it reads settings.json again (sagefleet.agent_service)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

from sagefleet import agent_profile, agent_service
from sagefleet.errors import SagefleetError
from sagefleet.remote import AuthenticationFailed, HostUnreachable
from sagefleet.remote.ansible import AnsibleSession

READ_VARS = (
    agent_profile.VARIABLE,
    "inventory_dir",
    *(variable for variable, _ in agent_profile.OVERRIDES),
    "sagefleet_agent_stop_timeout_s",
    "sagefleet_agent_start_timeout_s",
)

# No arguments: the service and its timeouts are the host's inventory (READ_VARS).
ARGUMENT_SPEC: dict[str, Any] = {}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # reads the service's state, restarts nothing
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = str(task_vars.get("inventory_hostname"))
        variables = {n: self._templar.template(task_vars[n]) for n in READ_VARS if n in task_vars}
        try:
            options = agent_service.options_from(host, variables)
        except SagefleetError as exc:
            result.update(failed=True, msg=f"invalid input, host not contacted: {exc}")
            return result
        session = AnsibleSession(host, self._connection)
        try:
            done = agent_service.restart(session, options, check=bool(self._task.check_mode))
        except (HostUnreachable, AuthenticationFailed) as exc:
            raise AnsibleConnectionFailure(str(exc)) from None
        except SagefleetError as exc:
            result.update(failed=True, changed=False, msg=f"agent not restarted: {exc}")
            return result
        result.update(
            changed=done.installed and not done.planned,
            failed=not done.ok,
            state=done.state,
            state_before=done.state_before,
            killed_pid=done.killed_pid,
            msg=done.message,
        )
        return result
