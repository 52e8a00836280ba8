"""The agent profile: the vendor's agent described as data, never as constants.

Every front door reads it through :func:`for_host`, the inventory's variables
(:data:`OVERRIDES`) laid on top. See docs/agent-profile.md.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from sagefleet import schemas, service_names
from sagefleet.errors import InputError

VARIABLE = "sagefleet_agent_profile"
TECHNOLOGIES = ("inno", "nsis", "wix-burn", "installshield", "msi", "unknown")

#: Inventory variables that override one field of the profile, for every front door.
#: An unset or null variable leaves the profile's value (so does an empty one of
#: EMPTY_IS_UNSET); any other value is checked, an empty name or folder is an error.
OVERRIDES: tuple[tuple[str, str], ...] = (
    ("sagefleet_agent_service_name", "service.name"),
    ("sagefleet_agent_service_display_name", "service.display_name"),
    ("sagefleet_agent_install_dir", "install.dir"),
    ("sagefleet_settings_path", "settings.path"),
    ("sagefleet_agent_installer_arguments", "installer.silent_args"),
    ("sagefleet_agent_success_codes", "installer.success_codes"),
)

#: Variables whose empty value means "the default" (a role default is "").
EMPTY_IS_UNSET = frozenset({"sagefleet_settings_path"})

# msiexec's own switches (/i /qn /norestart /l*v) are sagefleet's: an .msi takes only
# public properties (NAME=value) on top of them.
_MSI_PROPERTY = re.compile(r"[A-Za-z_][\w.]*=.*", re.S)


def is_msi_property(argument: str) -> bool:
    """Whether ``argument`` is a Windows Installer public property (``NAME=value``)."""
    return _MSI_PROPERTY.fullmatch(argument) is not None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class _ServiceText:
    """A text of the profile's ``service`` section (None when absent)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __get__(self, profile: AgentProfile, owner: type[AgentProfile]) -> str | None:
        return _text(profile.data["service"].get(self.key))


def describe_lookup(
    named: str | None, image_path_pattern: str | None, display_name_pattern: str | None
) -> str:
    """A service lookup for a message: its name (as ``named`` words it), then its patterns."""
    parts = [named] if named else []
    if image_path_pattern:
        parts.append(f"ImagePath matching {image_path_pattern!r}")
    if display_name_pattern:
        parts.append(f"DisplayName matching {display_name_pattern!r}")
    return " or ".join(parts)


@dataclass(frozen=True)
class MergeKey:
    """A list of settings.json keyed by one member of its objects."""

    path: str
    member: str


