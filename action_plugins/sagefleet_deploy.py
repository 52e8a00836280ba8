"""Action plugin: install or upgrade the agent on one host (see sagefleet.deploy)."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from sagefleet.deploy import deploy_host
from sagefleet.errors import SagefleetError
from sagefleet.package import info_from_dict
from sagefleet.remote.ansible import AnsibleSession

ARGUMENT_SPEC: dict[str, Any] = {
    "package": {"type": "dict", "required": True},
}

# Inventory variables the deploy reads; templated here so secrets (entity and service
# account passwords) never travel through task arguments or results.
READ_VARS = (
    "sagefleet_entities",
    "sagefleet_lang",
    "sagefleet_endpoints",
    "sagefleet_expected_issuers",
    "sagefleet_sage_catalog",
    "sagefleet_waivers",
    "sagefleet_agent_service_name",
    "sagefleet_agent_service_account",
    "sagefleet_agent_service_password",
    "sagefleet_agent_version",
    "sagefleet_edition",
    "sagefleet_agent_install_dir",
    "sagefleet_agent_staging_dir",
    "sagefleet_agent_backup_dir",
    "sagefleet_agent_staging_keep",
    "sagefleet_agent_installer_arguments",
    "sagefleet_agent_success_codes",
    "sagefleet_agent_stop_timeout_s",
    "sagefleet_agent_start_timeout_s",
    "sagefleet_settings_keep_backups",
    "sagefleet_agent_package_url",
    "sagefleet_deploy_lock_ttl_s",
    "sagefleet_deploy_lock_wait_s",
    "sagefleet_preflight_min_free_mb",
    "sagefleet_preflight_max_clock_skew_s",
    "sagefleet_preflight_timeout_ms",
    "sagefleet_dns_servers",
    "sagefleet_dns_port",
    "sagefleet_allow_insecure_transport",
    "sagefleet_winrm_retries",
    "sagefleet_winrm_retry_backoff_s",
    "ansible_connection",
    "ansible_winrm_scheme",
    "ansible_winrm_transport",
    "ansible_winrm_server_cert_validation",
    "ansible_winrm_message_encryption",
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # check mode plans without touching the host
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = str(task_vars.get("inventory_hostname"))
        variables = {n: self._templar.template(task_vars[n]) for n in READ_VARS if n in task_vars}
        try:
            package = info_from_dict(args["package"])
            outcome = deploy_host(
                AnsibleSession(host, self._connection),
                host,
                variables,
                package,
                check_mode=bool(self._play_context.check_mode),
                diff=bool(self._task.diff),
            )
        except SagefleetError as exc:
            # An outcome, so the fleet summary counts the host as failed (and the run fails).
            reason = f"invalid input, host not touched: {exc}"
            result.update(failed=True, host=host, outcome="failed", reason=reason, msg=reason)
            return result
        result.update(outcome.to_dict())
        result["host_report"] = outcome.report.to_dict() if outcome.report else None
        if outcome.diff:
            result["diff"] = {"prepared": outcome.diff}
        summary = outcome.plan or outcome.outcome
        result["msg"] = f"{outcome.outcome}: {summary}" + (
            f" ({outcome.reason})" if outcome.reason else ""
        )
        if outcome.failed:
            result["failed"] = True
        return result
