"""Read an Ansible inventory (and its vault) through Ansible's own Python API.

The fast path (`sagefleet doctor`) and the testinfra plugin reach hosts with
the same variables ansible-playbook uses: one inventory, one vault, never a
second credential file.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagefleet.errors import InputError
from sagefleet.inventory.play import PLAY_ONLY_VARS, UNDEFINED, known_at_run, playbooks_folder
from sagefleet.settings.validate import to_plain

if TYPE_CHECKING:
    from sagefleet.remote.winrm import WinRMTarget

#: The group of the Sage servers: every playbook's hosts, and what the commands read.
SAGE_SERVERS = "sage_servers"

CONNECTION_VARS = (
    "ansible_host",
    "ansible_port",
    "ansible_user",
    "ansible_password",
    "ansible_winrm_password",
    "ansible_connection",
    "ansible_winrm_scheme",
    "ansible_winrm_transport",
    "ansible_winrm_server_cert_validation",
    "ansible_winrm_ca_trust_path",
    "ansible_winrm_message_encryption",
    "ansible_winrm_read_timeout_sec",
    "ansible_winrm_operation_timeout_sec",
    "ansible_winrm_path",
)
#: Every password a host's variables may hold besides sagefleet's own: the winrm plugin's
#: names and alias, become's. Read with the others so that a support bundle masks them.
PASSWORD_VARS = (
    "ansible_password",
    "ansible_winrm_password",
    "ansible_winrm_pass",
    "ansible_ssh_pass",
    "ansible_become_password",
    "ansible_become_pass",
)


def sagefleet_var_names(variables: Iterable[str]) -> list[str]:
    """The variables sagefleet reads: its own (``sagefleet_*``), the WinRM connection's, every
    password (``PASSWORD_VARS``) and ``inventory_dir`` (where a relative
    ``sagefleet_agent_profile`` starts).

    Action plugins template exactly these from the task's variables, so entity and
    account secrets never have to travel through task arguments.
    """
    return [
        name
        for name in variables
        if name.startswith("sagefleet_")
        or name in CONNECTION_VARS
        or name in PASSWORD_VARS
        or name == "inventory_dir"
    ]


@dataclass(frozen=True)
class InventoryHost:
    """One host of the inventory: its templated variables and how to reach it."""

    name: str
    variables: Mapping[str, Any] = field(repr=False)
    target: WinRMTarget | None = None
    #: The variables only the run can template (``load(at_run=True)``), left out of
    #: ``variables``: what to say of each, by name.
    at_run: Mapping[str, InputError] = field(default_factory=dict, repr=False)


VAULT_FD_ENV = "SAGEFLEET_VAULT_FD"
"""Environment variable naming the pipe a parent process hands its vault secrets over on."""

_HANDOFF_MAGIC = b"sagefleet-vault-secrets/1\n"


class VaultError(InputError):
    """The vault cannot be opened: no secret, a wrong one, a password file missing."""


VAULT_FIX = (
    "give the vault password of the inventory (--vault-password-file, --ask-vault-pass "
    "or --vault-id)"
)


@dataclass(frozen=True)
class VaultOptions:
    """Where the vault secrets come from, as ansible-playbook's options say it.

    ``ANSIBLE_VAULT_PASSWORD_FILE`` / ansible.cfg's ``vault_password_file`` and
    ``ANSIBLE_VAULT_IDENTITY_LIST`` apply on top, as for ansible-playbook, and so
    do the secrets a parent process handed over (`secrets_for_child`).
    """

    password_files: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    ask: bool = False


def add_vault_arguments(parser: argparse.ArgumentParser) -> None:
    """The vault options of ansible-playbook, for any subcommand that reads an inventory."""
    group = parser.add_argument_group(
        "vault",
        "as ansible-playbook's; ANSIBLE_VAULT_PASSWORD_FILE and ansible.cfg's "
        "vault_password_file apply too",
    )
    repeatable = (
        (
            ("--vault-password-file", "--vault-pass-file"),
            "vault_password_files",
            "FILE",
            "file holding the vault password, or a script printing it (repeatable)",
        ),
        (
            ("--vault-id",),
            "vault_ids",
            "[LABEL@]SOURCE",
            "a vault identity: LABEL@FILE, LABEL@SCRIPT or LABEL@prompt (repeatable)",
        ),
    )
    for flags, dest, shown, doc in repeatable:
        group.add_argument(*flags, dest=dest, action="append", default=[], metavar=shown, help=doc)
    group.add_argument(
        "-J",
        "--ask-vault-pass",
        "--ask-vault-password",
        dest="ask_vault_pass",
        action="store_true",
        help="prompt for the vault password",
    )


def vault_options(args: argparse.Namespace) -> VaultOptions:
    """The VaultOptions of a command line parsed with `add_vault_arguments`."""
    return VaultOptions(
        password_files=tuple(getattr(args, "vault_password_files", None) or ()),
        ids=tuple(getattr(args, "vault_ids", None) or ()),
        ask=bool(getattr(args, "ask_vault_pass", False)),
    )


# Secrets handed over by the parent process: read once (the pipe is then empty).
_received: list[tuple[str, bytes]] | None = None
# Secrets `load` gave Ansible in this process (ansible-core 2.18 has no context holding them).
_opened: list[tuple[str, bytes]] = []


def handed_over_secrets() -> list[tuple[str, bytes]]:
    """The vault secrets the parent process handed over (`secrets_for_child`), if any.

    Read once, at the first call (`load` makes it): the variable naming the pipe is
    removed then, so that no child of this process mistakes one of its own
    descriptors for it.
    """
    global _received
    if _received is None:
        _received = []
        fd_text = os.environ.pop(VAULT_FD_ENV, None)  # never passed on to our own children
        if fd_text:
            try:
                fd = int(fd_text)
                if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                    raise ValueError("not a pipe")
                with os.fdopen(fd, "rb") as pipe:
                    payload = pipe.read()
            except (OSError, ValueError) as exc:
                raise VaultError(
                    f"cannot read the vault secrets handed over on file descriptor {fd_text}: "
                    f"{exc}",
                    field=VAULT_FD_ENV,
                    fix="unset it, or start this command from sagefleet",
                ) from None
            accept_secrets(_decode_handoff(payload, fd_text))
    return list(_received)


def _decode_handoff(payload: bytes, source: str) -> list[tuple[str, bytes]]:
    if not payload.startswith(_HANDOFF_MAGIC):
        raise VaultError(
            f"file descriptor {source} does not hold vault secrets",
            field=VAULT_FD_ENV,
            fix="unset it, or start this command from sagefleet",
        )
    items = json.loads(payload[len(_HANDOFF_MAGIC) :])
    return [(str(i["id"]), base64.b64decode(i["secret"])) for i in items]


def accept_secrets(secrets: Iterable[tuple[str, bytes]]) -> None:
    """Secrets a parent handed over in memory (pipe, pytest-xdist's worker input)."""
    global _received
    current = _received or []
    _received = current + [s for s in secrets if s not in current]


def exported_secrets() -> list[dict[str, str]]:
    """The handed-over secrets, to pass on to worker processes in memory."""
    return [
        {"id": label, "secret": base64.b64encode(secret).decode()}
        for label, secret in handed_over_secrets()
    ]


def current_secrets(loader: Any = None) -> list[tuple[str, bytes]]:
    """The vault secrets this process holds: ansible-playbook's (in a task) or ours."""
    from ansible.parsing import vault

    secrets: list[Any] = []
    context_class = getattr(vault, "VaultSecretsContext", None)  # ansible-core 2.19+
    context = context_class.current(optional=True) if context_class is not None else None
    if context is not None:
        secrets = list(context.secrets)
    elif loader is not None:  # ansible-core 2.18: the loader holds them
        secrets = list(getattr(getattr(loader, "_vault", None), "secrets", None) or [])
    else:  # ansible-core 2.18, outside a task: those `load` opened
        return list(_opened)
    result: list[tuple[str, bytes]] = []
    for label, secret in secrets:
        data = secret.bytes
        if data and (label, data) not in result:
            result.append((str(label), bytes(data)))
    return result


@contextmanager
def secrets_for_child(
    secrets: Sequence[tuple[str, bytes]],
) -> Iterator[tuple[dict[str, str], tuple[int, ...]]]:
    """``(env, pass_fds)`` handing ``secrets`` to a child process in memory: a pipe the
    child inherits, named by VAULT_FD_ENV; never a command line, never a file.

    The child reads it through `load` (any VaultOptions) before it reads the inventory.
    """
    if not secrets:
        yield {}, ()
        return
    payload = (
        _HANDOFF_MAGIC
        + json.dumps(
            [{"id": label, "secret": base64.b64encode(data).decode()} for label, data in secrets]
        ).encode()
    )
    read_fd, write_fd = os.pipe()  # neither is inherited unless passed (PEP 446)

    def write() -> None:
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
        except OSError:  # the child ended without reading: nothing to hand over
            pass

    writer = threading.Thread(target=write, name="sagefleet-vault-handoff", daemon=True)
    writer.start()
    try:
        yield {VAULT_FD_ENV: str(read_fd)}, (read_fd,)
    finally:
        os.close(read_fd)  # a writer still blocked gets EPIPE now
        writer.join(timeout=5)


def _one_line(exc: BaseException) -> str:
    """An Ansible error's own message on one line (no origin dump, no traceback)."""
    message = getattr(exc, "message", None) or str(exc)
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(exc).__name__


_VAULT_WORDS = ("decrypt", "vault secret", "vault password")


def _is_vault_error(exc: BaseException) -> bool:
    """Whether Ansible failed for want of the right vault secret (its own words)."""
    from ansible.parsing.vault import AnsibleVaultError

    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen).lower()
        if isinstance(seen, AnsibleVaultError) or any(w in text for w in _VAULT_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _vault_secrets(loader: Any, options: VaultOptions) -> None:
    """Give Ansible the vault secrets, as ansible-playbook does with the same options."""
    from ansible import constants as C
    from ansible.cli import CLI
    from ansible.errors import AnsibleError
    from ansible.parsing import vault

    secrets: list[tuple[str, Any]] = [
        (label, vault.VaultSecret(data)) for label, data in handed_over_secrets()
    ]
    ids = list(C.DEFAULT_VAULT_IDENTITY_LIST or []) + list(options.ids)
    files = list(options.password_files)
    configured = C.DEFAULT_VAULT_PASSWORD_FILE
    for source, how in [(CLI.split_vault_id(i)[1], "--vault-id") for i in ids] + [
        (f, "--vault-password-file") for f in files + ([configured] if configured else [])
    ]:
        if source not in ("prompt", "prompt_ask_vault_pass") and not os.path.isfile(
            os.path.expanduser(source)
        ):
            raise VaultError(
                "the vault password file does not exist",
                field=how if source != configured else "vault_password_file",
                value=source,
                fix="give the file holding the inventory's vault password",
            )
    if ids or files or options.ask or configured:
        try:
            secrets += CLI.setup_vault_secrets(
                loader,
                ids,
                vault_password_files=files,
                ask_vault_pass=options.ask,
                auto_prompt=False,
                **_no_context(CLI.setup_vault_secrets),
            )
        except AnsibleError as exc:
            raise VaultError(f"cannot get the vault password: {_one_line(exc)}") from None
    if secrets:
        loader.set_vault_secrets(secrets)
    for label, secret in secrets:
        if secret.bytes and (label, secret.bytes) not in _opened:
            _opened.append((label, bytes(secret.bytes)))
    context_class = getattr(vault, "VaultSecretsContext", None)  # ansible-core 2.19+
    if context_class is None:
        return
    current = context_class.current(optional=True)
    if current is None:
        context_class.initialize(context_class(list(secrets)))
    else:  # process-wide in Ansible: add ours to what is there
        known = [(label, s.bytes) for label, s in current.secrets]
        current.secrets.extend(s for s in secrets if (s[0], s[1].bytes) not in known)


def _no_context(setup: Any) -> dict[str, Any]:
    """ansible-core 2.19's setup_vault_secrets sets the process-wide context once: we do."""
    import inspect

    return (
        {"initialize_context": False}
        if "initialize_context" in inspect.signature(setup).parameters
        else {}
    )


def _parse_once_loader() -> Any:
    """Ansible's DataLoader, except that each inventory file is parsed once.

    Ansible's ``auto`` inventory plugin parses a YAML inventory to look for a
    ``plugin:`` key, then the ``yaml`` plugin parses it again, and each read is
    deep-copied: for a 500-host inventory, 0.4 s of the 0.8 s the inventory takes.
    Both plugins only read what they get, so here they share one parse, without
    copies. Reads that go through Ansible's cache (group_vars, host_vars) are
    unchanged. In ansible-core 2.19 the inventory is parsed as trusted templates,
    as the ``yaml`` plugin asks; ``auto`` only reads the ``plugin`` key.
    """
    import inspect

    from ansible.parsing.dataloader import DataLoader

    trusted = "trusted_as_template" in inspect.signature(DataLoader.load_from_file).parameters

    class ParseOnce(DataLoader):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self._parsed: dict[str, Any] = {}

        def load_from_file(
            self,
            file_name: str,
            cache: Any = "all",
            unsafe: bool = False,
            json_only: bool = False,
            **kwargs: Any,
        ) -> Any:
            if cache not in ("none", False) or json_only:
                return super().load_from_file(
                    file_name, cache=cache, unsafe=unsafe, json_only=json_only, **kwargs
                )
            path = self.path_dwim(file_name)
            if path not in self._parsed:
                extra = {"trusted_as_template": True} if trusted else {}
                self._parsed[path] = super().load_from_file(path, cache=cache, unsafe=True, **extra)
            return self._parsed[path]

    return ParseOnce()


def _collection_loader() -> None:
    """Resolve collection plugins (a dynamic inventory such as azure.azcollection.azure_rm)
    as ansible-playbook does: configured once per process, from ansible.cfg's
    collections_path. Inside ansible-playbook (action plugins) it is already done."""
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    if AnsibleCollectionConfig.collection_finder is None:
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader()


def _vars_files(loader: Any, sources: Sequence[str | Path], host: Any) -> list[str]:
    """The host_vars and group_vars files Ansible reads for ``host``, in the inventory folders."""
    files: list[str] = []
    for source in sources:
        base = str(source) if os.path.isdir(source) else os.path.dirname(os.path.abspath(source))
        for subdir, entities in (("host_vars", [host]), ("group_vars", host.get_groups())):
            folder = os.path.join(base, subdir)
            if os.path.isdir(folder):
                for entity in entities:
                    files += [str(f) for f in loader.find_vars_files(folder, entity.name)]
    return files


def _explain(exc: BaseException, host: str, files: Sequence[str]) -> InputError:
    """Ansible could not read a host's variables: say which file, line and field."""
    from sagefleet.inventory import yamlcheck

    found = yamlcheck.first_problem(files, host)
    if found is not None:
        return found
    if _is_vault_error(exc):
        vaults = [f for f in files if yamlcheck.is_vault_file(f)]
        return VaultError(
            f"cannot open the vault: {_one_line(exc)}",
            host=host,
            value=", ".join(vaults) or None,
            fix=VAULT_FIX,
        )
    return InputError(f"cannot read the host's variables: {_one_line(exc)}", host=host)


#: The option that gives the inventory, in every command that reads one.
INVENTORY_OPTION = "-i/--inventory"


def _inventory_manager(loader: Any, sources: list[str]) -> tuple[Any, list[str]]:
    """Ansible's InventoryManager over ``sources``, and those of them that no inventory
    plugin could parse (ansible-playbook warns and goes on without their hosts)."""
    from ansible.inventory.manager import InventoryManager

    unparsed: list[str] = []
    depth = 0

    class Manager(InventoryManager):  # type: ignore[misc]
        def parse_source(self, source: str, cache: bool = False) -> bool:
            nonlocal depth  # a folder's files are parsed one level down: the folder counts
            depth += 1
            try:
                parsed = bool(super().parse_source(source, cache=cache))
            finally:
                depth -= 1
            if not parsed and depth == 0:
                unparsed.append(source)
            return parsed

    return Manager(loader=loader, sources=sources), unparsed


def load(
    sources: Sequence[str | Path],
    *,
    vault: VaultOptions | None = None,
    pattern: str = "all",
    names: Sequence[str] | None = None,
    connect: bool = True,
    extra_vars: Sequence[str] = (),
    at_run: bool = False,
) -> list[InventoryHost]:
    """Every host matching ``pattern`` with its variables templated (vault values decrypted).

    ``vault``: where the vault secrets come from (`add_vault_arguments`,
    `vault_options`); secrets handed over by a parent process apply in any case.
    ``connect=False`` reads variables only (no WinRM target, so no credentials are
    required): the offline path evaluates hosts that WinRM cannot reach.
    ``extra_vars``: the run's ``-e`` values (sagefleet.inventory.extra_vars), which win
    over every host's variables, as in ansible-playbook.
    Any problem (a vault that does not open, a file Ansible cannot read) is an
    InputError of one line naming the host, the file and the field.
    A value is templated with the variables Ansible gives a host's values: the inventory's
    (``inventory_dir``, ``inventory_file``, ``inventory_hostname``, ``group_names``,
    ``groups``) and ``playbook_dir``, the folder of the playbooks (`playbooks_folder`).
    A value using a variable only the run defines (PLAY_ONLY_VARS, or playbook_dir when
    the current folder has no playbooks/) cannot be templated: an InputError, or with
    ``at_run`` left out of the host's variables and said in its ``at_run``.
    """
    from ansible.errors import AnsibleError
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    for source in map(str, sources):  # a host list ("sage01,sage02,") is not a path
        if "," not in source and not os.path.exists(os.path.expanduser(source)):
            raise InputError(
                f"inventory not found: {source}",
                field=INVENTORY_OPTION,
                fix="give an inventory file, or its folder (inventory/<client>)",
            )
    _collection_loader()
    loader = _parse_once_loader()
    _vault_secrets(loader, vault or VaultOptions())
    if extra_vars:
        from sagefleet.inventory import extra_vars as extra

        _check_extra_vars(loader, extra_vars)
    playbooks = playbooks_folder()
    if playbooks is not None:  # as ansible-playbook does: Ansible's playbook_dir is its folder
        loader.set_basedir(playbooks)
    play_only = PLAY_ONLY_VARS if playbooks is not None else (*PLAY_ONLY_VARS, "playbook_dir")
    try:
        manager, unparsed = _inventory_manager(loader, [str(s) for s in sources])
        if extra_vars:
            with extra.given(extra_vars):
                variables = VariableManager(loader=loader, inventory=manager)
        else:
            variables = VariableManager(loader=loader, inventory=manager)
        hosts = manager.get_hosts(pattern=pattern)
    except AnsibleError as exc:
        error_class = VaultError if _is_vault_error(exc) else InputError
        raise error_class(
            f"cannot read the inventory: {_one_line(exc)}",
            field=INVENTORY_OPTION,
            value=", ".join(str(s) for s in sources),
        ) from None
    if unparsed:
        raise InputError(
            f"the inventory could not be read: {', '.join(unparsed)}",
            field=INVENTORY_OPTION,
            fix="Ansible's warning above says why (a YAML error, a plugin that failed)",
        )
    if names is not None:
        wanted = set(names)
        hosts = [h for h in hosts if h.name in wanted]
    result = []
    for host in hosts:
        try:
            raw = variables.get_vars(host=host)
        except AnsibleError as exc:
            raise _explain(exc, host.name, _vars_files(loader, sources, host)) from None
        if playbooks is None:  # not the run's: unknown, not the current folder
            raw.pop("playbook_dir", None)
        template = templating(Templar(loader=loader, variables=raw))
        resolved = {}
        later: dict[str, InputError] = {}
        for key, value in raw.items():
            if not (
                key in CONNECTION_VARS
                or key in PASSWORD_VARS
                or key.startswith("sagefleet_")
                or key in ("inventory_hostname", "inventory_dir", "group_names")
            ):
                continue
            try:
                resolved[key] = template(value)
            except AnsibleError as exc:
                if _is_vault_error(exc):
                    raise VaultError(
                        f"cannot decrypt the vault value: {_one_line(exc)}",
                        host=host.name,
                        field=key,
                        fix=VAULT_FIX,
                    ) from None
                used = next((n for n in UNDEFINED.findall(str(exc)) if n in play_only), None)
                if at_run and used is not None:
                    later[key] = known_at_run(host.name, key, value, used)
                    continue
                raise InputError(
                    f"cannot template the variable: {_one_line(exc)}", host=host.name, field=key
                ) from None
        name = to_plain(host.name)
        resolved = to_plain(resolved)
        resolved.setdefault("inventory_hostname", name)
        target = (
            winrm_target(name, resolved)
            if connect and resolved.get("ansible_connection") == "winrm"
            else None
        )
        result.append(InventoryHost(name, resolved, target, later))
    return result


def templating(templar: Any) -> Callable[[Any], Any]:
    """``templar.template``, but a value without a template comes back as it is, without the
    walk and copy Ansible's templating makes of every list and mapping (the entities)."""

    def template(value: Any) -> Any:
        return value if without_template(value, templar) else templar.template(value)

    return template


def without_template(value: Any, templar: Any) -> bool:
    """Whether templating ``value`` would give it back unchanged: only strings without a
    template, numbers, booleans, None, and lists and mappings of them. A vault value or any
    other object is templated. Templating walks and copies every list and mapping, about
    1 ms a host for the entities (docs/performance.md)."""
    if isinstance(value, str):
        return not templar.is_possibly_template(value)
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, Mapping):
        return all(
            without_template(k, templar) and without_template(v, templar) for k, v in value.items()
        )
    if isinstance(value, list):
        return all(without_template(item, templar) for item in value)
    return False