@dataclass(frozen=True)
class AgentProfile:
    """One agent profile, validated."""

    origin: str
    data: Mapping[str, Any] = field(repr=False)
    #: Inventory variables laid over the profile (see OVERRIDES), in that order.
    overrides: tuple[str, ...] = ()

    # -- identity ---------------------------------------------------------
    @property
    def source(self) -> str:
        return str(self.data["source"])

    @property
    def assumed(self) -> tuple[str, ...]:
        return tuple(self.data.get("assumed") or ())

    @property
    def learned_from(self) -> dict[str, Any] | None:
        found = self.data.get("learned_from")
        return dict(found) if found else None

    def is_assumed(self, name: str) -> bool:
        """Whether ``name`` (``service.name``, ``logs``...) is a guess of this profile.

        A field the inventory overrides is the inventory's decision, not a guess.
        """
        if self.overridden(name):
            return False
        return any(name == a or name.startswith(a + ".") for a in self.assumed)

    def overridden(self, name: str) -> str | None:
        """The inventory variable that overrides field ``name`` on this host, if any."""
        for variable, target in OVERRIDES:
            if variable in self.overrides and (name == target or name.startswith(target + ".")):
                return variable
        return None

    def source_of(self, name: str) -> str:
        """Where field ``name`` comes from, as an error message names it."""
        return self.overridden(name) or f"{VARIABLE} {name} ({self.origin})"

    # -- the agent --------------------------------------------------------
    @property
    def target_framework(self) -> str:
        return str((self.data.get("agent") or {}).get("target_framework") or "4.8")

    @property
    def vendor_pattern(self) -> str | None:
        """A regex on the uninstall entry of any install of the vendor's agent (SF405)."""
        found = self.section("uninstall").get("vendor_pattern")
        return str(found) if found else None

    service_name = _ServiceText("name")
    service_display_name = _ServiceText("display_name")
    image_path_pattern = _ServiceText("image_path_pattern")
    display_name_pattern = _ServiceText("display_name_pattern")
    #: The account the reference install runs the service as (learned; informative).
    service_account = _ServiceText("account")

    @property
    def service_lookup(self) -> dict[str, str | None]:
        """How snippets find the service: its exact name first, then a pattern."""
        return {
            "name": self.service_name,
            "image_path_pattern": self.image_path_pattern,
            "display_name_pattern": self.display_name_pattern,
        }

    def describe_lookup(self) -> str:
        """The service name and patterns tried, for a message."""
        named = f"name {self.service_name}" if self.service_name else None
        return describe_lookup(named, self.image_path_pattern, self.display_name_pattern)

    @property
    def install_dir(self) -> str:
        return str(self.data["install"]["dir"])

    @property
    def install_files(self) -> tuple[str, ...]:
        return tuple(self.data["install"].get("files") or ())

    def settings_path(self, install_dir: str | None = None) -> str:
        """Where the agent reads settings.json, for ``install_dir`` (default the profile's)."""
        folder = (install_dir or self.install_dir).replace("/", "\\").rstrip("\\")
        return str(self.data["settings"]["path"]).replace("{install_dir}", folder)

    @property
    def merge_keys(self) -> tuple[MergeKey, ...]:
        return tuple(
            MergeKey(str(k["path"]), str(k["member"]))
            for k in self.data["settings"].get("merge_keys") or ()
        )

    @property
    def reads_settings_at_start(self) -> bool:
        """Whether the agent reads settings.json when its process starts, and only then:
        a file written after the process started is then not in effect."""
        return bool(self.data["settings"].get("read_at_start", True))

    @property
    def installer_adds(self) -> tuple[dict[str, str], ...]:
        return tuple(dict(a) for a in self.data["settings"].get("installer_adds") or ())

    # -- the installer ----------------------------------------------------
    @property
    def installer_technology(self) -> str:
        return str(self.data["installer"]["technology"])

    def silent_args(self, technology: str | None = None) -> tuple[str, ...] | None:
        """The silent switches for ``technology`` (default the profile's), None when unknown.

        For ``msi`` these are public properties only (``NAME=value``): sagefleet runs
        ``msiexec.exe /i <file> /qn /norestart /l*v <log>`` itself.
        """
        args = self.data["installer"]["silent_args"].get(technology or self.installer_technology)
        return tuple(args) if args is not None else None

    @property
    def success_codes(self) -> tuple[int, ...]:
        return tuple(self.data["installer"].get("success_codes") or (0, 3010, 1641))

    @property
    def reboot_codes(self) -> tuple[int, ...]:
        """The success codes that mean "reboot required"."""
        reboot = self.data["installer"].get("reboot_codes") or (3010, 1641)
        return tuple(c for c in reboot if c in self.success_codes)

    # -- the rest, as data ------------------------------------------------
    def section(self, name: str) -> dict[str, Any]:
        """A section (``connection_fields``, ``logs``, ``upgrade``, ``uninstall``...), copied."""
        return dict(self.data.get(name) or {})

    def to_dict(self) -> dict[str, Any]:
        copied: dict[str, Any] = json.loads(json.dumps(self.data))
        return copied

    def with_overrides(self, variables: Mapping[str, Any], host: str | None = None) -> AgentProfile:
        """This profile with the inventory's overrides laid on top (see OVERRIDES)."""
        given = [
            (variable, target, variables[variable])
            for variable, target in OVERRIDES
            if variables.get(variable) is not None
            and not (variable in EMPTY_IS_UNSET and variables[variable] == "")
        ]
        if not given:
            return self
        data = self.to_dict()
        for variable, target, value in given:
            _apply(data, variable, target, value, host)
        return AgentProfile(origin=self.origin, data=data, overrides=tuple(v for v, _, _ in given))


