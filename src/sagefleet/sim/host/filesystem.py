"""Drives, network shares, folders and files of one host, with their DACLs."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sagefleet.sim.host.accounts import CREATOR, CREATOR_OWNER, DEFAULT_ACLS, Ace, Acl
from sagefleet.sim.host.errors import (
    AccessDenied,
    DiskFull,
    ModelError,
    PathNotFound,
    ProfileError,
    SharingViolation,
)
from sagefleet.sim.host.process import checkpoint, one_call, wait

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
    # A junction (a directory reparse point): the folder it points to. Nothing is stored
    # under its own path; a path through it names the target's files (``resolve``).
    target: str | None = None


#: ReplaceFile's failures half way (System Error Codes), as .NET's IOException words them.
REPLACE_ERRORS = {
    1175: "Unable to remove the file to be replaced.",
    1176: (
        "Unable to move the replacement file to the file to be replaced. "
        "The file to be replaced has retained its original name."
    ),
    1177: (
        "Unable to move the replacement file to the file to be replaced. "
        "The file to be replaced has been renamed using the backup name."
    ),
}

#: Whether the command running in this thread holds credentials for other machines. A
#: WinRM session (NTLM, or Kerberos without delegation) does not: the second hop ("Making
#: the second hop in PowerShell Remoting"). Outside a command (profile build, tests) it does.
_NETWORK_CREDENTIALS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sagefleet_network_credentials", default=True
)


#: Whether the command running in this thread runs in a WinRM logon session. Drive letters
#: belong to a logon session: the drives an interactive user mapped are not that session's
#: ("Mapped drives are not available from an elevated prompt", and net use's per-session
#: mappings). Outside a command (profile build, tests) the interactive user's view applies.
_WINRM_SESSION: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sagefleet_winrm_session", default=False
)


@contextlib.contextmanager
def logon_session(network_credentials: bool) -> Iterator[None]:
    """Run a command in a WinRM logon session with (or without) credentials for other
    machines; it has none of the interactive user's mapped drives."""
    token = _NETWORK_CREDENTIALS.set(network_credentials)
    session = _WINRM_SESSION.set(True)
    try:
        yield
    finally:
        _WINRM_SESSION.reset(session)
        _NETWORK_CREDENTIALS.reset(token)


def has_network_credentials() -> bool:
    return _NETWORK_CREDENTIALS.get()


def win_path(path: str) -> str:
    text = path.replace("/", "\\")
    if text.startswith("\\\\"):
        return "\\\\" + "\\".join(p for p in text[2:].split("\\") if p)
    parts = [p for p in text.split("\\") if p]
    if not parts or not re.fullmatch(r"[A-Za-z]:", parts[0]):
        raise PathNotFound(f"Cannot find path '{path}' because it is not an absolute path.")
    parts[0] = parts[0].upper()
    return "\\".join(parts) if len(parts) > 1 else parts[0] + "\\"


#: PathTooLongException's text in .NET Framework's legacy path handling (powershell.exe).
PATH_TOO_LONG = (
    "The specified path, file name, or both are too long. The fully qualified file name must "
    "be less than 260 characters, and the directory name must be less than 248 characters."
)

