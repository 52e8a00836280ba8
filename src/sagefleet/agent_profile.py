"""The agent profile: the vendor's agent described as data, never as constants.

The vendor publishes none of its agent's internals (service name, install
folder, installer technology and silent switches, where the wizard's answers
land, log location). One YAML file holds them: the shipped default
(``catalog/agent-profile.yml``, every guess listed under ``assumed``) or a
profile learned from a reference install (``sagefleet agent learn``), named by
the inventory variable ``sagefleet_agent_profile``. Deploy, verify, diagnose
and the checks read it through :func:`load`.
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

from sagefleet.errors import InputError

VARIABLE = "sagefleet_agent_profile"
TECHNOLOGIES = ("inno", "nsis", "wix-burn", "installshield", "msi", "unknown")


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

    # -- identity ---------------------------------------------------------
    @property
    def source(self) -> str:
        return str(self.data["source"])

    @property
    def assumed(self) -> tuple[str, ...]:
        return tuple(self.data.get("assumed") or ())

    def is_assumed(self, name: str) -> bool:
        """Whether ``name`` (``service.name``, ``logs``...) is a guess of this profile."""
        return any(name == a or name.startswith(a + ".") for a in self.assumed)

    # -- the agent --------------------------------------------------------
    @property
    def target_framework(self) -> str:
        return str((self.data.get("agent") or {}).get("target_framework") or "4.8")

    @property
    def service_name(self) -> str | None:
        return self.data["service"].get("name")

    @property
    def service_display_name(self) -> str | None:
        return self.data["service"].get("display_name")

    @property
    def image_path_pattern(self) -> str | None:
        return self.data["service"].get("image_path_pattern")

    @property
    def display_name_pattern(self) -> str | None:
        return self.data["service"].get("display_name_pattern")

    @property
    def install_dir(self) -> str:
        return str(self.data["install"]["dir"])

    @property
    def install_files(self) -> tuple[str, ...]:
        return tuple(self.data["install"].get("files") or ())

    def settings_path(self, install_dir: str | None = None) -> str:
        """Where the agent reads settings.json, for ``install_dir`` (default the profile's)."""
        folder = (install_dir or self.install_dir).rstrip("\\")
        return str(self.data["settings"]["path"]).replace("{install_dir}", folder)

    @property
    def merge_keys(self) -> tuple[MergeKey, ...]:
        return tuple(
            MergeKey(str(k["path"]), str(k["member"]))
            for k in self.data["settings"].get("merge_keys") or ()
        )

    @property
    def installer_adds(self) -> tuple[dict[str, str], ...]:
        return tuple(dict(a) for a in self.data["settings"].get("installer_adds") or ())

    # -- the installer ----------------------------------------------------
    @property
    def installer_technology(self) -> str:
        return str(self.data["installer"]["technology"])

    def silent_args(self, technology: str | None = None) -> tuple[str, ...] | None:
        """The silent switches for ``technology`` (default the profile's), None when unknown."""
        args = self.data["installer"]["silent_args"].get(technology or self.installer_technology)
        return tuple(args) if args is not None else None

    @property
    def success_codes(self) -> tuple[int, ...]:
        return tuple(self.data["installer"].get("success_codes") or (0, 3010, 1641))

    @property
    def reboot_codes(self) -> tuple[int, ...]:
        return tuple(self.data["installer"].get("reboot_codes") or (3010, 1641))

    # -- the rest, as data ------------------------------------------------
    def section(self, name: str) -> dict[str, Any]:
        """A section (``connection_fields``, ``logs``, ``upgrade``, ``uninstall``...), copied."""
        return dict(self.data.get(name) or {})

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.data))


@cache
def _validator() -> Draft202012Validator:
    text = resources.files("sagefleet.schemas").joinpath("agent-profile.schema.json").read_text(
        encoding="utf-8"
    )
    schema = json.loads(text)
    return Draft202012Validator(schema)


def _where(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def validate(data: Any, origin: str) -> AgentProfile:
    """An AgentProfile from parsed YAML, or InputError naming the file, field and value."""
    if not isinstance(data, dict):
        raise InputError(
            "an agent profile must be a YAML mapping", field=VARIABLE, value=origin,
            fix="start from src/sagefleet/catalog/agent-profile.yml",
        )
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        shown = json.dumps(first.instance)[:80] if not isinstance(first.instance, dict) else None
        raise InputError(
            f"agent profile {origin}: {_where(first.absolute_path)}: {first.message.split(chr(10))[0][:200]}",
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
                    field=f"{VARIABLE} service.{name}", value=pattern,
                ) from None
    if not data["service"].get("name") and not (
        data["service"].get("image_path_pattern") or data["service"].get("display_name_pattern")
    ):
        raise InputError(
            f"agent profile {origin}: the service needs a name or a pattern",
            field=f"{VARIABLE} service",
            fix="set service.name, or service.image_path_pattern / display_name_pattern",
        )
    return AgentProfile(origin=origin, data=data)


@cache
def default() -> AgentProfile:
    """The shipped profile (sagefleet's assumptions)."""
    text = resources.files("sagefleet.catalog").joinpath("agent-profile.yml").read_text(
        encoding="utf-8"
    )
    return validate(yaml.safe_load(text), "the shipped agent profile")


@cache
def _load_file(path: str, mtime_ns: int) -> AgentProfile:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(
            f"cannot read the agent profile ({err.__class__.__name__})", field=VARIABLE,
            value=path, fix="give the path of a readable UTF-8 YAML file",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(
            f"agent profile {path}{line}: not valid YAML", field=VARIABLE, value=path,
        ) from None
    return validate(data, path)


def load(path: str | os.PathLike[str] | None = None, *, base_dir: str | None = None,
         host: str | None = None) -> AgentProfile:
    """The profile at ``path`` (relative to ``base_dir``), or the shipped default when empty."""
    if path is None or str(path).strip() == "":
        return default()
    target = Path(path)
    if not target.is_absolute() and base_dir:
        target = Path(base_dir) / target
    if not target.is_file():
        raise InputError(
            "the agent profile does not exist", host=host, field=VARIABLE, value=str(path),
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


def for_host(variables: Mapping[str, Any], *, host: str | None = None,
             base_dir: str | None = None) -> AgentProfile:
    """The profile a host's variables name (``sagefleet_agent_profile``)."""
    return load(variables.get(VARIABLE), base_dir=base_dir, host=host)
