"""The simulated Windows host: state only, no protocol code (moto-style).

A WindowsHost is built from a YAML profile and can be reset to it. The WinRM
protocol layer (wsman.py, server.py) asks it to run commands through
dispatch.py; nothing here knows about HTTP or SOAP.

The model answers what Windows would answer: registry values (both views),
files and drives, services, installed products, and what the network looks
like from the host (DNS, firewall, TLS, proxy). It never opens a real
connection: a network probe is answered from the host's network policy.

Profiles stay short because they describe a server at a high level
(``dotnet_release``, ``sage: {version, products}``, ``agent``, ``mae``...)
and the model derives the registry keys and files Windows would hold; the
low-level ``registry:`` and ``files:`` sections override or add to that.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import datetime as dt
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, NoReturn

import yaml
from cryptography import x509

from sagefleet import agent_profile, catalog
from sagefleet.errors import SagefleetError
from sagefleet.package import installer_version
from sagefleet.sim import vendor_layout
from sagefleet.sim.certs import PKI, PUBLIC_INTERMEDIATES
from sagefleet.sim.events import EventRecord, scm_event
from sagefleet.sim.x509_models import CertStores, dotnet_time


class ProfileError(SagefleetError):
    """A simulator profile is missing or malformed."""


class ModelError(SagefleetError):
    """A Windows operation failed the way Windows fails it.

    Snippet models turn it into a PowerShell-style error (rc 1, the message on
    stderr), so the message is the text Windows would print.
    """


class PathNotFound(ModelError):
    """No such file, folder, drive or reachable network share."""


class DiskFull(ModelError):
    """The volume has not enough free space for the write (disk full)."""


class AccessDenied(ModelError):
    """The file's ACL does not let this account read it."""


class ServiceError(ModelError):
    """A service could not be found, started or stopped.

    ``reason`` is the Win32 error text alone (e.g. error 1069's), as the inner
    exception of ``ServiceController.Start()`` carries it; the message is the
    cmdlet's whole sentence.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class ServiceTimeout(ServiceError):
    """``ServiceController.WaitForStatus(state, timeout)`` gave up: the service is still pending."""


class ScriptHung(BaseException):  # noqa: N818 - named for what happened, as Windows shows it
    """The script waits for ever on Windows (a cmdlet polling a stuck service, a dialog).

    Not an ``Exception``: no model's own error handling may turn it into a
    reported failure, since on Windows the call never returns. The simulator
    holds the command ``WindowsHost.hang_limit_s`` seconds, then ends it with rc 1
    and this text (dispatch.run_snippet), so a test sees the hang and stops.
    """


#: System.ServiceProcess.TimeoutException's message (WaitForStatus with a timeout).
WAIT_TIMEOUT = "Time out has expired and the operation has not been completed."
#: Win32 error 1069 (ERROR_SERVICE_LOGON_FAILED).
LOGON_FAILURE = "The service did not start due to a logon failure."
#: Accounts that always hold SeServiceLogonRight (and the names they go by).
BUILTIN_SERVICE_ACCOUNTS = frozenset(
    {
        "localsystem",
        ".\\localsystem",
        "nt authority\\system",
        "system",
        "nt authority\\localservice",
        "nt authority\\local service",
        "nt authority\\networkservice",
        "nt authority\\network service",
    }
)


class SharingViolation(ModelError):
    """Another process holds the file open (ERROR_SHARING_VIOLATION, an IOException)."""


# -- registry -----------------------------------------------------------------

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
        parts = self.physical(path, view).split("\\")
        for end in range(1, len(parts) + 1):
            sub = "\\".join(parts[:end])
            self._keys.setdefault(sub.lower(), _RegistryKey(sub))

    def set(
        self, path: str, name: str, data: Any, kind: str | None = None, view: str = "64"
    ) -> None:
        """Write a value (creating the key), typed from ``data`` unless ``kind`` says."""
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
        key = self._find(path, view)
        if key is not None:
            key.values.pop(name.lower(), None)

    def delete_key(self, path: str, view: str = "64") -> None:
        """Remove a key and its subkeys (Remove-Item -Recurse)."""
        lower = self.physical(path, view).lower()
        for candidate in [k for k in self._keys if k == lower or k.startswith(lower + "\\")]:
            del self._keys[candidate]


# -- accounts and ACLs ----------------------------------------------------------

#: Well-known SIDs (Microsoft Learn, "Well-known SIDs"): the same on every Windows.
ADMINISTRATORS = "S-1-5-32-544"
USERS = "S-1-5-32-545"
SYSTEM = "S-1-5-18"
LOCAL_SERVICE = "S-1-5-19"
NETWORK_SERVICE = "S-1-5-20"
EVERYONE = "S-1-1-0"
AUTHENTICATED_USERS = "S-1-5-11"
CREATOR_OWNER = "S-1-3-0"
TRUSTED_INSTALLER = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
#: Principals that stand for "any local user": none may read or write a private folder.
BROAD_PRINCIPALS = (USERS, EVERYONE, AUTHENTICATED_USERS)

UI_LANGUAGES = ("en-US", "fr-FR")
#: The names Windows gives the built-in principals, in the UI language it was installed in.
WELL_KNOWN_NAMES: dict[str, dict[str, str]] = {
    ADMINISTRATORS: {"en-US": "BUILTIN\\Administrators", "fr-FR": "BUILTIN\\Administrateurs"},
    USERS: {"en-US": "BUILTIN\\Users", "fr-FR": "BUILTIN\\Utilisateurs"},
    SYSTEM: {"en-US": "NT AUTHORITY\\SYSTEM", "fr-FR": "AUTORITE NT\\Système"},
    LOCAL_SERVICE: {"en-US": "NT AUTHORITY\\LOCAL SERVICE", "fr-FR": "AUTORITE NT\\SERVICE LOCAL"},
    NETWORK_SERVICE: {
        "en-US": "NT AUTHORITY\\NETWORK SERVICE",
        "fr-FR": "AUTORITE NT\\SERVICE RÉSEAU",
    },
    EVERYONE: {"en-US": "Everyone", "fr-FR": "Tout le monde"},
    AUTHENTICATED_USERS: {
        "en-US": "NT AUTHORITY\\Authenticated Users",
        "fr-FR": "AUTORITE NT\\Utilisateurs authentifiés",
    },
    CREATOR_OWNER: {"en-US": "CREATOR OWNER", "fr-FR": "CREATEUR PROPRIETAIRE"},
    TRUSTED_INSTALLER: {
        "en-US": "NT SERVICE\\TrustedInstaller",
        "fr-FR": "NT SERVICE\\TrustedInstaller",
    },
}
#: Authorities whose accounts the model knows only by the well-known names above.
_BUILTIN_AUTHORITIES = {"builtin", "nt authority", "autorite nt"}
#: Service logon pseudo-names (Win32_Service.StartName) that NTAccount cannot translate.
SERVICE_PSEUDO_NAMES = {
    "localsystem": SYSTEM,
    ".\\localsystem": SYSTEM,
    "nt authority\\localsystem": SYSTEM,
    "localservice": LOCAL_SERVICE,
    "nt authority\\localservice": LOCAL_SERVICE,
    "networkservice": NETWORK_SERVICE,
    "nt authority\\networkservice": NETWORK_SERVICE,
}
_SID_RE = re.compile(r"^S-1-\d+(?:-\d+)+$", re.I)
#: .NET's IdentityNotMappedException message, as PowerShell prints the failed call.
NOT_MAPPED = (
    'Exception calling "Translate" with "1" argument(s): '
    '"Some or all identity references could not be translated."'
)


class IdentityNotMapped(ModelError):
    """NTAccount.Translate could not map a name to a SID (IdentityNotMappedException)."""


def _rid(text: str) -> str:
    """Three made-up sub-authorities, stable for a name (the model has no account database)."""
    digest = hashlib.sha256(text.lower().encode("utf-8")).digest()
    return "-".join(str(int.from_bytes(digest[i : i + 4], "big")) for i in (0, 4, 8))


def is_sid(text: str) -> bool:
    return _SID_RE.match(text.strip()) is not None


@dataclass(frozen=True)
class Ace:
    """One allow entry of a DACL (the model has no deny entries).

    ``rights``: FullControl, Modify, ReadAndExecute, Read, or CreateFiles (create
    files / write data and create folders / append data, what ProgramData grants
    Users). ``files``/``folders``: inherited by files (object inherit) and by
    subfolders (container inherit); ``inherit_only``: not applied to the object itself.
    """

    sid: str
    rights: str
    files: bool = False
    folders: bool = False
    inherit_only: bool = False
    inherited: bool = False

    def reads(self) -> bool:
        return not self.inherit_only and self.rights in _READ_RIGHTS

    def writes(self) -> bool:
        return not self.inherit_only and self.rights in _WRITE_RIGHTS


_READ_RIGHTS = {"FullControl", "Modify", "ReadAndExecute", "Read"}
_WRITE_RIGHTS = {"FullControl", "Modify", "CreateFiles", "Write"}
ACE_RIGHTS = tuple(sorted(_READ_RIGHTS | _WRITE_RIGHTS))


@dataclass
class Acl:
    """A security descriptor as the model holds it: owner SID, allow entries, protection.

    A protected DACL (inheritance off) is exactly ``aces``; an unprotected one is
    ``aces`` plus what the parent folder passes down (``FileSystem.acl_of``).
    """

    owner: str
    aces: list[Ace] = field(default_factory=list)
    protected: bool = True

    @classmethod
    def private(
        cls,
        owner: str,
        full_control: Iterable[str] = (),
        read: Iterable[str] = (),
        folder: bool = False,
    ) -> Acl:
        """Protected: only these SIDs, nothing inherited (what our snippets set); a
        folder's entries pass on to its files and subfolders."""
        aces = [Ace(sid, "FullControl", folder, folder) for sid in full_control]
        aces += [Ace(sid, "Read", folder, folder) for sid in read]
        return cls(owner, aces, protected=True)

    def may_read(self, sid: str) -> bool:
        return any(a.sid.upper() == sid.upper() and a.reads() for a in self.aces)

    def may_write(self, sid: str) -> bool:
        return any(a.sid.upper() == sid.upper() and a.writes() for a in self.aces)

    def allows(self, sid: str) -> bool:
        """Whether ``sid`` may read the file."""
        return self.may_read(sid)

    @property
    def readers(self) -> list[str]:
        """SIDs allowed to read, in the DACL's order, each once."""
        found: list[str] = []
        for ace in self.aces:
            if ace.reads() and ace.sid not in found:
                found.append(ace.sid)
        return found


def private_folder_acl() -> Acl:
    """What the prelude's Confirm-SfPrivateFolder creates a folder with: SYSTEM and
    Administrators full control, passed on to everything inside, owner Administrators."""
    return Acl.private(ADMINISTRATORS, [SYSTEM, ADMINISTRATORS], folder=True)


def _folder_acl(owner: str, *aces: Ace) -> Acl:
    return Acl(owner, list(aces), protected=True)


def _tree(sid: str, rights: str) -> Ace:
    return Ace(sid, rights, files=True, folders=True)


