"""What playbooks/preflight.yml's tasks share, and its fleet mode.

The role ``sagefleet_preflight`` gathers each host's facts in one of two ways
(``sagefleet_preflight_mode``, read per host):

- ``fleet`` (the default): one task, run once on the bastion, resolves every
  host's WinRM connection exactly as ansible-core's ``winrm`` connection plugin
  would for that host's own task (the same variables, vault, ``--limit``, play
  keywords and command-line options, through the plugin's own option code,
  without connecting: remote/ansible.py), starts a process that runs every host
  through the core of ``sagefleet doctor`` (``doctor.run``: direct pywinrm
  sessions in threads, shared by a few forked processes), ``forks`` hosts at a
  time, and returns at once. The role's per-host task then takes each host's
  result from that process (``Results``) without a connection, while the other
  hosts are still being reached: PLAY RECAP, ``failed_when``, AWX's host view and
  the report see one result per host, as before.
- ``per_host``: the role's per-host task gathers the facts itself, over the
  task's Ansible connection, in Ansible's worker process for that host.

A host goes the ``per_host`` way, whatever the mode, when the fleet task cannot
reproduce its connection (the fleet task's result, ``per_host``, says why): a
connection plugin other than ``winrm``; ``become``; a transport other than
``ntlm``, ``basic``, ``plaintext``, ``ssl`` or ``certificate`` (Kerberos manages
a ticket cache per process, CredSSP is left to the plugin); several transports
to try in turn; no user or password; a connection variable that does not
template (``Connection.target``). A host whose inputs are invalid runs per host
too, where it fails with its error (the role's first task refuses it before).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagefleet import doctor, outcomes, preflight, variables
from sagefleet.agent import profile as agent_profile
from sagefleet.errors import SagefleetError
from sagefleet.findings import HostReport, Severity, Status
from sagefleet.inventory import InventoryHost
from sagefleet.outcomes import Outcome
from sagefleet.processes import alive
from sagefleet.remote.ansible import WINRM_PLUGINS, Connection
from sagefleet.remote.retry import retry_from
from sagefleet.report.outcome_table import host_reason
from sagefleet.variables import declarations

#: The role variable choosing how a host's facts are gathered, and its values.
MODE_VAR = "sagefleet_preflight_mode"
MODES = ("fleet", "per_host")
DEFAULT_MODE = "fleet"
#: The fleet task's registered result, which the per-host task reads.
FLEET_RESULT_VAR = "sagefleet_preflight_fleet"


#: The module the role runs per host (its options stand for inventory variables).
MODULE = "sagefleet_preflight"

# The WinRM settings preflight judges (SF902) and where a relative agent profile starts.
_CONNECTION_VARS = (
    "inventory_dir",
    "ansible_connection",
    "ansible_winrm_scheme",
    "ansible_winrm_transport",
    "ansible_winrm_server_cert_validation",
    "ansible_winrm_message_encryption",
)


def read_names() -> list[str]:
    """Every variable preflight reads, templated from the host's variables (never passed
    through task arguments, so entity secrets stay out of task arguments and logs);
    retired ones too, so that prepare() refuses them with what to do."""
    return [
        *variables.read_by("preflight"),
        *(variable for variable, _ in agent_profile.OVERRIDES),
        *_CONNECTION_VARS,
        *declarations.RETIRED,
    ]


def host_variables(task_vars: Mapping[str, Any], template: Callable[[Any], Any]) -> dict[str, Any]:
    """The variables preflight reads, templated from a host's variables.

    The role passes no arguments: Ansible compiles every templated task argument
    again in each host's worker process, while a variable that holds no template
    costs nothing to read here (docs/performance.md).
    """
    return {name: template(task_vars[name]) for name in read_names() if name in task_vars}


def preflight_vars(args: Mapping[str, Any], host_vars: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping preflight.prepare() reads: the host's variables, task arguments over them
    (an argument stands for its variable and for the variable's retired names)."""
    given = variables.argument_vars(MODULE, args)
    retired = {alias for name in given for alias in variables.aliases_of(name)}
    return {**{k: v for k, v in host_vars.items() if k not in retired}, **given}


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
    # The checks that decide the status (info ones never do): failed, or could not decide.
    deciding = [f for f in report.findings if f.severity is not Severity.INFO]
    failed = sorted({f.check_id for f in deciding if f.is_failure})
    unknown = sorted({f.check_id for f in deciding if f.status is Status.UNKNOWN})
    parts = [" ".join(ids) + w for ids, w in ((failed, " failed"), (unknown, " unknown")) if ids]
    if not parts:
        passed = not any(f.status in (Status.FAIL, Status.UNKNOWN) for f in report.findings)
        parts = ["all checks pass" if passed else "no error or warning check fails"]
    result["msg"] = f"{report.status}: " + ", ".join(parts)
    return result


