"""Learn an agent profile from a reference install (``sagefleet agent learn``).

The read-only ``agent_learn`` snippet reads the install; this module turns it into
an agent profile whose ``assumed`` list holds only what could not be read. What tells
the installer's technology: docs/agent-profile.md, "sagefleet agent learn".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from sagefleet.agent import profile as agent_profile
from sagefleet.agent.profile import AgentProfile, describe_lookup
from sagefleet.errors import SagefleetError
from sagefleet.remote import HostSession
from sagefleet.settings.keys import KEY_CANDIDATES

#: Members that identify a connection in a list of connections, in the order they are
#: preferred (the first one present and unique in every item keys the list): the
#: merge's own candidates, declared once.
MERGE_KEY_CANDIDATES = KEY_CANDIDATES
MAX_FILES = 500
MAX_DEPTH = 4

#: Inno Setup's own value names in its uninstall key.
_INNO_VALUE = re.compile(r"^Inno Setup: ")
_BURN_VALUES = ("BundleCachePath", "BundleUpgradeCode", "BundleProviderKey")
_FRAMEWORK_SKU = re.compile(r"Version=v(\d+\.\d+(?:\.\d+)?)", re.I)


class AgentNotFound(SagefleetError):
    """The reference host has no service the lookup accepts (none, or several)."""


@dataclass(frozen=True)
class Lookup:
    """How to find the agent's service on the reference host."""

    service: str | None = None
    image_path_pattern: str | None = None
    display_name_pattern: str | None = None

    def describe(self) -> str:
        named = f"service name {self.service!r}" if self.service else None
        patterns = (self.image_path_pattern, self.display_name_pattern)
        return describe_lookup(named, *patterns) or "nothing"

    @classmethod
    def of(cls, profile: AgentProfile) -> Lookup:
        return cls(profile.service_name, profile.image_path_pattern, profile.display_name_pattern)


@dataclass
class Learned:
    """The profile learned, and what the console summary says about it."""

    profile: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: Folders of the install the WinRM account could not list: the profile holds what
    #: the others showed, and the run says it was not read whole.
    unlisted: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        header = (
            "# Agent profile learned from a reference install by `sagefleet agent learn`.\n"
            "# Review it before use: everything listed under `assumed` is still a guess\n"
            "# (docs/agent-profile.md). No value of settings.json is in it: its keys only.\n"
        )
        return header + yaml.safe_dump(
            self.profile, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
        )


def params(profile: AgentProfile, lookup: Lookup) -> dict[str, Any]:
    """The agent_learn snippet's parameters."""
    settings_name = profile.settings_path("X").replace("/", "\\").rsplit("\\", 1)[-1]
    return {
        "service": lookup.service,
        "image_path_pattern": lookup.image_path_pattern,
        "display_name_pattern": lookup.display_name_pattern,
        "settings_names": [settings_name],
        "uninstall_pattern": profile.section("uninstall").get("display_name_pattern"),
        "max_files": MAX_FILES,
        "max_depth": MAX_DEPTH,
    }


def _strings(value: Any) -> list[str]:
    """A list that PowerShell 5.1 may have unwrapped into its one element."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _items(value: Any) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _path(raw: Any) -> list[str | int]:
    parts = raw if isinstance(raw, list) else [raw]
    return [p if isinstance(p, int) else str(p) for p in parts]


def _dotted(path: Sequence[str | int]) -> str:
    """A JSON path as the merge reads it: members joined by '.', ``[]`` for list items."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += "[]"
        else:
            text += ("." if text else "") + part
    return text


def structure(shapes: Sequence[Mapping[str, Any]]) -> Any:
    """The key structure as a readable tree: a scalar's JSON type, an object's members,
    a list's length, unique string members and first item."""
    root: dict[str, Any] = {}
    nodes: dict[tuple[Any, ...], dict[str, Any]] = {}
    for shape in shapes:
        path = tuple(_path(shape["path"]))
        kind = str(shape["type"])
        node: dict[str, Any] = {"type": kind}
        if kind == "object":
            node["members"] = {}
        elif kind == "array":
            node["count"] = int(shape.get("count") or 0)
            unique = _strings(shape.get("unique_string_members"))
            if unique:
                node["unique_string_members"] = unique
        nodes[path] = node
        if not path:
            root = node
            continue
        parent = nodes.get(path[:-1])
        if parent is None:
            continue
        value: Any = node if kind in ("object", "array") else kind
        if isinstance(path[-1], int):
            parent["items"] = value
        else:
            parent.setdefault("members", {})[path[-1]] = value
    return root or None


