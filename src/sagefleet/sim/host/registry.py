"""The host's registry: HKLM and friends, with the 64-bit and 32-bit views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sagefleet.sim.host.errors import ModelError, ProfileError
from sagefleet.sim.host.process import checkpoint

REG_KINDS = ("REG_SZ", "REG_EXPAND_SZ", "REG_DWORD", "REG_QWORD", "REG_MULTI_SZ")
RegistryData = str | int | tuple[str, ...]

_HIVES = {
    "hklm": "HKLM",
    "hkey_local_machine": "HKLM",
    "hku": "HKU",
    "hkey_users": "HKU",
    "hkcu": "HKCU",
    "hkey_current_user": "HKCU",
}


@dataclass(frozen=True)
class RegistryValue:
    """One typed registry value, as RegistryKey.GetValue/GetValueKind see it."""

    kind: str
    data: RegistryData


def registry_value(data: Any, kind: str | None = None) -> RegistryValue:
    """Check and type a value: int -> REG_DWORD (or QWORD), list -> REG_MULTI_SZ."""
    if kind is None:
        if isinstance(data, bool):
            raise ProfileError(f"registry value {data!r}: use 0/1, not a boolean")
        if isinstance(data, int):
            kind = "REG_DWORD" if 0 <= data < 2**32 else "REG_QWORD"
        elif isinstance(data, list | tuple):
            kind = "REG_MULTI_SZ"
        else:
            kind = "REG_SZ"
    kind = kind.upper()
    if kind not in REG_KINDS:
        raise ProfileError(f"unknown registry value type {kind!r} (known: {', '.join(REG_KINDS)})")
    if kind in ("REG_DWORD", "REG_QWORD"):
        limit = 2**32 if kind == "REG_DWORD" else 2**64
        if isinstance(data, bool) or not isinstance(data, int) or not 0 <= data < limit:
            raise ProfileError(f"{kind} value must be an integer in [0, {limit}), got {data!r}")
        return RegistryValue(kind, data)
    if kind == "REG_MULTI_SZ":
        if not isinstance(data, list | tuple):
            raise ProfileError(f"REG_MULTI_SZ value must be a list of strings, got {data!r}")
        return RegistryValue(kind, tuple(str(item) for item in data))
    return RegistryValue(kind, str(data))


@dataclass
class _RegistryKey:
    path: str
    values: dict[str, tuple[str, RegistryValue]] = field(default_factory=dict)


class Registry:
    """HKLM and friends, case-insensitive, with the 64-bit and 32-bit views.

    One physical tree, as on Windows: the 32-bit view of ``HKLM\\SOFTWARE\\X``
    is ``HKLM\\SOFTWARE\\WOW6432Node\\X``; ``HKLM\\SYSTEM`` is shared.
    ``HKLM\\SOFTWARE\\Classes\\WOW6432Node`` (where 32-bit COM classes live) and
    ``HKLM\\SOFTWARE\\WOW6432Node\\Classes`` are one key, as on Windows 7 and later.
    """

    def __init__(self) -> None:
        self._keys: dict[str, _RegistryKey] = {}

    @staticmethod
    def physical(path: str, view: str = "64") -> str:
        """The key a view opens, in canonical form (``HKLM\\...``)."""
        if view not in ("64", "32"):
            raise ValueError(f"registry view must be '64' or '32', not {view!r}")
        parts = [p for p in path.replace("/", "\\").split("\\") if p]
        if not parts:
            raise ModelError("empty registry path")
        hive = _HIVES.get(parts[0].rstrip(":").lower())
        if hive is None:
            raise ModelError(f"unknown registry hive in {path!r}")
        parts[0] = hive
        if (
            view == "32"
            and hive == "HKLM"
            and len(parts) >= 2
            and parts[1].lower() == "software"
            and (len(parts) == 2 or parts[2].lower() != "wow6432node")
        ):
            parts.insert(2, "WOW6432Node")
        if (
            hive == "HKLM"
            and len(parts) >= 4
            and parts[1].lower() == "software"
            and parts[2].lower() == "classes"
            and parts[3].lower() == "wow6432node"
        ):
            parts[2], parts[3] = "WOW6432Node", "Classes"
        return "\\".join(parts)

    def _find(self, path: str, view: str) -> _RegistryKey | None:
        return self._keys.get(self.physical(path, view).lower())

    def create_key(self, path: str, view: str = "64") -> None:
        checkpoint()
        parts = self.physical(path, view).split("\\")
        for end in range(1, len(parts) + 1):
            sub = "\\".join(parts[:end])
            self._keys.setdefault(sub.lower(), _RegistryKey(sub))

    def set(
        self, path: str, name: str, data: Any, kind: str | None = None, view: str = "64"
    ) -> None:
        """Write a value (creating the key), typed from ``data`` unless ``kind`` says."""
        checkpoint()
        value = registry_value(data, kind)
        self.create_key(path, view)
        key = self._keys[self.physical(path, view).lower()]
        key.values[name.lower()] = (name, value)

    def get_value(self, path: str, name: str, view: str = "64") -> RegistryValue | None:
        key = self._find(path, view)
        if key is None:
            return None
        found = key.values.get(name.lower())
        return found[1] if found else None

    def get(self, path: str, name: str, view: str = "64") -> RegistryData | None:
        """The value's data, or None when the key or value does not exist."""
        value = self.get_value(path, name, view)
        return None if value is None else value.data

    def key_exists(self, path: str, view: str = "64") -> bool:
        return self._find(path, view) is not None

    def values(self, path: str, view: str = "64") -> dict[str, RegistryValue]:
        key = self._find(path, view)
        return {} if key is None else {name: value for name, value in key.values.values()}

    def subkeys(self, path: str, view: str = "64") -> list[str]:
        """Names of the direct subkeys, in the case they were created with."""
        prefix = self.physical(path, view).lower() + "\\"
        found = {
            key.path.split("\\")[prefix.count("\\")]
            for lower, key in self._keys.items()
            if lower.startswith(prefix)
        }
        return sorted(found, key=str.lower)

    def delete_value(self, path: str, name: str, view: str = "64") -> None:
        checkpoint()
        key = self._find(path, view)
        if key is not None:
            key.values.pop(name.lower(), None)

    def delete_key(self, path: str, view: str = "64") -> None:
        """Remove a key and its subkeys (Remove-Item -Recurse)."""
        checkpoint()
        lower = self.physical(path, view).lower()
        for candidate in [k for k in self._keys if k == lower or k.startswith(lower + "\\")]:
            del self._keys[candidate]