def ended(result: dict[str, Any], fail_on_blocked: bool) -> dict[str, Any]:
    """The sagefleet_preflight task's result, ending the host with its status as
    sagefleet_outcome would, in the same words: a host that could not be diagnosed is
    unreachable, a blocked host fails when ``fail_on_blocked`` (the role's
    sagefleet_preflight_fail_on_blocked). The role writes its report after this task,
    for the hosts it ended too."""
    status = result.get("status")
    fail_on = [Outcome.BLOCKED.value] if fail_on_blocked else []
    unreachable_on = list(outcomes.UNREACHABLE)
    if status not in fail_on + unreachable_on or result.get("failed") or result.get("unreachable"):
        return result  # nothing to mark, or marked already (its own words)
    data = result.get("host_report")
    reason = host_reason(HostReport.from_dict(data)) if isinstance(data, Mapping) else ""
    return {**result, **outcomes.end_host(str(status), reason, fail_on, unreachable_on)}


#: In the checks task's result of the play's first host, instead of ``unreachable``: why
#: it could not be diagnosed; the role's last task ends it so, after the report (``deferred``).
ENDS_UNREACHABLE = "sagefleet_ends_unreachable"


def deferred(result: dict[str, Any], host: str, batch: Sequence[str]) -> dict[str, Any]:
    """The checks task's result, except that the first host of the play's batch is not
    ended unreachable there: Ansible runs nothing more once every host of a batch is
    unreachable, so a run that reached no host would write no report (and leave
    ``latest`` on an earlier run's). Its result says why under ``ENDS_UNREACHABLE``
    instead: the host stays in the play, the report runs once for it (the batch's first
    host), and the role's last task, run once, ends it unreachable with that reason."""
    if not result.get("unreachable") or not batch or batch[0] != host:
        return result
    kept = {key: value for key, value in result.items() if key != "unreachable"}
    reason = str(result.get("msg") or "").removeprefix(f"{Outcome.UNREACHABLE.value}: ")
    return {**kept, ENDS_UNREACHABLE: reason}


def mode_of(value: Any) -> str:
    """The mode a host asks for (the role's argument spec has refused anything else)."""
    return DEFAULT_MODE if value in (None, "") else str(value)


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
    host_vars = host_variables(raw, template)  # the retry policy's variables included
    try:
        prepared = preflight.prepare(name, host_vars)
        retry_from(name, host_vars)
    except SagefleetError as exc:  # ValidationFailed included: the per-host task says it
        return FleetHost(name, reason=f"invalid input: {type(exc).__name__}")
    return FleetHost(name, InventoryHost(name, host_vars, target), prepared)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


