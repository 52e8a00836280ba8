"""The simulated Windows host: state only, no protocol code (moto-style).

A WindowsHost is built from a YAML profile and can be reset to it. The WinRM
protocol layer (wsman.py, server.py) asks it to run commands through
dispatch.py; nothing here knows about HTTP or SOAP.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from sagefleet.errors import SagefleetError


class ProfileError(SagefleetError):
    """A simulator profile is missing or malformed."""


@dataclass
class WinRMService:
    """How the host's WinRM listener is configured (the part clients see)."""

    allow_basic: bool = True
    allow_unencrypted: bool = False


@dataclass
class WindowsHost:
    """One simulated server, reachable at ``address``."""

    name: str
    address: str
    username: str
    password: str
    profile: str = "healthy-onprem"
    hostname: str = "SAGE-SRV"
    os_caption: str = "Microsoft Windows Server 2019 Standard"
    os_version: str = "10.0.17763"
    os_build: int = 17763
    powershell_version: str = "5.1.17763.5576"
    clock_skew_s: float = 0.0
    winrm: WinRMService = field(default_factory=WinRMService)
    # Every script the host was asked to run, for tests (name, params).
    journal: list[dict[str, Any]] = field(default_factory=list)
    # Snippet name -> error text: that snippet fails as a PowerShell `throw` would.
    snippet_failures: dict[str, str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _initial: dict[str, Any] = field(default_factory=dict, repr=False)

    def utc_now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.clock_skew_s)

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.journal.append(entry)

    def reset(self) -> None:
        """Back to the profile's state, as if the server was rebuilt."""
        with self.lock:
            fresh = host_from_profile(
                self.name, self.address, self.username, self.password, self._initial
            )
            for key, value in vars(fresh).items():
                if key != "lock":
                    setattr(self, key, value)


_FIELDS = {
    "hostname",
    "os_caption",
    "os_version",
    "os_build",
    "powershell_version",
    "clock_skew_s",
}


def load_profile(name: str) -> dict[str, Any]:
    """Read a named profile shipped with the simulator."""
    path = resources.files(__package__).joinpath("profiles", f"{name}.yml")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        known = ", ".join(profile_names())
        raise ProfileError(f"unknown simulator profile {name!r} (known: {known})") from exc
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ProfileError(f"profile {name!r} must be a mapping")
    data.setdefault("profile", name)
    return data


def profile_names() -> list[str]:
    folder = resources.files(__package__).joinpath("profiles")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".yml"))


def host_from_profile(
    name: str, address: str, username: str, password: str, profile: dict[str, Any]
) -> WindowsHost:
    """Build a host from profile data; unknown keys are an error, never ignored."""
    data = copy.deepcopy(profile)
    unknown = set(data) - _FIELDS - {"profile", "description", "winrm"}
    if unknown:
        raise ProfileError(f"profile {data.get('profile')!r}: unknown keys {sorted(unknown)}")
    winrm = data.pop("winrm", {}) or {}
    bad = set(winrm) - {"allow_basic", "allow_unencrypted"}
    if bad:
        raise ProfileError(f"profile {data.get('profile')!r}: unknown winrm keys {sorted(bad)}")
    host = WindowsHost(
        name=name,
        address=address,
        username=username,
        password=password,
        profile=str(data.get("profile", "custom")),
        winrm=WinRMService(**winrm),
        **{k: v for k, v in data.items() if k in _FIELDS},
    )
    host._initial = copy.deepcopy(profile)
    return host
