"""Action plugin: inspect the agent package once on the controller, before any host is touched."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from sagefleet.errors import SagefleetError
from sagefleet.inventory import sagefleet_var_names
from sagefleet.package import check_hosts, info_to_dict, inspect

ARGUMENT_SPEC: dict[str, Any] = {
    "path": {"type": "path", "required": True},
    "sha256": {"type": "str"},
    # The play's hosts: the package's version must be each one's sagefleet_agent_version,
    # and an installer technology without silent switches needs installer arguments.
    "hosts": {"type": "list", "elements": "str", "default": []},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hostvars = (task_vars or {}).get("hostvars", {})
        try:
            info = inspect(args["path"], expected_sha256=args.get("sha256"))
            hosts = {}
            base_dir = None
            for host in args["hosts"]:
                source = hostvars[host]
                hosts[host] = {name: source[name] for name in sagefleet_var_names(source)}
                base_dir = base_dir or source.get("inventory_dir")
            errors = check_hosts(info, hosts, base_dir=base_dir)
        except SagefleetError as exc:
            result.update(failed=True, msg=f"package refused, no host was contacted: {exc}")
            return result
        if errors:
            result.update(
                failed=True,
                errors=[str(e) for e in errors],
                msg="package refused, no host was contacted:\n"
                + "\n".join(f"- {e}" for e in errors),
            )
            return result
        installers = ", ".join(f"{i.label} ({i.technology})" for i in info.installers)
        result.update(
            changed=False,
            package=info_to_dict(info),
            msg=f"{info.path}: agent {info.agent_version or '?'} "
            f"({info.version_source or 'no version resource'}), installers {installers}, "
            f"sha256 {info.sha256[:12]}…",
        )
        return result