class Results:
    """Where the fleet task's process leaves each host's task result, one file per host,
    and how each host's own task takes it (waiting for it while that process runs).

    The fleet task starts the process and returns at once: the role's per-host task
    then runs while the hosts are being reached, each waiting for its own result, so
    that Ansible's per-host work (a worker process per host, its result) overlaps the
    hosts' round trips instead of following them. The process holds an exclusive lock
    on ``engine.lock`` for its whole life: a host's task that finds the lock free and
    no result knows the process is gone, and gathers the facts itself.
    """

    LOCK = "engine.lock"

    def __init__(self, folder: Path, hosts: Sequence[str]) -> None:
        self.folder = folder
        self.index = {name: i for i, name in enumerate(hosts)}

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "hosts": dict(self.index)}

    @classmethod
    def from_value(cls, fleet: Any) -> Results | None:
        """The fleet task's registered value, read back (None: no process was started)."""
        if not isinstance(fleet, Mapping) or fleet.get("skipped"):
            return None
        value = fleet.get("process")
        if not isinstance(value, Mapping) or not isinstance(value.get("hosts"), Mapping):
            return None
        results = cls(Path(str(value["folder"])), [])
        results.index = {str(k): int(v) for k, v in value["hosts"].items()}
        return results

    def _path(self, host: str) -> Path:
        return self.folder / f"{self.index[host]}.json"

    def publish(self, host: str, result: Mapping[str, Any]) -> None:
        """Write one host's result where its task looks for it (atomically)."""
        path = self._path(host)
        partial = path.with_suffix(".part")
        partial.write_text(json.dumps(result), encoding="utf-8")
        os.replace(partial, path)

    def running(self) -> bool:
        """Whether the process publishing the results still runs (it holds the lock)."""
        try:
            fd = os.open(self.folder / self.LOCK, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    def _remove_spent(self) -> None:
        """The process ended (killed: it could not clean up) and left no result to take:
        its folder goes. A result still there is another host's, which takes it."""
        if not any(self.folder.glob("*.json")):
            shutil.rmtree(self.folder, ignore_errors=True)

    def take(self, host: str, poll_s: float = 0.02) -> dict[str, Any] | None:
        """This host's result, once published (None: the process ended without it)."""
        path = self._path(host)
        while True:
            running = self.running()
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                if not running:
                    self._remove_spent()
                    return None
                time.sleep(poll_s)
                continue
            path.unlink(missing_ok=True)  # taken: the process may clean up once all are
            found: dict[str, Any] = json.loads(text)
            return found


def start(hosts: Sequence[FleetHost], *, forks: int, bastion: int) -> Results | None:
    """Start the process that preflights every host the fleet task runs, ``forks`` at a time,
    and return where the results will be (None: no host to run).

    ``bastion``: the pid of ansible-playbook; the process ends when it does.
    """
    fleet = [h for h in hosts if h.inventory_host is not None and h.prepared is not None]
    if not fleet:
        return None
    folder = Path(tempfile.mkdtemp(prefix="sagefleet-preflight-"))
    results = Results(folder, [h.name for h in fleet])
    ready, told = os.pipe()
    pid = os.fork()
    if pid == 0:  # the process: never returns
        code = 1
        try:
            os.close(ready)
            _engine(results, fleet, forks, bastion, told)
            code = 0
        finally:
            os._exit(code)
    os.close(told)
    os.read(ready, 1)  # it holds its lock (or has died): a host's task can tell which
    os.close(ready)
    return results


def _engine(
    results: Results, fleet: Sequence[FleetHost], forks: int, bastion: int, told: int
) -> None:
    # Not attached to anything of the task's process: its output goes nowhere, its
    # signals are its own, and it ends with ansible-playbook if that ends first.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)

    def end(signum: int, frame: Any) -> None:
        # Ctrl-C or a TERM to ansible-playbook's process group: leave nothing behind.
        shutil.rmtree(results.folder, ignore_errors=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, end)
    signal.signal(signal.SIGTERM, end)
    lock = os.open(results.folder / Results.LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.write(told, b"1")
    os.close(told)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            if not alive(bastion):
                shutil.rmtree(results.folder, ignore_errors=True)
                os._exit(0)  # doctor's worker processes end with it (PDEATHSIG)

    threading.Thread(target=watch, name="sagefleet-preflight-watch", daemon=True).start()

    def publish(report: HostReport) -> None:
        results.publish(report.host, task_result(report))

    try:
        report = doctor.run(
            [h.inventory_host for h in fleet if h.inventory_host is not None],
            forks=forks,
            prepared={h.name: h.prepared for h in fleet if h.prepared is not None},
            on_report=publish,
        )
        for host in report.hosts:  # a host doctor.run reported only at the end (none expected)
            if not results._path(host.host).exists():
                publish(host)
        # Wait for every host's task to take its result.
        while any(results.folder.glob("*.json")) and alive(bastion):
            time.sleep(0.2)
    finally:  # then leave nothing behind, whatever ended the process
        done.set()
        shutil.rmtree(results.folder, ignore_errors=True)
