"""Action plugin: write the host's merged settings.json, or roll it back (settings/host.py).

Its result also carries the host's outcome for the role's fleet report (``outcome``,
``reason``, ``plan``, ``entities``: sagefleet.outcomes).
"""

from __future__ import annotations

from typing import Any

from sagefleet.agent import profile as agent_profile
from sagefleet.ansible.action import SagefleetAction
from sagefleet.errors import InputError, SagefleetError
from sagefleet.outcomes import Outcome
from sagefleet.remote import HostSession
from sagefleet.settings import host as settings_host

PROFILE_VARS = (
    agent_profile.VARIABLE,
    "inventory_dir",
    *(variable for variable, _ in agent_profile.OVERRIDES),
)


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        "state": {"type": "str", "choices": list(settings_host.STATES), "default": "present"},
        "path": {"type": "str"},
        "install_dir": {"type": "str"},
        "service_account": {"type": "str"},
        "keep_backups": {"type": "int", "default": settings_host.DEFAULT_KEEP_BACKUPS},
        "backup": {"type": "str"},
    }
    _supports_check_mode = True  # compares hashes and reports, writes nothing
    # A transient WinRM failure is retried, as in a deploy; a write or rollback that never
    # answered is not run again blind (sagefleet.remote.retry.replayable).
    RETRIES = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        run = super().run
        return self.unreachable_deferred(
            lambda: run(tmp, task_vars), lambda reason: _ended(reason, Outcome.UNREACHABLE)
        )

    def read_variables(self) -> dict[str, Any]:
        if self.args["state"] == "present":
            # The entities (secrets included) and the settings options too (the profile's
            # variables are among them).
            return self.sagefleet_variables()
        task_vars = self.task_vars
        return {n: self.template(task_vars[n]) for n in PROFILE_VARS if n in task_vars}

    def prepare(self, variables: dict[str, Any]) -> Any:
        args = self.args
        # Without a path, settings.json is where the host's agent profile puts it.
        profile = agent_profile.for_host(
            {n: variables[n] for n in PROFILE_VARS if n in variables}, host=self.host
        )
        try:
            target = settings_host.settings_target(
                self.host,
                path=args["path"] or profile.settings_path(args["install_dir"] or None),
                install_dir=args["install_dir"],
                service_account=args["service_account"],
                keep_backups=args["keep_backups"],
            )
            if args["state"] != "present":
                settings_host.check_backup_name(self.host, target, args["backup"])
        except InputError as exc:
            # Named as the operator set it: the role's variable, not this task's option
            # (state present meets these in the validate task first, which says the same).
            raise settings_host.said_of_variable(exc, self.host) from None
        # The host also says whether the running agent read the file since its last
        # write: a restart owed by an earlier run is done now (the handler).
        target = settings_host.reading_agent(target, profile)
        if args["state"] == "present":
            return target, settings_host.host_settings(self.host, variables)
        return target, None

    def act(self, session: HostSession | None, inputs: Any) -> dict[str, Any]:
        target, settings = inputs
        assert session is not None  # this plugin connects (SagefleetAction)
        check, want_diff = self.check_mode, bool(self._task.diff)
        if settings is not None:
            # The current file is read first: a vendor file is never replaced by rendered
            # content, nor a connection dropped silently (SettingsRefused), and what only
            # it holds is kept in what is written.
            outcome = settings_host.write_settings(
                session, target, settings.text, check=check, want_diff=want_diff, guard=settings
            )
        else:
            outcome = settings_host.rollback_settings(
                session, target, backup=self.args["backup"], check=check, want_diff=want_diff
            )
        result: dict[str, Any] = outcome.to_result()
        result.update(outcome.host_outcome(settings.entities if settings is not None else ()))
        return result

    def refused(self, exc: SagefleetError) -> dict[str, Any]:
        result = super().refused(exc)
        return {**result, "changed": False, **_ended(str(result["msg"]))}

    def failed(self, exc: SagefleetError) -> dict[str, Any]:
        return {"failed": True, "changed": False, "msg": str(exc), **_ended(str(exc))}


def _ended(reason: str, status: Outcome = Outcome.FAILED) -> dict[str, Any]:
    """The outcome of a host the task could not write (failed, or unreachable), with why."""
    return {"outcome": status.value, "reason": reason}
