"""Action plugin: validate the inventory of every host of the play before any is touched
(the checks themselves: sagefleet.ansible.validate, which `sagefleet validate` runs too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sagefleet.ansible import rolespec, validate
from sagefleet.ansible.action import SagefleetAction
from sagefleet.errors import InputError, SagefleetError, refusal
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.report.runs import check_for_play


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "deploy": {"type": "bool", "default": False},
        # Also build each host's settings.json (vendor files merged, or the template
        # rendered), as the settings playbook and deploy do: a missing vendor file or a
        # conflict is found here. A host whose sagefleet_settings_state is rollback is
        # checked for what the rollback uses instead: its target, the backup, the restart.
        "settings": {"type": "bool", "default": False},
        # Also build what the verification suites expect of each host (agent service,
        # settings.json, version, endpoints...), as they will: verify.yml refuses a bad
        # input here rather than fail every host when the suites cannot start.
        "verify": {"type": "bool", "default": False},
        # A role's folder: also check every host's values against its
        # meta/argument_specs.yml (for a role imported with rolespec_validate: false).
        "role": {"type": "path"},
        # The folder the run writes its reports to on the bastion, checked before any host
        # is contacted: its job (reports/<inventory>/<job>/...), or the folder named by
        # var (empty: the job's folder under the reports root).
        "report": {
            "type": "dict",
            "options": {
                "job": {"type": "str"},
                "dest": {"type": "str", "default": ""},
                "var": {"type": "str", "required": True},
            },
        },
    }
    _requires_connection = False

    def read_variables(self) -> dict[str, Any]:
        return self.hosts_variables(self.args["hosts"])

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        role = self.args["role"]
        checks = validate.Checks(
            deploy=self.args["deploy"],
            settings=self.args["settings"],
            verify=self.args["verify"],
            role=Path(role).name if role else None,
            spec=rolespec.options(role) if role else {},
        )
        errors: list[SagefleetError] = []
        refused: list[str] = []
        for host, variables in inputs.items():
            mine = validate.host_errors(host, variables, checks)
            errors.extend(mine)
            if mine:
                refused.append(host)
        report = self.args["report"]
        if report:
            try:
                check_for_play(report["job"], report["dest"], report["var"], self.report_vars())
            except InputError as exc:
                errors.append(exc)
        checked = len(self.args["hosts"])
        if not errors:
            return {
                "changed": False,
                "hosts_checked": checked,
                "msg": f"inventory valid for {checked} host(s)",
            }
        return {
            "changed": False,
            "hosts_checked": checked,
            "failed": True,
            "errors": [str(e) for e in errors],
            # The hosts whose input is refused: PLAY RECAP counts this task's failure on
            # the host Ansible ran it once for, which the progress callback says.
            "refused_hosts": refused,
            "msg": refusal(errors),
        }
