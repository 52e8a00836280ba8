"""Action plugin: support bundle of one host (facts, findings, logs, events, settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

from sagefleet import diagnose, preflight
from sagefleet.errors import SagefleetError
from sagefleet.inventory import sagefleet_var_names
from sagefleet.remote import AuthenticationFailed, HostUnreachable
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.variables import module_spec

# The role passes each of its variables (sagefleet.variables declares them).
ARGUMENT_SPEC: dict[str, Any] = module_spec("sagefleet_diagnose")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # read-only unless restart; a restart is skipped in check mode
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = str(task_vars.get("inventory_hostname"))
        variables = {
            name: self._templar.template(task_vars[name]) for name in sagefleet_var_names(task_vars)
        }
        variables.update(
            sagefleet_diagnose_restart=bool(args["restart"]) and not self._task.check_mode,
            sagefleet_diagnose_restart_timeout_s=args["restart_timeout_s"],
            sagefleet_diagnose_tail_kib=args["tail_kib"],
            sagefleet_diagnose_max_log_files=args["max_log_files"],
            sagefleet_diagnose_event_days=args["event_days"],
            sagefleet_diagnose_agent_log_dirs=args["agent_log_dirs"],
            sagefleet_diagnose_installer_log_dirs=args["installer_log_dirs"],
        )
        try:
            prepared = preflight.prepare(host, variables)
            options = diagnose.options_from(host, variables)
        except SagefleetError as exc:
            result.update(failed=True, msg=f"invalid input, host not contacted: {exc}")
            return result
        secrets = diagnose.known_secrets(variables)
        session = AnsibleSession(host, self._connection)
        address = str(task_vars.get("ansible_host", host))
        try:
            bundle = diagnose.collect(session, prepared, options, secrets, address=address)
            path = diagnose.write_zip(bundle, Path(args["dest"]), secrets)
        except (HostUnreachable, AuthenticationFailed) as exc:
            raise AnsibleConnectionFailure(str(exc)) from None
        except SagefleetError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        restart = bundle.restart or {}
        restarted = (
            f", service restarted ({restart.get('state_after')})" if restart.get("done") else ""
        )
        verdict = bundle.diagnosis.verdict if bundle.diagnosis else ""
        result.update(
            changed=bool(restart.get("done")),
            bundle=str(path),
            status=bundle.status,
            service=bundle.service,
            restart=bundle.restart,
            files=sorted(bundle.files),
            diagnosis=bundle.diagnosis.to_dict() if bundle.diagnosis else None,
            msg=f"{verdict} | {bundle.status}: bundle {path.name}{restarted}",
        )
        if restart.get("requested") and not restart.get("done"):
            result.update(failed=True, msg=f"restart failed: {restart.get('error')}; bundle {path}")
        return result
