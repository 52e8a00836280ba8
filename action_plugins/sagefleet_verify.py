"""Action plugin: run the testinfra suites on the controller, with the playbook's vault."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from ansible.plugins.action import ActionBase

from sagefleet.inventory import current_secrets
from sagefleet.verify.runner import run_suites, suites_argv

ARGUMENT_SPEC: dict[str, Any] = {
    "suites": {"type": "path", "required": True},
    "limit": {"type": "str", "default": "all"},
    "workers": {"type": "int", "default": 0},
    "report_dir": {"type": "path"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # read-only: it verifies in check mode too
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        variables = task_vars or {}
        argv = suites_argv(
            str(variables.get("ansible_playbook_python") or sys.executable),
            args["suites"],
            [str(s) for s in variables.get("ansible_inventory_sources") or []],
            limit=args["limit"],
            workers=args["workers"],
            report_dir=args["report_dir"],
        )
        # When the suites started, as ansible.builtin.command says it: a report older
        # than this is an earlier run's (sagefleet_wave_gate).
        start = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
        # The vault secrets ansible-playbook opened the inventory with, in memory.
        run = run_suites(argv, current_secrets(self._loader))
        result.update(
            # The suites' result is in rc and msg; the playbook decides (Ansible would
            # otherwise fail the task on a non-zero rc).
            failed=False,
            changed=False,
            cmd=run.argv,
            rc=run.rc,
            stdout=run.stdout,
            stderr=run.stderr,
            stdout_lines=run.stdout.splitlines(),
            msg=run.message,
            start=start,
        )
        return result
