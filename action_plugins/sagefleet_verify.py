"""Action plugin: run the testinfra suites on the bastion, with the playbook's vault."""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sagefleet.ansible.action import SagefleetAction
from sagefleet.errors import InputError
from sagefleet.inventory import current_secrets
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.variables.declarations import TARGET_VERSION
from sagefleet.verify.runner import (
    handed_over,
    run_suites,
    suite_workers,
    suites_argv,
    write_host_vars,
)


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        "suites": {"type": "path", "required": True},
        "limit": {"type": "str", "default": "all"},
        "workers": {"type": "int", "default": 0},
        "report_dir": {"type": "path"},
        # A wave's verification: the registered deploy results of the play's batch, whose
        # target versions rank above the host's variables for the suites (the deploy's
        # default, the package's version, is in no variable).
        "deploy_results": {"type": "str"},
    }
    _supports_check_mode = True  # read-only: it verifies in check mode too
    _requires_connection = False

    def prepare(self, variables: dict[str, Any]) -> Any:
        suites = self.args["suites"]
        if not Path(suites).is_dir():
            # pytest would collect nothing, and every host would be reported as failing
            # its verification for what is the input's fault.
            # Named by the variable the operator sets: a wave's verification (deploy.yml)
            # hands over the deploy's results, verify.yml does not.
            raise InputError(
                "no such folder on the bastion: no suite to run",
                field="sagefleet_agent_verify_suites"
                if self.args.get("deploy_results")
                else "sagefleet_verify_suites",
                value=repr(suites),
                fix="give the folder of the testinfra suites: sagefleet_verify_suites in "
                "verify.yml, sagefleet_agent_verify_suites in deploy.yml (default: the "
                "project's tests/infra)",
            )
        return variables

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        args, variables = self.args, self.task_vars
        batch = self._host_vars()
        with tempfile.TemporaryDirectory(prefix="sagefleet-verify-") as folder:
            argv = suites_argv(
                str(variables.get("ansible_playbook_python") or sys.executable),
                args["suites"],
                [str(s) for s in variables.get("ansible_inventory_sources") or []],
                limit=args["limit"],
                workers=suite_workers(args["workers"], len(batch)),
                report_dir=args["report_dir"],
                host_vars=write_host_vars(Path(folder) / "host_vars.json", batch),
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

    def _host_vars(self) -> dict[str, dict[str, Any]]:
        """The variables the suites read as Ansible resolved them for each batch host (-e,
        vault, group and host vars), secrets left out (runner.handed_over); in a wave,
        the target version its deploy result says."""
        hosts = [str(h) for h in self.task_vars.get("ansible_play_batch") or []]
        found = self.hosts_variables(hosts, select=handed_over)
        name = self.args["deploy_results"]
        if name:
            for host, result in self.registered(hosts, [name]).items():
                if isinstance(result.get(name), dict) and result[name].get("target_version"):
                    found[host][TARGET_VERSION.name] = result[name]["target_version"]
        return found