def _apply(data: dict[str, Any], variable: str, target: str, value: Any, host: str | None) -> None:
    """Lay one inventory value over the profile's field, checked first."""
    if target == "service.name":
        # The inventory names the service exactly: no pattern decides in its place.
        data["service"]["name"] = service_names.check(host, value, variable)
        data["service"]["image_path_pattern"] = None
        data["service"]["display_name_pattern"] = None
    elif target in ("service.display_name", "install.dir", "settings.path"):
        if not isinstance(value, str) or not value.strip():
            raise InputError(
                "must be a non-empty string", host=host, field=variable, value=repr(value)[:80]
            )
        section, key = target.split(".")
        text = value.replace("/", "\\")
        data[section][key] = text.rstrip("\\") if target == "install.dir" else text
    elif target == "installer.silent_args":
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise InputError(
                "must be a list of strings", host=host, field=variable, value=repr(value)[:80]
            )
        # Whatever installer the package holds: the inventory's switches are meant for it.
        data["installer"]["silent_args"] = {t: list(value) for t in TECHNOLOGIES}
    elif target == "installer.success_codes":
        if (
            not isinstance(value, list)
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in value)
            or 0 not in value
        ):
            raise InputError(
                "must be a list of integers including 0",
                host=host,
                field=variable,
                value=repr(value)[:80],
            )
        data["installer"]["success_codes"] = list(value)
    else:  # pragma: no cover - OVERRIDES and this function are written together
        raise AssertionError(target)


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schemas.load("agent-profile.schema.json"))


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def validate(data: Any, origin: str) -> AgentProfile:
    """An AgentProfile from parsed YAML, or InputError naming the file, field and value."""
    if not isinstance(data, dict):
        raise InputError(
            "an agent profile must be a YAML mapping",
            field=VARIABLE,
            value=origin,
            fix="start from src/sagefleet/catalog/agent-profile.yml",
        )
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        shown = json.dumps(first.instance)[:80] if not isinstance(first.instance, dict) else None
        message = first.message.split("\n")[0][:200]
        raise InputError(
            f"agent profile {origin}: {_where(first.absolute_path)}: {message}",
            field=f"{VARIABLE} {_where(first.absolute_path)}",
            value=shown,
            fix="see docs/agent-profile.md for every field",
        )
    for name in ("image_path_pattern", "display_name_pattern"):
        pattern = data["service"].get(name)
        if pattern:
            try:
                re.compile(pattern)
            except re.error as err:
                raise InputError(
                    f"agent profile {origin}: service.{name} is not a regular expression ({err})",
                    field=f"{VARIABLE} service.{name}",
                    value=pattern,
                ) from None
    if not data["service"].get("name") and not (
        data["service"].get("image_path_pattern") or data["service"].get("display_name_pattern")
    ):
        raise InputError(
            f"agent profile {origin}: the service needs a name or a pattern",
            field=f"{VARIABLE} service",
            fix="set service.name, or service.image_path_pattern / display_name_pattern",
        )
    if data["service"].get("name") is not None:
        service_names.check(None, data["service"]["name"], f"{VARIABLE} service.name ({origin})")
    switches = [
        a for a in data["installer"]["silent_args"].get("msi") or () if not is_msi_property(a)
    ]
    if switches:
        raise InputError(
            f"agent profile {origin}: installer.silent_args.msi takes only public properties "
            "(NAME=value): sagefleet runs msiexec.exe /i <file> /qn /norestart /l*v <log>",
            field=f"{VARIABLE} installer.silent_args.msi",
            value=repr(switches)[:80],
            fix="remove the switches, keep NAME=value properties",
        )
    return AgentProfile(origin=origin, data=data)


@cache
def default() -> AgentProfile:
    """The shipped profile (sagefleet's assumptions)."""
    text = (
        resources.files("sagefleet.catalog")
        .joinpath("agent-profile.yml")
        .read_text(encoding="utf-8")
    )
    return validate(yaml.safe_load(text), "the shipped agent profile")


@cache
def _load_file(path: str, mtime_ns: int) -> AgentProfile:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(
            f"cannot read the agent profile ({err.__class__.__name__})",
            field=VARIABLE,
            value=path,
            fix="give the path of a readable UTF-8 YAML file",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(
            f"agent profile {path}{line}: not valid YAML",
            field=VARIABLE,
            value=path,
        ) from None
    return validate(data, path)


def load(
    path: str | os.PathLike[str] | None = None,
    *,
    base_dir: str | None = None,
    host: str | None = None,
) -> AgentProfile:
    """The profile at ``path`` (relative to ``base_dir``), or the shipped default when empty."""
    if path is None or str(path).strip() == "":
        return default()
    if not isinstance(path, str | os.PathLike):
        raise InputError(
            "must be the path of an agent profile (YAML)",
            host=host,
            field=VARIABLE,
            value=repr(path)[:80],
        )
    target = Path(path)
    if not target.is_absolute() and base_dir:
        target = Path(base_dir) / target
    if not target.is_file():
        raise InputError(
            "the agent profile does not exist",
            host=host,
            field=VARIABLE,
            value=str(path),
            fix="give the path of a profile written by `sagefleet agent learn`, "
            "or leave it empty for the shipped default",
        )
    try:
        return _load_file(str(target), target.stat().st_mtime_ns)
    except InputError as err:
        if host is not None and err.host is None:
            err.host = host
            err.args = (err.render(),)
        raise


def for_host(
    variables: Mapping[str, Any], *, host: str | None = None, base_dir: str | None = None
) -> AgentProfile:
    """The profile a host's variables name (``sagefleet_agent_profile``; a relative path is
    read from the inventory's folder), with the host's inventory overrides on top."""
    folder = base_dir or variables.get("inventory_dir")
    profile = load(variables.get(VARIABLE), base_dir=str(folder) if folder else None, host=host)
    return profile.with_overrides(variables, host)
