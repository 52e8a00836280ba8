"""Action plugin: write the host's merged settings.json, or roll it back (settings/host.py)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

from sagefleet import agent_profile
from sagefleet.errors import SagefleetError
from sagefleet.inventory import sagefleet_var_names
from sagefleet.remote import AuthenticationFailed, HostUnreachable
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.settings import host as settings_host

ARGUMENT_SPEC: dict[str, Any] = {
    "state": {"type": "str", "choices": list(settings_host.STATES), "default": "present"},
    "path": {"type": "str"},
    "install_dir": {"type": "str"},
    "service_account": {"type": "str"},
    "keep_backups": {"type": "int", "default": settings_host.DEFAULT_KEEP_BACKUPS},
    "backup": {"type": "str"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # compares hashes and reports, writes nothing
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        task_vars = task_vars or {}
        host = str(task_vars.get("inventory_hostname"))
        check, want_diff = bool(self._task.check_mode), bool(self._task.diff)
        try:
            # Without a path, settings.json is where the host's agent profile puts it.
            names = [
                agent_profile.VARIABLE, "inventory_dir", *(v for v, _ in agent_profile.OVERRIDES)
            ]
            profile = agent_profile.for_host(
                {n: self._templar.template(task_vars[n]) for n in names if n in task_vars},
                host=host,
            )
            target = settings_host.settings_target(
                host,
                path=args["path"] or profile.settings_path(args["install_dir"] or None),
                install_dir=args["install_dir"],
                service_account=args["service_account"],
                keep_backups=args["keep_backups"],
            )
            settings = None
            if args["state"] == "present":
                # The entities (secrets included) and the settings options are read from the
                # inventory here, never passed through task arguments that Ansible may log.
                host_vars = {
                    n: self._templar.template(task_vars[n]) for n in sagefleet_var_names(task_vars)
                }
                settings = settings_host.host_settings(host, host_vars)
            else:
                settings_host.check_backup_name(host, target, args["backup"])
        except SagefleetError as exc:
            result.update(failed=True, msg=f"invalid input, host not contacted: {exc}")
            return result
        session = AnsibleSession(host, self._connection)
        try:
            if settings is not None:
                # The current file is read first: a vendor file is never replaced by rendered
                # content, nor a connection dropped silently (SettingsRefused), and what only
                # it holds is kept in what is written.
                outcome = settings_host.write_settings(
                    session, target, settings.text, check=check, want_diff=want_diff,
                    guard=settings,
                )
            else:
                outcome = settings_host.rollback_settings(
                    session, target, backup=args["backup"], check=check, want_diff=want_diff
                )
        except (HostUnreachable, AuthenticationFailed) as exc:
            raise AnsibleConnectionFailure(str(exc)) from None
        except SagefleetError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        result.update(outcome.to_result())
        return result