def winrm_scheme(hv: Mapping[str, Any]) -> str:
    """The scheme ansible-core's winrm connection takes: ansible_winrm_scheme, else http
    on port 5985 and https on any other."""
    port = str(hv.get("ansible_port") or 5986)
    return str(hv.get("ansible_winrm_scheme") or ("http" if port == "5985" else "https"))


def winrm_target(name: str, hv: Mapping[str, Any]) -> WinRMTarget:
    """A WinRMTarget from the variables of ansible-core's winrm connection, same defaults."""
    from sagefleet.remote.winrm import WinRMTarget

    port = int(hv.get("ansible_port") or 5986)
    scheme = winrm_scheme(hv)
    user = hv.get("ansible_user")
    password = hv.get("ansible_password", hv.get("ansible_winrm_password"))
    if not user or password is None:
        raise InputError(
            "WinRM needs ansible_user and ansible_password",
            host=name,
            field="ansible_user" if not user else "ansible_password",
            fix="set them in the inventory (the password in ansible-vault)",
        )
    transport = winrm_transport(name, hv)
    return WinRMTarget(
        host=name,
        address=str(hv.get("ansible_host") or name),
        username=str(user),
        password=str(password),
        port=port,
        scheme=scheme,
        transport=transport,
        server_cert_validation=str(hv.get("ansible_winrm_server_cert_validation") or "validate"),
        ca_trust_path=str(hv["ansible_winrm_ca_trust_path"])
        if hv.get("ansible_winrm_ca_trust_path")
        else None,
        message_encryption=str(hv.get("ansible_winrm_message_encryption") or "auto"),
        read_timeout=int(hv.get("ansible_winrm_read_timeout_sec") or 30),
        operation_timeout=int(hv.get("ansible_winrm_operation_timeout_sec") or 20),
    )


