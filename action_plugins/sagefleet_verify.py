"""Action plugin: run the testinfra suites on the bastion, with the playbook's vault."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from sagefleet.ansible.action import SagefleetAction
from sagefleet.inventory import current_secrets
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.verify.runner import run_suites, suites_argv


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        "suites": {"type": "path", "required": True},
        "limit": {"type": "str", "default": "all"},
        "workers": {"type": "int", "default": 0},
        "report_dir": {"type": "path"},
    }
    _supports_check_mode = True  # read-only: it verifies in check mode too
    _requires_connection = False

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        args, variables = self.args, self.task_vars
        argv = suites_argv(
            str(variables.get("ansible_playbook_python") or sys.executable),
            args["suites"],
            [str(s) for s in variables.get("ansible_inventory_sources") or []],
            limit=args["limit"],
            workers=args["workers"],
            report_dir=args["report_dir"],
        )
        # When the suites started, as ansible.builtin.command says it: a report older
        # than this is an earlier run's (sagefleet.deploy.waves).
        start = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
        # The vault secrets ansible-playbook opened the inventory with, in memory.
        run = run_suites(argv, current_secrets(self._loader))
        return {
            # The suites' result is in rc and msg; the playbook decides (Ansible would
            # otherwise fail the task on a non-zero rc).
            "failed": False,
            "changed": False,
            "cmd": run.argv,
            "rc": run.rc,
            "stdout": run.stdout,
            "stderr": run.stderr,
            "stdout_lines": run.stdout.splitlines(),
            "msg": run.message,
            "start": start,
        }
