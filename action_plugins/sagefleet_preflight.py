"""Action plugin: preflight of one Windows host: facts in one round trip, checks on the bastion."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

from sagefleet import agent_profile, preflight
from sagefleet.errors import SagefleetError
from sagefleet.remote import AuthenticationFailed, HostUnreachable
from sagefleet.remote.ansible import AnsibleSession

# Ansible imports this module in its controller process before forking a worker per
# host: load the checks and catalogs here, once, instead of in every worker.
preflight.warm_up()

# Inventory variables preflight reads besides those of its arguments (templated here, never
# passed through task args, so entity secrets stay out of task arguments and logs).
READ_VARS = (
    "sagefleet_entities",
    # The agent profile, where a relative path starts, and the inventory's overrides of it.
    agent_profile.VARIABLE,
    "inventory_dir",
    *(variable for variable, _ in agent_profile.OVERRIDES),
    "ansible_connection",
    "ansible_winrm_scheme",
    "ansible_winrm_transport",
    "ansible_winrm_server_cert_validation",
    "ansible_winrm_message_encryption",
)

# Every argument is optional and overrides the host's variable of ARG_TO_VAR (no defaults
# here: an argument left out leaves the host's variable, or preflight's default, in force).
ARGUMENT_SPEC: dict[str, Any] = {
    "lang": {"type": "str", "choices": ["en", "fr"]},
    "endpoints": {"type": "list", "elements": "dict"},
    "sage_catalog": {"type": "dict"},
    "waivers": {"type": "list", "elements": "dict"},
    "agent_service": {"type": "str"},
    "service_account": {"type": "str"},
    "target_version": {"type": "str"},
    "edition": {"type": "str", "choices": ["spc", "onpremise"]},
    "min_free_mb": {"type": "int"},
    "max_clock_skew_s": {"type": "int"},
    "timeout_ms": {"type": "int"},
    "bastion_probes": {"type": "bool"},
    "dns_servers": {"type": "list", "elements": "str"},
    "dns_port": {"type": "int"},
    "allow_insecure_transport": {"type": "bool"},
}

ARG_TO_VAR = {
    "lang": "sagefleet_lang",
    "endpoints": "sagefleet_endpoints",
    "sage_catalog": "sagefleet_sage_catalog",
    "waivers": "sagefleet_waivers",
    "agent_service": "sagefleet_agent_service_name",
    "service_account": "sagefleet_agent_service_account",
    "target_version": "sagefleet_agent_version",
    "edition": "sagefleet_edition",
    "min_free_mb": "sagefleet_preflight_min_free_mb",
    "max_clock_skew_s": "sagefleet_preflight_max_clock_skew_s",
    "timeout_ms": "sagefleet_preflight_timeout_ms",
    "bastion_probes": "sagefleet_preflight_bastion_probes",
    "dns_servers": "sagefleet_dns_servers",
    "dns_port": "sagefleet_dns_port",
    "allow_insecure_transport": "sagefleet_allow_insecure_transport",
}


def host_variables(task_vars: dict[str, Any], template: Any) -> dict[str, Any]:
    """The variables preflight reads, templated from the task's variables, aliases applied.

    The role passes no arguments: Ansible compiles every templated task argument
    again in each host's worker process, while a variable that holds no template
    costs nothing to read here (docs/performance.md).
    """
    # Retired variables are read too, so that prepare() refuses them with what to do.
    names = [*READ_VARS, *ARG_TO_VAR.values(), *preflight.ROLE_ALIASES, *preflight.RETIRED_VARS]
    variables = {name: template(task_vars[name]) for name in names if name in task_vars}
    return preflight.with_role_aliases(variables)


def preflight_vars(args: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    """The mapping preflight.prepare() reads: the host's variables, task arguments over them."""
    merged = dict(variables)
    for arg, var in ARG_TO_VAR.items():
        if args.get(arg) is not None:
            merged[var] = args[arg]
    return merged


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # read-only
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = str(task_vars.get("inventory_hostname"))
        variables = host_variables(task_vars, self._templar.template)
        try:
            prepared = preflight.prepare(host, preflight_vars(args, variables))
        except SagefleetError as exc:
            result.update(failed=True, msg=f"invalid input, host not contacted: {exc}")
            return result
        session = AnsibleSession(host, self._connection)
        address = str(task_vars.get("ansible_host", host))
        try:
            report, _ = preflight.run(session, prepared, address=address)
        except (HostUnreachable, AuthenticationFailed) as exc:  # raised outside run()
            raise AnsibleConnectionFailure(str(exc)) from None
        result["changed"] = False
        result["host_report"] = report.to_dict()
        result["status"] = report.status
        if not report.reachable:
            result["unreachable"] = True
            result["msg"] = report.error
            return result
        failing = [f for f in report.findings if f.is_failure and f.severity != "info"]
        result["msg"] = f"{report.status}: " + (
            ", ".join(sorted({f.check_id for f in failing})) if failing else "all checks pass"
        )
        return result