#: Default DACLs of a Windows Server 2019 system drive (what `icacls` shows).
DEFAULT_ACLS: dict[str, Acl] = {
    "C:\\": _folder_acl(
        TRUSTED_INSTALLER,
        _tree(SYSTEM, "FullControl"),
        _tree(ADMINISTRATORS, "FullControl"),
        _tree(USERS, "ReadAndExecute"),
        Ace(USERS, "CreateFiles", folders=True),
        Ace(CREATOR_OWNER, "FullControl", files=True, folders=True, inherit_only=True),
    ),
    # Users may read everything and create files and folders (this folder and
    # subfolders); the creator owns what it creates (CREATOR OWNER: full control).
    "C:\\ProgramData": _folder_acl(
        SYSTEM,
        _tree(SYSTEM, "FullControl"),
        _tree(ADMINISTRATORS, "FullControl"),
        Ace(CREATOR_OWNER, "FullControl", files=True, folders=True, inherit_only=True),
        _tree(USERS, "ReadAndExecute"),
        Ace(USERS, "CreateFiles", folders=True),
    ),
}
for _protected in ("C:\\Program Files", "C:\\Program Files (x86)", "C:\\Windows"):
    DEFAULT_ACLS[_protected] = _folder_acl(
        TRUSTED_INSTALLER,
        _tree(TRUSTED_INSTALLER, "FullControl"),
        _tree(SYSTEM, "FullControl"),
        _tree(ADMINISTRATORS, "FullControl"),
        _tree(USERS, "ReadAndExecute"),
        Ace(CREATOR_OWNER, "FullControl", files=True, folders=True, inherit_only=True),
    )
#: Who owns what our code creates: an elevated administrator's objects belong to
#: BUILTIN\Administrators (the default of "System objects: Default owner for objects
#: created by members of the Administrators group").
CREATOR = ADMINISTRATORS


# -- file system ---------------------------------------------------------------

DRIVE_TYPES = ("fixed", "network", "removable", "cdrom")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?\s*$", re.I)
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_size(value: Any, where: str) -> int:
    """Bytes from ``123``, ``"50 MB"`` or ``"127 GB"`` (binary units, as Explorer shows)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE_RE.match(str(value))
    if not match:
        raise ProfileError(f"{where}: size {value!r} is not a number of bytes or '<n> MB|GB|TB'")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "B").upper()])


@dataclass
class Volume:
    """Capacity of a local drive or a network share."""

    size_bytes: int
    free_bytes: int


@dataclass
class Drive:
    """A drive letter as Win32_LogicalDisk lists it."""

    letter: str  # "C:"
    drive_type: str = "fixed"
    volume: Volume = field(default_factory=lambda: Volume(127 * 1024**3, 80 * 1024**3))
    provider: str | None = None  # UNC root of a mapped network drive


@dataclass
class Share:
    """A network share the host can (or cannot) reach by its UNC path."""

    unc: str  # \\server\share
    volume: Volume = field(default_factory=lambda: Volume(500 * 1024**3, 200 * 1024**3))
    reachable: bool = True


@dataclass
class FileEntry:
    """A file or folder; a big file may carry a size and no bytes."""

    path: str
    is_dir: bool = False
    data: bytes | None = None
    size: int = 0
    product_version: str | None = None
    file_version: str | None = None
    acl: Acl | None = None
    modified: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # FILE_ATTRIBUTE_READONLY: DeleteFile (File.Delete, Directory.Delete) refuses the file.
    readonly: bool = False
    # The process holding the file open without FILE_SHARE_DELETE (a running agent's log):
    # no delete or rename succeeds while it does.
    open_by: str | None = None


#: Whether the command running in this thread holds credentials for other machines. A
#: WinRM session (NTLM, or Kerberos without delegation) does not: the second hop ("Making
#: the second hop in PowerShell Remoting"). Outside a command (profile build, tests) it does.
_NETWORK_CREDENTIALS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sagefleet_network_credentials", default=True
)


@contextlib.contextmanager
def logon_session(network_credentials: bool) -> Iterator[None]:
    """Run a command in a logon session with (or without) credentials for other machines."""
    token = _NETWORK_CREDENTIALS.set(network_credentials)
    try:
        yield
    finally:
        _NETWORK_CREDENTIALS.reset(token)


def has_network_credentials() -> bool:
    return _NETWORK_CREDENTIALS.get()


def _win_path(path: str) -> str:
    text = path.replace("/", "\\")
    if text.startswith("\\\\"):
        return "\\\\" + "\\".join(p for p in text[2:].split("\\") if p)
    parts = [p for p in text.split("\\") if p]
    if not parts or not re.fullmatch(r"[A-Za-z]:", parts[0]):
        raise PathNotFound(f"Cannot find path '{path}' because it is not an absolute path.")
    parts[0] = parts[0].upper()
    return "\\".join(parts) if len(parts) > 1 else parts[0] + "\\"


def _check_deletable(entry: FileEntry, force: bool) -> None:
    if entry.is_dir:
        return
    if entry.open_by:
        raise SharingViolation(
            f"The process cannot access the file '{entry.path}' because it is being used by "
            "another process."
        )
    if entry.readonly and not force:
        raise AccessDenied(f"Access to the path '{entry.path}' is denied.")


def _is_root(path: str) -> bool:
    """A drive root (``C:\\``) or a share root (``\\\\server\\share``)."""
    if re.fullmatch(r"[A-Za-z]:\\", path):
        return True
    return path.startswith("\\\\") and path[2:].count("\\") <= 1


def _parent(path: str) -> str | None:
    if _is_root(path):
        return None
    head = path.rpartition("\\")[0]
    return head + "\\" if re.fullmatch(r"[A-Za-z]:", head) else head


class FileSystem:
    """Drives, network shares, folders and files of one host.

    Paths are Windows paths, case-insensitive. A mapped drive letter resolves
    to its share, so ``S:\\x`` and ``\\\\fs01\\sage\\x`` are the same file.
    Writes respect the volume's free space.
    """

    def __init__(self) -> None:
        self.drives: dict[str, Drive] = {}
        self.shares: dict[str, Share] = {}
        self.entries: dict[str, FileEntry] = {}
        # DACLs of drive and share roots set at run time (default: DEFAULT_ACLS["C:\\"]).
        self.root_acls: dict[str, Acl] = {}

    # resolution
    def resolve(self, path: str) -> str:
        """The physical path: mapped drive letters replaced by their UNC root."""
        text = _win_path(path)
        drive = self.drives.get(text[:2].upper())
        if drive is not None and drive.provider:
            rest = text[3:]
            return _win_path(drive.provider + ("\\" + rest if rest else ""))
        return text

    def _share_of(self, physical: str) -> Share | None:
        parts = physical[2:].split("\\")
        if len(parts) < 2:
            return None
        return self.shares.get(f"\\\\{parts[0]}\\{parts[1]}".lower())

    def volume(self, path: str) -> Volume:
        """The volume holding ``path``; PathNotFound when the drive or share is not there."""
        physical = self.resolve(path)
        if physical.startswith("\\\\"):
            share = self._share_of(physical)
            if share is None or not share.reachable:
                raise PathNotFound("The network path was not found.")
            if not _NETWORK_CREDENTIALS.get():
                # The share sees an anonymous caller: SMB refuses it.
                raise AccessDenied("Access is denied.")
            return share.volume
        drive = self.drives.get(physical[:2])
        if drive is None:
            raise PathNotFound(
                f"Cannot find drive. A drive with the name '{physical[0]}' does not exist."
            )
        return drive.volume

    # queries
    def exists(self, path: str) -> bool:
        try:
            physical = self.resolve(path)
            self.volume(physical)
        except (PathNotFound, AccessDenied):
            return False  # Test-Path and File.Exists answer false, whatever the reason
        return _is_root(physical) or physical.lower() in self.entries

    def is_dir(self, path: str) -> bool:
        try:
            physical = self.resolve(path)
            self.volume(physical)
        except (PathNotFound, AccessDenied):
            return False
        entry = self.entries.get(physical.lower())
        return _is_root(physical) or (entry is not None and entry.is_dir)

    def is_file(self, path: str) -> bool:
        return self.exists(path) and not self.is_dir(path)

    def stat(self, path: str) -> FileEntry:
        physical = self.resolve(path)
        self.volume(physical)
        entry = self.entries.get(physical.lower())
        if entry is None:
            raise PathNotFound(f"Could not find file '{path}'.")
        return entry

    def listdir(self, path: str) -> list[str]:
        if not self.is_dir(path):
            raise PathNotFound(f"Could not find a part of the path '{path}'.")
        folder = self.resolve(path).lower()
        names = [
            e.path.rsplit("\\", 1)[-1]
            for e in self.entries.values()
            if (_parent(e.path) or "").lower() == folder
        ]
        return sorted(names, key=str.lower)

    def read(self, path: str, account: str | None = None) -> bytes:
        """The file's bytes; AccessDenied when its DACL does not let SID ``account`` read."""
        entry = self.stat(path)
        if entry.is_dir:
            raise AccessDenied(f"Access to the path '{path}' is denied.")
        if account is not None and not self.acl_of(entry.path).allows(account):
            raise AccessDenied(f"Access to the path '{path}' is denied.")
        if entry.data is None:
            raise ModelError(f"the simulator holds only the size of '{path}', not its content")
        return entry.data

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read(path).decode(encoding, errors="replace")

    def sha256(self, path: str) -> str:
        return hashlib.sha256(self.read(path)).hexdigest().upper()

    def free_bytes(self, path: str) -> int:
        return self.volume(path).free_bytes

    # changes
    def mkdir(self, path: str, acl: Acl | None = None) -> None:
        """Create a folder and its parents (New-Item -ItemType Directory -Force).

        Without ``acl`` each new folder inherits from its parent and is owned by its
        creator; with one, every folder created gets it, as
        ``Directory.CreateDirectory(path, DirectorySecurity)`` does. Existing folders
        keep theirs.
        """
        physical = self.resolve(path)
        self.volume(physical)
        chain: list[str] = []
        current: str | None = physical
        while current is not None and not _is_root(current):
            chain.append(current)
            current = _parent(current)
        for folder in reversed(chain):
            entry = self.entries.get(folder.lower())
            if entry is None:
                self.entries[folder.lower()] = FileEntry(
                    folder, is_dir=True, acl=copy.deepcopy(acl) if acl is not None else None
                )
            elif not entry.is_dir:
                raise ModelError(f"An item with the specified name {folder} already exists.")

    def write(
        self,
        path: str,
        data: bytes | None = None,
        *,
        size: int | None = None,
        acl: Acl | None = None,
        product_version: str | None = None,
        file_version: str | None = None,
        reserve_space: bool = True,
    ) -> FileEntry:
        """Create or replace a file; the folder must exist, the volume must have room."""
        physical = self.resolve(path)
        volume = self.volume(physical)
        parent = _parent(physical)
        if parent is not None and not self.is_dir(parent):
            raise PathNotFound(f"Could not find a part of the path '{path}'.")
        new_size = len(data) if data is not None else int(size or 0)
        old = self.entries.get(physical.lower())
        if old is not None and (old.is_dir or old.readonly):
            raise AccessDenied(f"Access to the path '{path}' is denied.")
        if old is not None and old.open_by:
            _check_deletable(old, force=True)
        if reserve_space:
            delta = new_size - (old.size if old else 0)
            if delta > volume.free_bytes:
                raise DiskFull(
                    f"There is not enough space on the disk (disk full): writing '{path}' "
                    f"needs {delta} bytes, {volume.free_bytes} bytes free."
                )
            volume.free_bytes -= delta
        entry = FileEntry(
            physical,
            data=data,
            size=new_size,
            product_version=product_version,
            file_version=file_version,
            acl=acl if acl is not None else (old.acl if old else None),
        )
        self.entries[physical.lower()] = entry
        return entry

    def delete(self, path: str, *, force: bool = False) -> None:
        """Remove a file, or a folder with everything in it, or nothing.

        A file another process holds open refuses any delete; a read-only one
        refuses DeleteFile (File.Delete) unless ``force`` (Remove-Item -Force
        clears the attribute first).
        """
        entry = self.stat(path)
        volume = self.volume(entry.path)
        prefix = entry.path.lower() + "\\"
        keys = [k for k in self.entries if k == entry.path.lower() or k.startswith(prefix)]
        for key in sorted(keys):
            _check_deletable(self.entries[key], force)
        for key in keys:
            removed = self.entries.pop(key)
            if not removed.is_dir:
                volume.free_bytes += removed.size

    def delete_tree(self, path: str) -> None:
        """[IO.Directory]::Delete(path, $true) as .NET Framework 4.x does it.

        Every file and folder that can go goes; a read-only file
        (UnauthorizedAccessException) or one held open (IOException) stays with
        the folders above it, and the first such error is raised at the end.
        """
        entry = self.stat(path)
        if not entry.is_dir:
            raise ModelError(f"The directory name is invalid. : '{path}'")
        volume = self.volume(entry.path)
        prefix = entry.path.lower() + "\\"
        keys = sorted(k for k in self.entries if k == entry.path.lower() or k.startswith(prefix))
        first: ModelError | None = None
        kept: set[str] = set()
        for key in keys:
            item = self.entries[key]
            if item.is_dir:
                continue
            try:
                _check_deletable(item, force=False)
            except ModelError as exc:
                first = first or exc
                parent = _parent(key)
                while parent is not None and parent != _parent(entry.path.lower()):
                    kept.add(parent.lower())
                    parent = _parent(parent)
                continue
            self.entries.pop(key)
            volume.free_bytes += item.size
        for key in keys:
            if self.entries.get(key) is not None and self.entries[key].is_dir and key not in kept:
                self.entries.pop(key)
        if first is not None:
            raise first

    def set_attributes(
        self, path: str, *, readonly: bool | None = None, open_by: str | None = ""
    ) -> None:
        """Set or clear ReadOnly, or mark the file held open by a process (None: closed)."""
        entry = self.stat(path)
        if readonly is not None:
            entry.readonly = readonly
        if open_by != "":
            entry.open_by = open_by

    def rename(self, source: str, target: str, replace: bool = True) -> None:
        """Move a file in one step ([IO.File]::Replace / Move-Item -Force): no half state."""
        entry = self.stat(source)
        if entry.is_dir:
            raise ModelError("the simulator only renames files")
        _check_deletable(entry, force=True)
        target_physical = self.resolve(target)
        existing = self.entries.get(target_physical.lower())
        if existing is not None and not replace:
            raise ModelError(f"Cannot create a file when that file already exists: '{target}'")
        source_volume = self.volume(entry.path)
        target_volume = self.volume(target_physical)
        parent = _parent(target_physical)
        if parent is not None and not self.is_dir(parent):
            raise PathNotFound(f"Could not find a part of the path '{target}'.")
        if target_volume is not source_volume:
            if entry.size > target_volume.free_bytes:
                raise DiskFull(f"There is not enough space on the disk (disk full): '{target}'")
            target_volume.free_bytes -= entry.size
            source_volume.free_bytes += entry.size
        if existing is not None:
            target_volume.free_bytes += existing.size
        # A move on one volume keeps the file's own DACL: what it inherited where it was
        # becomes its own (KB 310316).
        if entry.acl is None or not entry.acl.protected:
            entry.acl = self.acl_of(entry.path)
        del self.entries[entry.path.lower()]
        entry.path = target_physical
        entry.modified = dt.datetime.now(dt.UTC)
        self.entries[target_physical.lower()] = entry

    def set_acl(self, path: str, acl: Acl) -> None:
        """SetAccessControl: the object's own owner, entries and protection."""
        physical = self.resolve(path)
        if _is_root(physical):
            self.root_acls[physical.lower()] = acl
            return
        self.stat(path).acl = acl

    def copy(self, source: str, target: str) -> FileEntry:
        """Copy-Item of one file: a new file whose DACL is inherited from the destination
        folder, not the source's (CopyFile semantics, KB 310316), owned by its creator."""
        entry = self.stat(source)
        if entry.is_dir:
            raise ModelError("FileSystem.copy copies files; create folders with mkdir")
        target_physical = self.resolve(target)
        old = self.entries.get(target_physical.lower())
        if old is not None and old.is_dir:
            raise AccessDenied(f"Access to the path '{target}' is denied.")
        new = self.write(
            target,
            entry.data,
            size=None if entry.data is not None else entry.size,
            product_version=entry.product_version,
            file_version=entry.file_version,
        )
        new.acl = None
        return new

    def own_acl(self, path: str) -> Acl:
        """The object's own descriptor: explicit entries; None stored means inherit all."""
        physical = self.resolve(path)
        if _is_root(physical):
            found = self.root_acls.get(physical.lower())
            return copy.deepcopy(found or DEFAULT_ACLS["C:\\"])
        entry = self.stat(physical)
        if entry.acl is not None:
            return copy.deepcopy(entry.acl)
        return Acl(CREATOR, [], protected=False)

    def acl_of(self, path: str) -> Acl:
        """The effective DACL (Get-Acl): own entries, then what the parents pass down."""
        physical = self.resolve(path)
        own = self.own_acl(physical)
        parent = _parent(physical)
        if own.protected or parent is None:
            return own
        is_dir = self.is_dir(physical)
        passed: list[Ace] = []
        for ace in self.acl_of(parent).aces:
            creator = ace.sid == CREATOR_OWNER
            if is_dir and ace.folders:
                if creator:
                    passed.append(Ace(own.owner, ace.rights, inherited=True))
                passed.append(dataclasses.replace(ace, inherit_only=creator, inherited=True))
            elif is_dir and ace.files:
                passed.append(dataclasses.replace(ace, inherit_only=True, inherited=True))
            elif not is_dir and ace.files:
                passed.append(Ace(own.owner if creator else ace.sid, ace.rights, inherited=True))
        return Acl(own.owner, [*own.aces, *passed], protected=False)


