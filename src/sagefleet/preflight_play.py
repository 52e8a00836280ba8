"""What playbooks/preflight.yml's tasks share, and its fleet mode.

The role ``sagefleet_preflight`` gathers each host's facts in one of two ways
(``sagefleet_preflight_mode``, read per host):

- ``fleet`` (the default): one task, run once on the bastion, resolves every
  host's WinRM connection exactly as ansible-core's ``winrm`` connection plugin
  would for that host (the same variables, vault, ``--limit``, play keywords and
  command-line options, through the plugin's own option code, without
  connecting), then runs every host through the core of ``sagefleet doctor``
  (``doctor.run``: direct pywinrm sessions in threads, shared by a few forked
  processes), ``forks`` hosts at a time. The role's per-host task then hands each
  host its own result from that task's registered value, without a connection:
  PLAY RECAP, ``failed_when``, AWX's host view and the report see one result per
  host, as before.
- ``per_host``: the role's per-host task gathers the facts itself, over the
  task's Ansible connection, in Ansible's worker process for that host.

A host goes the ``per_host`` way, whatever the mode, when the fleet task cannot
reproduce its connection (``fleet_reason`` says why, in the fleet task's result):
a connection plugin other than ``winrm``; ``become``; a transport other than
``ntlm``, ``basic``, ``plaintext``, ``ssl`` or ``certificate`` (Kerberos manages
a ticket cache per process, CredSSP is left to the plugin); several transports
to try in turn; no user or password; a connection variable that does not
template. A host whose inputs are invalid also runs per host, where it fails
with its error (the role's first task refuses it before that anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagefleet import agent_profile, doctor, preflight
from sagefleet.errors import SagefleetError
from sagefleet.findings import HostReport
from sagefleet.inventory import InventoryHost
from sagefleet.remote.retry import retry_from
from sagefleet.remote.winrm import WinRMTarget

#: The role variable choosing how a host's facts are gathered, and its values.
MODE_VAR = "sagefleet_preflight_mode"
MODES = ("fleet", "per_host")
DEFAULT_MODE = "fleet"
#: The fleet task's registered result, which the per-host task reads.
FLEET_RESULT_VAR = "sagefleet_preflight_fleet"

#: pywinrm transports the fleet task runs itself (in threads of one process).
FLEET_TRANSPORTS = ("ntlm", "basic", "plaintext", "ssl", "certificate")
#: Names of ansible-core's winrm connection plugin.
WINRM_PLUGINS = frozenset({"winrm", "ansible.builtin.winrm", "ansible.legacy.winrm"})

# Inventory variables preflight reads besides those of its arguments (templated, never
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

#: Each argument of the sagefleet_preflight action and the host variable it overrides.
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

#: The retry policy of a fleet-mode session (remote/retry.py).
RETRY_VARS = ("sagefleet_winrm_retries", "sagefleet_winrm_retry_backoff_s")


def host_variables(task_vars: Mapping[str, Any], template: Callable[[Any], Any]) -> dict[str, Any]:
    """The variables preflight reads, templated from a host's variables, aliases applied.

    The role passes no arguments: Ansible compiles every templated task argument
    again in each host's worker process, while a variable that holds no template
    costs nothing to read here (docs/performance.md).
    """
    # Retired variables are read too, so that prepare() refuses them with what to do.
    names = [*READ_VARS, *ARG_TO_VAR.values(), *preflight.ROLE_ALIASES, *preflight.RETIRED_VARS]
    variables = {name: template(task_vars[name]) for name in names if name in task_vars}
    return preflight.with_role_aliases(variables)


def preflight_vars(args: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping preflight.prepare() reads: the host's variables, task arguments over them."""
    merged = dict(variables)
    for arg, var in ARG_TO_VAR.items():
        if args.get(arg) is not None:
            merged[var] = args[arg]
    return merged


def task_result(report: HostReport) -> dict[str, Any]:
    """The sagefleet_preflight task's result for one host, whichever way it was gathered."""
    result: dict[str, Any] = {
        "changed": False,
        "host_report": report.to_dict(),
        "status": report.status,
    }
    if not report.reachable:
        result["unreachable"] = True
        result["msg"] = report.error
        return result
    failing = [f for f in report.findings if f.is_failure and f.severity != "info"]
    result["msg"] = f"{report.status}: " + (
        ", ".join(sorted({f.check_id for f in failing})) if failing else "all checks pass"
    )
    return result


def handed_result(fleet: Any, host: str) -> dict[str, Any] | None:
    """This host's result from the fleet task's registered value (None: gather it here)."""
    if not isinstance(fleet, Mapping) or fleet.get("skipped"):
        return None
    results = fleet.get("results")
    if not isinstance(results, Mapping):
        return None
    found = results.get(host)
    return dict(found) if isinstance(found, Mapping) else None


def mode_of(value: Any) -> str:
    """The mode a host asks for (the role's argument spec has refused anything else)."""
    return DEFAULT_MODE if value in (None, "") else str(value)


