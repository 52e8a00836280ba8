"""A simulated fleet: N hosts on loopback addresses, an inventory, a state file.

``Fleet`` runs in the calling process (tests, the demo). ``up``/``down`` run
it as a background process that ``down`` stops exactly, via the state file.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import secrets
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import yaml

from sagefleet.errors import SagefleetError
from sagefleet.processes import alive, command_line
from sagefleet.sim import vendor_layout
from sagefleet.sim.commands.dispatch import reads_stdin, run_command
from sagefleet.sim.host import ProfileError, WindowsHost, host_from_profile, logon
from sagefleet.sim.host.logon import HostCredentials
from sagefleet.sim.host_profiles import (
    OVERRIDES_VAR,
    PROFILE_VAR,
    ProfileLibrary,
    is_path,
    with_overrides,
)
from sagefleet.sim.protocol import certs
from sagefleet.sim.protocol.faults import FaultError, FaultPlan
from sagefleet.sim.protocol.server import NTLM_USERS, Acceptor, Listener, Stats, tls_context

if TYPE_CHECKING:
    from sagefleet.inventory import VaultOptions

STATE_FILE = "state.json"
#: Where deploy takes settings.json from (the vendor's files, or the template).
SETTINGS_SOURCE_VAR = "sagefleet_settings_source"
SETTINGS_SOURCES = ("vendor", "template")


class FleetError(SagefleetError):
    """The simulated fleet could not be started or stopped."""


@dataclass
class HostSpec:
    """Where one simulated host listens and who it is."""

    name: str
    address: str
    port: int = 5986
    scheme: str = "https"
    username: str = "sagefleet"
    password: str = ""
    # A profile name (shipped, or a --profile-file's) or the path of a profile file.
    profile: str = "healthy-onprem"
    # Profile fields applied over the profile (``sagefleet_sim_overrides``).
    overrides: dict[str, Any] = field(default_factory=dict)
    # What the host does wrong from the start (see sim/protocol/faults.py); the key
    # ``down: true`` starts it with its listener closed.
    faults: dict[str, Any] = field(default_factory=dict)


def loopback_addresses(count: int, first: str = "127.0.1.1") -> list[str]:
    """``count`` loopback addresses from ``first``, skipping .0 and .255."""
    try:
        start = ipaddress.IPv4Address(first)
    except ValueError:
        raise FleetError(f"simulated hosts listen on loopback addresses, not {first}") from None
    if not start.is_loopback:
        raise FleetError(f"simulated hosts only listen on loopback (127.0.0.0/8), not {first}")
    result: list[str] = []
    current = int(start)
    while len(result) < count:
        address = ipaddress.IPv4Address(current)
        if not address.is_loopback:
            raise FleetError(f"not enough loopback addresses after {first} for {count} hosts")
        if current & 0xFF not in (0, 255):
            result.append(str(address))
        current += 1
    return result


def generate_specs(
    count: int,
    profiles: Sequence[str] = ("healthy-onprem",),
    first_address: str = "127.0.1.1",
    port: int = 5986,
    scheme: str = "https",
    username: str | None = None,
    password: str | None = None,
    prefix: str = "sage",
) -> list[HostSpec]:
    """Specs for ``count`` hosts cycling through ``profiles``.

    Each generated fleet gets its own user name and random password: NTLM
    credentials are process-wide in the simulator, so two fleets in one
    process must not share a user name with different passwords.
    """
    if count < 1:
        raise FleetError(f"--hosts must be at least 1 (got {count})")
    try:
        last_byte = int(ipaddress.IPv4Address(first_address)) & 0xFF
    except ValueError:
        raise FleetError(f"--first-address {first_address}: not an IPv4 address") from None
    if last_byte in (0, 255):
        raise FleetError(
            f"--first-address {first_address}: no host gets a .0 or .255 address (the hosts "
            "skip them): start at a .1 to .254 address"
        )
    username = username or f"sfadmin-{secrets.token_hex(3)}"
    password = password or "Sim-" + secrets.token_urlsafe(12)
    width = max(2, len(str(count)))
    return [
        HostSpec(
            name=f"{prefix}{index + 1:0{width}d}",
            address=address,
            port=port,
            scheme=scheme,
            username=username,
            password=password,
            profile=profiles[index % len(profiles)],
        )
        for index, address in enumerate(loopback_addresses(count, first_address))
    ]


class Fleet:
    """Simulated hosts served from this process until ``stop``."""

    def __init__(
        self,
        specs: Iterable[HostSpec],
        state_dir: Path,
        library: ProfileLibrary | None = None,
    ) -> None:
        self.specs = list(specs)
        if not self.specs:
            raise FleetError("a fleet needs at least one host")
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise FleetError("host names in a fleet must be unique")
        self.state_dir = Path(state_dir)
        self.hosts: dict[str, WindowsHost] = {}
        self.listeners: dict[str, Listener] = {}
        self._faults: dict[str, FaultPlan] = {}
        self._stats: dict[str, Stats] = {}
        self._down: set[str] = set()
        self._context: ssl.SSLContext | None = None
        self._acceptor: Acceptor | None = None
        self._lock = threading.Lock()
        self.ca_file = self.state_dir / "ca.pem"
        self.library = library or ProfileLibrary()
        # Each host's profile as built: the named profile with the host's overrides.
        self.profiles: dict[str, dict[str, Any]] = {}

    def build(self) -> list[WindowsHost]:
        """Every host's model from its profile and overrides, before anything listens.

        A bad profile, override or fault is a FleetError naming the host.
        """
        hosts = []
        loaded: dict[str, dict[str, Any]] = {}  # parsed once per profile, not per host
        for spec in self.specs:
            settings = dict(spec.faults)
            settings.pop("down", None)
            try:
                self._faults[spec.name] = FaultPlan.from_mapping(settings)
            except FaultError as exc:
                raise FleetError(f"host {spec.name}: {exc}") from exc
            self._stats[spec.name] = Stats()
            try:
                if spec.profile not in loaded:
                    loaded[spec.profile] = self.library.get(spec.profile)
            except ProfileError as exc:
                raise FleetError(f"host {spec.name}: {exc}") from None
            try:
                profile = with_overrides(loaded[spec.profile], spec.overrides, spec.name)
            except ProfileError as exc:  # names the host already
                raise FleetError(str(exc)) from None
            try:
                host = host_from_profile(
                    spec.name, spec.address, spec.username, spec.password, profile
                )
                logon.account_of(host)  # a domain account the host cannot know: refused
            except ProfileError as exc:
                raise FleetError(f"host {spec.name}: {exc}") from None
            self.profiles[spec.name] = profile
            hosts.append(host)
        return hosts

    def validate(self, inventory: bool = False) -> None:
        """Check every host's profile, overrides and faults as ``build`` would, without
        keeping the hosts: one model per distinct profile, and per host with overrides.
        With ``inventory``, also that every host will have entities in the inventory."""
        specs = self.specs
        sample: list[HostSpec] = []
        seen: set[str] = set()
        for spec in specs:
            if spec.overrides or spec.faults or spec.profile not in seen:
                sample.append(spec)
                seen.add(spec.profile)
        try:
            self.specs = sample
            self.build()
            if inventory:
                for spec in sample:
                    self.entities(spec.name)
        finally:
            self.specs = specs
            self.profiles.clear()
            self._faults.clear()
            self._stats.clear()

    def start(self) -> Fleet:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        hosts = self.build()
        start_down = {s.name for s in self.specs if s.faults.get("down")}
        for host in hosts:
            NTLM_USERS.add(HostCredentials(host))
        written: tuple[Path, ...] = ()
        try:
            context = None
            if any(s.scheme == "https" for s in self.specs):
                bundle = certs.generate(
                    sorted({s.address for s in self.specs}),
                    [h.hostname.lower() for h in hosts] + ["localhost"],
                )
                written = bundle.write(self.state_dir)
                context = tls_context(str(written[1]), str(written[2]))
            self._context = context
            acceptor = Acceptor()
            self._acceptor = acceptor  # from now on stop() closes what is open (a Ctrl-C here)
            for spec, host in zip(self.specs, hosts, strict=True):
                self.hosts[spec.name] = host
                listener = self._listen(spec)
                spec.port = listener.port
                self.listeners[spec.name] = listener
                acceptor.add(listener)
        except BaseException:
            self.stop()
            for path in written:  # the CA and key of a fleet that never ran
                path.unlink(missing_ok=True)
            raise
        acceptor.start()
        for name in sorted(start_down):
            self.host_down(name)
        return self

    def _listen(self, spec: HostSpec) -> Listener:
        try:
            host = self.hosts[spec.name]
            return Listener(
                host.address,
                spec.port,
                spec.scheme,
                self._context if spec.scheme == "https" else None,
                machine=host.hostname,
                credentials=HostCredentials(host),
                runner=functools.partial(run_command, host),
                reads_stdin=reads_stdin,
                faults=self._faults[spec.name],
                stats=self._stats[spec.name],
            )
        except OSError as exc:
            raise FleetError(
                f"host {spec.name}: cannot listen on {spec.address}:{spec.port}: {exc}"
            ) from exc

    # -- faults at run time ---------------------------------------------------
    def faults(self, name: str) -> FaultPlan:
        """The fault plan of one host: ``.set(latency=0.02)``, ``.clear()``, ``.reset()``."""
        try:
            return self._faults[name]
        except KeyError:
            raise FleetError(f"no host {name!r} in this fleet") from None

    def host_down(self, name: str) -> None:
        """Close the host's listener: its port refuses connections, open ones are cut.

        The host's state (model, faults, statistics) is kept; open shells are
        lost, as when the WinRM service stops.
        """
        with self._lock:
            if name in self._down:
                return
            listener = self.listeners[name]
            if self._acceptor is None:
                raise FleetError("the fleet is not running")
            self._acceptor.remove(listener)
            self._down.add(name)

    def host_up(self, name: str) -> None:
        """Listen again on the same address and port, with fresh shells."""
        with self._lock:
            if name not in self._down:
                return
            if self._acceptor is None:
                raise FleetError("the fleet is not running")
            listener = self._listen(self.spec(name))
            self.listeners[name] = listener
            self._acceptor.add(listener)
            self._down.discard(name)

    def is_down(self, name: str) -> bool:
        return name in self._down

    def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.stop()
            self._acceptor = None

    def __enter__(self) -> Fleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def host(self, name: str) -> WindowsHost:
        return self.hosts[name]

    def endpoint(self, name: str) -> str:
        spec = self.spec(name)
        return f"{spec.scheme}://{spec.address}:{spec.port}/wsman"

    def spec(self, name: str) -> HostSpec:
        return next(s for s in self.specs if s.name == name)

    def entities(self, name: str) -> list[dict[str, Any]]:
        """The inventory entities of one host: one per .MAE file of its profile as built."""
        profile = self.profiles.get(name)
        if profile is None:  # not started: the named profile with the host's overrides
            spec = self.spec(name)
            profile = with_overrides(self.library.get(spec.profile), spec.overrides, name)
        entities = vendor_layout.entities_for(profile)
        if not entities:  # an inventory host without entities could never be deployed
            raise FleetError(
                f"host {name}: profile {profile.get('profile')!r} has no .MAE file, so the "
                "inventory would give the host no entity: add a mae entry to the profile "
                "(or to the host's sagefleet_sim_overrides)"
            )
        return entities

    def inventory(self, ca_path: str | None = None) -> dict[str, Any]:
        """An Ansible YAML inventory for this fleet (credentials in plain vars).

        Every host lists its entities, derived from its profile; ``write_inventory``
        also writes each entity's vendor settings.json and names it.
        """
        hosts: dict[str, Any] = {}
        for spec in self.specs:
            hosts[spec.name] = {
                "ansible_host": spec.address,
                "ansible_port": spec.port,
                "ansible_winrm_scheme": spec.scheme,
                "ansible_user": spec.username,
                "ansible_password": spec.password,
                PROFILE_VAR: self.library.reference(spec.profile),
            }
            if spec.overrides:
                hosts[spec.name][OVERRIDES_VAR] = dict(spec.overrides)
            if spec.faults:
                hosts[spec.name]["sagefleet_sim_faults"] = dict(spec.faults)
            hosts[spec.name]["sagefleet_entities"] = self.entities(spec.name)
        return {
            "all": {
                "vars": {
                    "ansible_connection": "winrm",
                    "ansible_winrm_transport": "ntlm",
                    "ansible_winrm_server_cert_validation": "validate",
                    "ansible_winrm_ca_trust_path": ca_path or str(self.ca_file),
                },
                "children": {"sage_servers": {"hosts": hosts}},
            }
        }

    def write_inventory(
        self, path: Path, ca_path: str | None = None, settings_source: str = "vendor"
    ) -> Path:
        """Write the inventory, and with ``settings_source`` vendor each entity's vendor file.

        The vendor files (the simulator's stand-in layout, see vendor_layout) go to
        ``vendor/<host>/<entity>/settings.json`` beside the inventory, and each entity
        names its own (``vendor_settings``, an absolute path). With ``template`` no
        vendor file is written and the inventory says ``sagefleet_settings_source:
        template``. Either way the entity fields the template and the checks need
        are filled.
        """
        if settings_source not in SETTINGS_SOURCES:
            raise FleetError(
                f"settings source must be one of {', '.join(SETTINGS_SOURCES)}, "
                f"not {settings_source!r}"
            )
        path = path.resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.inventory(ca_path)
        hosts = data["all"]["children"]["sage_servers"]["hosts"]
        if settings_source == "template":
            data["all"]["vars"][SETTINGS_SOURCE_VAR] = "template"
        else:
            for name, hv in hosts.items():
                for entity in hv["sagefleet_entities"]:
                    vendor = path.parent / "vendor" / name / entity["name"] / "settings.json"
                    vendor.parent.mkdir(parents=True, exist_ok=True)
                    vendor.write_bytes(vendor_layout.dumps(vendor_layout.document([entity])))
                    vendor.chmod(0o600)  # it holds the entity's SQL password, as the vendor's
                    entity["vendor_settings"] = str(vendor)
        text = "# Generated by `sagefleet sim up`: a simulated fleet on loopback.\n"
        text += yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    def state(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "ready": True,
            "ca_file": str(self.ca_file),
            "hosts": [{k: v for k, v in asdict(s).items() if k != "password"} for s in self.specs],
        }


def specs_from_inventory(inventory: Path, vault: VaultOptions | None = None) -> list[HostSpec]:
    """Read the hosts to simulate from an Ansible inventory (the inventory is the truth).

    Variables are templated and vault values decrypted as ansible-playbook does
    (``vault``: sagefleet.inventory.VaultOptions).
    """
    from sagefleet.inventory import load

    specs = []
    for host in load([inventory], vault=vault, connect=False):
        hv = host.variables
        if hv.get("ansible_connection") != "winrm":
            continue
        address = str(hv.get("ansible_host", host.name))
        faults = hv.get("sagefleet_sim_faults") or {}
        if not isinstance(faults, dict):
            raise FleetError(f"host {host.name}: sagefleet_sim_faults must be a mapping")
        password = hv.get("ansible_password", hv.get("ansible_winrm_password"))
        if not hv.get("ansible_user") or password is None:
            raise FleetError(f"host {host.name}: ansible_user and ansible_password must be set")
        overrides = hv.get(OVERRIDES_VAR) or {}
        if not isinstance(overrides, dict):
            raise FleetError(
                f"host {host.name}: {OVERRIDES_VAR} must be a mapping of profile fields "
                f"(value: {overrides!r})"
            )
        profile = str(hv.get(PROFILE_VAR, "healthy-onprem"))
        if is_path(profile) and not Path(profile).expanduser().is_absolute():
            # A profile file named in an inventory is relative to that inventory's folder.
            profile = str(Path(str(hv.get("inventory_dir") or ".")) / profile)
        specs.append(
            HostSpec(
                name=host.name,
                address=address,
                port=int(hv.get("ansible_port", 5986)),
                scheme=str(hv.get("ansible_winrm_scheme", "https")),
                username=str(hv["ansible_user"]),
                password=str(password),
                profile=profile,
                overrides={str(k): v for k, v in overrides.items()},
                faults={str(k): v for k, v in faults.items()},
            )
        )
    if not specs:
        raise FleetError(f"inventory {inventory} has no host with ansible_connection=winrm")
    for spec in specs:
        loopback_addresses(1, spec.address)  # refuses anything outside 127.0.0.0/8
    return specs


# -- background process -------------------------------------------------------


def serve(
    specs: list[HostSpec],
    state_dir: Path,
    inventory_out: Path | None,
    library: ProfileLibrary | None = None,
    settings_source: str = "vendor",
) -> int:
    """Run a fleet in the foreground until SIGTERM/SIGINT; used by ``sim up``."""
    fleet = Fleet(specs, state_dir, library)
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    state_path = state_dir / STATE_FILE
    try:
        fleet.start()
        if inventory_out is not None:
            fleet.write_inventory(inventory_out, settings_source=settings_source)
        _atomic_json(state_path, fleet.state())
        while not stop.wait(0.5):
            pass
    finally:
        fleet.stop()
        state_path.unlink(missing_ok=True)
    return 0


def _atomic_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def up(
    serve_args: list[str],
    state_dir: Path,
    timeout: float = 60.0,
    vault_secrets: Sequence[tuple[str, bytes]] = (),
    launcher: Sequence[str] = (sys.executable, "-m", "sagefleet"),
    stop_with: str | None = None,
) -> dict[str, Any]:
    """Start ``sagefleet sim serve`` in the background and wait until it is ready.

    ``vault_secrets``: vault secrets for the inventory it serves, handed over in memory.
    ``launcher``: the command that runs ``sagefleet`` (one that registers more models first).
    ``stop_with``: the command that stops a fleet already running there, as the operator
    would type it (default ``sagefleet sim down --state-dir <state_dir>``). A start that
    fails removes the folders it made (what the simulator wrote in them: its CA and key).
    """
    from sagefleet.inventory import secrets_for_child

    made = _first_missing(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_path = state_dir / STATE_FILE
    if state_path.exists():
        existing = json.loads(state_path.read_text(encoding="utf-8"))
        if serving(int(existing.get("pid", 0)), state_dir):
            stop_with = stop_with or shlex.join(
                ["sagefleet", "sim", "down", "--state-dir", str(state_dir)]
            )
            raise FleetError(
                f"a simulated fleet is already running from {state_dir} (pid {existing['pid']}); "
                f"run `{stop_with}` first"
            )
        state_path.unlink()
    log_path = state_dir / "sim.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    log_start = log.tell()
    with secrets_for_child(vault_secrets) as (handoff, fds):
        process = subprocess.Popen(
            [
                *launcher,
                "sim",
                "serve",
                "--state-dir",
                str(state_dir.resolve()),  # as `serving` finds it, from any folder
                *serve_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, **handoff},
            pass_fds=fds,
        )
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            what = f"exited with code {process.returncode} before it was ready"
            break
        if state_path.exists():
            state: dict[str, Any] = json.loads(state_path.read_text(encoding="utf-8"))
            if state.get("pid") == process.pid:
                return state
        time.sleep(0.1)
    else:
        process.terminate()
        process.wait(timeout)
        what = f"did not become ready within {timeout:.0f} s"
    error = _child_error(log_path, log_start, what, kept=made is None)
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
    raise FleetError(error)


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder of ``folder`` that does not exist yet (None: it exists)."""
    if folder.exists():
        return None
    while not folder.parent.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def _child_error(log_path: Path, start: int, what: str, kept: bool) -> str:
    """What the background simulator said before it exited, once (not wrapped in ours);
    else ``what`` happened and the end of its log (``kept``: the log stays, named)."""
    with open(log_path, "rb") as stream:
        stream.seek(start)
        text = stream.read().decode("utf-8", errors="replace")
    prefix = "sagefleet: error: "
    errors = [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]
    if errors:
        return errors[-1]
    tail = "\n".join(text.strip().splitlines()[-20:])
    if tail:
        return f"the simulator {what}; its last output{f' ({log_path})' if kept else ''}:\n{tail}"
    return f"the simulator {what}" + (f" (log: {log_path})" if kept else "")


def serving(pid: int, state_dir: Path) -> bool:
    """Whether process ``pid`` is the simulator ``up`` started for ``state_dir`` (``sim
    serve --state-dir`` that folder). A state file outlives its simulator when it is killed
    or the machine restarts, and its pid may then be another program's: never signalled."""
    if not alive(pid):
        return False
    argv = command_line(pid) or []
    wanted = state_dir.resolve()
    return any(
        argv[at : at + 3] == ["sim", "serve", "--state-dir"] and Path(argv[at + 3]) == wanted
        for at in range(len(argv) - 3)
    )


class Stop(NamedTuple):
    """What ``down`` found: the simulator ``pid`` it ``stopped``; a ``stale`` state file
    (its simulator ``pid`` gone, or the pid another program's), removed; or ``none``."""

    outcome: Literal["stopped", "stale", "none"]
    pid: int = 0


def down(state_dir: Path, timeout: float = 20.0) -> Stop:
    """Stop the fleet started from ``state_dir``, only the simulator its state file names."""
    state_path = state_dir / STATE_FILE
    if not state_path.exists():
        return Stop("none")
    state = json.loads(state_path.read_text(encoding="utf-8"))
    pid = int(state.get("pid", 0))
    if not serving(pid, state_dir):
        state_path.unlink(missing_ok=True)
        return Stop("stale", pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if serving(pid, state_dir):
        os.kill(pid, signal.SIGKILL)
    state_path.unlink(missing_ok=True)
    return Stop("stopped", pid)