# -- services -----------------------------------------------------------------

SERVICE_STATES = ("Running", "Stopped", "StartPending", "StopPending")
START_MODES = ("Auto", "Manual", "Disabled")
# Win32_Service.State spells the pending states with a space.
WMI_STATES = {"StartPending": "Start Pending", "StopPending": "Stop Pending"}


@dataclass
class Service:
    """A Windows service as the Service Control Manager holds it."""

    name: str
    display_name: str = ""
    state: str = "Stopped"
    start_mode: str = "Auto"
    account: str = "LocalSystem"
    binary_path: str = ""
    version: str | None = None
    start_seconds: float = 0.0
    stop_seconds: float = 0.0
    # When set, start (or stop) fails with this message, as `Start-Service` would.
    start_failure: str | None = None
    stop_failure: str | None = None
    # "StopPending" or "StartPending": a stop (start) request leaves the service in that
    # state for ever, until its process is killed (a service that hangs in OnStop).
    stuck: str | None = None
    # Win32_Service.ProcessId: the process while the service is not Stopped, else 0.
    process_id: int = 0
    # The account the running process was started as: Win32_Service.Change changes
    # the configuration (``account``), not a process already running.
    process_account: str | None = None
    # When the service's process started (host clock, UTC): Process.StartTime.
    process_started: dt.datetime | None = None
    # Win32_Service.ServiceType: "Own Process", or "Share Process" for a service hosted
    # in a svchost.exe with others (killing that process would stop them all).
    service_type: str = "Own Process"

    @property
    def wmi_state(self) -> str:
        return WMI_STATES.get(self.state, self.state)

    @property
    def executable(self) -> str:
        """The program of ``binary_path`` (PathName without quotes and arguments)."""
        text = self.binary_path.strip()
        if text.startswith('"'):
            return text[1:].split('"', 1)[0]
        match = re.match(r"(?i)^(.*?\.exe)(?:\s|$)", text)
        return match.group(1) if match else text


SQL_LOGIN_RESULTS = ("ok", "failed")


@dataclass
class AgentBehaviour:
    """How the simulated agent program behaves once its service runs (sim/agent_runtime.py).

    Durations are simulated seconds (scaled by the host's ``time_scale``, as service
    starts are): ``connect_after_s`` from the process start to its connections;
    with ``sql_login: failed`` the agent stops polling ``stop_after_s`` after start.
    ``log``: whether it writes the simulator's stand-in log (``<folder>\\logs``).
    """

    connect_after_s: float = 3.0
    sql_login: str = "ok"
    stop_after_s: float = 60.0
    log: bool = True


# -- network policy -------------------------------------------------------------

#: The agent's outbound endpoints (Chift local-agent documentation), 80 and 443.
DEFAULT_ENDPOINTS = ("s3.eu-west-3.amazonaws.com", "sqs.eu-west-3.amazonaws.com", "api.chift.eu")
TLS_PROTOCOLS = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
TCP_RESULTS = ("ok", "refused", "timeout", "unreachable")
DNS_STATUSES = ("ok", "nxdomain", "servfail", "timeout")

# Addresses are only strings in answers (documentation ranges): nothing is ever dialled.
_DEFAULT_DNS = {
    "s3.eu-west-3.amazonaws.com": ("198.51.100.10",),
    "sqs.eu-west-3.amazonaws.com": ("198.51.100.20",),
    "api.chift.eu": ("203.0.113.30",),
}
_DEFAULT_ISSUERS = {
    "s3.eu-west-3.amazonaws.com": "Amazon RSA 2048 M02",
    "sqs.eu-west-3.amazonaws.com": "Amazon RSA 2048 M02",
    "api.chift.eu": "Sectigo RSA Domain Validation Secure Server CA",
}
_DNS_ERRORS = {
    "nxdomain": "No such host is known",
    "servfail": (
        "This is usually a temporary error during hostname resolution and means that the "
        "local server did not receive a response from an authoritative server"
    ),
}


@dataclass(frozen=True)
class DnsRule:
    status: str = "ok"
    addresses: tuple[str, ...] = ()
    cname: str | None = None


@dataclass(frozen=True)
class TlsRule:
    """What a TLS server (or an intercepting proxy) presents.

    A public server presents a leaf for its name issued by ``issuer``, one of the
    simulated public intermediates (sim/certs.py: E5-E9, R10-R14, WE1, WR1, Amazon
    RSA 2048 M01-M04, Sectigo...), and that intermediate; a proxy (``proxy``) a leaf
    signed by its own CA named ``issuer``. ``not_after``: the leaf's end of validity
    (default: 60 days from now).
    """

    issuer: str
    subject: str | None = None
    protocols: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
    not_after: dt.datetime | None = None
    proxy: bool = False

    def chain(self, name: str) -> tuple[x509.Certificate, ...]:
        """The certificates the server sends for ``name``, leaf first."""
        leaf_name = self.subject or name
        if self.proxy:
            return PKI.proxy_chain(leaf_name, self.issuer)
        return PKI.public_chain(leaf_name, self.issuer, self.not_after)


@dataclass(frozen=True)
class DnsAnswer:
    status: str
    addresses: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class TcpAnswer:
    ok: bool
    elapsed_ms: int | None
    error: str | None  # refused / timeout / unreachable / dns


@dataclass(frozen=True)
class TlsAnswer:
    ok: bool
    protocol: str | None = None
    issuer: str | None = None
    subject: str | None = None
    not_after: str | None = None
    error: str | None = None
    # What the server sent, leaf first (empty when the handshake failed).
    chain: tuple[x509.Certificate, ...] = ()


_INHERIT: Any = object()


@dataclass
class AccountNetwork:
    """What differs for one account's traffic (profile ``network.accounts``)."""

    dns: dict[str, DnsRule] = field(default_factory=dict)
    tcp: dict[str, str] = field(default_factory=dict)
    default_tcp: str | None = None
    # A TlsRule, None (no inspection for this account), or _INHERIT (the host's).
    intercept: Any = _INHERIT


