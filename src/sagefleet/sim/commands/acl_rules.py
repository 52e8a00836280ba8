"""Accounts and ACLs as Windows treats what a script does with them.

Principals in the UI language, private ACLs and folders as the script makes them:
docs/simulator.md, "Rules: what Windows refuses in a script", and ledger rows 5 to 7.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sagefleet.sim.commands import semantics
from sagefleet.sim.commands.registry import SnippetAbort
from sagefleet.sim.host import (
    ADMINISTRATORS,
    BROAD_PRINCIPALS,
    NOT_MAPPED,
    SYSTEM,
    WELL_KNOWN_NAMES,
    AccessDenied,
    Acl,
    IdentityNotMapped,
    WindowsHost,
    private_folder_acl,
)

#: The prelude's functions a script carries when it uses them.
RESOLVER = r"function\s+Resolve-SfPrincipal\b"
FOLDER_CHECK = r"function\s+Confirm-SfPrivateFolder\b"
_TRUSTED_OWNERS = (ADMINISTRATORS, SYSTEM)


def listed_as_winrm(host: WindowsHost, folder: str, caught: str) -> tuple[list[str], str | None]:
    """Get-ChildItem of ``folder`` as the WinRM account (its token against the folder's
    DACL, ledger row 38): its names, or none and Windows' error when that account may not
    list it. The error is the script's only when it stops on it (``caught``: its
    Get-ChildItem with -ErrorAction Stop); -ErrorAction SilentlyContinue drops it, and the
    folder reads as empty."""
    try:
        return host.fs.listdir(folder, host.winrm_token()), None
    except AccessDenied as exc:
        return [], str(exc) if semantics.uses(caught) else None


def uses_private_acl() -> bool:
    """Whether the running script sets a protected DACL with the prelude's Set-SfPrivateAcl."""
    return semantics.uses(r"function\s+Set-SfPrivateAcl\b")


def principal(host: WindowsHost, name: str) -> str:
    """The SID the running script gets for ``name``: through the prelude's
    Resolve-SfPrincipal when it carries it, else NTAccount.Translate."""
    if not semantics.uses(RESOLVER):
        try:
            return host.translate(name)
        except IdentityNotMapped as exc:
            raise SnippetAbort(str(exc)) from None
    try:
        return host.resolve_principal(name)
    except IdentityNotMapped as exc:
        raise SnippetAbort(
            f"account '{name}' could not be translated to a SID on this host: {exc} (name it "
            "DOMAIN\\user, .\\user or by SID; built-in accounts only by SID, e.g. "
            "S-1-5-32-544 for Administrators, S-1-5-18 for SYSTEM: their names depend on the "
            "Windows language)"
        ) from None


def private_acl(host: WindowsHost, spec: Mapping[str, Any]) -> Acl:
    """The protected DACL a snippet sets from an ACL spec {owner, full_control, read}."""
    full = [principal(host, str(a)) for a in spec.get("full_control") or [] if a]
    read = [principal(host, str(a)) for a in spec.get("read") or [] if a]
    return Acl.private(principal(host, str(spec.get("owner") or "")), full, read)


def private_folder(host: WindowsHost, root: Any, create: bool = True) -> str | None:
    """What Confirm-SfPrivateFolder does with ``root``, when the script carries it.

    Creates the folder (and missing parents) with a protected DACL (SYSTEM and
    Administrators, owner Administrators), then refuses a folder that another
    account owns or that Users, Everyone or Authenticated Users may open.
    Returns the folder's path, or None when the script does not check folders. With
    ``create`` False (stage_status, stage_cleanup) a missing folder stays missing.
    """
    if not semantics.uses(FOLDER_CHECK):
        return None
    if not root:
        raise SnippetAbort("no private folder given (parameter root)")
    fs = host.fs
    full = fs.resolve(str(root)).rstrip("\\")
    if not fs.is_dir(full):
        if not create:  # a read-only caller (stage_status, stage_cleanup): nothing to check
            return full
        fs.mkdir(full, acl=private_folder_acl())
    acl = fs.acl_of(full)
    problems = []
    if acl.owner.upper() not in _TRUSTED_OWNERS:
        problems.append(
            f"it is owned by {acl.owner}, not by Administrators (S-1-5-32-544) or SYSTEM (S-1-5-18)"
        )
    link = fs.entries.get(full.lower())
    if link is not None and link.target is not None:  # its own attributes: ReparsePoint
        problems.append("it is a junction or a symbolic link")
    for ace in acl.aces:
        # GetAccessRules lists inherit-only entries too: the snippet refuses them alike.
        if ace.sid in BROAD_PRINCIPALS:
            problems.append(
                f"{ace.sid} (Users, Everyone or Authenticated Users) is granted "
                f"{rights_text(ace.rights)}"
            )
    if problems:
        raise SnippetAbort(
            f"refusing to use the folder '{full}': {'; '.join(problems)}. Only SYSTEM and "
            "Administrators may own or open it. Check who created it and what it holds, "
            "delete it, and run again: sagefleet creates it with SYSTEM and Administrators "
            "only."
        )
    return full


def rights_text(rights: str) -> str:
    """FileSystemRights.ToString() of the model's rights."""
    return {
        "FullControl": "FullControl",
        "Modify": "Modify, Synchronize",
        "ReadAndExecute": "ReadAndExecute, Synchronize",
        "Read": "Read, Synchronize",
        "CreateFiles": "CreateFiles, AppendData",
        "Write": "Write, Synchronize",
    }.get(rights, rights)


_PARAM_END = "\n'@\n"
_ENGLISH = sorted(
    {names["en-US"] for names in WELL_KNOWN_NAMES.values() if "\\" in names["en-US"]}
    - {names["fr-FR"] for names in WELL_KNOWN_NAMES.values()}
)
# Names NTAccount also takes without their authority. 'SYSTEM' is left out: the System
# event log is named so in every language.
_ENGLISH_BARE = ("Administrators", "Users", "Everyone", "Authenticated Users", "CREATOR OWNER")
# A whole string, or an icacls-style 'name:(rights)' argument; not a hashtable key (the
# resolver's map of the names an inventory may hold to their SIDs is read, not translated).
_ENGLISH_NAMES = re.compile(
    r"['\"](?:"
    + "|".join(re.escape(name) for name in (*_ENGLISH, *_ENGLISH_BARE))
    + r")(?=['\":])(?!['\"]\s*=(?!=))",
    re.I,
)


@semantics.rule
def english_names_in_code(host: WindowsHost, script: semantics.Script) -> str | None:
    """A built-in principal named in English in the script's own code (its parameters
    aside) cannot be translated on a server installed in another language."""
    if host.ui_language == "en-US":
        return None
    code = script.text.replace("\r\n", "\n").split(_PARAM_END, 1)[-1]
    return NOT_MAPPED if _ENGLISH_NAMES.search(code) else None
