"""The base of every sagefleet action plugin: validate → template → open the session →
map errors, so that each plugin keeps only its own logic (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

from sagefleet import variables
from sagefleet.errors import InputError, SagefleetError
from sagefleet.inventory import sagefleet_var_names, templating, without_template
from sagefleet.remote import AuthenticationFailed, HostUnreachable
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.remote.retry import VARIABLES as RETRY_VARIABLES
from sagefleet.remote.retry import Backoff, RetryingSession, retry_from
from sagefleet.remote.session import HostSession

#: What a task says when its inputs are refused before the host is contacted.
REFUSED = "invalid input, host not contacted"


def _deprecation(text: str) -> dict[str, str]:
    """A task result's deprecation notice (Ansible displays it as its own)."""
    return {
        "msg": text,
        "version": variables.DEPRECATED_UNTIL,
        "collection_name": variables.COLLECTION,
    }


class Done(dict[str, Any]):
    """A task result known without reading variables or contacting the host."""


class SagefleetAction(ActionBase):  # type: ignore[misc]  # ansible-core has no type hints
    """One task, in order, each step a hook a plugin may override:

    1. the task's arguments are checked against ``ARGUMENT_SPEC``;
    2. :meth:`ready` may return the result at once (:class:`Done`);
    3. :meth:`read_variables` templates the inventory variables the plugin reads;
    4. :meth:`prepare` checks them (a SagefleetError: :meth:`refused`, no contact);
    5. :meth:`act` does the work, over an :class:`AnsibleSession` when the plugin needs
       the host (in a :class:`RetryingSession` with ``RETRIES``, the host's
       ``sagefleet_winrm_retries`` read with its inputs); an unreachable host or refused
       credentials end the task unreachable, any other SagefleetError fails it
       (:meth:`failed`).
    """

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False
    ARGUMENT_SPEC: ClassVar[dict[str, Any]] = {}
    #: Whether a transient WinRM failure is retried (sagefleet.remote.retry: only for the
    #: snippets a second run leaves the same), as the host's sagefleet_winrm_retries says.
    RETRIES: ClassVar[bool] = False

    args: dict[str, Any]
    task_vars: dict[str, Any]
    host: str

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, self.args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        self.task_vars = task_vars or {}
        self.host = str(self.task_vars.get("inventory_hostname"))
        # A variable given under a retired name: Ansible's own deprecation notice.
        with variables.told_deprecations() as told:
            result.update(self._outcome())
        if told:
            result["deprecations"] = [*result.get("deprecations", []), *map(_deprecation, told)]
        return result

    def _outcome(self) -> dict[str, Any]:
        ready = self.ready()
        if ready is not None:
            return ready
        try:
            inputs = self.prepare(self.read_variables())
            policy = self.retry_policy() if self.RETRIES else None
        except SagefleetError as exc:
            return self.refused(exc)
        session: HostSession | None = None
        if self._requires_connection:
            session = AnsibleSession(self.host, self._connection)
            if policy is not None:
                session = RetryingSession(session, policy)
        try:
            return self.act(session, inputs)
        except (HostUnreachable, AuthenticationFailed) as exc:
            raise AnsibleConnectionFailure(str(exc)) from None
        except SagefleetError as exc:
            return self.failed(exc)

    @property
    def check_mode(self) -> bool:
        return bool(self._task.check_mode)

    def template(self, value: Any) -> Any:
        """``value`` templated with the host's variables; one that holds no template comes
        back as it is (sagefleet.inventory.templating)."""
        return templating(self._templar)(value)

    def unreachable_deferred(
        self,
        run: Callable[[], dict[str, Any]],
        outcome: Callable[[str], dict[str, Any]] = lambda reason: {},
    ) -> dict[str, Any]:
        """The task result of ``run`` (the plugin's own run), a host it could not reach
        ended unreachable (``outcome``: what else that result says, from the reason).

        The play's first host stays in the play instead, so that the report runs even
        when no host could be reached; the role ends it after the report
        (sagefleet.ansible.preflight_play's ``deferred`` and ``ENDS_UNREACHABLE``).
        """
        from sagefleet.ansible.preflight_play import deferred

        try:
            result = run()
        except AnsibleConnectionFailure as exc:  # reaching the host failed (per host)
            reason = str(exc)
            result = {"unreachable": True, "changed": False, "msg": reason, **outcome(reason)}
        return deferred(result, self.host, self.task_vars.get("ansible_play_batch") or [])

    def report_vars(self) -> dict[str, Any]:
        """The play's variables that place its report folders (sagefleet.report.runs's
        PLAY_VARS), templated."""
        from sagefleet.report.runs import PLAY_VARS

        return {k: self.template(v) for k, v in self.task_vars.items() if k in PLAY_VARS}

    # -- reading the inventory -------------------------------------------------
    def sagefleet_variables(self) -> dict[str, Any]:
        """This host's sagefleet variables, templated (secrets included: they are read
        here, never passed through task arguments that Ansible may log)."""
        task_vars = self.task_vars
        return {n: self.template(task_vars[n]) for n in sagefleet_var_names(task_vars)}

    def own_value(self, name: str) -> Any:
        """Declared variable ``name`` of the host this task runs for, under its name or a
        retired one, checked (its default when unset): sagefleet.variables.value."""
        names = [name, *variables.aliases_of(name)]
        given = {n: self.template(self.task_vars[n]) for n in names if n in self.task_vars}
        return variables.value(self.host, given, name)

    def retry_policy(self) -> Backoff:
        """This host's retries of a transient WinRM failure (``sagefleet_winrm_retries``
        and its backoff), from its variables: an InputError on a bad value refuses the
        task before the host is contacted."""
        task_vars = self.task_vars
        given = {n: self.template(task_vars[n]) for n in RETRY_VARIABLES if n in task_vars}
        return retry_from(self.host, given)

    def hosts_variables(
        self, hosts: list[str], select: Callable[[str], bool] | None = None
    ) -> dict[str, dict[str, Any]]:
        """Each of ``hosts``' sagefleet variables as Ansible's hostvars give them, by host
        (``select``: only the names it accepts, the others not templated).

        A value that holds no template is taken as Ansible keeps it (``hostvars[host]``
        would walk and copy it: the entities, about 1 ms a host); one that does is
        templated by hostvars, as before (sagefleet.inventory.without_template decides
        which, as SagefleetAction.template does for one host).
        """
        hostvars = self.task_vars.get("hostvars", {})
        found = {}
        for host in hosts:
            source = hostvars[host]
            kept = getattr(source, "_vars", None)  # ansible-core's untemplated values
            if not isinstance(kept, Mapping):
                kept = {}  # an ansible-core that keeps them elsewhere: template each
            found[host] = {
                name: kept[name]
                if self._plain(kept, name)
                else self._in_play(host, source, kept, name)
                for name in sagefleet_var_names(source)
                if select is None or select(name)
            }
        return found

    def _in_play(self, host: str, source: Any, kept: Mapping[str, Any], name: str) -> Any:
        """``hostvars[host][name]``; a value using a variable Ansible defines only in a play
        (PLAY_ONLY_VARS: role_path, ansible_play_hosts...), which hostvars template outside
        it, is templated as the host's own run of this task templates it (`own_task_vars`):
        an InputError naming host and field when the task does not define it either
        (role_path outside a role)."""
        from ansible.errors import AnsibleUndefinedVariable

        from sagefleet.inventory import _one_line

        try:
            return source[name]
        except AnsibleUndefinedVariable:
            if name not in kept:
                raise
        own = self.own_task_vars(host)
        try:
            return self._templar.copy_with_new_env(available_variables=own).template(own[name])
        except AnsibleUndefinedVariable as exc:
            raise InputError(
                f"cannot template the variable: {_one_line(exc)}", host=host, field=name
            ) from None

    def own_task_vars(self, host: str) -> dict[str, Any]:
        """``host``'s variables as its own run of this task gets them, untemplated: Ansible's
        VariableManager given the play, the host and the task (the play's hosts, the task's
        role and its role_path...), which hostvars, outside the play, are not given."""
        hostvars = self.task_vars["hostvars"]
        manager, inventory = hostvars._variable_manager, hostvars._inventory
        batch = list(self.task_vars.get("ansible_play_batch") or [host])
        hosts_all = list(self.task_vars.get("ansible_play_hosts_all") or batch)
        found: dict[str, Any] = manager.get_vars(
            play=self._task.get_play(),
            host=inventory.get_host(host),
            task=self._task,
            include_hostvars=False,
            _hosts=batch,
            _hosts_all=hosts_all,
        )
        return found

    def _plain(self, kept: Mapping[str, Any], name: str) -> bool:
        return name in kept and without_template(kept[name], self._templar)

    def registered(self, hosts: list[str], names: list[str]) -> dict[str, dict[str, Any]]:
        """Each host's values of ``names`` (registered results, set_fact values), by
        host, untemplated: a registered result is module output, never a template.

        Through ``hostvars[host]`` Ansible would template, so copy, each whole result
        (about 2 ms a host for a preflight report); they are read where Ansible keeps
        them, unless an extra variable of one of the names ranks above them or a host
        has none there: then from all the host's variables (about 1 ms a host).
        """
        hostvars = self.task_vars.get("hostvars", {})
        manager = getattr(hostvars, "_variable_manager", None)
        cache = getattr(manager, "_nonpersistent_fact_cache", None)
        extra = getattr(manager, "extra_vars", None)
        if not isinstance(cache, Mapping) or not isinstance(extra, Mapping):
            cache = {}  # an ansible-core that keeps them elsewhere
        elif any(n in extra for n in names):
            cache = {}
        found = {}
        for host in hosts:
            facts = cache.get(host, {})
            if not all(n in facts for n in names):
                facts = hostvars.raw_get(host) if host in hostvars else {}
            found[host] = {n: facts[n] for n in names if n in facts}
        return found

    # -- the hooks -------------------------------------------------------------
    def ready(self) -> Done | None:
        """The task's result when it is known already (nothing else runs then)."""
        return None

    def read_variables(self) -> dict[str, Any]:
        """The inventory variables this plugin reads, templated (none by default)."""
        return {}

    def prepare(self, variables: dict[str, Any]) -> Any:
        """The plugin's inputs from its arguments (``self.args``) and ``variables``;
        raises SagefleetError, before the host is contacted, on bad input."""
        return variables

    def act(self, session: HostSession | None, inputs: Any) -> dict[str, Any]:
        """The plugin's work; its task result."""
        raise NotImplementedError

    def refused(self, exc: SagefleetError) -> dict[str, Any]:
        """The task result when :meth:`prepare` refused the inputs."""
        return {"failed": True, "msg": f"{REFUSED}: {exc}"}

    def failed(self, exc: SagefleetError) -> dict[str, Any]:
        """The task result when :meth:`act` failed with a SagefleetError."""
        return {"failed": True, "msg": str(exc)}