@dataclass
class NetworkPolicy:
    """The network as the host sees it: DNS answers, firewall verdicts, TLS servers."""

    dns: dict[str, DnsRule] = field(default_factory=dict)
    tcp: dict[str, str] = field(default_factory=dict)  # "name:port" -> ok/refused/...
    default_tcp: str = "timeout"  # a default-deny firewall drops silently
    tls: dict[str, TlsRule] = field(default_factory=dict)  # "name" (port 443) or "name:port"
    intercept: TlsRule | None = None
    intercept_except: set[str] = field(default_factory=set)
    latency_ms: dict[str, int] = field(default_factory=dict)  # "name" or "name:port"
    default_latency_ms: int = 20
    winhttp_proxy: str | None = None
    winhttp_bypass: str | None = None
    # The network as one account's traffic meets it, where it differs from what the
    # WinRM account sees (SID -> overrides): an egress firewall or proxy that knows who
    # connects (identity-aware filtering, per-service rules), DNS, TLS inspection.
    accounts: dict[str, AccountNetwork] = field(default_factory=dict)

    def for_account(self, sid: str | None) -> NetworkPolicy:
        """The policy one account's traffic meets (this one, with its overrides)."""
        override = self.accounts.get((sid or "").upper())
        if override is None:
            return self
        return dataclasses.replace(
            self,
            dns={**self.dns, **override.dns},
            tcp={**self.tcp, **override.tcp},
            default_tcp=override.default_tcp or self.default_tcp,
            intercept=self.intercept if override.intercept is _INHERIT else override.intercept,
            accounts={},
        )

    def resolve(self, name: str, timeout_ms: int = 2000) -> DnsAnswer:
        """What [System.Net.Dns]::GetHostAddresses would return, following CNAMEs."""
        chain: list[str] = []
        current = name.lower().rstrip(".")
        for _ in range(10):
            rule = self.dns.get(current)
            if rule is None:
                return DnsAnswer(
                    "nxdomain", cname_chain=tuple(chain), error=_DNS_ERRORS["nxdomain"]
                )
            if rule.cname:
                chain.append(rule.cname)
                current = rule.cname.lower()
                continue
            if rule.status == "ok":
                return DnsAnswer("ok", rule.addresses, tuple(chain))
            if rule.status == "timeout":
                error = f"timed out after {timeout_ms} ms"
                return DnsAnswer("timeout", cname_chain=tuple(chain), error=error)
            return DnsAnswer(rule.status, cname_chain=tuple(chain), error=_DNS_ERRORS[rule.status])
        return DnsAnswer("servfail", tuple(), tuple(chain), _DNS_ERRORS["servfail"])

    def latency(self, name: str, port: int) -> int:
        key = name.lower()
        return self.latency_ms.get(
            f"{key}:{port}", self.latency_ms.get(key, self.default_latency_ms)
        )

    def connect(self, name: str, port: int, timeout_ms: int = 2000) -> TcpAnswer:
        """A TCP connect from the host: the firewall's verdict and how long it took."""
        if self.resolve(name, timeout_ms).status != "ok":
            return TcpAnswer(False, None, "dns")
        verdict = self.tcp.get(f"{name.lower()}:{port}", self.default_tcp)
        latency = self.latency(name, port)
        if verdict == "ok":
            if latency > timeout_ms:
                return TcpAnswer(False, timeout_ms, "timeout")
            return TcpAnswer(True, latency, None)
        if verdict == "timeout":
            return TcpAnswer(False, timeout_ms, "timeout")
        return TcpAnswer(False, min(latency, timeout_ms), verdict)

    def handshake(
        self, name: str, port: int, client_protocols: Iterable[str] = ("TLSv1.2",)
    ) -> TlsAnswer:
        """A TLS handshake after a successful connect, accepting any certificate."""
        offered = [p for p in client_protocols if p in TLS_PROTOCOLS]
        lower = name.lower()
        rule: TlsRule | None
        if port == 443 and self.intercept is not None and lower not in self.intercept_except:
            rule = TlsRule(
                issuer=self.intercept.issuer,
                subject=self.intercept.subject or name,
                protocols=self.intercept.protocols,
                proxy=True,
            )
        else:
            rule = self.tls.get(f"{lower}:{port}") or (self.tls.get(lower) if port == 443 else None)
        if rule is None:
            return TlsAnswer(
                False,
                error=(
                    "Authentication failed because the remote party has closed the "
                    "transport stream."
                ),
            )
        common = [p for p in TLS_PROTOCOLS if p in offered and p in rule.protocols]
        if not common:
            return TlsAnswer(
                False,
                error=(
                    "The client and server cannot communicate, because they do not possess "
                    "a common algorithm"
                ),
            )
        chain = rule.chain(name)
        leaf = chain[0]
        return TlsAnswer(
            True,
            common[-1],
            rule.issuer,
            rule.subject or name,
            dotnet_time(leaf.not_valid_after_utc),
            chain=chain,
        )


# -- Sage catalogue (what an installation leaves on disk and in the registry) --------

SAGE_PRODUCTS: dict[str, dict[str, str]] = {
    "comptabilite": {
        "key": "Comptabilité 100c",
        "folder": "iComptabilité",
        "exe": "Maestria.exe",
        "display": "Comptabilité",
    },
    "gestion_commerciale": {
        "key": "Gestion Commerciale 100c",
        "folder": "iGestion commerciale",
        "exe": "GecoMaes.exe",
        "display": "Gestion commerciale",
    },
    "moyens_de_paiement": {
        "key": "Moyens de paiement 100c",
        "folder": "iMoyens de paiement",
        "exe": "MopaMaes.exe",
        "display": "Moyens de paiement",
    },
}
#: Objets Métiers version that matches a Sage major version (the shipped catalog).
MATCHING_OM = {int(v["major"]): str(v["objets_metiers"]) for v in catalog.load("sage")["versions"]}
SAGE_ROOT = "C:\\Program Files (x86)\\Sage"


def sage_brand(major: int) -> str:
    """The brand Sage 100 (France) uninstall entries carry for a major version.

    "Sage 100c", renamed "Sage 100cloud" around v4-v5 (the model takes v4), then
    "Sage 100" from v10 (domain facts; the exact strings are not published).
    """
    return "Sage 100c" if major < 4 else ("Sage 100cloud" if major < 10 else "Sage 100")
OM_FOLDER = "C:\\Program Files (x86)\\Common Files\\Sage\\Objets métiers"
OM_DLL = OM_FOLDER + "\\objets100c.dll"
#: The Objets Métiers COM classes (class -> CLSID, ProgID), registered by the DLL under
#: HKLM\SOFTWARE\Classes\CLSID\{...}\InprocServer32 (32-bit view for a 32-bit DLL).
OM_CLASSES = {
    "Cpta": ("{309DE0FB-9FB8-4F4E-8295-CC60C60DAA33}", "Objets100c.Cpta.Stream.1"),
    "Cial": ("{ED0EC116-16B8-44CC-A68A-41BF6E15EB3F}", "Objets100c.Cial.Stream.1"),
}
CLSID_ROOT = "HKLM\\SOFTWARE\\Classes\\CLSID"
UNINSTALL = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
NDP_V4 = "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full"
NETFX = "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319"
#: NDP\v4\Full ``Version`` per ``Release`` (Microsoft's release table: 4.7.2, 4.8, 4.8.1).
NDP_VERSIONS = {
    461808: "4.7.03062",
    461814: "4.7.03062",
    528040: "4.8.03761",
    528049: "4.8.03761",
    528372: "4.8.04084",
    528449: "4.8.04161",
    533320: "4.8.09032",
    533325: "4.8.09032",
}
SCHANNEL_TLS12 = (
    "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL"
    "\\Protocols\\TLS 1.2\\Client"
)
AZURE_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows Azure"
FIPS_POLICY_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa\\FipsAlgorithmPolicy"
#: Marker of a Sage Partner Cloud VM (a guess: overridable in the facts snippet params).
SPC_MARKER_KEY = "HKLM\\SOFTWARE\\WOW6432Node\\Sage\\SPC"
#: Interactive user whose persistent drive mappings live under HKU (for mapped drives);
#: the WinRM account is that user too (its hive, HKU\\<SID>, is loaded in its sessions).
USER_SID = "S-1-5-21-1004336348-1177238915-682003330-1001"
#: A user's proxy settings (Internet Options, WinINET), under HKU\\<SID> or HKLM.
INTERNET_SETTINGS = "Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings"
#: Machine-wide proxy policy: ProxySettingsPerUser=0 makes every account use HKLM's settings.
PROXY_POLICY_KEY = (
    "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings"
)

#: ASSUMPTION: the agent's service name, display name and folder are not documented;
#: they come from the shipped agent profile so every front door agrees.
AGENT_SERVICE = str(agent_profile.default().service_name)
AGENT_FOLDER = agent_profile.default().install_dir
AGENT_DISPLAY_NAME = str(agent_profile.default().service_display_name)
AGENT_EXE = "SpendeskSageAgent.exe"
#: Inno Setup names its uninstall key ``<AppId>_is1`` (the installer type is a guess).
AGENT_UNINSTALL_KEY = f"{AGENT_DISPLAY_NAME}_is1"
#: ASSUMPTION: disk space an agent installation takes.
AGENT_INSTALL_BYTES = 60 * 1024**2


def _uninstall_key(name: str) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "sagefleet:" + name)).upper() + "}"


def _agent_uninstall_entry(registry: Registry, version: str, folder: str) -> None:
    key = f"{UNINSTALL}\\{AGENT_UNINSTALL_KEY}"
    for name, value in (
        ("DisplayName", AGENT_DISPLAY_NAME),
        ("DisplayVersion", version),
        ("InstallLocation", folder + "\\"),
        ("Publisher", "Spendesk"),
    ):
        registry.set(key, name, value, view="32")


def _log_argument(args: list[str]) -> str | None:
    """Where an installer's command line sends its log: Inno's ``/LOG=``, msiexec's ``/l*v``."""
    for index, arg in enumerate(args):
        if arg.upper().startswith("/LOG="):
            return arg.split("=", 1)[1].strip('"')
        if re.fullmatch(r"/l[iwearucmopvx+!*]*", arg, re.I) and index + 1 < len(args):
            return args[index + 1].strip('"')
    return None


def mae_text(server: str, creator: str = "<Administrateur>", kind: str = "SQL") -> bytes:
    """A .MAE pointer file as Sage writes it (INI-like, ANSI)."""
    text = f"[CBASE]\r\nServeurSQL={server}\r\nCreateur={creator}\r\nType={kind}\r\n"
    return text.encode("cp1252")


# -- the host -------------------------------------------------------------------


