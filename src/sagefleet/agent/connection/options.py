"""SF513's options from the inventory and the agent profile, and the parameters of the
``agent_connections`` snippet they make (docs/verify.md, SF513)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sagefleet import catalog
from sagefleet.agent import profile as agent_profile
from sagefleet.errors import InputError
from sagefleet.variables import value

WINDOW_VARIABLE = "sagefleet_agent_connect_window_s"
#: Seconds an agent has, from its process start, to show a connection.
DEFAULT_WINDOW_S = 120
MAX_WINDOW_S = 3600
LOG_TAIL_BYTES = 256 * 1024
LOG_MAX_FILES = 3
PROBE_TIMEOUT_MS = 3000


# -- options ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogSpec:
    """Where the agent logs and what a "connected" line looks like (the agent profile)."""

    folders: tuple[str, ...]
    filter: str
    pattern: str

    def to_param(self) -> dict[str, Any]:
        return {
            "folders": list(self.folders),
            "filter": self.filter,
            "pattern": self.pattern,
            "tail_bytes": LOG_TAIL_BYTES,
            "max_files": LOG_MAX_FILES,
        }


@dataclass(frozen=True)
class ConnectionOptions:
    """What the check needs to know of one host; validated before the host is contacted."""

    lookup: Mapping[str, str | None]
    endpoints: tuple[catalog.Endpoint, ...]
    window_s: int = DEFAULT_WINDOW_S
    log: LogSpec | None = None
    lang: str = "en"
    timeout_ms: int = PROBE_TIMEOUT_MS

    @property
    def required(self) -> list[catalog.Endpoint]:
        return [e for e in self.endpoints if e.required]

    def for_service(self, name: str) -> ConnectionOptions:
        """The same options for the service the facts found (the profile may give a pattern)."""
        return replace(
            self, lookup={"name": name, "image_path_pattern": None, "display_name_pattern": None}
        )


def dotnet_pattern(pattern: str) -> re.Pattern[str]:
    """A .NET regular expression as PowerShell's -match reads it: ``(?<name>...)`` groups
    as Python names them, case ignored. Raises re.error for what it cannot read."""
    return re.compile(re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern), re.I)


def dotnet_regex_error(pattern: str) -> str | None:
    """Why a .NET pattern (``(?<time>...)`` groups) cannot be read, or None."""
    try:
        dotnet_pattern(pattern)
    except re.error as exc:
        return str(exc)
    return None


def window_from(host: str, variables: Mapping[str, Any]) -> int:
    found: int = value(host, variables, WINDOW_VARIABLE)
    return found


def log_spec(host: str, profile: agent_profile.AgentProfile) -> LogSpec | None:
    """The profile's log evidence, when it names a "connected" pattern."""
    logs = profile.section("logs")
    pattern = logs.get("connected_pattern")
    if not pattern:
        return None
    problem = dotnet_regex_error(str(pattern))
    if problem:
        raise InputError(
            f"logs.connected_pattern is not a regular expression ({problem})",
            host=host,
            field="sagefleet_agent_profile logs.connected_pattern",
            value=str(pattern),
            fix="a .NET regular expression; name the line's time with (?<time>...)",
        )
    install_dir = profile.install_dir.replace("/", "\\").rstrip("\\")
    folders = (
        (str(logs["dir"]).replace("{install_dir}", install_dir),)
        if logs.get("dir")
        else (install_dir + "\\logs", install_dir)
    )
    return LogSpec(folders, str(logs.get("file_pattern") or "*.log"), str(pattern))


def options_from(host: str, variables: Mapping[str, Any]) -> ConnectionOptions:
    """The check's options from inventory variables (raises InputError before any contact)."""
    profile = agent_profile.for_host(variables, host=host)
    lang = variables.get("sagefleet_lang", "en")
    return ConnectionOptions(
        lookup=profile.service_lookup,
        endpoints=tuple(catalog.endpoints(variables.get("sagefleet_endpoints"), host=host)),
        window_s=window_from(host, variables),
        log=log_spec(host, profile),
        lang=lang if lang in ("en", "fr") else "en",
    )


def _names(endpoints: Iterable[catalog.Endpoint]) -> list[str]:
    """Every name to resolve on the host: the endpoints and their exact firewall names."""
    names: list[str] = []
    for endpoint in endpoints:
        for name in (endpoint.name, *endpoint.firewall_names):
            if "*" not in name and name.lower() not in names:
                names.append(name.lower())
    return names


def params(options: ConnectionOptions, *, probe: bool = False) -> dict[str, Any]:
    """The snippet's parameters; ``probe`` adds direct probes of the required endpoints."""
    return {
        "service": dict(options.lookup),
        "names": _names(options.endpoints),
        "probes": [{"name": e.name, "port": e.port} for e in options.required] if probe else [],
        "timeout_ms": options.timeout_ms,
        "log": options.log.to_param() if options.log else None,
    }
