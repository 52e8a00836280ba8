"""Action plugin: inspect the agent package once on the bastion, before any host is touched."""

from __future__ import annotations

from typing import Any

from sagefleet.ansible.action import SagefleetAction
from sagefleet.errors import SagefleetError
from sagefleet.package import check_hosts, info_to_dict, inspect
from sagefleet.remote.ansible import AnsibleSession

REFUSED = "package refused, no host was contacted"


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        "path": {"type": "path", "required": True},
        "sha256": {"type": "str"},
        # The play's hosts: the package's version must be each one's sagefleet_agent_target_version,
        # and an installer technology without silent switches needs installer arguments.
        "hosts": {"type": "list", "elements": "str", "default": []},
    }
    _requires_connection = False

    def read_variables(self) -> dict[str, Any]:
        return self.hosts_variables(self.args["hosts"])

    def prepare(self, variables: dict[str, Any]) -> Any:
        hostvars = self.task_vars.get("hostvars", {})
        base_dir = next(
            (d for d in (hostvars[h].get("inventory_dir") for h in variables) if d), None
        )
        info = inspect(self.args["path"], expected_sha256=self.args.get("sha256"))
        return info, check_hosts(info, variables, base_dir=base_dir)

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        info, errors = inputs
        if errors:
            return {
                "failed": True,
                "errors": [str(e) for e in errors],
                "msg": f"{REFUSED}:\n" + "\n".join(f"- {e}" for e in errors),
            }
        installers = ", ".join(f"{i.label} ({i.technology})" for i in info.installers)
        return {
            "changed": False,
            "package": info_to_dict(info),
            "msg": f"{info.path}: agent {info.agent_version or '?'} "
            f"({info.version_source or 'no version resource'}), installers {installers}, "
            f"sha256 {info.sha256[:12]}…",
        }

    def refused(self, exc: SagefleetError) -> dict[str, Any]:
        return {"failed": True, "msg": f"{REFUSED}: {exc}"}
