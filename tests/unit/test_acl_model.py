"""Accounts and ACLs in the host model: localised names, Copy-Item, ProgramData."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from sagefleet import snippets
from sagefleet.settings import host as settings_host
from sagefleet.sim.commands import acl_rules, semantics
from sagefleet.sim.commands.dispatch import run_snippet
from sagefleet.sim.host import (
    ADMINISTRATORS,
    NOT_MAPPED,
    SYSTEM,
    USERS,
    Acl,
    IdentityNotMapped,
    ProfileError,
    WindowsHost,
    host_from_profile,
    load_profile,
    private_folder_acl,
)

AGENT = "C:\\Program Files\\Spendesk\\Sage Agent"
BACKUP_ROOT = "C:\\ProgramData\\sagefleet\\backup"
STAGING_DIR = "C:\\ProgramData\\sagefleet\\staging"


def make(profile: str = "healthy-onprem") -> WindowsHost:
    return host_from_profile("h1", "127.0.0.2", "admin", "pw", load_profile(profile))


ENGLISH = {
    ADMINISTRATORS: "BUILTIN\\Administrators",
    USERS: "BUILTIN\\Users",
    SYSTEM: "NT AUTHORITY\\SYSTEM",
    "S-1-5-19": "NT AUTHORITY\\LOCAL SERVICE",
    "S-1-5-20": "NT AUTHORITY\\NETWORK SERVICE",
}
FRENCH = {
    ADMINISTRATORS: "BUILTIN\\Administrateurs",
    USERS: "BUILTIN\\Utilisateurs",
    SYSTEM: "AUTORITE NT\\Système",
    "S-1-5-19": "AUTORITE NT\\SERVICE LOCAL",
    "S-1-5-20": "AUTORITE NT\\SERVICE RÉSEAU",
}


@pytest.mark.parametrize("sid", sorted(ENGLISH))
def test_a_french_host_names_built_in_principals_in_french_and_refuses_english(sid: str) -> None:
    french, english = make("french-ui"), make("healthy-onprem")
    assert (french.ui_language, english.ui_language) == ("fr-FR", "en-US")
    assert french.account_name(sid) == FRENCH[sid]
    assert french.translate(FRENCH[sid]) == sid
    with pytest.raises(IdentityNotMapped, match="could not be translated") as caught:
        french.translate(ENGLISH[sid])
    assert str(caught.value) == NOT_MAPPED
    assert english.translate(ENGLISH[sid]) == sid
    with pytest.raises(IdentityNotMapped):
        english.translate(FRENCH[sid])
    # A SID works whatever the language.
    assert french.resolve_principal(sid) == english.resolve_principal(sid) == sid


def test_service_pseudo_names_and_dot_accounts_resolve_only_through_the_resolver() -> None:
    host = make("french-ui")
    for name in ("LocalSystem", ".\\svc-spendesk"):
        with pytest.raises(IdentityNotMapped):
            host.translate(name)  # NTAccount knows neither
    assert host.resolve_principal("LocalSystem") == SYSTEM
    assert host.resolve_principal("NT AUTHORITY\\NetworkService") == "S-1-5-20"
    local = host.resolve_principal(".\\svc-spendesk")
    assert local == host.translate("SAGE-FR\\svc-spendesk")
    assert host.account_name(local) == "SAGE-FR\\svc-spendesk"
    assert host.translate("CORP\\svc-spendesk").startswith("S-1-5-21-")


def test_a_profile_language_must_be_one_the_model_speaks() -> None:
    data = {**load_profile("healthy-onprem"), "ui_language": "de-DE"}
    with pytest.raises(ProfileError, match="ui_language"):
        host_from_profile("h1", "127.0.0.2", "admin", "pw", data)


def test_programdata_lets_users_read_and_create_and_the_creator_owns() -> None:
    fs = make().fs
    programdata = fs.acl_of("C:\\ProgramData")
    assert programdata.may_read(USERS) and programdata.may_write(USERS)
    # A folder our code creates there without a DACL of its own inherits that.
    fs.mkdir(STAGING_DIR)
    staging = fs.acl_of(STAGING_DIR)
    assert not staging.protected and staging.owner == ADMINISTRATORS
    assert staging.may_write(USERS) and staging.may_read(USERS)
    # Created with a protected DACL, it and what it holds are SYSTEM's and Administrators'.
    fs.mkdir(BACKUP_ROOT, acl=private_folder_acl())
    fs.mkdir(BACKUP_ROOT + "\\1.0")
    fs.write(BACKUP_ROOT + "\\1.0\\settings.json", b"{}")
    for path in (BACKUP_ROOT, BACKUP_ROOT + "\\1.0", BACKUP_ROOT + "\\1.0\\settings.json"):
        acl = fs.acl_of(path)
        assert acl.readers == [SYSTEM, ADMINISTRATORS], path
        assert not acl.may_write(USERS), path


def test_a_copy_takes_its_destination_dacl_a_rename_keeps_its_own() -> None:
    """The bug the simulator must show: Copy-Item of a protected settings.json into a
    folder created plainly under ProgramData gives Users a readable copy."""
    fs = make().fs
    fs.mkdir(AGENT)
    fs.write(AGENT + "\\settings.json", b"{}", acl=Acl.private(ADMINISTRATORS, [SYSTEM]))
    assert not fs.acl_of(AGENT + "\\settings.json").may_read(USERS)
    fs.mkdir(BACKUP_ROOT + "\\1.0")
    fs.copy(AGENT + "\\settings.json", BACKUP_ROOT + "\\1.0\\settings.json")
    copied = fs.acl_of(BACKUP_ROOT + "\\1.0\\settings.json")
    assert copied.may_read(USERS) and not copied.protected
    fs.rename(AGENT + "\\settings.json", AGENT + "\\settings.json.bak")
    assert not fs.acl_of(AGENT + "\\settings.json.bak").may_read(USERS)
    # A file without its own entries moved elsewhere keeps what it inherited.
    fs.write(AGENT + "\\log.txt", b"x")
    fs.rename(AGENT + "\\log.txt", BACKUP_ROOT + "\\1.0\\log.txt")
    assert fs.acl_of(BACKUP_ROOT + "\\1.0\\log.txt").readers == fs.acl_of(AGENT).readers


def script(name: str, params: dict[str, object], code: str = "") -> semantics.Script:
    return semantics.Script(name, params, snippets.render(name, params) + code)


def test_english_built_in_names_in_a_script_code_are_refused_on_a_french_host() -> None:
    french, english = make("french-ui"), make("healthy-onprem")
    code = "$a = New-Object System.Security.Principal.NTAccount 'BUILTIN\\Administrators'\n"
    assert acl_rules.english_names_in_code(french, script("host_info", {}, code)) == NOT_MAPPED
    assert acl_rules.english_names_in_code(english, script("host_info", {}, code)) is None
    # Bare names and icacls arguments too; the System event log is no principal.
    for other in (
        "icacls $f /grant 'NT AUTHORITY\\SYSTEM:F'\n",
        "$a = New-Object System.Security.Principal.NTAccount('Administrators')\n",
        "$e = Get-WinEvent -FilterHashtable @{ LogName = 'System' }\n",
    ):
        refused = acl_rules.english_names_in_code(french, script("host_info", {}, other))
        assert (refused == NOT_MAPPED) is ("LogName" not in other), other
    # Parameters are data: the snippet model resolves them when the script does.
    params = {"acl": {"owner": "BUILTIN\\Administrators"}}
    assert acl_rules.english_names_in_code(french, script("host_info", params)) is None
    for name in snippets.available():
        assert acl_rules.english_names_in_code(french, script(name, {})) is None, name


ACL_HELPERS = (
    "Resolve-SfPrincipal",
    "New-SfPrivateSecurity",
    "Set-SfPrivateAcl",
    "Confirm-SfPrivateFolder",
)


def test_prelude_functions_travel_only_with_the_snippets_that_call_them() -> None:
    def carried(name: str) -> set[str]:
        text = snippets.prelude_for(name)
        return {f for f in ACL_HELPERS if f"function {f}" in text}

    # facts resolves the service account's SID for its "Log on as a service" right (SF402),
    # and checks the failed-install record's folder, read only (SF406).
    assert carried("facts") == {"Resolve-SfPrincipal", "Confirm-SfPrivateFolder"}
    assert carried("stage_push") == {"Confirm-SfPrivateFolder"}
    assert carried("settings_write") == {
        "Resolve-SfPrincipal",
        "New-SfPrivateSecurity",
        "Set-SfPrivateAcl",
    }
    assert carried("agent_install") == set(ACL_HELPERS)
    assert "function Complete-SageFleet" in snippets.prelude_for("facts")


def test_file_replace_leaves_the_replaced_files_dacl_unless_the_script_sets_its_own() -> None:
    """[IO.File]::Replace keeps the replaced file's DACL, not the temporary file's: a
    settings_write that did not set its ACL again after it would leave an installer's
    Users-readable settings.json as it was."""
    host = make()
    path = AGENT + "\\settings.json"
    host.fs.mkdir(AGENT)
    host.fs.write(path, b'{"old": 1}')  # as an installer leaves it: inherited, Users read
    assert host.fs.acl_of(path).may_read(USERS)
    content = b'{"new": 2}'
    target = settings_host.settings_target("h1", path=path)
    params = settings_host.write_params(
        target, hashlib.sha256(content).hexdigest(), check=False, return_content=False
    )
    stdin = base64.b64encode(content) + b"\r\n"
    full = snippets.render("settings_write", params)
    final_set = "Set-SfPrivateAcl $target $P.acl"
    assert full.count(final_set) == 1
    without = full.replace(final_set, "")
    rc, _, _ = run_snippet(host, "settings_write", params, stdin, script=without)
    assert rc == 0 and host.fs.read(path) == content
    assert host.fs.acl_of(path).may_read(USERS)  # the replaced file's DACL stayed
    host.fs.delete(path)
    host.fs.write(path, b'{"old": 1}')
    rc, _, _ = run_snippet(host, "settings_write", params, stdin)
    assert rc == 0 and not host.fs.acl_of(path).may_read(USERS)


def test_protect_leaves_an_installers_copy_readable_unless_the_script_sets_its_acl() -> None:
    """settings_write's protect changes the copy an installer left only by its one
    Set-SfPrivateAcl: the model follows the script, so a protect without it would leave
    Users reading the passwords, and a test would say so."""
    host = make()
    path = AGENT + "\\settings.json"
    host.fs.mkdir(AGENT)
    host.fs.write(path, b'{"SqlPassword": "canary"}')  # inherited: Users may read
    params = settings_host.protect_params(settings_host.settings_target("h1", path=path))
    full = snippets.render("settings_write", params)
    line = "Set-SfPrivateAcl -Path $target -Acl $P.acl"
    assert full.count(line) == 1
    rc, _, _ = run_snippet(host, "settings_write", params, b"", script=full.replace(line, ""))
    assert rc == 0 and host.fs.acl_of(path).may_read(USERS)
    rc, _, _ = run_snippet(host, "settings_write", params, b"")
    assert rc == 0 and not host.fs.acl_of(path).may_read(USERS)
    assert host.fs.read(path) == b'{"SqlPassword": "canary"}'


def test_the_bastion_and_the_prelude_map_the_same_service_account_names_to_sids() -> None:
    """Python grants these names by SID (settings ACL); the prelude's resolver maps the
    same names for what reaches it raw (the service account): one table in two languages."""
    prelude = snippets.prelude()
    start = prelude.index("$pseudo = @{")
    block = prelude[start : prelude.index("}", start)]
    pairs = dict(re.findall(r"'([^']+)'\s*=\s*'(S-1-[0-9-]+)'", block))
    assert pairs == settings_host._WELL_KNOWN_ACCOUNTS
