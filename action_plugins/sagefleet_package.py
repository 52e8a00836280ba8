"""Action plugin: inspect the agent package once on the controller, before any host is touched."""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from sagefleet.errors import SagefleetError
from sagefleet.package import info_to_dict, inspect

ARGUMENT_SPEC: dict[str, Any] = {
    "path": {"type": "path", "required": True},
    "sha256": {"type": "str"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            info = inspect(args["path"], expected_sha256=args.get("sha256"))
        except SagefleetError as exc:
            result.update(failed=True, msg=f"package refused, no host was contacted: {exc}")
            return result
        result.update(
            changed=False,
            package=info_to_dict(info),
            msg=f"{info.path}: agent {info.agent_version or '?'}, installers "
            f"{', '.join(info.labels())}, sha256 {info.sha256[:12]}…",
        )
        return result
