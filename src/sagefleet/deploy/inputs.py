"""A deploy's inputs, all checked on the bastion before the host is contacted.

Options from the inventory and the agent profile, paths, installer switches and
entities: docs/deploy.md (what happens, in order) and docs/agent-profile.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sagefleet import preflight, transfer
from sagefleet.agent import connection
from sagefleet.agent import profile as agent_profile
from sagefleet.deploy.waves import check_rollout
from sagefleet.errors import InputError
from sagefleet.package import PackageInfo
from sagefleet.remote.retry import retry_from
from sagefleet.settings import HostSettings, build_host_settings
from sagefleet.settings.host import settings_target
from sagefleet.variables import given_or_none, value
from sagefleet.variables.declarations import BACKUP_DIR, KEEP_AGENT_BACKUPS, STAGING_DIR


def installer_arguments(
    profile: agent_profile.AgentProfile, technology: str, log: str
) -> list[str]:
    """The installer's command-line arguments for ``technology``, ``{log}`` replaced by
    the log's path: the profile's silent switches (or the inventory's
    ``sagefleet_agent_installer_arguments``). For ``msi`` these are the properties
    added after msiexec's own switches, which the install snippet passes itself.

    Raises InputError when the profile has no switches for that technology.
    """
    switches = profile.silent_args(technology)
    if switches is None:
        raise InputError(
            f"the agent profile gives no silent switches for a {technology} installer",
            field=profile.source_of("installer.silent_args"),
            value=technology,
            fix=f"add installer.silent_args.{technology} to the agent profile "
            "(docs/agent-profile.md), or set sagefleet_agent_installer_arguments",
        )
    return [a.replace("{log}", log) for a in switches]


@dataclass(frozen=True)
class DeployOptions:
    """How to install: the agent profile (with the inventory's overrides) and the role's
    variables."""

    profile: agent_profile.AgentProfile = field(default_factory=agent_profile.default, repr=False)
    staging_dir: str = STAGING_DIR.default
    backup_dir: str = BACKUP_DIR.default
    # Take the agent a failed fresh install left as installed (deploy/record.py).
    accept_failed_install: bool = False
    # Backups of the previous install kept in backup_dir after an install that ended well.
    keep_backups: int = KEEP_AGENT_BACKUPS.default
    stop_timeout_s: int = 60
    start_timeout_s: int = 60
    installer_timeout_s: int = 1800
    service_account: str | None = None
    service_password: str | None = field(default=None, repr=False)
    keep_staged: int = 2
    keep_settings_backups: int = 5
    target_version: str | None = None
    # Pull mode: the host downloads the package from this URL (bastion or internal repository).
    package_url: str | None = None
    # Push mode: how the package travels on stdin, raw bytes or base64 lines (the fallback).
    transfer_encoding: str = transfer.DEFAULT_ENCODING
    # Push mode: connections that may carry a large package to one host at once.
    transfer_streams: int = transfer.DEFAULT_STREAMS
    lock_path: str = "C:\\ProgramData\\sagefleet\\deploy.lock"
    lock_ttl_s: int = 3600
    lock_wait_s: int = 0

    @property
    def service_name(self) -> str | None:
        """The agent's service name from the profile (None: the profile gives a pattern)."""
        return self.profile.service_name

    @property
    def install_dir(self) -> str:
        return self.profile.install_dir

    @property
    def settings_path(self) -> str:
        return self.profile.settings_path()

    @property
    def success_codes(self) -> tuple[int, ...]:
        return self.profile.success_codes

    @property
    def reboot_codes(self) -> tuple[int, ...]:
        return self.profile.reboot_codes


def options_from(host: str, variables: Mapping[str, Any]) -> DeployOptions:
    """Options from inventory variables, checked before any host is touched."""
    profile = agent_profile.for_host(variables, host=host)

    def read(name: str) -> Any:
        return value(host, variables, name)

    account = read("sagefleet_agent_service_account")
    password = given_or_none(host, variables, "sagefleet_agent_service_password")
    if account and account.lower() not in ("localsystem", "nt authority\\system") and not password:
        raise InputError(
            "a service account needs its password",
            host=host,
            field="sagefleet_agent_service_password",
            value="(missing)",
            fix="put it in ansible-vault as sagefleet_agent_service_password",
        )
    version = given_or_none(host, variables, "sagefleet_agent_target_version")
    return DeployOptions(
        profile=profile,
        staging_dir=str(read("sagefleet_agent_staging_dir")),
        backup_dir=str(read("sagefleet_agent_backup_dir")),
        accept_failed_install=bool(read("sagefleet_agent_accept_failed_install")),
        keep_backups=read("sagefleet_agent_keep_backups"),
        stop_timeout_s=read("sagefleet_agent_stop_timeout_s"),
        start_timeout_s=read("sagefleet_agent_start_timeout_s"),
        service_account=account or None,
        service_password=str(password) if password else None,
        keep_staged=read("sagefleet_agent_staging_keep"),
        keep_settings_backups=read("sagefleet_settings_keep_backups"),
        target_version=str(version) if version is not None else None,
        package_url=_url(host, given_or_none(host, variables, "sagefleet_agent_package_url")),
        transfer_encoding=_encoding(
            host, given_or_none(host, variables, "sagefleet_agent_transfer_encoding")
        ),
        transfer_streams=read("sagefleet_agent_transfer_streams"),
        installer_timeout_s=read("sagefleet_agent_installer_timeout_s"),
        lock_ttl_s=read("sagefleet_deploy_lock_ttl_s"),
        lock_wait_s=read("sagefleet_deploy_lock_wait_s"),
    )


def _url(host: str, found: Any) -> str | None:
    if found in (None, ""):
        return None
    if not isinstance(found, str) or not found.lower().startswith(("http://", "https://")):
        raise InputError(
            "must be an http:// or https:// URL",
            host=host,
            field="sagefleet_agent_package_url",
            value=repr(found),
            fix="serve Setup.zip from the bastion or the internal repository",
        )
    return found


def _encoding(host: str, found: Any) -> str:
    if found is None:
        return transfer.DEFAULT_ENCODING
    return transfer.check_encoding(found, host=host, field="sagefleet_agent_transfer_encoding")


def check_paths(host: str, o: DeployOptions) -> None:
    """Install folder, staging folder and account checked before the host is contacted,
    named by their inventory variable (they are otherwise checked only when used)."""
    try:
        try:
            settings_target(
                host,
                path=o.settings_path,
                service_account=o.service_account,
                keep_backups=o.keep_settings_backups,
            )
        except InputError as exc:
            if exc.field != "path":
                raise
            overridden = o.profile.overridden("settings.path")
            source = o.profile.source_of("settings.path" if overridden else "install.dir")
            raise exc.said_of(source) from None
        # The folder itself first: a refusal names it, not a path made from it.
        transfer.check_staging_dir(o.staging_dir)
        settings_target(host, path=o.staging_dir + "\\0\\package\\settings.json", keep_backups=0)
    except InputError as exc:
        names = {
            "service_account": "sagefleet_agent_service_account",
            "path": "sagefleet_agent_staging_dir",
            "staging_dir": "sagefleet_agent_staging_dir",
            "keep_backups": "sagefleet_settings_keep_backups",
        }
        raise exc.said_of(names.get(exc.field or "", exc.field), host) from None


def check_installer_arguments(host: str, options: DeployOptions, package: PackageInfo) -> None:
    """Every installer of the package gets silent switches from the profile (or the
    inventory), before any host is touched. An .msi runs as ``msiexec.exe /i <file> /qn
    /norestart /l*v <log>``: its arguments can only add public properties (NAME=value); a
    switch makes msiexec show its usage dialog in session 0, where nobody can close it."""
    profile = options.profile
    for installer in package.installers:
        # What the file itself says (sagefleet.installer_file), never the profile's guess.
        technology = installer.technology
        try:
            arguments = installer_arguments(profile, technology, "{log}")
        except InputError as exc:
            exc.host = host
            exc.args = (exc.render(),)
            raise
        switches = [a for a in arguments if not agent_profile.is_msi_property(a)]
        if technology == "msi" and switches:
            raise InputError(
                "an .msi installer takes only properties (NAME=value): sagefleet runs "
                "msiexec.exe /i <file> /qn /norestart /l*v <log> itself",
                host=host,
                field=profile.source_of("installer.silent_args"),
                value=repr(switches)[:80],
                fix="remove the switches, keep NAME=value properties",
            )


def require_entities(host: str, variables: Mapping[str, Any]) -> None:
    """A host without entities is never deployed (preflight's SF903 fails it): the first
    play refuses it before any host is touched."""
    if not variables.get("sagefleet_entities"):
        raise InputError(
            "no entity: the agent would have no company file to connect",
            host=host,
            field="sagefleet_entities",
            fix=f"add sagefleet_entities to {host}'s host_vars (one per Sage company file); "
            "playbooks/discover.yml drafts them",
        )


def check_inputs(host: str, variables: Mapping[str, Any]) -> DeployOptions:
    """Every deploy input of one host, validated on the bastion (raises InputError)."""
    options = options_from(host, variables)
    check_paths(host, options)
    retry_from(host, variables)
    check_rollout(host, variables)
    # The health gate's options (its window, the profile's log pattern): read per host in
    # the waves, where a bad one would fail every host of a wave.
    connection.options_from(host, variables)
    return options


@dataclass(frozen=True)
class DeployInputs:
    """Everything one host's deploy reads, validated: see :func:`deploy_inputs`."""

    host: str
    package: PackageInfo
    prepared: preflight.PreparedHost
    options: DeployOptions
    connection: connection.ConnectionOptions
    #: The same document the settings playbook writes: vendor files merged, or the template.
    settings: HostSettings = field(repr=False)
    #: The agent version to install: the inventory's, else the package's.
    target: str


def deploy_inputs(host: str, variables: Mapping[str, Any], package: PackageInfo) -> DeployInputs:
    """One host's deploy inputs; raises InputError (or SagefleetError) before it is touched."""
    require_entities(host, variables)
    prepared = preflight.prepare(host, variables)
    options = check_inputs(host, variables)
    check_installer_arguments(host, options, package)
    connection_options = connection.options_from(host, variables)
    settings = build_host_settings(host, variables)
    target = options.target_version or package.agent_version
    if not target:
        raise InputError(
            "the target agent version is unknown",
            host=host,
            field="sagefleet_agent_target_version",
            value="(unset)",
            fix="set sagefleet_agent_target_version to the package's agent version",
        )
    return DeployInputs(host, package, prepared, options, connection_options, settings, target)
