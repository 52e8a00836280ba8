"""The agent package (Setup.zip): inspect it on the bastion, pick the installer.

Everything is checked before any host is touched; what is known, what is assumed and
what inspection refuses: docs/package.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import stat
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from sagefleet import catalog, versions
from sagefleet.agent import profile as agent_profile
from sagefleet.errors import InputError, field_error, shown
from sagefleet.installer_file import read_installer, stamp_version
from sagefleet.sim import vendor_layout
from sagefleet.variables import given_or_none

TARGET = "sagefleet_agent_target_version"

SHA256_RE = re.compile(r"[0-9A-Fa-f]{64}")
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
    # What the file itself says (sagefleet.installer_file): technology and why.
    technology: str = "unknown"
    evidence: tuple[str, ...] = ()
    # Where agent_version comes from: the version resource, the MSI's Property
    # table, or (simulator packages only) the <installer>.sagefleet.json metadata.
    version_source: str | None = None
    product_name: str | None = None
    company_name: str | None = None


#: The version source of a simulator package's installer without a version resource.
SIMULATOR_METADATA = "simulator metadata (<installer>.sagefleet.json)"


@dataclass(frozen=True)
class PackageInfo:
    """What the bastion knows of a package before pushing it anywhere."""

    path: str
    sha256: str
    size: int
    installers: tuple[Installer, ...]
    has_settings: bool
    entries: tuple[str, ...] = field(default=(), repr=False)

    @property
    def agent_version(self) -> str | None:
        """The installers' one version (``3.2.0`` and ``3.2.0.0`` are one), else None."""
        found = [i.agent_version for i in self.installers if i.agent_version]
        return found[0] if len({versions.normalize(v) for v in found}) == 1 else None

    @property
    def version_source(self) -> str | None:
        """Where the package's version comes from, in words."""
        sources = sorted({i.version_source for i in self.installers if i.version_source})
        return ", ".join(sources) if sources else None

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


_FILE_TYPES = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFSOCK: "a socket",
}