@dataclass(frozen=True)
class Connection:
    """ansible-core's winrm connection of one host, as its plugin resolved it."""

    address: str
    port: int
    scheme: str
    path: str
    transports: tuple[str, ...]
    username: str | None
    password: str | None = field(repr=False)
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    connection_timeout: int | None = None

    def target(self, host: str) -> WinRMTarget | str:
        """The WinRMTarget the fleet task reaches the host with, or why it cannot."""
        if len(self.transports) != 1:
            return (
                f"ansible_winrm_transport lists {len(self.transports)} transports "
                f"({', '.join(self.transports)}): the winrm plugin tries each in turn"
            )
        transport = self.transports[0]
        if transport not in FLEET_TRANSPORTS:
            return f"transport {transport}: left to the winrm connection plugin"
        if not self.username or self.password is None:
            return "no WinRM user or password: the winrm connection plugin reports it"
        options = dict(self.options)
        if self.connection_timeout:  # as the plugin does: both timeouts from one option
            options["operation_timeout_sec"] = self.connection_timeout
            options["read_timeout_sec"] = self.connection_timeout + 10
        fields: dict[str, Any] = {}
        for option, name, convert in (
            ("server_cert_validation", "server_cert_validation", str),
            ("ca_trust_path", "ca_trust_path", str),
            ("message_encryption", "message_encryption", str),
            ("operation_timeout_sec", "operation_timeout", int),
            ("read_timeout_sec", "read_timeout", int),
        ):
            if option in options:
                fields[name] = convert(options.pop(option))
        return WinRMTarget(
            host=host,
            address=self.address,
            username=self.username,
            password=self.password,
            port=self.port,
            scheme=self.scheme,
            path=self.path,
            transport=transport,
            options=tuple(sorted(options.items())),
            **fields,
        )


@dataclass
class FleetHost:
    """One host of the play, as the fleet task saw it."""

    name: str
    inventory_host: InventoryHost | None = None
    prepared: preflight.PreparedHost | None = None
    reason: str | None = None  # why it runs per host (None: the fleet task runs it)


def plan_host(
    name: str,
    template: Callable[[Any], Any],
    raw: Mapping[str, Any],
    *,
    connection: str | None,
    become: bool,
    resolve: Callable[[], Connection],
) -> FleetHost:
    """Decide how one host is gathered, with everything the fleet task needs for it.

    ``raw``: the host's variables as its per-host task would see them, untemplated;
    ``connection``, ``become``: the task's own keywords (a host variable wins over
    them, as in Ansible); ``resolve``: the winrm plugin's view of the connection.
    """
    mode = mode_of(template(raw[MODE_VAR]) if MODE_VAR in raw else None)
    if mode != "fleet":
        return FleetHost(name, reason=f"{MODE_VAR} is {mode}")
    plugin = template(raw["ansible_connection"]) if "ansible_connection" in raw else connection
    if plugin not in WINRM_PLUGINS:
        return FleetHost(name, reason=f"connection {plugin}: the fleet task speaks winrm only")
    if "ansible_become" in raw:
        become = _truthy(template(raw["ansible_become"]))
    if become:
        return FleetHost(name, reason="become is set: left to the connection plugin")
    target = resolve().target(name)
    if isinstance(target, str):
        return FleetHost(name, reason=target)
    variables = host_variables(raw, template)
    variables.update({v: template(raw[v]) for v in RETRY_VARS if v in raw})
    try:
        prepared = preflight.prepare(name, variables)
        retry_from(name, variables)
    except SagefleetError as exc:  # ValidationFailed included: the per-host task says it
        return FleetHost(name, reason=f"invalid input: {type(exc).__name__}")
    return FleetHost(name, InventoryHost(name, variables, target), prepared)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


def run(
    hosts: Sequence[FleetHost], *, forks: int, progress: doctor.Progress | None = None
) -> dict[str, dict[str, Any]]:
    """Preflight every host the fleet task runs, ``forks`` at a time: each one's task result."""
    fleet = [h for h in hosts if h.inventory_host is not None and h.prepared is not None]
    if not fleet:
        return {}
    report = doctor.run(
        [h.inventory_host for h in fleet if h.inventory_host is not None],
        forks=forks,
        prepared={h.name: h.prepared for h in fleet if h.prepared is not None},
        progress=progress,
    )
    return {host.host: task_result(host) for host in report.hosts}


class AnsibleWinRM:
    """Each host's winrm connection settings, resolved by ansible-core's own winrm plugin
    as the task executor would set them for the host's task, without connecting.

    One plugin object serves every host in turn: its options are set afresh each time.
    """

    def __init__(self, task: Any, play_context: Any) -> None:
        from ansible.plugins.loader import connection_loader

        self._plugin = connection_loader.get("winrm", play_context, new_stdin=None)
        if self._plugin is None:  # pragma: no cover - part of ansible-core
            raise SagefleetError("ansible-core's winrm connection plugin is not available")
        # What the task executor gives the connection besides the host's variables: the
        # play's and task's keywords (remote_user, port, ...), the connection timeout and
        # a password from the command line (--ask-pass), never the task's retries.
        keys = dict(task.dump_attrs())
        keys["timeout"] = play_context.timeout
        if play_context.password:
            keys["password"] = play_context.password
        keys.pop("retries", None)
        self._task_keys = keys

    def connection(self, variables: Mapping[str, Any], templar: Any) -> Connection:
        plugin = self._plugin
        options = plugin._resolve_option_variables(variables, templar)
        plugin.set_options(task_keys=self._task_keys, var_options=options)
        plugin._build_winrm_kwargs()
        kwargs = dict(plugin._winrm_kwargs)
        return Connection(
            address=str(plugin._winrm_host),
            port=int(plugin._winrm_port),
            scheme=str(plugin._winrm_scheme),
            path=str(plugin._winrm_path),
            transports=tuple(str(t) for t in plugin._winrm_transport),
            username=kwargs.pop("username", None),
            password=kwargs.pop("password", None),
            options=kwargs,
            connection_timeout=plugin._winrm_connection_timeout or None,
        )
