"""Action plugin: the preflight of every host of the play at once, from the bastion.

The role sagefleet_preflight's fleet mode (sagefleet.ansible.preflight_play, docs/performance.md):
it starts the process that reaches every host and returns at once; each host's own
task then takes its result there. Hosts it cannot reach the way ansible-core's winrm
connection would are listed in ``per_host`` with the reason.
"""

from __future__ import annotations

import os
from typing import Any

from ansible import context
from ansible.utils.display import Display

from sagefleet import preflight
from sagefleet.ansible import preflight_play
from sagefleet.ansible.action import SagefleetAction
from sagefleet.ansible.preflight_play import FleetHost, plan_host
from sagefleet.inventory import templating
from sagefleet.remote.ansible import AnsibleSession, AnsibleWinRM

display = Display()

# Loaded in the bastion before it forks a worker (see the sagefleet_preflight action).
preflight.warm_up()


class ActionModule(SagefleetAction):
    # No arguments: it reads each host's variables.
    _supports_check_mode = True  # read-only
    _requires_connection = False

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        task_vars = self.task_vars
        names = [str(h) for h in task_vars.get("ansible_play_batch") or ()]
        try:
            hosts = self._plan(names)
        except Exception as exc:  # noqa: BLE001 - an Ansible it does not know: per host
            display.warning(f"sagefleet preflight: cannot read the hosts' connections ({exc})")
            hosts = [FleetHost(n, reason=f"{type(exc).__name__} while planning") for n in names]
        # Ansible's forks: never more hosts at once than ansible-playbook -f allows.
        forks = max(1, min(int(context.CLIARGS.get("forks") or 5), len(names) or 1))
        try:
            results = preflight_play.start(hosts, forks=forks, bastion=os.getppid())
        except Exception as exc:  # noqa: BLE001 - each host's own task still gathers it
            display.warning(f"sagefleet preflight: the fleet task failed ({exc}), hosts run alone")
            results = None
            for host in hosts:
                host.reason = host.reason or f"the fleet task failed ({type(exc).__name__})"
        per_host = {h.name: h.reason for h in hosts if h.reason is not None}
        handled = len(results.index) if results else 0
        return {
            "changed": False,
            # Not "results": Ansible reads that key of a task result as a loop's results.
            "process": results.to_dict() if results else None,
            "per_host": per_host,
            "forks": forks,
            "msg": (
                f"{handled} host(s) reached from the bastion, {forks} at a time"
                + (f"; {len(per_host)} left to their own task" if per_host else "")
            ),
        }

    def _plan(self, names: list[str]) -> list[FleetHost]:
        """Each host's variables as its own task would see them, and how it is gathered."""
        if not names:
            return []
        resolver = AnsibleWinRM(self._task, self._play_context)
        planned = []
        for name in names:
            raw = self.own_task_vars(name)
            templar = self._templar.copy_with_new_env(available_variables=raw)
            try:
                planned.append(
                    plan_host(
                        name,
                        templating(templar),
                        raw,
                        connection=self._task.connection,
                        become=bool(self._task.become),
                        resolve=lambda r=raw, t=templar: resolver.connection(r, t),
                    )
                )
            except Exception as exc:  # noqa: BLE001 - that host's own task reports it
                planned.append(
                    FleetHost(name, reason=f"{type(exc).__name__} while reading its connection")
                )
        return planned
