"""Action plugin: restart the agent so it reads settings.json again (sagefleet.agent.service)."""

from __future__ import annotations

from typing import Any

from sagefleet.agent import profile as agent_profile
from sagefleet.agent import service as agent_service
from sagefleet.ansible.action import SagefleetAction
from sagefleet.errors import SagefleetError
from sagefleet.remote import HostSession

READ_VARS = (
    agent_profile.VARIABLE,
    "inventory_dir",
    *(variable for variable, _ in agent_profile.OVERRIDES),
    "sagefleet_agent_stop_timeout_s",
    "sagefleet_agent_start_timeout_s",
)


class ActionModule(SagefleetAction):
    # A transient WinRM failure of a read is retried; the restart itself never is (a
    # restart stopped part way is read again instead).
    RETRIES = True
    # No arguments: the service and its timeouts are the host's inventory (READ_VARS).
    _supports_check_mode = True  # reads the service's state, restarts nothing

    def read_variables(self) -> dict[str, Any]:
        return {n: self.template(self.task_vars[n]) for n in READ_VARS if n in self.task_vars}

    def prepare(self, variables: dict[str, Any]) -> agent_service.RestartOptions:
        return agent_service.options_from(self.host, variables)

    def act(self, session: HostSession | None, inputs: Any) -> dict[str, Any]:
        done = agent_service.restart(session, inputs, check=self.check_mode)
        return {
            # In check mode, what a run would do (Ansible's convention, as the settings
            # write and the deploy report it): an installed agent would be restarted.
            "changed": done.installed,
            "failed": not done.ok,
            "state": done.state,
            "state_before": done.state_before,
            "killed_pid": done.killed_pid,
            "msg": done.message,
        }

    def failed(self, exc: SagefleetError) -> dict[str, Any]:
        return {"failed": True, "changed": False, "msg": f"agent not restarted: {exc}"}