def _regular_member(info: zipfile.ZipInfo, member: str, package: str) -> None:
    """Refuse an entry whose Unix mode (high word of external_attr) is not a plain file or
    folder: Windows' extraction would write a symbolic link as a file holding its target."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind in (0, stat.S_IFREG, stat.S_IFDIR):
        return
    what = _FILE_TYPES.get(kind, f"not a regular file (file type 0o{kind:o})")
    raise InputError(
        f"{package}: entry {member} is {what} (Unix mode 0o{mode:o}), not a file",
        field="sagefleet_agent_package",
        value=member,
        fix="rebuild the package from the vendor's original Setup.zip "
        "(zip -r without --symlinks stores the files themselves)",
    )


def installer_version(data: bytes, name: str) -> str | None:
    """The version an installer file gives itself (version resource or MSI property);
    None when it gives none or is not an installer Windows could run."""
    try:
        return read_installer(data, name).version
    except InputError:
        return None


def _installer(
    archive: zipfile.ZipFile,
    member: str,
    names: list[str],
    label: str,
    major: int,
    minor: int,
    package: str,
) -> Installer:
    """One installer, as its own file describes it."""
    try:
        read = read_installer(archive.read(member), PurePosixPath(member).name)
    except InputError as exc:
        raise InputError(
            f"{package}: installer {member}: {exc.message}",
            field="sagefleet_agent_package",
            value=package,
            fix=exc.fix,
        ) from None
    version, source = read.version, read.version_source
    meta_name = member + ".sagefleet.json"
    if meta_name in names:  # a simulator package: behaviour for the simulated installer
        try:
            meta = json.loads(archive.read(meta_name))
        except (ValueError, KeyError):
            meta = None
        simulated = (
            str(meta["agent_version"])
            if isinstance(meta, dict) and meta.get("agent_version")
            else None
        )
        if simulated and version and not versions.same(simulated, version):
            raise InputError(
                f"{package}: installer {member}: its {source} says {version}, "
                f"its simulator metadata says {simulated}",
                field="sagefleet_agent_package",
                value=package,
                fix="rebuild the test package (sagefleet package build)",
            )
        if simulated and not version:
            version, source = simulated, SIMULATOR_METADATA
    return Installer(
        path=member,
        label=label,
        major=major,
        minor=minor,
        size=archive.getinfo(member).file_size,
        agent_version=version,
        technology=read.technology,
        evidence=read.evidence,
        version_source=source,
        product_name=read.product_name,
        company_name=read.company_name,
    )


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
    if expected_sha256 is not None and not SHA256_RE.fullmatch(expected_sha256.strip()):
        raise InputError(
            "a SHA-256 is 64 hexadecimal digits",
            field="sagefleet_agent_package_sha256",
            value=expected_sha256,
            fix="copy it whole from where the package is published, or from sha256sum's output",
        )
    if package.is_dir():
        raise InputError(
            "is a folder, not a package file",
            field="sagefleet_agent_package",
            value=name,
            fix="give the path of the vendor's Setup.zip on the bastion",
        )
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
            _regular_member(info, member, name)
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
            major, minor = int(match.group(1)), int(match.group(2))
            installers.append(
                _installer(archive, member, names, f"v{major}.{minor}", major, minor, name)
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
    found = {versions.normalize(i.agent_version) for i in installers}
    if len(found) > 1:
        listed = ", ".join(
            f"{PurePosixPath(i.path).name}: {i.agent_version or 'no version'}"
            for i in sorted(installers, key=lambda i: (i.major, i.minor))
        )
        raise InputError(
            f"{name}: its installers are not of one agent version ({listed})",
            field="sagefleet_agent_package",
            value=name,
            fix="use one release of the vendor's Setup.zip, as downloaded",
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
        fix = "run preflight and look at SF202"
        raise field_error(host, "sage_version", sage_version, "unreadable Sage version", fix)
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


def _hosts_error(hosts: list[str], message: str, field: str, value: str, fix: str) -> InputError:
    """``message`` about ``hosts``: a few of them named at its end, the host when only one."""
    host = hosts[0] if len(hosts) == 1 else None
    text = f"{message} for {shown(hosts, 5)}"
    return InputError(text, host=host, field=field, value=value, fix=fix)


def check_hosts(
    info: PackageInfo,
    hosts: Mapping[str, Mapping[str, Any]],
    *,
    base_dir: str | None = None,
) -> list[InputError]:
    """What the package means for each host, checked once before any host is touched.

    - The package's version (its installers') against each host's
      ``sagefleet_agent_target_version``; a host without one deploys the package's version,
      so a package whose version is unknown needs it.
    - Each installer's technology against the host's agent profile: a technology the
      profile has no silent switches for (``unknown`` has none) needs
      ``sagefleet_agent_installer_arguments``.
    """
    errors: list[InputError] = []
    package = info.agent_version
    by_target: dict[str, list[str]] = {}
    unset: list[str] = []
    no_switches: dict[tuple[str, str, str], list[str]] = {}
    for host, variables in hosts.items():
        target = given_or_none(host, variables, TARGET)
        if target is None or str(target).strip() == "":
            unset.append(host)
        elif package is None or not versions.same(str(target), package):
            by_target.setdefault(str(target), []).append(host)
        if "sagefleet_agent_installer_arguments" in variables:
            continue
        try:
            profile = agent_profile.for_host(variables, host=host, base_dir=base_dir)
        except InputError as exc:
            errors.append(exc)
            continue
        for installer in info.installers:
            if profile.silent_args(installer.technology) is None:
                key = (PurePosixPath(installer.path).name, installer.technology, profile.origin)
                no_switches.setdefault(key, []).append(host)
    name = info.path
    for target, listed in sorted(by_target.items()):
        if package is None:
            continue  # its version cannot be compared: the health gate checks the result
        message = (
            f"the package {name} holds agent {package} ({info.version_source}), "
            f"but sagefleet_agent_target_version is {target}"
        )
        fix = (
            f"set sagefleet_agent_target_version to {package} (or remove it: the target "
            f"is then the package's version), or give the package of agent {target}"
        )
        errors.append(_hosts_error(listed, message, TARGET, target, fix))
    if package is None and unset:
        message = (
            f"the package {name} does not say its agent version (no version resource "
            "in its installers) and sagefleet_agent_target_version is not set"
        )
        fix = "set sagefleet_agent_target_version to the agent version the package installs"
        errors.append(_hosts_error(unset, message, TARGET, "(unset)", fix))
    for (file_name, technology, origin), listed in sorted(no_switches.items()):
        message = (
            f"installer {file_name} is of technology {technology}: the agent profile "
            f"({origin}) has no silent switches for it, and "
            "sagefleet_agent_installer_arguments is not set"
        )
        fix = (
            "set sagefleet_agent_installer_arguments to the installer's silent "
            "switches (from the vendor or a reference install)"
        )
        variable = "sagefleet_agent_installer_arguments"
        errors.append(_hosts_error(listed, message, variable, "(unset)", fix))
    return errors


#: The stand-in installer of each technology (src/sagefleet/stubs, built by
#: tests/fixtures/pe/build.sh): a real Windows program or MSI, never a vendor file.
STUBS = {
    "inno": "inno.exe",
    "nsis": "nsis.exe",
    "wix-burn": "wix-burn.exe",
    "installshield": "installshield.exe",
    "msi": "msi.msi",
    "unknown": "unknown.exe",
}


def stub_installer(technology: str, version: str) -> bytes:
    """The stand-in installer of ``technology``, its version resource saying ``version``."""
    if technology not in STUBS:
        raise InputError(
            "no stand-in installer for this technology",
            field="--technology",
            value=technology,
            fix=f"use one of {', '.join(STUBS)}",
        )
    name = STUBS[technology]
    data = resources.files("sagefleet").joinpath("stubs", name).read_bytes()
    return stamp_version(data, name, version)


@contextlib.contextmanager
def built_beside(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed to it once the block ends without error
    (removed otherwise)."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        yield partial
        os.chmod(partial, 0o644)  # a package, not a secret: readable as a copied file is
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


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
    technology: str | None = None,
    connections: Sequence[Mapping[str, Any]] | None = None,
    folder: str = "",
) -> Path:
    """A realistic package for tests, rehearsals and the demo: never a vendor binary.

    Each installer is the stand-in of ``technology`` (default ``inno``, or ``msi``
    when ``extension`` is ``.msi``): a real Windows program whose version resource
    says ``agent_version``, grown to ``installer_bytes`` with filler after the
    program (where installers carry their payload; an MSI keeps its own size).
    Beside each installer, ``<installer>.sagefleet.json`` tells the simulator's
    installer how to behave; ``metadata`` adds keys to it (``product_version``,
    ``leaves_child``, ``never_exits``, ``exit_code: None``...; see
    docs/simulator.md); its service is ``service_name``, else the shipped agent
    profile's. ``payload_bytes`` adds an incompressible entry
    (``payload.bin``, stored, the same bytes for the same version) to make the
    package as large as a real one.

    Its ``settings.json`` is a vendor file as the vendor's form produces it: the
    simulator's stand-in layout (``sim/vendor_layout``, never sagefleet's
    template), holding the connections of ``connections`` (inventory entities;
    default one sample connection). ``folder`` puts every file in that folder of
    the archive, as some zips are made.
    """
    technology = technology or ("msi" if extension.lower() == ".msi" else "inno")
    suffix = ".msi" if technology == "msi" else ".exe"
    if extension.lower() not in (".exe", suffix):
        raise InputError(
            f"a {technology} installer is an {suffix} file", field="extension", value=extension
        )
    labels = list(labels)
    if not labels:
        raise InputError(
            "no Sage version label: a package holds one installer per Sage version",
            field="--labels",
            fix="e.g. v10.0,v11.0",
        )
    for label in labels:
        if not re.fullmatch(r"v\d{1,2}\.\d{1,2}", label):
            raise InputError(
                "a Sage version label is v<major>.<minor>",
                field="--labels",
                value=label,
                fix="e.g. v10.0,v11.0",
            )
    seen: dict[tuple[int, ...], str] = {}
    for label in labels:
        version = tuple(int(n) for n in label[1:].split("."))
        if version in seen:
            raise InputError(
                "a Sage version given twice: a package holds one installer per Sage version",
                field="--labels",
                value=f"{seen[version]},{label}",
                fix="give each version once, e.g. v10.0,v11.0",
            )
        seen[version] = label
    stub = stub_installer(technology, agent_version)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    settings = vendor_layout.document(
        list(connections) if connections is not None else [vendor_layout.SAMPLE_ENTITY]
    )
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    # Built beside its name, then renamed: an interrupted build leaves no truncated zip there.
    with (
        built_beside(target) as partial,
        zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        archive.writestr(prefix + "settings.json", vendor_layout.dumps(settings))
        for label in labels:
            name = f"{prefix}Spendesk Sage Agent Setup {label}{suffix}"
            body = stub
            if technology != "msi" and installer_bytes > len(stub):
                seed = hashlib.sha256(f"{label}/{agent_version}".encode()).digest()
                filler = installer_bytes - len(stub)
                body = stub + (seed * (filler // len(seed) + 1))[:filler]
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
            archive.writestr(prefix + "payload.bin", payload, compress_type=zipfile.ZIP_STORED)
    return target


def info_to_dict(info: PackageInfo) -> dict[str, object]:
    """JSON-safe form, computed once per run and shared by every host's task."""
    return {
        "path": info.path,
        "sha256": info.sha256,
        "size": info.size,
        "has_settings": info.has_settings,
        "agent_version": info.agent_version,
        "version_source": info.version_source,
        "installers": [
            {
                "path": i.path,
                "label": i.label,
                "major": i.major,
                "minor": i.minor,
                "size": i.size,
                "agent_version": i.agent_version,
                "technology": i.technology,
                "evidence": list(i.evidence),
                "version_source": i.version_source,
                "product_name": i.product_name,
                "company_name": i.company_name,
            }
            for i in info.installers
        ],
    }


def info_from_dict(data: dict[str, object]) -> PackageInfo:
    """Rebuild a PackageInfo without re-hashing; the file must still be the same size."""
    path = str(data["path"])
    size = int(str(data["size"]))
    if not Path(path).is_file() or Path(path).stat().st_size != size:
        raise InputError(
            "the package changed since it was inspected",
            field="package",
            value=path,
            fix="run the play again",
        )
    raw = data.get("installers")

    def text(value: object) -> str | None:
        return str(value) if value else None

    installers = tuple(
        Installer(
            path=str(i["path"]),
            label=str(i["label"]),
            major=int(i["major"]),
            minor=int(i["minor"]),
            size=int(i["size"]),
            agent_version=text(i.get("agent_version")),
            technology=str(i.get("technology") or "unknown"),
            evidence=tuple(str(e) for e in i.get("evidence") or ()),
            version_source=text(i.get("version_source")),
            product_name=text(i.get("product_name")),
            company_name=text(i.get("company_name")),
        )
        for i in (raw if isinstance(raw, list) else [])
    )
    return PackageInfo(
        path=path,
        sha256=str(data["sha256"]),
        size=size,
        installers=installers,
        has_settings=bool(data.get("has_settings")),
    )