#: Byte order marks StreamReader detects, longest first (UTF-32 LE begins as UTF-16 LE's).
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _check_deletable(entry: FileEntry, force: bool) -> None:
    if entry.open_by:  # a folder too: a process's current folder is held open
        raise SharingViolation(
            f"The process cannot access the file '{entry.path}' because it is being used by "
            "another process."
        )
    # RemoveDirectory refuses a read-only folder too (Directory.Delete: "The directory
    # specified by path is read-only", an IOException with this text).
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
        # The host's clock (UTC): a write stamps the file's LastWriteTime with it.
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        # Test knob: replaced file (physical path, lower case) -> the ReplaceFile error
        # (REPLACE_ERRORS) its next replace fails with, in the state Windows documents.
        self.replace_faults: dict[str, int] = {}
        # Test knob: real seconds each file write takes once made (a slow disk, an
        # antivirus scanning the file as it is closed); a killed process waits no more.
        self.write_delay_s = 0.0
        # Whether any junction exists (``junction``): paths are followed through them only then.
        self.has_junctions = False

    # resolution
    def session_drives(self) -> list[Drive]:
        """The drives the running command sees, as Win32_LogicalDisk lists them: in a WinRM
        session, none of the interactive user's mapped network drives."""
        return [d for d in self.drives.values() if not (d.provider and _WINRM_SESSION.get())]

    def resolve(self, path: str) -> str:
        """The physical path: mapped drive letters replaced by their UNC root (outside a
        WinRM session: a WinRM session has no mapped letters, its path stays as given)."""
        text = win_path(path)
        drive = self.drives.get(text[:2].upper())
        if drive is not None and drive.provider and not _WINRM_SESSION.get():
            rest = text[3:]
            text = win_path(drive.provider + ("\\" + rest if rest else ""))
        return self._through_junctions(text) if self.has_junctions else text

    def _through_junctions(self, path: str) -> str:
        """A path whose folders (not its last name) include a junction names the file under
        the junction's target: the last name itself is the link (RemoveDirectory and
        DeleteFile remove the link, never its target)."""
        for _ in range(63):  # the number of reparse points Windows follows in one path
            parts = path.split("\\")
            for end in range(2, len(parts)):
                entry = self.entries.get("\\".join(parts[:end]).lower())
                if entry is not None and entry.target is not None:
                    path = win_path(entry.target + "\\" + "\\".join(parts[end:]))
                    break
            else:
                return path
        raise PathNotFound(f"The name of the file cannot be resolved by the system. : '{path}'")

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
        if drive is None or drive.provider:
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

    def listdir(self, path: str, token: Iterable[str] | None = None) -> list[str]:
        """The folder's names; with ``token`` (the SIDs of the caller's token),
        AccessDenied unless the folder's DACL grants one of them List folder / read data
        (FILE_LIST_DIRECTORY, which Read, ReadAndExecute, Modify and FullControl hold)."""
        if not self.is_dir(path):
            raise PathNotFound(f"Could not find a part of the path '{path}'.")
        if token is not None and not self.may_read(path, token):
            raise AccessDenied(f"Access to the path '{path}' is denied.")
        folder = self.resolve(path)
        link = self.entries.get(folder.lower())
        folder = (link.target if link is not None and link.target else folder).lower()
        names = [
            e.path.rsplit("\\", 1)[-1]
            for e in self.entries.values()
            if (_parent(e.path) or "").lower() == folder
        ]
        return sorted(names, key=str.lower)

    def may_read(self, path: str, token: Iterable[str]) -> bool:
        """Whether the DACL of ``path`` lets one of the SIDs of ``token`` read it (a file's
        data, a folder's list of names)."""
        acl = self.acl_of(path)
        return any(acl.allows(sid) for sid in token)

    def read(self, path: str, account: str | Iterable[str] | None = None) -> bytes:
        """The file's bytes; AccessDenied when its DACL does not let ``account`` read (a
        SID, or the SIDs of a token)."""
        entry = self.stat(path)
        if entry.is_dir:
            raise AccessDenied(f"Access to the path '{path}' is denied.")
        token = [account] if isinstance(account, str) else account
        if token is not None and not self.may_read(entry.path, token):
            raise AccessDenied(f"Access to the path '{path}' is denied.")
        if entry.data is None:
            raise ModelError(f"the simulator holds only the size of '{path}', not its content")
        return entry.data

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read(path).decode(encoding, errors="replace")

    def read_all_text(self, path: str) -> str:
        """``[IO.File]::ReadAllText(path, [Text.Encoding]::UTF8)``: a byte order mark
        decides (UTF-32 or UTF-16, LE or BE; UTF-8's is dropped), else UTF-8; bytes
        that do not decode become U+FFFD, never an error."""
        data = self.read(path)
        for bom, codec in _BOMS:
            if data.startswith(bom):
                return data[len(bom) :].decode(codec, errors="replace")
        return data.decode("utf-8", errors="replace")

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
        checkpoint()
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
                    folder,
                    is_dir=True,
                    acl=copy.deepcopy(acl) if acl is not None else None,
                    modified=self.clock(),
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
        checkpoint()
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
            modified=self.clock(),
        )
        self.entries[physical.lower()] = entry
        if self.write_delay_s > 0:
            wait(self.write_delay_s)
        return entry

    def delete(self, path: str, *, force: bool = False) -> None:
        """Remove a file, or a folder with everything in it, or nothing.

        A file another process holds open refuses any delete; a read-only one
        refuses DeleteFile (File.Delete) unless ``force`` (Remove-Item -Force
        clears the attribute first).
        """
        checkpoint()
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
        (UnauthorizedAccessException), one held open (IOException) or a read-only
        folder stays with the folders above it, and the first such error is raised at
        the end.
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
            checkpoint()  # file by file, as Directory.Delete goes
            self.entries.pop(key)
            volume.free_bytes += item.size
        for key in reversed(keys):  # a folder after everything in it
            folder = self.entries.get(key)  # files that went are gone
            if folder is None or not folder.is_dir or key in kept:
                continue
            try:
                _check_deletable(folder, force=False)  # read-only, or held open
            except ModelError as exc:
                first = first or exc
                parent = key
                while parent is not None and parent != _parent(entry.path.lower()):
                    kept.add(parent.lower())
                    parent = _parent(parent)
                continue
            self.entries.pop(key)
        if first is not None:
            raise first

    def set_attributes(
        self, path: str, *, readonly: bool | None = None, open_by: str | None = ""
    ) -> None:
        """Set or clear ReadOnly, or mark the file held open by a process (None: closed)."""
        checkpoint()
        entry = self.stat(path)
        if readonly is not None:
            entry.readonly = readonly
        if open_by != "":
            entry.open_by = open_by

    def junction(self, path: str, target: str) -> None:
        """A junction at ``path`` to the folder ``target`` (mklink /J), its parents created."""
        checkpoint()
        parent = _parent(self.resolve(path))
        if parent is not None:
            self.mkdir(parent)
        physical = self.resolve(path)
        if physical.lower() in self.entries:
            raise ModelError(f"Cannot create a file when that file already exists. : '{path}'")
        self.entries[physical.lower()] = FileEntry(
            physical, is_dir=True, target=self.resolve(target), modified=self.clock()
        )
        self.has_junctions = True

    def walk(self, folder: str, *, follow: bool) -> tuple[list[str], list[str], list[str]]:
        """(files, folders, links) under ``folder``, paths as seen through it, breadth first.

        ``follow``: as ``Directory.GetFiles``/``GetDirectories`` with AllDirectories do
        ("includes reparse points such as mounted drives and symbolic links in the
        search"), a junction is entered like a folder: its files are its target's. A loop
        of links goes on until a path passes MAX_PATH (powershell.exe's .NET Framework
        keeps the legacy limit), where the enumeration throws. Otherwise a junction is
        listed among ``links``, never entered.
        """
        files: list[str] = []
        folders: list[str] = []
        links: list[str] = []
        queue = [self.stat(folder).path]
        while queue:
            current = queue.pop(0)
            for name in self.listdir(current):
                child = f"{current}\\{name}"
                if follow and len(child) >= 260:
                    raise ModelError(PATH_TOO_LONG)
                entry = self.stat(child)
                if entry.target is not None and not follow:
                    links.append(child)
                elif entry.is_dir:
                    folders.append(child)
                    queue.append(child)
                else:
                    files.append(child)
        return files, folders, links

    def rename(self, source: str, target: str, replace: bool = True) -> None:
        """Move a file in one step ([IO.File]::Replace / Move-Item -Force): no half state."""
        checkpoint()
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
        # MoveFile keeps the file's LastWriteTime (KB 299648).
        entry.path = target_physical
        self.entries[target_physical.lower()] = entry

    def replace(self, replacement: str, replaced: str, backup: str | None) -> None:
        """[IO.File]::Replace (ReplaceFile): ``replacement`` takes ``replaced``'s name and its
        DACL; ``replaced`` goes to ``backup`` when one is named, else it is gone.

        A fault set in ``replace_faults`` fails it half way as the function's documentation
        says: 1175 moves nothing; 1176 moves nothing when a backup is named, and without one
        deletes the replaced file (the replacement keeps its own name); 1177 leaves the
        replaced file under the backup name, or without one under a name of Windows' own,
        and the replacement under its own name.
        """
        with one_call():
            self._replace(replacement, replaced, backup)

    def _replace(self, replacement: str, replaced: str, backup: str | None) -> None:
        fault = self.replace_faults.pop(self.resolve(replaced).lower(), None)
        if fault is not None and fault not in REPLACE_ERRORS:
            raise ModelError(f"FileSystem.replace: no model of ReplaceFile error {fault}")
        dacl = self.acl_of(replaced)
        if fault == 1176 and backup is None:
            self.delete(replaced)
        elif fault == 1177:
            folder = _parent(self.resolve(replaced)) or ""
            self.rename(replaced, backup or f"{folder}\\~RF{uuid.uuid4().hex[:6]}.TMP", False)
        if fault is not None:
            raise ModelError(REPLACE_ERRORS[fault])
        if backup is not None:
            self.rename(replaced, backup, replace=False)
        self.rename(replacement, replaced)
        self.set_acl(replaced, dacl)

    def set_acl(self, path: str, acl: Acl) -> None:
        """SetAccessControl: the object's own owner, entries and protection."""
        checkpoint()
        physical = self.resolve(path)
        if _is_root(physical):
            self.root_acls[physical.lower()] = acl
            return
        self.stat(path).acl = acl

    def copy(self, source: str, target: str) -> FileEntry:
        """Copy-Item of one file: a new file whose DACL is inherited from the destination
        folder, not the source's (CopyFile semantics, KB 310316), owned by its creator; its
        attributes (ReadOnly) are the source's, as CopyFile copies them."""
        checkpoint()
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
        new.readonly = entry.readonly
        new.modified = entry.modified  # CopyFile keeps the last write time (KB 299648)
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