#: The transports pywinrm serves only with an extra installed (its HAVE_* flag).
_TRANSPORT_EXTRAS = {"kerberos": "HAVE_KERBEROS", "credssp": "HAVE_CREDSSP"}


def winrm_transport(name: str, hv: Mapping[str, Any]) -> str:
    """The transport ansible_winrm_transport names (the first of a list; ntlm by default).

    One whose library the bastion lacks is refused before any host is contacted
    (pywinrm says so only at the first command): every command that reads an inventory,
    and sagefleet_validate, the playbooks' first task (sagefleet.ansible.validate).
    """
    import winrm.transport

    transport = hv.get("ansible_winrm_transport") or "ntlm"
    if isinstance(transport, list):
        transport = transport[0]
    transport = str(transport)
    flag = _TRANSPORT_EXTRAS.get(transport)
    if flag is not None and not getattr(winrm.transport, flag, False):
        raise InputError(
            f"the {transport} transport needs pywinrm[{transport}], not installed on the bastion",
            host=name,
            field="ansible_winrm_transport",
            value=transport,
            fix=f"install it in sagefleet's Python environment (pip install "
            f"'pywinrm[{transport}]', and the system libraries it needs), or use ntlm",
        )
    return transport


def one_winrm_host(args: argparse.Namespace, purpose: str) -> InventoryHost:
    """The one WinRM host ``-i``/``-l`` (and the vault options) name, for a command that
    reads one server (``purpose``: "selftest runs against one server")."""
    from sagefleet.errors import SagefleetError

    hosts = load(args.inventory, vault=vault_options(args), pattern=args.limit)
    if len(hosts) != 1:
        found = ", ".join(h.name for h in hosts[:5]) or "none"
        raise SagefleetError(
            f"{purpose}: --limit {args.limit!r} matches {len(hosts)} host(s) ({found})"
        )
    host = hosts[0]
    if host.target is None:
        raise SagefleetError(f"{host.name}: ansible_connection is not winrm")
    return host


