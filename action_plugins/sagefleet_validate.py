"""Action plugin: validate the inventory of every host of the play before any is touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sagefleet import preflight
from sagefleet.agent import service as agent_service
from sagefleet.ansible import rolespec
from sagefleet.ansible.action import SagefleetAction
from sagefleet.deploy import check_inputs, require_entities
from sagefleet.errors import InputError, SagefleetError
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.report.runs import check_for_play
from sagefleet.settings import ValidationFailed, build_host_settings
from sagefleet.settings import host as settings_host
from sagefleet.variables import is_retired
from sagefleet.verify import expectations


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        "hosts": {"type": "list", "elements": "str", "required": True},
        "deploy": {"type": "bool", "default": False},
        # Also build each host's settings.json (vendor files merged, or the template
        # rendered), as the settings playbook and deploy do: a missing vendor file or a
        # conflict is found here.
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
        spec = rolespec.options(role) if role else {}
        errors: list[InputError | SagefleetError] = []
        refused: list[str] = []
        for host, variables in inputs.items():
            spec_errors = (
                rolespec.check(host, variables, spec, role=Path(role).name) if role else []
            )
            found = self._host_errors(host, variables, spec_errors)
            # sagefleet's own message for a variable wins over the spec's generic one.
            named = {getattr(e, "field", None) for e in found}
            mine = [e for e in spec_errors if e.field not in named] + found
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
            "msg": f"{len(errors)} input error(s); no host was contacted:\n"
            + "\n".join(f"- {e}" for e in errors),
        }

    def _host_errors(
        self, host: str, variables: dict[str, Any], spec_errors: list[InputError]
    ) -> list[InputError | SagefleetError]:
        """What sagefleet itself finds wrong in one host's variables."""
        deploy = self.args["deploy"]
        # A retired name the spec refused is reported under its own name, once.
        refused = {e.field for e in spec_errors if is_retired(e.field)}
        effective = {k: v for k, v in variables.items() if k not in refused}
        found: list[InputError | SagefleetError] = []
        try:
            preflight.prepare(host, effective)
            if deploy:
                check_inputs(host, effective)
            if deploy or self.args["settings"]:
                build_host_settings(host, effective)
            if self.args["settings"] and not deploy:
                # The settings task's target and its handler's restart, which the playbook
                # reaches after writing: checked here, before any host is written.
                settings_host.job_target(host, effective)
                agent_service.options_from(host, effective)
            if self.args["verify"]:
                expectations.for_host(host, effective)
        except ValidationFailed as exc:
            found.extend(exc.errors)
        except SagefleetError as exc:
            found.append(exc)
        if deploy:
            try:
                require_entities(host, effective)
            except SagefleetError as exc:
                found.append(exc)
        return found
