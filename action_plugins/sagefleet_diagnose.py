"""Action plugin: support bundle of one host (facts, findings, logs, events, settings)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sagefleet import diagnose, outcomes, preflight
from sagefleet.ansible.action import SagefleetAction
from sagefleet.remote import HostSession
from sagefleet.variables import module_spec


class ActionModule(SagefleetAction):
    # Every option stands for an inventory variable (sagefleet.variables).
    ARGUMENT_SPEC: dict[str, Any] = module_spec("sagefleet_diagnose")
    _supports_check_mode = True  # read-only unless restart; a restart is skipped in check mode
    # A transient WinRM failure is retried, except a read that restarts the agent, which a
    # second run would restart again (sagefleet.remote.retry.replayable).
    RETRIES = True

    def read_variables(self) -> dict[str, Any]:
        variables = self.sagefleet_variables()
        args = self.args
        variables.update(
            sagefleet_diagnose_restart=bool(args["restart"]) and not self.check_mode,
            sagefleet_diagnose_restart_timeout_s=args["restart_timeout_s"],
            sagefleet_diagnose_tail_kib=args["tail_kib"],
            sagefleet_diagnose_max_log_files=args["max_log_files"],
            sagefleet_diagnose_event_days=args["event_days"],
            sagefleet_diagnose_agent_log_dirs=args["agent_log_dirs"],
            sagefleet_diagnose_installer_log_dirs=args["installer_log_dirs"],
        )
        return variables

    def prepare(self, variables: dict[str, Any]) -> Any:
        prepared = preflight.prepare(self.host, variables)
        options = diagnose.options_from(self.host, variables)
        return prepared, options, diagnose.known_secrets(variables)

    def act(self, session: HostSession | None, inputs: Any) -> dict[str, Any]:
        prepared, options, secrets = inputs
        assert session is not None  # this plugin connects (SagefleetAction)
        address = str(self.task_vars.get("ansible_host", self.host))
        bundle = diagnose.collect(session, prepared, options, secrets, address=address)
        # The folder as the operator reads it: reports/diagnose, not playbooks/../reports/diagnose.
        path = diagnose.write_zip(bundle, Path(os.path.normpath(self.args["dest"])), secrets)
        restart = bundle.restart or {}
        restarted = (
            f", service restarted ({restart.get('state_after')})" if restart.get("done") else ""
        )
        verdict = bundle.diagnosis.verdict if bundle.diagnosis else ""
        result = {
            "changed": bool(restart.get("done")),
            "bundle": str(path),
            "status": bundle.status,
            "not_read": bundle.not_read,
            "service": bundle.service,
            "restart": bundle.restart,
            "files": sorted(bundle.files),
            "diagnosis": bundle.diagnosis.to_dict() if bundle.diagnosis else None,
            "msg": f"{verdict} | {bundle.status}: bundle {path}{restarted}"
            f" | {bundle.service_words()}",
        }
        if bundle.status in outcomes.UNREACHABLE:
            # The bundle says why (its notes); the host ends unreachable in PLAY RECAP
            # (exit code 4): nothing could be collected from it.
            result["unreachable"] = True
        elif restart.get("requested") and not restart.get("done"):
            result.update(failed=True, msg=f"restart failed: {restart.get('error')}; bundle {path}")
        elif bundle.status == outcomes.Outcome.INCOMPLETE:
            # The bundle holds what was gathered; the run did not do all that was asked.
            # Its line reads the verdict, which names what was not read, and the service
            # as far as it was read.
            result["failed"] = True
        # The verdict, what was not read and a restart's error quote the host: masked as
        # in the bundle (the console prints them, -v the whole result).
        masked: dict[str, Any] = diagnose.mask_value(result, secrets)
        return masked