def merge_keys(shapes: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Lists of objects keyed by a candidate member that is a non-empty string, unique
    across the list's items (case-preserving), as the merge detects them."""
    found = []
    items = {tuple(_path(s["path"])): s for s in shapes}
    for path, shape in items.items():
        if shape.get("type") != "array":
            continue
        first = items.get((*path, 0))
        if first is None or first.get("type") != "object":
            continue
        unique = _strings(shape.get("unique_string_members"))
        member = next((c for c in MERGE_KEY_CANDIDATES if c in unique), None)
        if member is not None:
            found.append({"path": _dotted(path), "member": member})
    return found


def technology(entry: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """The installer technology an uninstall entry shows, and the evidence."""
    if entry is None:
        return "unknown", None
    values = entry.get("values") or {}
    names = _strings(entry.get("value_names"))
    key = str(entry.get("key") or "")
    uninstall = str(values.get("UninstallString") or "")
    if str(values.get("WindowsInstaller") or "") == "1":
        return "msi", f"uninstall entry {key}: WindowsInstaller=1"
    if key.lower().endswith("_is1") or any(_INNO_VALUE.match(n) for n in names):
        inno = [n for n in names if _INNO_VALUE.match(n)]
        shown = ", ".join(inno[:2]) or "its name"
        return "inno", f"uninstall entry {key}: Inno Setup key (<AppId>_is1, {shown})"
    burn = [n for n in _BURN_VALUES if n in names]
    if burn:
        return "wix-burn", f"uninstall entry {key}: WiX Burn bundle ({', '.join(burn)})"
    if key.startswith("InstallShield_") or "installshield installation information" in (
        uninstall.lower()
    ):
        return "installshield", f"uninstall entry {key}: InstallShield"
    return "unknown", (
        f"uninstall entry {key} names no installer technology (NSIS and others write "
        "nothing of their own): read the installer with `sagefleet package inspect`"
    )


def _display_name_pattern(display: str, version: str | None) -> str:
    """A pattern that keeps matching the entry after an upgrade (the version cut off),
    read alike by Python and .NET."""
    stem = display
    if version and version in display:
        stem = display[: display.index(version)]
        stem = re.sub(r"(?i)(?:[\s\-]+(?:version|v))?[\s\-]*$", "", stem)
    return "^" + re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", stem.strip())


def _framework(sku: str | None) -> str | None:
    match = _FRAMEWORK_SKU.search(sku or "")
    return match.group(1) if match else None


def _entry(answer: Mapping[str, Any], install_dir: str) -> Mapping[str, Any] | None:
    """The agent's uninstall entry: the first pointing into its folder, else the only
    one whose DisplayName matched (several others: none is taken)."""
    entries = _items(answer.get("uninstall"))
    for entry in entries:
        values = entry.get("values") or {}
        if any(
            install_dir.lower() in v.lower()
            for k, v in values.items()
            if isinstance(v, str) and k != "DisplayName"
        ):
            return entry
    return entries[0] if len(entries) == 1 else None


def build(
    answer: Mapping[str, Any], host: str, base: AgentProfile, *, now: dt.datetime | None = None
) -> Learned:
    """The learned profile from the snippet's document (``base`` fills what was not read)."""
    service = answer["service"]
    install_dir = str(answer.get("install_dir") or base.install_dir)
    data = base.to_dict()
    assumed: list[str] = []
    notes: list[str] = []
    data["source"] = "learned"
    data["learned_from"] = {
        "host": host,
        "date": (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat(),
        "agent_version": service.get("version") or None,
    }
    framework = _framework(service.get("runtime_sku"))
    if framework:
        data.setdefault("agent", {})["target_framework"] = framework
    else:
        assumed.append("agent.target_framework")
    data["service"] = {
        "name": service["name"],
        "display_name": service.get("display_name") or None,
        "image_path_pattern": None,
        "display_name_pattern": None,
        "account": service.get("account") or None,
        "image_path": service.get("image_path") or None,
        "start_mode": service.get("start_mode") or None,
    }
    files = _strings(answer.get("files"))
    data["install"] = {"dir": install_dir, "files": files}
    if answer.get("files_truncated"):
        notes.append(f"the install folder holds more than {len(files)} files: the list is cut")
    unlisted = [u for u in _items(answer.get("unlisted")) if isinstance(u, Mapping)]
    for item in unlisted:
        notes.append(
            f"{item.get('folder')} could not be listed as the WinRM account ({item.get('error')}): "
            "its files are not in install.files (grant the WinRM account read on it, or run "
            "as an account that has it)"
        )
    if unlisted:
        assumed.append("install.files")
    settings = answer.get("settings")
    shapes = _items((settings or {}).get("structure"))
    if settings and not settings.get("error"):
        data["settings"]["path"] = "{install_dir}\\" + str(settings["path"])
        data["settings"]["structure"] = structure(shapes)
        keys = merge_keys(shapes)
        data["settings"]["merge_keys"] = keys
        if not keys:
            assumed.append("settings.merge_keys")
            notes.append("no list of connections with a unique identifying member was found")
    else:
        assumed.extend(["settings.path", "settings.merge_keys"])
        data["settings"]["structure"] = None
        data["settings"]["merge_keys"] = []
        if settings:
            notes.append(f"settings.json: {settings['error']}")
        elif unlisted:
            notes.append(
                f"no settings.json in the folders that could be listed ({len(unlisted)} could "
                "not be)"
            )
        else:
            notes.append("no settings.json in the folder")
    # Where the wizard's answers land in settings.json is a meaning, not a structure.
    # So is whether the agent reads settings.json only when it starts.
    assumed.extend(["settings.installer_adds", "settings.read_at_start", "connection_fields"])
    entry = _entry(answer, install_dir)
    kind, evidence = technology(entry)
    data["installer"]["technology"] = kind
    data["installer"]["evidence"] = evidence
    if kind == "unknown":
        assumed.extend(["installer.technology", "installer.silent_args"])
    if entry is not None:
        values = entry.get("values") or {}
        display = str(values.get("DisplayName") or "")
        data["uninstall"] = {
            "display_name_pattern": _display_name_pattern(
                display, str(values.get("DisplayVersion") or "") or None
            )
            if display
            else base.section("uninstall").get("display_name_pattern"),
            "display_name": display or None,
            "key": str(entry.get("key")),
            "view": str(entry.get("view")),
            "uninstall_string": values.get("UninstallString"),
            "quiet_uninstall_string": values.get("QuietUninstallString"),
            # Whatever a release names itself, the vendor's (SF405): kept from the base.
            "vendor_pattern": base.section("uninstall").get("vendor_pattern"),
        }
    else:
        assumed.append("uninstall")
        notes.append("no Add/Remove Programs entry of the agent was found")
    logs = sorted({f.rsplit("\\", 1)[0] for f in files if "\\" in f and f.lower().endswith(".log")})
    at_root = any("\\" not in f and f.lower().endswith(".log") for f in files)
    if logs or at_root:
        folder = logs[0] if logs else ""
        data["logs"] = {
            "dir": "{install_dir}" + (f"\\{folder}" if folder else ""),
            "file_pattern": "*.log",
            "connected_pattern": None,
        }
        assumed.append("logs.connected_pattern")
    else:
        assumed.append("logs")
    # One reference install shows no upgrade (the vendor says it stops the service).
    assumed.append("upgrade.keeps_settings")
    data["assumed"] = assumed
    agent_profile.validate(data, f"the profile learned from {host}")
    return Learned(profile=data, notes=notes, unlisted=[str(u.get("folder")) for u in unlisted])


def learn(session: HostSession, host: str, base: AgentProfile, lookup: Lookup) -> Learned:
    """Read the reference install on ``host`` and return the learned profile.

    Raises AgentNotFound (naming what was tried) when no single service matches;
    transport errors (HostUnreachable...) pass through.
    """
    answer = session.run_snippet("agent_learn", params(base, lookup))
    candidates = _strings(answer.get("candidates"))
    if answer.get("service") is None:
        tried = lookup.describe()
        if candidates:
            raise AgentNotFound(
                f"{host}: several services match {tried}: {', '.join(candidates)}; name the "
                "agent's with --service NAME"
            )
        raise AgentNotFound(
            f"{host}: no agent service found (tried {tried}); give it with --service NAME, "
            "or --image-path-pattern REGEX / --display-name-pattern REGEX"
        )
    return build(answer, host, base)
