"""ACLs on a server installed in French, over real WinRM (pywinrm, and ansible for deploys).

The built-in principals are named in French there: the bastion names them by
SID. The staging and backup roots under ProgramData (where Users may read and
create) are private and checked on every run; copies of settings.json (the
backup, the restored copy after a rollback) never end up readable by Users.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sagefleet import transfer
from sagefleet.package import PackageInfo, build_test_package, inspect
from sagefleet.remote import RemoteError, SnippetFailed
from sagefleet.settings import settings_sha256
from sagefleet.settings.host import content_stdin, settings_target, write_params, write_settings
from sagefleet.sim.fleet import Fleet
from sagefleet.sim.host import ADMINISTRATORS, SYSTEM, USERS, Acl, WindowsHost
from tests.support.deploy import agent, deploy, outcomes
from tests.support.deployed import make_deployed
from tests.support.fleets import FleetFactory, session_for
from tests.support.reliability import private
from tests.support.scenarios import entities_for

HOST = "sage01"
INSTALL_DIR = "C:\\Program Files\\Spendesk\\Sage Agent"
SETTINGS = INSTALL_DIR + "\\settings.json"
STAGING = transfer.DEFAULT_STAGING_DIR
BACKUP = "C:\\ProgramData\\sagefleet\\backup"
TEXT = '{"connections": [], "sqlPassword": "Sql-Canary-Passw0rd!"}\n'


@pytest.fixture
def fleet(make_fleet: FleetFactory) -> Fleet:
    return make_fleet(1, profiles=("french-ui",))


def small_package(folder: Path) -> PackageInfo:
    return inspect(
        build_test_package(folder / "Setup.zip", agent_version="3.2.0", installer_bytes=4096)
    )


def test_settings_write_works_on_a_french_host_with_sids_and_failed_with_english_names(
    fleet: Fleet,
) -> None:
    host = fleet.host(HOST)
    host.fs.mkdir(INSTALL_DIR)
    target = settings_target(HOST, path=SETTINGS, service_account="LocalSystem")
    assert target.acl() == {
        "owner": "S-1-5-32-544",
        "full_control": ["S-1-5-32-544", "S-1-5-18"],
        "read": [],
    }
    with session_for(fleet, HOST) as session:
        outcome = write_settings(session, target, TEXT)
        assert outcome.changed
        assert private(host, SETTINGS)
        assert host.account_name(host.fs.acl_of(SETTINGS).owner) == "BUILTIN\\Administrateurs"
        # What the bastion sent before: English names, which a French Windows cannot
        # translate. The write is refused and the file left as it was.
        english = {
            "owner": "BUILTIN\\Administrators",
            "full_control": ["BUILTIN\\Administrators", "NT AUTHORITY\\SYSTEM"],
            "read": [],
        }
        before = host.fs.read(SETTINGS)
        params = {**write_params(target, settings_sha256("{}"), check=False, return_content=False)}
        params["acl"] = english
        with pytest.raises(SnippetFailed) as caught:
            session.run_snippet("settings_write", params, stdin=content_stdin("{}"))
    assert "Some or all identity references could not be translated." in caught.value.error
    assert host.fs.read(SETTINGS) == before


def test_dot_accounts_are_granted_as_the_local_account(fleet: Fleet) -> None:
    host = fleet.host(HOST)
    host.fs.mkdir(INSTALL_DIR)
    target = settings_target(HOST, path=SETTINGS, service_account=".\\svc-spendesk")
    with session_for(fleet, HOST) as session:
        write_settings(session, target, TEXT)
    readers = [host.account_name(sid) for sid in host.fs.acl_of(SETTINGS).readers]
    assert readers == ["BUILTIN\\Administrateurs", "AUTORITE NT\\Système", "SAGE-FR\\svc-spendesk"]


def test_the_staging_dir_is_created_private_and_what_it_holds_too(
    fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.host(HOST)
    package = small_package(tmp_path)
    with session_for(fleet, HOST) as session:
        staged = transfer.stage(session, package)
        transfer.extract(session, staged.path, staged.path.rsplit("\\", 1)[0] + "\\package")
    assert private(host, STAGING)
    assert not host.fs.acl_of(staged.path).may_read(USERS)
    assert not host.fs.acl_of(staged.path.rsplit("\\", 1)[0] + "\\package").may_write(USERS)


@pytest.mark.parametrize("tamper", ["users-write", "foreign-owner"])
def test_a_tampered_staging_dir_is_refused_before_anything_is_staged(
    fleet: Fleet, tmp_path: Path, tamper: str
) -> None:
    host = fleet.host(HOST)
    if tamper == "users-write":
        host.fs.mkdir(STAGING)  # inherits ProgramData's DACL: Users read and create
        expected = "S-1-5-32-545 (Users, Everyone or Authenticated Users) is granted CreateFiles"
    else:
        # A local user created it first: it is theirs, whatever its entries say.
        mallory = host.translate("SAGE-FR\\mallory")
        host.fs.mkdir(STAGING, acl=Acl.private(mallory, [SYSTEM, ADMINISTRATORS], folder=True))
        expected = f"it is owned by {mallory}, not by Administrators (S-1-5-32-544)"
    with session_for(fleet, HOST) as session, pytest.raises(RemoteError) as caught:
        transfer.stage(session, small_package(tmp_path))
    message = str(caught.value)
    assert f"refusing to use the folder '{STAGING}'" in message
    assert expected in message and "delete it, and run again" in message
    assert host.fs.listdir(STAGING) == []


def install_params(host: WindowsHost, backup_root: str = BACKUP) -> dict[str, Any]:
    target = settings_target(HOST, path=SETTINGS)
    return {
        "service_name": "SpendeskSageAgent",
        "installer": "C:\\nowhere\\setup.exe",  # the backup comes first
        "arguments": [],
        "success_codes": [0],
        "reboot_codes": [3010],
        "stop_timeout_s": 30,
        "start_timeout_s": 30,
        "backup_dir": backup_root,
        "account": None,
        "log_path": None,
        "staged_settings": None,
        "installed_settings": SETTINGS,
        "settings_acl": target.acl(),
    }


def test_the_backup_of_settings_json_is_not_readable_by_users(fleet: Fleet) -> None:
    host = fleet.host(HOST)
    make_deployed(host, HOST, {"sagefleet_entities": entities_for("french-ui")})
    assert private(host, SETTINGS)
    with session_for(fleet, HOST) as session:
        outcome = session.run_snippet("agent_install", install_params(host), stdin=[b"\r\n"])
        assert outcome["failed_step"] == "installer" and outcome["backup_path"]
        backup = outcome["backup_path"]
        assert private(host, BACKUP)
        assert not host.fs.acl_of(backup + "\\settings.json").may_read(USERS)
        # The rollback copies it back into Program Files (Users may read there): the
        # restored settings.json gets the settings ACL again.
        target = settings_target(HOST, path=SETTINGS)
        restored = session.run_snippet(
            "agent_rollback",
            {
                "service_name": "SpendeskSageAgent",
                "install_dir": INSTALL_DIR,
                "backup_path": backup,
                "stop_timeout_s": 30,
                "start_timeout_s": 30,
                "settings_path": SETTINGS,
                "settings_acl": target.acl(),
            },
        )
    assert restored["restored"] and restored["error"] is None
    assert private(host, SETTINGS)
    assert host.fs.acl_of(SETTINGS).may_read(SYSTEM)


def test_a_backup_root_another_account_owns_is_refused(fleet: Fleet) -> None:
    host = fleet.host(HOST)
    make_deployed(host, HOST, {"sagefleet_entities": entities_for("french-ui")})
    host.fs.mkdir(BACKUP, acl=Acl(host.translate("SAGE-FR\\mallory"), [], protected=False))
    with session_for(fleet, HOST) as session:
        outcome = session.run_snippet("agent_install", install_params(host), stdin=[b"\r\n"])
    assert outcome["failed_step"] == "backup" and outcome["backup_path"] is None
    assert f"refusing to use the folder '{BACKUP}': it is owned by" in outcome["error"]
    assert host.fs.listdir(BACKUP) == []


def test_deploy_on_a_french_host_installs_and_rolls_back_with_private_copies(
    tmp_path: Path,
    make_fleet: FleetFactory,
) -> None:
    """ansible-playbook deploy.yml: a fresh install, then an upgrade whose installer fails
    and is rolled back; settings.json stays private at every step."""
    package = build_test_package(
        tmp_path / "Setup.zip", agent_version="3.2.0", installer_bytes=64 * 1024
    )
    fleet = make_fleet(profiles=["french-ui", "french-ui"], names=["fresh", "old"])
    old = fleet.host("old")
    make_deployed(old, "old", {"sagefleet_entities": entities_for("french-ui")}, "3.1.0")
    old.installer_failure = 1603
    process, _ = deploy(fleet, tmp_path, package)
    assert outcomes(process) == {"fresh": "installed", "old": "rolled-back"}, process.stdout[-4000:]
    fresh = fleet.host("fresh")
    assert agent(fleet, "fresh") == ("Running", "3.2.0")
    assert private(fresh, SETTINGS) and private(fresh, STAGING)
    assert agent(fleet, "old") == ("Running", "3.1.0")
    assert private(old, SETTINGS) and private(old, BACKUP)
    copies = [k for k in old.fs.entries if k.startswith(BACKUP.lower() + "\\")]
    assert any(k.endswith("\\settings.json") for k in copies)
    assert not any(old.fs.acl_of(k).may_read(USERS) for k in copies)
