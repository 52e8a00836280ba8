"""The agent package (Setup.zip): inspect it on the controller, pick the installer.

Assumed layout (the vendor's is not public; see docs/package.md):
``settings.json`` plus one installer per Sage version whose file name carries
the version label ``v<major>.<minor>`` (e.g. ``Spendesk Sage Agent Setup
v11.0.exe``). Everything is checked before any host is touched: a corrupt
archive, a path escaping the folder (zip-slip), an oversized or bomb-like
archive, or a missing installer is an InputError naming what to fix.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from sagefleet import catalog
from sagefleet.errors import InputError

LABEL_RE = re.compile(r"(?<![0-9A-Za-z])v(\d{1,2})\.(\d{1,2})(?![0-9])", re.I)
INSTALLER_SUFFIXES = (".exe", ".msi")
MAX_PACKAGE_BYTES = 1 << 30  # 1 GiB on disk
MAX_UNPACKED_BYTES = 2 << 30  # 2 GiB once extracted
MAX_RATIO = 200  # compression ratio above which an entry is treated as a zip bomb
MAX_ENTRIES = 500


@dataclass(frozen=True)
class Installer:
    """One installer of the package."""

    path: str
    label: str
    major: int
    minor: int
    size: int
    agent_version: str | None = None


@dataclass(frozen=True)
class PackageInfo:
    """What the controller knows of a package before pushing it anywhere."""

    path: str
    sha256: str
    size: int
    installers: tuple[Installer, ...]
    has_settings: bool
    entries: tuple[str, ...] = field(default=(), repr=False)

    @property
    def agent_version(self) -> str | None:
        versions = {i.agent_version for i in self.installers if i.agent_version}
        return versions.pop() if len(versions) == 1 else None

    def labels(self) -> list[str]:
        return [i.label for i in self.installers]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe_member(name: str, package: str) -> str:
    """Refuse names that would land outside the extraction folder."""
    fix = "rebuild the package from the vendor's original Setup.zip"
    if "\x00" in name:
        raise InputError(
            "entry name contains a NUL byte", field="package", value=repr(name), fix=fix
        )
    posix = PurePosixPath(name.replace("\\", "/"))
    windows = PureWindowsPath(name)
    if posix.is_absolute() or windows.drive or windows.root or name.startswith(("/", "\\")):
        raise InputError(
            f"{package}: absolute path inside the package",
            field="package",
            value=repr(name),
            fix=fix,
        )
    if any(part == ".." for part in posix.parts):
        raise InputError(
            f"{package}: path escapes the extraction folder (zip-slip)",
            field="package",
            value=repr(name),
            fix=fix,
        )
    if any(ch in name for ch in '<>:"|?*'):
        raise InputError(
            f"{package}: entry name is not a valid Windows file name",
            field="package",
            value=repr(name),
            fix=fix,
        )
    return str(posix)


def inspect(
    path: str | os.PathLike[str],
    *,
    expected_sha256: str | None = None,
    max_bytes: int = MAX_PACKAGE_BYTES,
    max_unpacked: int = MAX_UNPACKED_BYTES,
) -> PackageInfo:
    """Open and check the package; raise InputError on anything unsafe or unusable."""
    package = Path(path)
    name = str(package)
    if not package.is_file():
        raise InputError(
            "package not found",
            field="sagefleet_agent_package",
            value=name,
            fix="give the path of the vendor's Setup.zip on the bastion",
        )
    size = package.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"package is {size} bytes, more than the {max_bytes}-byte limit",
            field="sagefleet_agent_package",
            value=name,
            fix="check you picked the agent's Setup.zip",
        )
    digest = sha256_file(package)
    if expected_sha256 is not None and digest.lower() != expected_sha256.strip().lower():
        raise InputError(
            f"SHA-256 mismatch: the file is {digest}",
            field="sagefleet_agent_package_sha256",
            value=expected_sha256,
            fix="download the package again, or correct the expected SHA-256",
        )
    try:
        archive = zipfile.ZipFile(package)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(
            f"not a valid zip archive ({exc})",
            field="sagefleet_agent_package",
            value=name,
            fix="download the package again",
        ) from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise InputError(
                f"package has {len(infos)} entries (limit {MAX_ENTRIES})",
                field="sagefleet_agent_package",
                value=name,
            )
        names = []
        total = 0
        for info in infos:
            member = _safe_member(info.filename, name)
            total += info.file_size
            if (
                info.compress_size
                and info.file_size / info.compress_size > MAX_RATIO
                and (info.file_size > 10 << 20)
            ):
                raise InputError(
                    f"entry {member} expands {info.file_size // info.compress_size}"
                    "x: refusing a possible zip bomb",
                    field="sagefleet_agent_package",
                    value=name,
                )
            if not info.is_dir():
                names.append(member)
        if total > max_unpacked:
            raise InputError(
                f"package expands to {total} bytes (limit {max_unpacked})",
                field="sagefleet_agent_package",
                value=name,
            )
        bad = archive.testzip()
        if bad is not None:
            raise InputError(
                f"corrupt entry {bad} (CRC mismatch)",
                field="sagefleet_agent_package",
                value=name,
                fix="download the package again",
            )
        installers = []
        for member in names:
            base = PurePosixPath(member).name
            if not base.lower().endswith(INSTALLER_SUFFIXES):
                continue
            match = LABEL_RE.search(base)
            if not match:
                continue
            meta_name = member + ".sagefleet.json"
            agent_version = None
            if meta_name in names:
                try:
                    meta = json.loads(archive.read(meta_name))
                    agent_version = (
                        str(meta.get("agent_version"))
                        if isinstance(meta, dict) and meta.get("agent_version")
                        else None
                    )
                except (ValueError, KeyError):
                    agent_version = None
            major, minor = int(match.group(1)), int(match.group(2))
            installers.append(
                Installer(
                    path=member,
                    label=f"v{major}.{minor}",
                    major=major,
                    minor=minor,
                    size=archive.getinfo(member).file_size,
                    agent_version=agent_version,
                )
            )
        has_settings = any(PurePosixPath(m).name.lower() == "settings.json" for m in names)
    if not installers:
        raise InputError(
            "no installer with a version label (v<major>.<minor>) in the package",
            field="sagefleet_agent_package",
            value=name,
            fix="use the vendor's Setup.zip, which has one installer per Sage version",
        )
    labels = [i.label for i in installers]
    duplicates = {label for label in labels if labels.count(label) > 1}
    if duplicates:
        raise InputError(
            f"several installers for {sorted(duplicates)}",
            field="sagefleet_agent_package",
            value=name,
        )
    return PackageInfo(
        path=name,
        sha256=digest,
        size=size,
        installers=tuple(sorted(installers, key=lambda i: (i.major, i.minor))),
        has_settings=has_settings,
        entries=tuple(sorted(names)),
    )


def choose_installer(
    info: PackageInfo,
    sage_version: str,
    *,
    host: str | None = None,
    sage_catalog: catalog.SageCatalog | None = None,
) -> Installer:
    """The installer for a host's Sage version, by the catalog's rule (11.02 → v11.0)."""
    rules = sage_catalog or catalog.sage()
    match = re.match(r"^\s*(\d+)\.(\d+)", sage_version or "")
    if not match:
        raise InputError(
            "unreadable Sage version",
            host=host,
            field="sage_version",
            value=repr(sage_version),
            fix="run preflight and look at SF202",
        )
    major = int(match.group(1))
    rule = rules.for_major(major)
    if rule is None or major < rules.minimum_major:
        raise InputError(
            f"Sage {sage_version} is not supported by the agent",
            host=host,
            field="sage_version",
            value=sage_version,
            fix=f"upgrade Sage to version {rules.minimum_major} or later",
        )
    for installer in info.installers:
        if installer.label.lower() == rule.installer.lower():
            return installer
    raise InputError(
        f"the package has no installer {rule.installer} for Sage {sage_version} "
        f"(it has {', '.join(info.labels())})",
        host=host,
        field="sagefleet_agent_package",
        value=info.path,
        fix=f"get the vendor's package that contains installer {rule.installer}",
    )


def build_test_package(
    out: str | os.PathLike[str],
    *,
    agent_version: str = "3.2.0",
    labels: Iterable[str] = ("v9.0", "v10.0", "v11.0", "v12.0"),
    installer_bytes: int = 256 * 1024,
    service_name: str | None = None,
    exit_code: int = 0,
    fail_service_start: bool = False,
    payload_bytes: int = 0,
    extension: str = ".exe",
    metadata: dict[str, object] | None = None,
) -> Path:
    """A realistic package for tests and the demo: never a vendor binary.

    Installers are filler bytes behind an ``MZ`` header; each carries the
    metadata file the simulator's installer reads (``<installer>.sagefleet.json``);
    its service is ``service_name``, else the shipped agent profile's.
    ``extension`` makes the installers ``.msi`` files; ``metadata`` adds keys to each
    installer's metadata (``product_version``, ``leaves_child``, ``never_exits``,
    ``exit_code: None``...; see docs/simulator.md). ``payload_bytes`` adds an
    incompressible entry (``payload.bin``, stored, the same bytes for the same
    version) to make the package as large as a real one.
    """
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "schemaVersion": 1,
        "connections": [],
        "_comment": "Do not open or edit: generated for the Spendesk agent.",
    }
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("settings.json", json.dumps(settings, indent=2) + "\n")
        for label in labels:
            name = f"Spendesk Sage Agent Setup {label}{extension}"
            seed = hashlib.sha256(f"{label}/{agent_version}".encode()).digest()
            body = b"MZ" + (seed * (installer_bytes // len(seed) + 1))[: installer_bytes - 2]
            archive.writestr(name, body)
            meta = {
                "agent_version": agent_version,
                "installer_label": label,
                "service_name": service_name,
                "exit_code": exit_code,
                "fail_service_start": fail_service_start,
                **(metadata or {}),
            }
            archive.writestr(name + ".sagefleet.json", json.dumps(meta, indent=2) + "\n")
        if payload_bytes:
            payload = random.Random(agent_version).randbytes(payload_bytes)
            archive.writestr("payload.bin", payload, compress_type=zipfile.ZIP_STORED)
    return target


def info_to_dict(info: PackageInfo) -> dict[str, object]:
    """JSON-safe form, computed once per run and shared by every host's task."""
    return {
        "path": info.path,
        "sha256": info.sha256,
        "size": info.size,
        "has_settings": info.has_settings,
        "agent_version": info.agent_version,
        "installers": [
            {"path": i.path, "label": i.label, "major": i.major, "minor": i.minor,
             "size": i.size, "agent_version": i.agent_version}
            for i in info.installers
        ],
    }


def info_from_dict(data: dict[str, object]) -> PackageInfo:
    """Rebuild a PackageInfo without re-hashing; the file must still be the same size."""
    path = str(data["path"])
    size = int(str(data["size"]))
    if not Path(path).is_file() or Path(path).stat().st_size != size:
        raise InputError("the package changed since it was inspected", field="package",
                         value=path, fix="run the play again")
    raw = data.get("installers")
    installers = tuple(
        Installer(path=str(i["path"]), label=str(i["label"]), major=int(i["major"]),
                  minor=int(i["minor"]), size=int(i["size"]),
                  agent_version=str(i["agent_version"]) if i.get("agent_version") else None)
        for i in (raw if isinstance(raw, list) else [])
    )
    return PackageInfo(path=path, sha256=str(data["sha256"]), size=size,
                       installers=installers, has_settings=bool(data.get("has_settings")))