def _check_extra_vars(loader: Any, values: Sequence[str]) -> None:
    """Raise InputError, naming the value (its position; a file by its name, an inline
    value never shown: it may hold a secret), on the first of ``values`` that
    ansible-playbook would refuse."""
    from ansible.errors import AnsibleError, AnsibleFileNotFound
    from ansible.utils.vars import load_extra_vars

    from sagefleet.inventory.extra_vars import EXTRA_VARS_FIX, EXTRA_VARS_OPTION, HIDDEN, given

    for index, value in enumerate(values, 1):
        try:
            with given([value]):
                load_extra_vars(loader)
        except AnsibleError as exc:
            file = value[1:] if value.startswith("@") else None
            reason = _one_line(exc)
            if isinstance(exc, AnsibleFileNotFound):
                reason = "no such file, or the bastion cannot read it"
            if file is None:
                reason = reason.replace(value, HIDDEN)
            where = f"value {index} of {len(values)}"
            if _is_vault_error(exc):
                raise VaultError(
                    f"cannot open the vault of {where}: {reason}",
                    field=EXTRA_VARS_OPTION,
                    value=file,
                    fix=VAULT_FIX,
                ) from None
            raise InputError(
                f"cannot read {where}: {reason}",
                field=EXTRA_VARS_OPTION,
                value=file,
                fix=EXTRA_VARS_FIX,
            ) from None
