"""Action plugin: validate the inventory of every host of the play before any is touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

from sagefleet import preflight, rolespec
from sagefleet.deploy import check_inputs, require_entities
from sagefleet.errors import InputError, SagefleetError
from sagefleet.inventory import sagefleet_var_names
from sagefleet.settings import ValidationFailed, build_host_settings
from sagefleet.variables import is_retired

ARGUMENT_SPEC: dict[str, Any] = {
    "hosts": {"type": "list", "elements": "str", "required": True},
    "deploy": {"type": "bool", "default": False},
    # Also build each host's settings.json (vendor files merged, or the template rendered),
    # as the settings playbook and deploy do: a missing vendor file or a conflict is found here.
    "settings": {"type": "bool", "default": False},
    # A role's folder: also check every host's values against its meta/argument_specs.yml
    # (for a role imported with rolespec_validate: false, see sagefleet.rolespec).
    "role": {"type": "path"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        hostvars = (task_vars or {}).get("hostvars", {})
        errors: list[InputError | SagefleetError] = []
        role = args["role"]
        spec = rolespec.options(role) if role else {}
        for host in args["hosts"]:
            source = hostvars[host]
            variables = {name: source[name] for name in sagefleet_var_names(source)}
            spec_errors = (
                rolespec.check(host, variables, spec, role=Path(role).name) if role else []
            )
            # A retired name the spec refused is reported under its own name, once.
            refused = {e.field for e in spec_errors if is_retired(e.field)}
            effective = {k: v for k, v in variables.items() if k not in refused}
            found: list[InputError | SagefleetError] = []
            try:
                preflight.prepare(host, effective)
                if args["deploy"]:
                    check_inputs(host, effective)
                if args["deploy"] or args["settings"]:
                    build_host_settings(host, effective)
            except ValidationFailed as exc:
                found.extend(exc.errors)
            except SagefleetError as exc:
                found.append(exc)
            if args["deploy"]:
                try:
                    require_entities(host, effective)
                except SagefleetError as exc:
                    found.append(exc)
            # sagefleet's own message for a variable wins over the spec's generic one.
            named = {getattr(e, "field", None) for e in found}
            errors.extend([e for e in spec_errors if e.field not in named] + found)
        result["changed"] = False
        result["hosts_checked"] = len(args["hosts"])
        if errors:
            result["failed"] = True
            result["errors"] = [str(e) for e in errors]
            result["msg"] = f"{len(errors)} input error(s); no host was contacted:\n" + "\n".join(
                f"- {e}" for e in errors
            )
        else:
            result["msg"] = f"inventory valid for {len(args['hosts'])} host(s)"
        return result
