"""Accounts and ACLs: well-known SIDs, their localized names, DACLs of the system drive."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from sagefleet.sim.host.errors import ModelError

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
BUILTIN_AUTHORITIES = {"builtin", "nt authority", "autorite nt"}
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


def rid(text: str) -> str:
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