@dataclass
class WinRMService:
    """How the host's WinRM listener is configured (the part clients see)."""

    allow_basic: bool = True
    allow_unencrypted: bool = False
    # CredSSP or Kerberos delegation: the session holds credentials for other machines.
    # False (the default, as NTLM and plain Kerberos): shares and web servers that want
    # Windows authentication refuse the session (the second hop).
    delegation: bool = False


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
    edition: str = "onpremise"  # or "spc" (Sage Partner Cloud VM on Azure)
    domain: str | None = None  # None: WORKGROUP
    # $ExecutionContext.SessionState.LanguageMode of a WinRM session: FullLanguage, or
    # ConstrainedLanguage where an AppLocker/WDAC policy applies to it.
    language_mode: str = "FullLanguage"
    # The language Windows was installed in: it names the built-in principals.
    ui_language: str = "en-US"
    winrm: WinRMService = field(default_factory=WinRMService)
    registry: Registry = field(default_factory=Registry)
    fs: FileSystem = field(default_factory=FileSystem)
    services: dict[str, Service] = field(default_factory=dict)  # lower-case name -> service
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    # Real seconds slept per simulated second (service start/stop); 0 keeps tests fast.
    time_scale: float = 0.0
    # When set, the agent installer exits with this code and changes nothing.
    installer_failure: int | None = None
    installer_runs: list[dict[str, Any]] = field(default_factory=list)
    # SIDs the model made up for accounts it translated -> their names.
    accounts: dict[str, str] = field(default_factory=dict)
    # Every script the host was asked to run, for tests (name, params).
    journal: list[dict[str, Any]] = field(default_factory=list)
    # Bytes of stdin that carried scripts (the bootstrap's length line and script), so
    # tests can tell them from the data the scripts read.
    script_bytes: int = 0
    # Snippet name -> error text: that snippet fails as a PowerShell `throw` would.
    snippet_failures: dict[str, str] = field(default_factory=dict)
    # Event log records, oldest first (Get-WinEvent); the SCM adds its own (scm_event).
    events: list[EventRecord] = field(default_factory=list)
    # Test knob: name of a race point -> barrier every command reaching it waits at, so
    # two commands interleave there deterministically (e.g. "deploy_lock.stale").
    interleave: dict[str, threading.Barrier] = field(default_factory=dict)
    # Accounts holding "Log on as a service" (SeServiceLogonRight) besides the built-in
    # ones (BUILTIN_SERVICE_ACCOUNTS, NT SERVICE\\*); lower-case, ``.\\x`` as ``HOST\\x``.
    service_logon_right: set[str] = field(default_factory=set)
    # LocalMachine\AuthRoot and Root's own stores (the facts snippet's X509Chain reads them).
    cert_stores: CertStores = field(default_factory=CertStores)
    # Real seconds a script that Windows would leave waiting for ever is held before the
    # simulator ends it (rc 1, ScriptHung's text): the client sees it hang, then fail.
    hang_limit_s: float = 3.0
    # Whether the NetTCPIP module (Get-NetTCPConnection) exists: not on Server 2008 R2,
    # even with Windows Management Framework 5.1.
    nettcpip_module: bool = True
    agent_behaviour: AgentBehaviour = field(default_factory=AgentBehaviour)
    # Runtime of the simulated agent: process id -> log events already written.
    agent_log_written: dict[int, int] = field(default_factory=dict)
    next_pid: int = 4104
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

    def scm_event(self, event_id: int, service_name: str, **details: Any) -> EventRecord:
        """Log what the Service Control Manager logs about a service (by its display name)."""
        service = self.service(service_name)
        shown = (service.display_name or service.name) if service else service_name
        record = scm_event(event_id, shown, when=self.utc_now(), **details)
        with self.lock:
            self.events.append(record)
        return record

    def race_point(self, name: str, timeout_s: float = 10.0) -> int | None:
        """Where a command may be made to wait for another (``interleave`` knob).

        Returns the command's arrival index at the barrier (None without the
        knob, or when the other command never came).
        """
        barrier = self.interleave.get(name)
        if barrier is None:
            return None
        try:
            return barrier.wait(timeout_s)
        except threading.BrokenBarrierError:
            return None

    def sleep(self, seconds: float) -> None:
        """Let simulated time pass (scaled by ``time_scale``; instant by default)."""
        if seconds > 0 and self.time_scale > 0:
            time.sleep(seconds * self.time_scale)

    # accounts
    def account_name(self, sid: str) -> str:
        """What SecurityIdentifier.Translate([NTAccount]) answers, in the UI language."""
        names = WELL_KNOWN_NAMES.get(sid.upper())
        if names is not None:
            return names[self.ui_language]
        return self.accounts.get(sid.upper(), sid)

    def translate(self, name: str) -> str:
        """NTAccount(name).Translate([SecurityIdentifier]): the SID, or IdentityNotMapped.

        Built-in principals are known only by their names in the UI language (an
        English name fails on a French server); ``.\\user``, ``LocalSystem`` and
        other service pseudo-names are not account names. The model has no account
        database: any other ``DOMAIN\\user`` maps to a made-up SID that stays the same.
        """
        text = name.strip()
        lower = text.lower()
        for sid, names in WELL_KNOWN_NAMES.items():
            local = names[self.ui_language]
            if lower in (local.lower(), local.rsplit("\\", 1)[-1].lower()):
                return sid
        domain, sep, user = text.rpartition("\\")
        if not sep or not user or domain in ("", ".") or domain.lower() in _BUILTIN_AUTHORITIES:
            raise IdentityNotMapped(NOT_MAPPED)
        if domain.lower() == "nt service":
            sid = f"S-1-5-80-{_rid(user)}"
        else:
            if domain.lower() == self.hostname.lower():
                domain = self.hostname
            sid = f"S-1-5-21-{_rid(domain)}-{1000 + int(_rid(user).split('-')[0]) % 100000}"
        self.accounts[sid] = f"{domain}\\{user}"
        return sid

    def resolve_principal(self, name: str) -> str:
        """The prelude's Resolve-SfPrincipal: a SID string as is, a service pseudo-name to
        its SID, ``.\\user`` to ``COMPUTERNAME\\user``, anything else through translate."""
        text = name.strip()
        if is_sid(text):
            return text.upper()
        pseudo = SERVICE_PSEUDO_NAMES.get(text.lower())
        if pseudo is not None:
            return pseudo
        if text.startswith(".\\"):
            text = self.hostname + text[1:]
        return self.translate(text)

    # services
    def service(self, name: str) -> Service | None:
        return self.services.get(name.lower())

    def find_service(
        self,
        name: str | None,
        image_path_pattern: str | None = None,
        display_name_pattern: str | None = None,
    ) -> tuple[Service | None, str | None, list[str]]:
        """The agent profile's lookup, as the facts and query snippets do it: the exact
        name first; else the services whose PathName (ImagePath) or DisplayName matches a
        pattern (PowerShell's -match: case-insensitive), the agent only when one does.

        Returns (service, "name" | "image_path" | "display_name" | None, candidates): the
        candidates are the matching names when several match (then no service).
        """
        found = self.service(name) if name else None
        if found is not None:
            return found, "name", []
        patterns = []
        for pattern in (image_path_pattern, display_name_pattern):
            try:
                patterns.append(re.compile(pattern, re.I) if pattern else None)
            except re.error as exc:
                # -match throws on a pattern .NET cannot parse; a Python-only failure refuses.
                raise ModelError(f'parsing "{pattern}" - {exc}') from None
        image, display = patterns
        if image is None and display is None:
            return None, None, []
        hits = sorted(
            (
                s
                for s in self.services.values()
                if (image is not None and image.search(s.binary_path))
                or (display is not None and display.search(s.display_name))
            ),
            key=lambda s: s.name.lower(),
        )
        if len(hits) == 1:
            by = "image_path" if image is not None and image.search(hits[0].binary_path) else (
                "display_name"
            )
            return hits[0], by, []
        return None, None, [s.name for s in hits]

    def _require_service(self, name: str) -> Service:
        found = self.service(name)
        if found is None:
            raise ServiceError(f"Cannot find any service with service name '{name}'.")
        return found

    def install_service(self, service: Service) -> Service:
        with self.lock:
            if service.state not in SERVICE_STATES or service.start_mode not in START_MODES:
                raise ServiceError(f"invalid service state/start mode for {service.name!r}")
            if service.state != "Stopped" and not service.process_id:
                # A service that runs has a process, started now.
                service.process_id = self._new_pid()
                service.process_account = service.process_account or service.account
                service.process_started = self.utc_now()
            self.services[service.name.lower()] = service
            return service

    def remove_service(self, name: str) -> None:
        with self.lock:
            self.services.pop(self._require_service(name).name.lower())

    def _new_pid(self) -> int:
        self.next_pid += 4
        return self.next_pid

    def _account_key(self, account: str) -> str:
        name = account.strip().lower()
        if name.startswith(".\\"):
            name = self.hostname.lower() + name[1:]
        return name

    def has_service_logon_right(self, account: str) -> bool:
        """Whether ``account`` may log on as a service (Win32_Service.Change never grants it)."""
        name = self._account_key(account)
        return (
            name in BUILTIN_SERVICE_ACCOUNTS
            or name.startswith("nt service\\")
            or name in self.service_logon_right
        )

    def grant_service_logon_right(self, account: str) -> None:
        with self.lock:
            self.service_logon_right.add(self._account_key(account))
            self.record({"kind": "grant", "right": "SeServiceLogonRight", "account": account})

    def _cannot(self, service: Service, verb: str, reason: str) -> ServiceError:
        return ServiceError(
            f"Service '{service.display_name or service.name} ({service.name})' cannot be "
            f"{verb} due to the following error: {reason}",
            reason,
        )

    def start_service(self, name: str, timeout_s: float | None = None) -> Service:
        """Start the service and wait until it runs.

        ``timeout_s`` None waits as ``Start-Service`` does, without bound: a service
        that stays StartPending (``stuck``) hangs the script (``hang``). With a timeout,
        as ``ServiceController.WaitForStatus``: ``ServiceTimeout``, the service left
        StartPending. An account without "Log on as a service" fails at once with
        error 1069, the service still Stopped.
        """
        with self.lock:
            service = self._require_service(name)
            if service.state == "Running":
                return service
            if service.state == "StopPending":
                raise self._cannot(
                    service, "started", "An instance of the service is already running."
                )
            if service.state == "Stopped":
                if service.start_mode == "Disabled":
                    raise self._cannot(
                        service,
                        "started",
                        "The service cannot be started, either because it is disabled or "
                        "because it has no enabled devices associated with it.",
                    )
                if not self.has_service_logon_right(service.account):
                    raise self._cannot(service, "started", LOGON_FAILURE)
                service.state = "StartPending"
                service.process_id = self._new_pid()
                service.process_account = service.account
                service.process_started = self.utc_now()
        if service.stuck == "StartPending":
            return self._wait_stuck(service, "Start-Service", timeout_s)
        if timeout_s is not None and service.start_seconds > timeout_s:
            self.sleep(timeout_s)
            raise ServiceTimeout(WAIT_TIMEOUT, WAIT_TIMEOUT)
        self.sleep(service.start_seconds)
        with self.lock:
            if service.start_failure:
                self._stopped(service)
                self.scm_event(7000, service.name, error=service.start_failure)
                raise self._cannot(service, "started", service.start_failure)
            service.state = "Running"
            return service

    def stop_service(self, name: str, timeout_s: float | None = None) -> Service:
        """Stop the service and wait until it is stopped (``timeout_s``: as ``start_service``)."""
        with self.lock:
            service = self._require_service(name)
            if service.state == "Stopped":
                return service
            if service.state == "StartPending":
                raise self._cannot(
                    service, "stopped", "The service cannot accept control messages at this time."
                )
            service.state = "StopPending"
        if service.stuck == "StopPending":
            return self._wait_stuck(service, "Stop-Service", timeout_s)
        if timeout_s is not None and service.stop_seconds > timeout_s:
            self.sleep(timeout_s)
            raise ServiceTimeout(WAIT_TIMEOUT, WAIT_TIMEOUT)
        self.sleep(service.stop_seconds)
        with self.lock:
            if service.stop_failure:
                service.state = "Running"
                raise self._cannot(service, "stopped", service.stop_failure)
            self._stopped(service)
            return service

    @staticmethod
    def _stopped(service: Service) -> None:
        service.state = "Stopped"
        service.process_id = 0
        service.process_account = None
        service.process_started = None

    def _wait_stuck(self, service: Service, cmdlet: str, timeout_s: float | None) -> Service:
        if timeout_s is None:
            self.hang(
                f"{cmdlet} waits without bound while service '{service.name}' stays "
                f"{service.state} (it polls for ever, warning every 2 seconds)"
            )
        self.sleep(timeout_s)
        raise ServiceTimeout(WAIT_TIMEOUT, WAIT_TIMEOUT)

    def kill_process(self, pid: int) -> str:
        """Stop-Process -Force: a service whose process it was is Stopped (the SCM sees it die)."""
        with self.lock:
            for service in self.services.values():
                if pid and service.process_id == pid:
                    self._stopped(service)
                    self.record({"kind": "kill", "pid": pid, "service": service.name})
                    return service.name
        raise ModelError(f"Cannot find a process with the process identifier {pid}.")

    def hang(self, reason: str) -> NoReturn:
        """What Windows does for ever: the command is held ``hang_limit_s`` real seconds,
        then ended (ScriptHung), so the client sees a command that does not end."""
        self.record({"kind": "hang", "reason": reason})
        time.sleep(self.hang_limit_s)
        raise ScriptHung(
            f"sagefleet simulator: on Windows this script never ends: {reason} "
            f"(held {self.hang_limit_s:g} s here, then stopped)"
        )

    def reboot(self) -> None:
        """Windows restarted: every service back to its boot state, files and registry kept.

        A service that starts automatically is Running again (Stopped when its
        start fails), any other one is Stopped. The listener side of a restart
        (open shells lost, port closed meanwhile) is ``Fleet.host_down``/``host_up``.
        """
        with self.lock:
            for service in self.services.values():
                self._stopped(service)
                auto = (
                    service.start_mode == "Auto"
                    and not service.start_failure
                    and self.has_service_logon_right(service.account)
                )
                if auto:
                    service.state = "StartPending" if service.stuck == "StartPending" else "Running"
                    service.process_id = self._new_pid()
                    service.process_account = service.account
                    service.process_started = self.utc_now()
            self.record({"kind": "reboot"})

    # products
    def uninstall_entries(self) -> list[tuple[str, str, dict[str, RegistryValue]]]:
        """(view, key name, values) of every Uninstall entry, 64-bit view first."""
        found = []
        for view in ("64", "32"):
            for sub in self.registry.subkeys(UNINSTALL, view):
                found.append((view, sub, self.registry.values(f"{UNINSTALL}\\{sub}", view)))
        return found

    def installer_metadata(self, installer_path: str) -> dict[str, Any]:
        """The package metadata beside an installer (``{}`` when missing or unreadable)."""
        try:
            meta = json.loads(self.fs.read_text(installer_path + ".sagefleet.json"))
        except (ModelError, json.JSONDecodeError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def _installer_version(self, installer_path: str) -> str | None:
        """The version the installer file gives itself; None when the model holds only
        its size, or the file gives none."""
        try:
            data = self.fs.read(installer_path)
        except ModelError:
            return None
        return installer_version(data, installer_path.replace("/", "\\").rsplit("\\", 1)[-1])

    def run_installer(
        self, installer_path: str, args: list[str] | None = None
    ) -> tuple[int | None, str]:
        """Run the agent installer to its end: install or upgrade the service from the package.

        The package is described by ``<installer>.sagefleet.json`` (agent_version,
        service_name, install_folder, account, exit_code, fail_service_start,
        install_bytes, product_version; ``leaves_child`` and ``never_exits`` are
        read by the snippet model, see service_rules) and configured by the
        settings.json beside the installer. Returns (exit code, log text); the exit
        code is None when the metadata says ``exit_code: null`` (the process gives
        none). The log is also written where ``/LOG=`` or msiexec's ``/l*v <file>``
        says (default under C:\\Windows\\Temp). For an ``.msi``, ``args`` are
        msiexec's switches besides ``/i <file>``.
        """
        args = list(args or [])
        with self.lock:
            if not self.fs.is_file(installer_path):
                raise PathNotFound(
                    f"This command cannot be run because the file '{installer_path}' "
                    "does not exist."
                )
            log: list[str] = [f"Setup started: {installer_path} {' '.join(args)}".rstrip()]
            folder = installer_path.replace("/", "\\").rsplit("\\", 1)[0]
            run: dict[str, Any] = {"installer": installer_path, "args": args, "settings": None}
            self.installer_runs.append(run)
            code = self._install(installer_path, folder, args, run, log)
            run["exit_code"] = code
            log.append(f"Setup exit code: {code}")
            text = "\r\n".join(log) + "\r\n"
            log_path = _log_argument(args) or (
                f"C:\\Windows\\Temp\\Setup Log {self.utc_now():%Y-%m-%d} #001.txt"
            )
            try:
                self.fs.mkdir(log_path.replace("/", "\\").rsplit("\\", 1)[0])
                self.fs.write(log_path, text.encode("utf-8"))
            except ModelError:
                pass  # as Inno Setup: a log that cannot be written does not stop setup
            run["log_path"] = log_path
            return code, text

    def _install(
        self, installer: str, folder: str, args: list[str], run: dict[str, Any], log: list[str]
    ) -> int | None:
        if self.installer_failure is not None:
            log.append(f"Setup failed (simulated failure {self.installer_failure}).")
            return self.installer_failure
        try:
            meta = json.loads(self.fs.read_text(installer + ".sagefleet.json"))
        except (ModelError, json.JSONDecodeError) as exc:
            log.append(f"Cannot read the package metadata: {exc}")
            return 1
        try:
            settings_bytes = self.fs.read(folder + "\\settings.json")
            run["settings"] = json.loads(settings_bytes.decode("utf-8-sig"))
        except (ModelError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            log.append(f"settings.json not found or invalid beside the installer: {exc}")
            return 1
        log.append(f"Settings read from {folder}\\settings.json")
        # The version is the installer file's own (its version resource), as package
        # inspection reads it; the metadata's only for a file the model holds no bytes of.
        version = self._installer_version(installer) or meta.get("agent_version")
        if not version:
            log.append("Neither the installer's version resource nor the package metadata "
                       "gives the agent version.")
            return 1
        name = str(meta.get("service_name") or AGENT_SERVICE)
        version = str(version)
        existing = self.service(name)
        install_folder = str(meta.get("install_folder") or AGENT_FOLDER)
        if existing is not None:
            install_folder = existing.executable.rsplit("\\", 1)[0]
            log.append(f"Previous version {existing.version} found: stopping {name}")
            try:
                self.stop_service(name, timeout_s=30)
            except ServiceError as exc:
                log.append(str(exc))
                return 1
        exe = f"{install_folder}\\{AGENT_EXE}"
        try:
            self.fs.mkdir(install_folder)
            old = self.fs.entries.get(self.fs.resolve(exe).lower())
            self.fs.write(
                exe,
                size=int(meta.get("install_bytes", AGENT_INSTALL_BYTES)),
                product_version=str(meta.get("product_version") or version),
                file_version=version,
                acl=old.acl if old else None,
            )
            self.fs.write(f"{install_folder}\\settings.json", settings_bytes)
        except ModelError as exc:
            log.append(f"Error writing files: {exc}")
            return 112 if isinstance(exc, DiskFull) else 1
        if existing is None:
            self.install_service(
                Service(
                    name=name,
                    display_name=AGENT_DISPLAY_NAME,
                    start_mode="Auto",
                    account=str(meta.get("account") or "LocalSystem"),
                    binary_path=f'"{exe}"',
                    version=version,
                )
            )
            log.append(f"Service {name} installed")
        else:
            existing.version = version
            log.append(f"Service {name} updated to {version}")
        _agent_uninstall_entry(self.registry, version, install_folder)
        service = self._require_service(name)
        service.start_failure = (
            "The service did not respond to the start or control request in a timely fashion."
            if meta.get("fail_service_start")
            else None
        )
        try:
            # Like `sc start`: a service that stays StartPending does not hold setup.
            self.start_service(name, timeout_s=0 if service.stuck == "StartPending" else None)
            log.append(f"Service {name} started")
        except ServiceError as exc:
            log.append(str(exc))
        if "exit_code" in meta and meta["exit_code"] is None:
            return None
        return int(meta.get("exit_code", 0))


# -- profiles ---------------------------------------------------------------------

_FIELDS = {
    "hostname",
    "os_caption",
    "os_version",
    "os_build",
    "powershell_version",
    "clock_skew_s",
    "edition",
    "domain",
    "language_mode",
    "time_scale",
    "installer_failure",
    "hang_limit_s",
    "ui_language",
    "nettcpip_module",
}
_SECTIONS = {
    "dotnet_release",
    "tls",
    "sage",
    "agent",
    "mae",
    "drives",
    "shares",
    "services",
    "network",
    "registry",
    "files",
    "folders",
    "fips",
    "service_logon_right",
    "agent_behaviour",
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


def _section(data: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ProfileError(f"{where} must be a mapping, got {type(data).__name__}")
    unknown = set(data) - allowed
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    return dict(data)


def _choice(value: Any, allowed: Iterable[str], where: str) -> str:
    options = list(allowed)
    if value not in options:
        raise ProfileError(f"{where}: {value!r} is not one of {options}")
    return str(value)


def _stuck(value: Any, where: str) -> str | None:
    if value is None:
        return None
    return _choice(value, ("StopPending", "StartPending"), f"{where}: stuck")


def host_from_profile(
    name: str, address: str, username: str, password: str, profile: dict[str, Any]
) -> WindowsHost:
    """Build a host from profile data; unknown keys are an error, never ignored."""
    data = copy.deepcopy(profile)
    where = f"profile {data.get('profile')!r}"
    unknown = set(data) - _FIELDS - _SECTIONS - {"profile", "description", "winrm"}
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    winrm = data.pop("winrm", {}) or {}
    bad = set(winrm) - {"allow_basic", "allow_unencrypted", "delegation"}
    if bad:
        raise ProfileError(f"{where}: unknown winrm keys {sorted(bad)}")
    host = WindowsHost(
        name=name,
        address=address,
        username=username,
        password=password,
        profile=str(data.get("profile", "custom")),
        winrm=WinRMService(**winrm),
        **{k: v for k, v in data.items() if k in _FIELDS},
    )
    _choice(host.edition, ("onpremise", "spc"), f"{where}: edition")
    _choice(
        host.language_mode,
        ("FullLanguage", "ConstrainedLanguage", "RestrictedLanguage", "NoLanguage"),
        f"{where}: language_mode",
    )
    _choice(host.ui_language, UI_LANGUAGES, f"{where}: ui_language")
    _Builder(host, data, where).build()
    host._initial = copy.deepcopy(profile)
    return host


class _Builder:
    """Derives registry keys, files, services and network rules from a profile."""

    def __init__(self, host: WindowsHost, data: dict[str, Any], where: str) -> None:
        self.host = host
        self.data = data
        self.where = where
        self.unreachable: list[str] = []

    def build(self) -> None:
        self._drives()
        self._windows()
        self._sage()
        self._mae()
        self._agent()
        self._agent_behaviour()
        self._services()
        self._logon_rights()
        self._network()
        self._low_level()
        # Seeded files exist on the share; the host just cannot reach it.
        for unc in self.unreachable:
            self.host.fs.shares[unc].reachable = False

    # drives and shares
    def _drives(self) -> None:
        fs = self.host.fs
        for item in self.data.get("shares") or []:
            spec = _section(item, {"unc", "size", "free", "reachable"}, f"{self.where}: shares[]")
            unc = _win_path(str(spec["unc"]))
            fs.shares[unc.lower()] = Share(
                unc,
                Volume(
                    parse_size(spec.get("size", "500 GB"), self.where),
                    parse_size(spec.get("free", "200 GB"), self.where),
                ),
            )
            if not spec.get("reachable", True):
                self.unreachable.append(unc.lower())
        drives = self.data.get("drives") or [{"letter": "C"}]
        for item in drives:
            spec = _section(
                item, {"letter", "type", "size", "free", "provider"}, f"{self.where}: drives[]"
            )
            letter = str(spec["letter"]).rstrip(":\\").upper() + ":"
            kind = _choice(spec.get("type", "fixed"), DRIVE_TYPES, f"{self.where}: drive {letter}")
            provider = spec.get("provider")
            if kind == "network":
                if not provider:
                    raise ProfileError(f"{self.where}: network drive {letter} needs a provider")
                unc = _win_path(str(provider))
                share = fs.shares.setdefault(unc.lower(), Share(unc))
                fs.drives[letter] = Drive(letter, kind, share.volume, unc)
                # Persistent mapping of the interactive user, as Windows stores it.
                self.host.registry.set(f"HKU\\{USER_SID}\\Network\\{letter[0]}", "RemotePath", unc)
                continue
            volume = Volume(
                parse_size(spec.get("size", "127 GB"), self.where),
                parse_size(spec.get("free", "80 GB"), self.where),
            )
            fs.drives[letter] = Drive(letter, kind, volume, None)
        if "C:" not in fs.drives:
            raise ProfileError(f"{self.where}: a Windows server needs a C: drive")
        for folder in (
            "C:\\Windows",
            "C:\\Program Files",
            "C:\\Program Files (x86)",
            "C:\\ProgramData",
        ):
            fs.mkdir(folder, acl=DEFAULT_ACLS[folder])
        fs.mkdir("C:\\Windows\\Temp")

    # .NET, TLS, Azure
    def _windows(self) -> None:
        reg = self.host.registry
        release = self.data.get("dotnet_release", 528049)
        if release is not None:
            reg.set(NDP_V4, "Release", int(release))
            version = NDP_VERSIONS.get(int(release))
            if version is not None:  # unknown releases: the model does not invent one
                reg.set(NDP_V4, "Version", version)
        tls = _section(
            self.data.get("tls"),
            {"strong_crypto", "system_default_tls", "schannel_tls12_client"},
            f"{self.where}: tls",
        )
        for view in ("64", "32"):
            for value_name, key in (
                ("SchUseStrongCrypto", "strong_crypto"),
                ("SystemDefaultTlsVersions", "system_default_tls"),
            ):
                value = tls.get(key, 1)
                if value is not None:
                    reg.set(NETFX, value_name, int(value), view=view)
        schannel = _section(
            tls.get("schannel_tls12_client"),
            {"Enabled", "DisabledByDefault"},
            f"{self.where}: tls.schannel_tls12_client",
        )
        for value_name, value in schannel.items():
            if value is not None:
                reg.set(SCHANNEL_TLS12, value_name, int(value))
        fips = self.data.get("fips", False)
        if not isinstance(fips, bool):
            raise ProfileError(f"{self.where}: fips must be true or false")
        if fips:
            # "System cryptography: Use FIPS compliant algorithms..." (security policy).
            reg.set(FIPS_POLICY_KEY, "Enabled", 1)
        if self.host.edition == "spc":
            reg.set(AZURE_KEY, "VmId", str(uuid.uuid5(uuid.NAMESPACE_DNS, self.host.hostname)))
            self.host.install_service(
                Service(
                    "WindowsAzureGuestAgent",
                    "Windows Azure Guest Agent",
                    "Running",
                    binary_path="C:\\WindowsAzure\\GuestAgent\\WindowsAzureGuestAgent.exe",
                )
            )

    # Sage and Objets Métiers
    def _sage(self) -> None:
        sage = _section(
            self.data.get("sage"),
            {"version", "products", "objets_metiers", "spc_marker", "generation"},
            f"{self.where}: sage",
        )
        if not sage:
            return
        reg, fs = self.host.registry, self.host.fs
        version = str(sage["version"])
        major = int(version.split(".")[0])
        # "i7": the older Sage 100 i7 generation (2013-2015), numbered 7.x and 8.x too,
        # with Objets100.dll; its key and product names here are a guess (not "100c").
        generation = _choice(sage.get("generation", "100c"), ("100c", "i7"), self.where)
        brand = sage_brand(major)
        for product in sage.get("products") or ["comptabilite"]:
            info = SAGE_PRODUCTS.get(product)
            if info is None:
                raise ProfileError(
                    f"{self.where}: unknown Sage product {product!r} "
                    f"(known: {sorted(SAGE_PRODUCTS)})"
                )
            key, display = info["key"], f"{brand} {info['display']}"
            if generation == "i7":
                key = key.removesuffix(" 100c") + " i7"
                display = f"Sage 100 {info['display']} i7"
            folder = f"{SAGE_ROOT}\\{info['folder']}"
            fs.mkdir(folder)
            fs.write(
                f"{folder}\\{info['exe']}",
                size=40 * 1024**2,
                product_version=version,
                file_version=version,
                reserve_space=False,
            )
            reg.set(f"HKLM\\SOFTWARE\\Sage\\{key}", "Path", folder + "\\", view="32")
            self._uninstall(display, version, folder + "\\", "Sage", view="32")
        # Objets Métiers: installed at the matching version unless the profile says
        # otherwise (a version string, a mapping, or null for "not installed"). The DLL
        # registers its COM classes (regsvr32): in the 32-bit view for the 32-bit DLL,
        # unless `views` says otherwise; `registered: false` leaves them out.
        om_spec = sage.get("objets_metiers", {})
        if om_spec is not None:
            om = _section(
                {"version": om_spec} if isinstance(om_spec, str) else om_spec,
                {"version", "uninstall_entry", "folder", "views", "registered"},
                f"{self.where}: sage.objets_metiers",
            )
            om_version = str(om.get("version") or MATCHING_OM.get(major, version))
            folder = _win_path(str(om.get("folder") or OM_FOLDER))
            dll = folder + ("\\Objets100.dll" if generation == "i7" else "\\objets100c.dll")
            fs.mkdir(folder)
            fs.write(
                dll,
                size=9 * 1024**2,
                product_version=om_version,
                file_version=om_version,
                reserve_space=False,
            )
            views = om.get("views", ["32"])
            if not isinstance(views, list) or not views:
                raise ProfileError(f"{self.where}: sage.objets_metiers.views: a list of 64/32")
            if om.get("registered", True) and generation == "100c":
                for view in views:
                    view = _choice(str(view), ("64", "32"), f"{self.where}: objets_metiers")
                    for clsid, progid in OM_CLASSES.values():
                        key = f"{CLSID_ROOT}\\{clsid}"
                        reg.set(f"{key}\\InprocServer32", "", dll, view=view)
                        reg.set(f"{key}\\InprocServer32", "ThreadingModel", "Apartment", view=view)
                        reg.set(f"{key}\\ProgID", "", progid, view=view)
            if om.get("uninstall_entry", self.host.edition == "onpremise"):
                self._uninstall(
                    f"Sage 100 Objets Métiers {om_version}",
                    om_version,
                    folder + "\\",
                    "Sage",
                    view="32",
                )
        if sage.get("spc_marker", self.host.edition == "spc"):
            reg.set(SPC_MARKER_KEY, "Version", version)

    def _uninstall(
        self, display: str, version: str, location: str, publisher: str, view: str
    ) -> None:
        key = f"{UNINSTALL}\\{_uninstall_key(display)}"
        reg = self.host.registry
        reg.set(key, "DisplayName", display, view=view)
        reg.set(key, "DisplayVersion", version, view=view)
        reg.set(key, "InstallLocation", location, view=view)
        reg.set(key, "Publisher", publisher, view=view)

    # .MAE pointer files
    def _mae(self) -> None:
        for item in self.data.get("mae") or []:
            spec = _section(item, {"path", "server", "creator", "type"}, f"{self.where}: mae[]")
            path = str(spec["path"])
            self.host.fs.mkdir(path.replace("/", "\\").rsplit("\\", 1)[0])
            self.host.fs.write(
                path,
                mae_text(
                    str(spec["server"]),
                    str(spec.get("creator", "<Administrateur>")),
                    str(spec.get("type", "SQL")),
                ),
                reserve_space=False,
            )

    # the Spendesk agent
    def _agent(self) -> None:
        agent = _section(
            self.data.get("agent"),
            {
                "version",
                "product_version",
                "state",
                "start_mode",
                "account",
                "service_name",
                "folder",
                "stuck",
                "settings",
                "running_for_s",
            },
            f"{self.where}: agent",
        )
        if not agent:
            return
        name = str(agent.get("service_name", AGENT_SERVICE))
        folder = str(agent.get("folder", AGENT_FOLDER))
        version = str(agent["version"])
        exe = f"{folder}\\{AGENT_EXE}"
        self.host.fs.mkdir(folder)
        self.host.fs.write(
            exe,
            size=AGENT_INSTALL_BYTES,
            product_version=str(agent.get("product_version") or version),
            file_version=version,
            reserve_space=False,
        )
        service = self.host.install_service(
            Service(
                name=name,
                display_name=AGENT_DISPLAY_NAME,
                state=_choice(agent.get("state", "Running"), SERVICE_STATES, self.where),
                start_mode=_choice(agent.get("start_mode", "Auto"), START_MODES, self.where),
                account=str(agent.get("account", "LocalSystem")),
                binary_path=f'"{exe}"',
                version=version,
                stuck=_stuck(agent.get("stuck"), self.where),
            )
        )
        running_for = agent.get("running_for_s", 3600)
        if isinstance(running_for, bool) or not isinstance(running_for, int | float):
            raise ProfileError(f"{self.where}: agent.running_for_s must be a number of seconds")
        self._running(service, float(running_for))
        _agent_uninstall_entry(self.host.registry, version, folder)
        self._agent_settings(agent, folder)

    def _agent_settings(self, agent: dict[str, Any], folder: str) -> None:
        """The settings.json the vendor's installer left where the agent profile says.

        Absent from the profile: one connection per ``.MAE`` file, in the
        simulator's stand-in vendor layout, with what the stand-in installer adds
        (``vendor_layout.installed_document``); a mapping: that document; null: none.
        """
        if "settings" in agent and agent["settings"] is None:
            return
        document = agent.get("settings")
        if document is None:
            document = vendor_layout.installed_document(
                vendor_layout.entities_for(self.data),
                service_account=str(agent.get("account", "LocalSystem")),
            )
        elif not isinstance(document, Mapping):
            raise ProfileError(f"{self.where}: agent.settings must be a JSON object or null")
        path = agent_profile.default().settings_path(install_dir=folder)
        self.host.fs.write(path, vendor_layout.dumps(document), reserve_space=False)

    def _services(self) -> None:
        allowed = {
            "name",
            "display_name",
            "state",
            "start_mode",
            "account",
            "binary_path",
            "version",
            "start_seconds",
            "stop_seconds",
            "start_failure",
            "stop_failure",
            "stuck",
            "process_id",
        }
        for item in self.data.get("services") or []:
            spec = _section(item, allowed, f"{self.where}: services[]")
            service = self.host.service(str(spec["name"]))
            if service is None:
                service = Service(name=str(spec["name"]))
                self.host.install_service(service)
            for key, value in spec.items():
                setattr(service, key, value)
            _choice(service.state, SERVICE_STATES, f"{self.where}: service {service.name}")
            _choice(service.start_mode, START_MODES, f"{self.where}: service {service.name}")
            service.stuck = _stuck(service.stuck, self.where)
            self._running(service)

    def _running(self, service: Service, running_for_s: float = 3600.0) -> None:
        """A service the profile has running: a process, started ``running_for_s`` ago, and
        its account holds the right to log on as a service (it was set up with
        services.msc, which grants it)."""
        if service.state != "Stopped":
            service.process_id = service.process_id or self.host._new_pid()
            service.process_account = service.process_account or service.account
            service.process_started = self.host.utc_now() - dt.timedelta(seconds=running_for_s)
            if not self.host.has_service_logon_right(service.account):
                self.host.service_logon_right.add(self.host._account_key(service.account))
        else:
            service.process_id = 0
            service.process_started = None

    def _agent_behaviour(self) -> None:
        spec = _section(
            self.data.get("agent_behaviour"),
            {"connect_after_s", "sql_login", "log"},
            f"{self.where}: agent_behaviour",
        )
        behaviour = self.host.agent_behaviour
        if "connect_after_s" in spec:
            value = spec["connect_after_s"]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ProfileError(f"{self.where}: agent_behaviour.connect_after_s: seconds >= 0")
            behaviour.connect_after_s = float(value)
        if "sql_login" in spec:
            behaviour.sql_login = _choice(spec["sql_login"], SQL_LOGIN_RESULTS, self.where)
        if "log" in spec:
            if not isinstance(spec["log"], bool):
                raise ProfileError(f"{self.where}: agent_behaviour.log must be true or false")
            behaviour.log = spec["log"]

    def _logon_rights(self) -> None:
        accounts = self.data.get("service_logon_right") or []
        if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            raise ProfileError(f"{self.where}: service_logon_right must be a list of accounts")
        for account in accounts:
            self.host.service_logon_right.add(self.host._account_key(account))

    # network
    def _network(self) -> None:
        net = _section(
            self.data.get("network"),
            {
                "dns",
                "tcp",
                "default_tcp",
                "tls",
                "intercept_tls",
                "latency_ms",
                "winhttp_proxy",
                "user_proxy",
                "machine_proxy",
                "accounts",
            },
            f"{self.where}: network",
        )
        policy = self.host.network
        # Automatic root update has put the public roots in AuthRoot, as on a server online.
        self.host.cert_stores.authroot.extend(PKI.public_roots())
        # The legacy SQS name (the catalog's firewall_names) resolves as on the Internet.
        policy.dns["eu-west-3.queue.amazonaws.com"] = DnsRule("ok", ("198.51.100.21",))
        for endpoint in DEFAULT_ENDPOINTS:
            policy.dns[endpoint] = DnsRule("ok", _DEFAULT_DNS[endpoint])
            policy.tls[endpoint] = TlsRule(_DEFAULT_ISSUERS[endpoint], endpoint)
            for port in (80, 443):
                policy.tcp[f"{endpoint}:{port}"] = "ok"
        for mae in self.data.get("mae") or []:
            server = str(mae.get("server", "")).split("\\")[0].split(",")[0].lower()
            if server.endswith(".database.windows.net"):
                policy.dns.setdefault(server, DnsRule("ok", ("198.51.100.140",)))
                policy.tcp[f"{server}:1433"] = "ok"
        for dns_name, rule in (net.get("dns") or {}).items():
            policy.dns[str(dns_name).lower()] = self._dns_rule(rule)
        for target, verdict in (net.get("tcp") or {}).items():
            if ":" not in str(target):
                raise ProfileError(f"{self.where}: network.tcp key {target!r} must be name:port")
            policy.tcp[str(target).lower()] = _choice(verdict, TCP_RESULTS, self.where)
        policy.default_tcp = _choice(net.get("default_tcp", "timeout"), TCP_RESULTS, self.where)
        for target, spec in (net.get("tls") or {}).items():
            policy.tls[str(target).lower()] = self._tls_rule(spec)
        intercept = net.get("intercept_tls")
        if intercept is not None:
            spec = _section(intercept, {"issuer", "protocols", "except", "installed"}, self.where)
            policy.intercept_except = {str(n).lower() for n in spec.pop("except", []) or []}
            # `installed` (default true): the proxy's CA was added to the host's Root store
            # (Group Policy, by hand), as inspection needs for the host's own HTTPS to work.
            installed = spec.pop("installed", True)
            if not isinstance(installed, bool):
                raise ProfileError(f"{self.where}: network.intercept_tls.installed: true/false")
            policy.intercept = self._tls_rule(spec, proxy=True)
            if installed:
                self.host.cert_stores.root.append(PKI.proxy_root(policy.intercept.issuer))
        latency = net.get("latency_ms", 20)
        if isinstance(latency, Mapping):
            policy.latency_ms = {str(k).lower(): int(v) for k, v in latency.items()}
        else:
            policy.default_latency_ms = int(latency)
        proxy = _section(net.get("winhttp_proxy"), {"server", "bypass"}, self.where)
        policy.winhttp_proxy = proxy.get("server")
        policy.winhttp_bypass = proxy.get("bypass")
        self._proxies(net)
        for account, spec in (net.get("accounts") or {}).items():
            self._account_network(str(account), spec)

    def _proxies(self, net: dict[str, Any]) -> None:
        """Proxy settings where Windows keeps them: a user's Internet Options (WinINET) under
        HKU\\<SID>, the machine's under HKLM with the policy ProxySettingsPerUser=0."""
        reg = self.host.registry
        users = net.get("user_proxy") or {}
        if not isinstance(users, Mapping):
            raise ProfileError(f"{self.where}: network.user_proxy must map accounts to proxies")
        for account, spec in users.items():
            if str(account).lower() == "winrm_user":
                sid = USER_SID
            else:
                try:
                    sid = self.host.resolve_principal(str(account))
                except ModelError as exc:
                    raise ProfileError(
                        f"{self.where}: network.user_proxy account {account!r}: {exc}"
                    ) from None
            self._proxy_values(f"HKU\\{sid}\\{INTERNET_SETTINGS}", spec, "user_proxy")
        machine = net.get("machine_proxy")
        if machine is not None:
            self._proxy_values(f"HKLM\\{INTERNET_SETTINGS}", machine, "machine_proxy")
            reg.set(PROXY_POLICY_KEY, "ProxySettingsPerUser", 0)

    def _proxy_values(self, key: str, spec: Any, where: str) -> None:
        values = _section(
            spec, {"server", "bypass", "auto_config_url", "enabled"}, f"{self.where}: {where}"
        )
        reg = self.host.registry
        enabled = values.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ProfileError(f"{self.where}: {where}.enabled must be true or false")
        reg.set(key, "ProxyEnable", int(enabled))
        for name, value_name in (
            ("server", "ProxyServer"),
            ("bypass", "ProxyOverride"),
            ("auto_config_url", "AutoConfigURL"),
        ):
            if values.get(name):
                reg.set(key, value_name, str(values[name]))

    def _account_network(self, account: str, spec: Any) -> None:
        where = f"{self.where}: network.accounts[{account!r}]"
        data = _section(spec, {"dns", "tcp", "default_tcp", "intercept_tls"}, where)
        try:
            sid = self.host.resolve_principal(account)
        except ModelError as exc:
            raise ProfileError(f"{where}: {exc}") from None
        override = AccountNetwork()
        for dns_name, rule in (data.get("dns") or {}).items():
            override.dns[str(dns_name).lower()] = self._dns_rule(rule)
        for target, verdict in (data.get("tcp") or {}).items():
            if ":" not in str(target):
                raise ProfileError(f"{where}: tcp key {target!r} must be name:port")
            override.tcp[str(target).lower()] = _choice(verdict, TCP_RESULTS, where)
        if data.get("default_tcp") is not None:
            override.default_tcp = _choice(data["default_tcp"], TCP_RESULTS, where)
        if "intercept_tls" in data:
            intercept = data["intercept_tls"]
            override.intercept = (
                None
                if intercept is None
                else self._tls_rule(_section(intercept, {"issuer", "protocols"}, where), True)
            )
        self.host.network.accounts[sid.upper()] = override

    def _dns_rule(self, rule: Any) -> DnsRule:
        if isinstance(rule, str):
            return DnsRule(_choice(rule, DNS_STATUSES, f"{self.where}: network.dns"))
        if isinstance(rule, list):
            return DnsRule("ok", tuple(str(a) for a in rule))
        spec = _section(rule, {"status", "addresses", "cname"}, f"{self.where}: network.dns")
        return DnsRule(
            _choice(spec.get("status", "ok"), DNS_STATUSES, f"{self.where}: network.dns"),
            tuple(str(a) for a in spec.get("addresses") or []),
            spec.get("cname"),
        )

    def _tls_rule(self, spec: Any, proxy: bool = False) -> TlsRule:
        allowed = (
            {"issuer", "protocols"} if proxy else {"issuer", "subject", "protocols", "not_after"}
        )
        spec = _section(spec, allowed, self.where)
        protocols = tuple(spec.get("protocols") or ("TLSv1.2", "TLSv1.3"))
        for protocol in protocols:
            _choice(protocol, TLS_PROTOCOLS, f"{self.where}: tls protocols")
        issuer = str(spec.get("issuer") or "")
        if not proxy and issuer not in PUBLIC_INTERMEDIATES:
            # The model presents real chains: an issuer it has no chain for is refused.
            raise ProfileError(
                f"{self.where}: network.tls issuer {issuer!r} is not a simulated public "
                f"intermediate (known: {', '.join(sorted(PUBLIC_INTERMEDIATES))})"
            )
        if proxy and not issuer:
            raise ProfileError(f"{self.where}: network.intercept_tls needs an issuer")
        not_after = None
        if spec.get("not_after") is not None:
            try:
                not_after = dt.datetime.fromisoformat(
                    str(spec["not_after"]).replace("Z", "+00:00")
                ).astimezone(dt.UTC)
            except ValueError as exc:
                raise ProfileError(
                    f"{self.where}: network.tls not_after {spec['not_after']!r} is not a date"
                ) from exc
        return TlsRule(
            issuer=issuer,
            subject=spec.get("subject"),
            protocols=protocols,
            not_after=not_after,
            proxy=proxy,
        )

    # low-level overrides
    def _low_level(self) -> None:
        reg, fs = self.host.registry, self.host.fs
        for key, values in (self.data.get("registry") or {}).items():
            if values is None:
                reg.delete_key(str(key))
                continue
            if not isinstance(values, Mapping):
                raise ProfileError(f"{self.where}: registry[{key!r}] must map value names")
            reg.create_key(str(key))
            for value_name, value in values.items():
                if value is None:
                    reg.delete_value(str(key), str(value_name))
                elif isinstance(value, Mapping):
                    spec = _section(value, {"type", "data"}, f"{self.where}: registry value")
                    reg.set(str(key), str(value_name), spec["data"], str(spec["type"]))
                else:
                    reg.set(str(key), str(value_name), value)
        for folder in self.data.get("folders") or []:
            fs.mkdir(str(folder))
        for path, spec in (self.data.get("files") or {}).items():
            if spec is None:
                if fs.exists(str(path)):
                    fs.delete(str(path))
                continue
            spec = _section(
                spec,
                {
                    "text",
                    "size",
                    "product_version",
                    "file_version",
                    "owner",
                    "readers",
                    "readonly",
                    "open_by",
                },
                f"{self.where}: files[{path!r}]",
            )
            fs.mkdir(str(path).replace("/", "\\").rsplit("\\", 1)[0])
            text = spec.get("text")
            acl = None
            if spec.get("owner"):
                owner = self.host.resolve_principal(str(spec["owner"]))
                readers = [self.host.resolve_principal(str(r)) for r in spec.get("readers") or []]
                acl = Acl.private(owner, [owner], readers)
            fs.write(
                str(path),
                None if text is None else str(text).encode("utf-8"),
                size=None if text is not None else parse_size(spec.get("size", 0), self.where),
                product_version=spec.get("product_version"),
                file_version=spec.get("file_version"),
                acl=acl,
                reserve_space=False,
            )
            fs.set_attributes(
                str(path), readonly=bool(spec.get("readonly")), open_by=spec.get("open_by")
            )
