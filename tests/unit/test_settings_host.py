"""Writing settings.json to a host: parameters, stdin, results, diff, and secrets kept out."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from tests.support.scenarios import entities_for, text_for

from sagefleet.agent import profile as agent_profile
from sagefleet.agent import service as agent_service
from sagefleet.errors import InputError
from sagefleet.remote import SnippetFailed
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.remote.command import STDIN_BOOTSTRAP, command_line
from sagefleet.settings import HostSettings, settings_sha256
from sagefleet.settings import host as settings_host
from sagefleet.settings.host import SettingsRefused, SettingsTarget, SettingsWriteFailed
from sagefleet.sim.host import (
    ADMINISTRATORS,
    SYSTEM,
    USERS,
    Service,
    WindowsHost,
    host_from_profile,
    load_profile,
)
from sagefleet.sim.host.filesystem import REPLACE_ERRORS
from sagefleet.sim.session import SimSession

CANARY = "Sql-Canary-Passw0rd!"
FOLDER = "C:\\Program Files\\Spendesk\\Sage Agent"
PATH = FOLDER + "\\settings.json"


@pytest.fixture
def sim() -> WindowsHost:
    host = host_from_profile("sage01", "127.0.0.2", "admin", "pw", load_profile("healthy-onprem"))
    host.fs.mkdir(FOLDER)
    return host


@pytest.fixture
def target() -> SettingsTarget:
    return settings_host.settings_target("sage01", service_account="CORP\\svc-spendesk")


def files(host: WindowsHost) -> dict[str, tuple[bytes, Any, Any]]:
    return {
        name: (host.fs.read(f"{FOLDER}\\{name}"), e.modified, e.acl)
        for name in host.fs.listdir(FOLDER)
        for e in [host.fs.stat(f"{FOLDER}\\{name}")]
    }


# -- options ---------------------------------------------------------------------


def test_default_path_is_settings_json_in_the_catalog_install_folder() -> None:
    assert settings_host.settings_target("h").path == PATH
    assert settings_host.settings_target("h", install_dir="D:/Agent/").path == (
        "D:\\Agent\\settings.json"
    )


@pytest.mark.parametrize("path", ["settings.json", "C:\\Agent\\", "C:\\a\\set*.json", "\\\\srv"])
def test_a_path_that_is_not_an_absolute_windows_file_is_refused(path: str) -> None:
    with pytest.raises(InputError, match="host h, field path: must be the absolute"):
        settings_host.settings_target("h", path=path)


def test_keep_backups_out_of_range_is_refused() -> None:
    with pytest.raises(InputError, match="keep_backups"):
        settings_host.settings_target("h", keep_backups=-1)


@pytest.mark.parametrize(
    ("account", "granted"),
    [
        ("LocalSystem", None),
        ("NT AUTHORITY\\SYSTEM", None),
        ("NT AUTHORITY\\LocalService", "S-1-5-19"),
        ("NetworkService", "S-1-5-20"),
        ("CORP\\svc-spendesk", "CORP\\svc-spendesk"),
        (".\\spendesk", ".\\spendesk"),
    ],
)
def test_acl_grants_admins_and_system_full_control_and_the_service_account_read(
    account: str, granted: str | None
) -> None:
    # Built-in principals go by SID (their names depend on the host's UI language).
    acl = SettingsTarget(PATH, account).acl()
    assert acl["owner"] == "S-1-5-32-544"
    assert acl["full_control"] == ["S-1-5-32-544", "S-1-5-18"]
    assert acl["read"] == ([] if granted is None else [granted])


def test_a_backup_name_must_be_one_of_ours(target: SettingsTarget) -> None:
    good = "settings.json.20250131T142500Z.bak"
    assert settings_host.check_backup_name("sage01", target, good) == good
    assert settings_host.check_backup_name("sage01", target, None) is None
    for bad in ("..\\..\\Windows\\win.ini", "settings.json", "other.json.20250131T142500Z.bak"):
        with pytest.raises(InputError, match="field backup"):
            settings_host.check_backup_name("sage01", target, bad)


# -- what goes on the wire -------------------------------------------------------


def test_write_params_carry_the_hash_and_never_the_content(target: SettingsTarget) -> None:
    text = text_for()
    params = settings_host.write_params(
        target, settings_sha256(text), check=False, return_content=True
    )
    assert params["sha256"] == settings_sha256(text)
    assert params["action"] == "write" and params["keep_backups"] == 5
    assert CANARY not in json.dumps(params)
    assert set(params) == set(
        settings_host.rollback_params(target, None, check=True, return_content=False)
    )


def test_content_travels_as_one_base64_line_of_utf8() -> None:
    text = text_for(name="Société Générale")
    (line,) = settings_host.content_stdin(text)
    assert line.endswith(b"\r\n") and b"\n" not in line[:-1]
    assert base64.b64decode(line).decode("utf-8") == text


def test_the_command_line_never_holds_a_secret(sim: WindowsHost, target: SettingsTarget) -> None:
    session = SimSession(sim)
    settings_host.write_settings(session, target, text_for(), want_diff=True)
    ((command, stdin),) = session.commands
    assert command == command_line(STDIN_BOOTSTRAP)
    script, content = split_stdin(stdin)
    assert CANARY not in command and CANARY not in script
    assert CANARY.encode() not in content  # base64 only
    assert CANARY in base64.b64decode(content.strip()).decode()


def split_stdin(stdin: bytes) -> tuple[str, bytes]:
    """The script the bootstrap reads (length, LF, UTF-8 text) and the stdin after it."""
    head, _, rest = stdin.partition(b"\n")
    size = int(head)
    return rest[:size].decode("utf-8"), rest[size:]


def test_content_is_the_one_stdin_line_after_the_script(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session = SimSession(sim)
    text = text_for()
    outcome = settings_host.write_settings(session, target, text)
    assert outcome.changed
    ((command, stdin),) = session.commands
    script, content = split_stdin(stdin)
    assert script.startswith("# sagefleet:settings_write/") and len(content.splitlines()) == 1
    assert sim.fs.read(PATH) == text.encode("utf-8")


def test_check_mode_sends_no_content(sim: WindowsHost, target: SettingsTarget) -> None:
    session = SimSession(sim)
    outcome = settings_host.write_settings(session, target, text_for(), check=True)
    assert outcome.changed and outcome.check
    script, content = split_stdin(session.commands[0][1])
    assert script.startswith("# sagefleet:settings_write/") and content == b""
    assert not sim.fs.exists(PATH)
    assert "would be created" in outcome.msg


def test_output_is_marked_sensitive_only_when_content_comes_back(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session = SimSession(sim)
    settings_host.write_settings(session, target, text_for())
    settings_host.write_settings(session, target, text_for(analytic_plan=2), want_diff=True)
    assert session.sensitive == [False, True]


# -- results ----------------------------------------------------------------------


def test_first_write_creates_the_file_with_the_restricted_acl(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    text = text_for()
    outcome = settings_host.write_settings(SimSession(sim), target, text)
    assert (outcome.changed, outcome.existed, outcome.backup) == (True, False, None)
    assert outcome.sha256 == settings_sha256(text)
    entry = sim.fs.stat(PATH)
    assert entry.data == text.encode("utf-8")
    assert entry.acl is not None and entry.acl.protected
    assert entry.acl.owner == ADMINISTRATORS
    assert entry.acl.readers == [ADMINISTRATORS, SYSTEM, sim.translate("CORP\\svc-spendesk")]
    assert not sim.fs.acl_of(PATH).allows(USERS)


def test_same_content_is_not_written_again(sim: WindowsHost, target: SettingsTarget) -> None:
    session = SimSession(sim)
    settings_host.write_settings(session, target, text_for())
    before = files(sim)
    outcome = settings_host.write_settings(session, target, text_for())
    assert not outcome.changed and outcome.msg.endswith("already up to date")
    assert files(sim) == before


def test_new_content_keeps_the_previous_file_as_a_timestamped_backup(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session = SimSession(sim)
    first = text_for()
    settings_host.write_settings(session, target, first)
    outcome = settings_host.write_settings(session, target, text_for(analytic_plan=2))
    assert outcome.changed and outcome.backup is not None
    assert outcome.backup.startswith("settings.json.") and outcome.backup.endswith("Z.bak")
    assert sim.fs.read(f"{FOLDER}\\{outcome.backup}") == first.encode("utf-8")
    assert outcome.backups == [outcome.backup]


def test_only_the_newest_backups_are_kept(sim: WindowsHost) -> None:
    target = settings_host.settings_target("sage01", keep_backups=2)
    session = SimSession(sim)
    written = [text_for(analytic_plan=n) for n in range(1, 6)]
    outcomes = [settings_host.write_settings(session, target, t) for t in written]
    backups = outcomes[-1].backups
    assert len(backups) == 2 and backups == sorted(backups, reverse=True)
    assert [sim.fs.read(f"{FOLDER}\\{b}") for b in backups] == [
        written[3].encode(),
        written[2].encode(),
    ]
    assert sum(len(o.pruned) for o in outcomes) == 2


def test_diff_is_redacted_and_shows_a_changed_password_as_changed(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session = SimSession(sim)
    settings_host.write_settings(session, target, text_for())
    outcome = settings_host.write_settings(
        session, target, text_for(sql_password=CANARY + "-new", sql_user="sf2"), want_diff=True
    )
    assert outcome.diff is not None
    assert '-        "user": "sagefleet_sql"' in outcome.diff
    assert "******** (changed)" in outcome.diff
    assert CANARY not in json.dumps(outcome.to_result())
    assert outcome.to_result()["diff"] == {"prepared": outcome.diff}


def test_rollback_restores_the_newest_backup_once(sim: WindowsHost, target: SettingsTarget) -> None:
    session = SimSession(sim)
    first, second = text_for(), text_for(analytic_plan=2)
    settings_host.write_settings(session, target, first)
    settings_host.write_settings(session, target, second)
    outcome = settings_host.rollback_settings(session, target, want_diff=True)
    assert outcome.changed and sim.fs.read(PATH) == first.encode("utf-8")
    assert outcome.diff is not None and '"analyticPlan": 1' in outcome.diff
    again = settings_host.rollback_settings(session, target)
    assert not again.changed


def test_rollback_to_a_named_backup(sim: WindowsHost, target: SettingsTarget) -> None:
    session = SimSession(sim)
    texts = [text_for(analytic_plan=n) for n in (1, 2, 3)]
    outcomes = [settings_host.write_settings(session, target, t) for t in texts]
    oldest = outcomes[1].backup
    outcome = settings_host.rollback_settings(session, target, backup=oldest)
    assert outcome.restored == oldest and sim.fs.read(PATH) == texts[0].encode()


def test_rollback_without_backup_names_host_and_path(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    with pytest.raises(
        SettingsWriteFailed, match=r"^sage01: no backup of '.*settings\.json' to roll back to"
    ):
        settings_host.rollback_settings(SimSession(sim), target)


def test_disk_full_fails_naming_host_and_path_and_keeps_the_old_file(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session = SimSession(sim)
    settings_host.write_settings(session, target, text_for())
    before = files(sim)
    sim.fs.volume("C:").free_bytes = 0
    with pytest.raises(SettingsWriteFailed) as caught:
        settings_host.write_settings(session, target, text_for(analytic_plan=2))
    message = str(caught.value)
    assert message.startswith("sage01: ") and PATH in message and "disk" in message
    assert "previous file is unchanged" in message
    assert files(sim) == before  # no temporary file left either


def test_missing_folder_is_a_clear_error(target: SettingsTarget) -> None:
    host = host_from_profile("sage01", "127.0.0.2", "a", "p", load_profile("healthy-onprem"))
    with pytest.raises(SettingsWriteFailed, match="does not exist"):
        settings_host.write_settings(SimSession(host), target, text_for())


def test_an_answer_for_other_content_is_refused(target: SettingsTarget) -> None:
    answer = {"action": "write", "changed": True, "sha256": "0" * 64}
    with pytest.raises(SettingsWriteFailed, match="another SHA-256"):
        settings_host.interpret("sage01", target, answer, action="write", after_text="{}\n")


def test_transport_error_text_never_carries_echoed_content(target: SettingsTarget) -> None:
    from sagefleet.remote.errors import TransportError

    blob = base64.b64encode(text_for().encode()).decode()
    failed = settings_host._failure("sage01", target, TransportError("sage01", f"stdout: {blob}"))
    assert blob not in str(failed) and "<data>" in str(failed)


# -- the Ansible transport hides sensitive output ----------------------------------


# A host_info document that follows the snippet's output contract.
HOST_INFO = {
    "hostname": "SAGE01",
    "os_caption": "Microsoft Windows Server 2019 Standard",
    "os_version": "10.0.17763",
    "os_build": 17763,
    "powershell_version": "5.1.17763.5576",
    "language_mode": "FullLanguage",
    "utc_now": "2025-03-01T10:15:00.0000000Z",
}


class FakePlayContext:
    no_log = False


class FakeConnection:
    def __init__(self) -> None:
        self._play_context = FakePlayContext()
        self.no_log_seen: list[bool] = []

    def exec_command(self, cmd: str, in_data: bytes | None = None) -> tuple[int, bytes, bytes]:
        self.no_log_seen.append(self._play_context.no_log)
        return 0, json.dumps(HOST_INFO).encode(), b""


def test_ansible_session_sets_no_log_for_a_sensitive_run_and_restores_it() -> None:
    connection = FakeConnection()
    session = AnsibleSession("sage01", connection)
    session.run_snippet("host_info")
    session.run_snippet("host_info", sensitive=True)
    assert connection.no_log_seen == [False, True]
    assert connection._play_context.no_log is False


class FailingConnection(FakeConnection):
    def exec_command(self, cmd: str, in_data: bytes | None = None) -> tuple[int, bytes, bytes]:
        raise OSError("connection lost")


def test_ansible_session_restores_no_log_after_a_failure() -> None:
    connection = FailingConnection()
    session = AnsibleSession("sage01", connection)
    with pytest.raises(OSError):
        session.run_snippet("host_info", sensitive=True)
    assert connection._play_context.no_log is False


# -- the guard: what may be overwritten ----------------------------------------------

VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor_settings"


def vendor_settings(*names: str, **variables: Any) -> HostSettings:
    entities = []
    for name in names:
        entity = {**entities_for("healthy-onprem")[0], "name": name, "company_code": name}
        entity["mae_path"] = f"C:\\Sage\\{name}.MAE"
        entity["database"] = name
        entity["vendor_settings"] = str(VENDOR / f"{name.lower()}.settings.json")
        entities.append(entity)
    return settings_host.host_settings("sage01", {"sagefleet_entities": entities, **variables})


def template_settings() -> HostSettings:
    entity = entities_for("healthy-onprem")[0]
    entity.pop("vendor_settings")
    variables = {"sagefleet_entities": [entity], "sagefleet_settings_source": "template"}
    return settings_host.host_settings("sage01", variables)


def guarded(session: SimSession, target: SettingsTarget, settings: HostSettings, **kw: Any) -> Any:
    return settings_host.write_settings(session, target, settings.text, guard=settings, **kw)


def test_template_content_over_a_vendor_file_is_refused_and_nothing_is_written(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    sim.fs.write(PATH, (VENDOR / "bijou.settings.json").read_bytes())
    before = files(sim)
    with pytest.raises(SettingsRefused) as refused:
        guarded(SimSession(sim), target, template_settings())
    message = str(refused.value)
    assert message.startswith(f"sage01: refusing to overwrite {PATH}: it is not in sagefleet's")
    assert "Vendor-" not in message
    assert files(sim) == before


def test_the_current_file_is_read_with_its_content_hidden_before_the_write(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session = SimSession(sim)
    outcome = guarded(session, target, vendor_settings("BIJOU"))
    assert outcome.changed and session.sensitive == [True, False]
    assert split_stdin(session.commands[0][1])[1] == b""  # the read sends no content
    assert sim.fs.read(PATH) == vendor_settings("BIJOU").text.encode("utf-8")
    again = guarded(session, target, vendor_settings("BIJOU"))
    assert not again.changed and len(session.commands) == 3  # unchanged: one read, no write


def test_vendor_content_that_would_drop_a_connection_is_refused_naming_it(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session = SimSession(sim)
    guarded(session, target, vendor_settings("BIJOU", "CHOCO"))
    before = files(sim)
    with pytest.raises(SettingsRefused, match=r"Connections\[CompanyName=CHOCO\]") as refused:
        guarded(session, target, vendor_settings("BIJOU"), want_diff=True)
    assert "sagefleet_settings_drop_connections" in str(refused.value)
    assert files(sim) == before
    dropped = vendor_settings("BIJOU", sagefleet_settings_drop_connections=True)
    assert guarded(session, target, dropped).changed


def test_check_mode_reports_a_refusal_too(sim: WindowsHost, target: SettingsTarget) -> None:
    sim.fs.write(PATH, (VENDOR / "choco.settings.json").read_bytes())
    with pytest.raises(SettingsRefused):
        guarded(SimSession(sim), target, template_settings(), check=True)


def test_a_file_changed_since_it_was_read_is_not_replaced(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session = SimSession(sim)
    settings = vendor_settings("BIJOU", "CHOCO")
    probed = settings_host.probe_settings(session, target, settings, want_diff=False)
    sim.fs.write(PATH, b'{"Connections": []}')  # someone else wrote it meanwhile
    with pytest.raises(SettingsWriteFailed, match="changed since it was read"):
        guarded(session, target, settings, probed=probed)
    assert sim.fs.read(PATH) == b'{"Connections": []}'


def test_the_model_refuses_an_expectation_it_does_not_understand(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    text = text_for()
    params = settings_host.write_params(
        target, settings_sha256(text), check=True, return_content=False, expect_previous=None
    )
    params["expect_previous"] = "0" * 64
    with pytest.raises(SnippetFailed, match="expect_previous not understood"):
        SimSession(sim).run_snippet("settings_write", params)


def test_the_diff_of_vendor_files_masks_secrets_in_unexpected_members(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session = SimSession(sim)
    guarded(session, target, vendor_settings("CHOCO"))
    outcome = guarded(session, target, vendor_settings("BIJOU", "CHOCO"), want_diff=True)
    assert outcome.diff is not None and '+      "CompanyName": "BIJOU",' in outcome.diff
    for secret in ("Vendor-Sql-Secret-Bijou", "vendor-apikey-bijou", "Vendor-Conn-Secret-Bijou"):
        assert secret not in outcome.diff
    assert '"ApiKey": "********"' in outcome.diff and "Password=********" in outcome.diff


# -- over the current file: what only it holds is kept ----------------------------------


def with_installer_answers(settings: HostSettings) -> bytes:
    """The host's file as the vendor's installer leaves it: the vendor content, then the
    wizard's answers (.MAE file and Sage user per connection, the service account)."""
    document = json.loads(settings.text)
    for item in document["Connections"]:
        item["MaeFile"] = f"C:\\Sage\\{item['CompanyName']}.MAE"
        item["SageUser"] = "<administrateur>"
    document["ServiceAccount"] = "CORP\\svc-spendesk"
    return json.dumps(document, indent=2).encode("utf-8")


def test_a_write_keeps_the_members_only_the_hosts_file_has_and_names_them(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    sim.fs.write(PATH, with_installer_answers(vendor_settings("BIJOU")))
    outcome = guarded(SimSession(sim), target, vendor_settings("BIJOU", "CHOCO"), want_diff=True)
    written = json.loads(sim.fs.read(PATH))
    assert [c.get("MaeFile") for c in written["Connections"]] == ["C:\\Sage\\BIJOU.MAE", None]
    assert written["Connections"][0]["SageUser"] == "<administrateur>"
    assert written["ServiceAccount"] == "CORP\\svc-spendesk"
    assert outcome.kept == [
        "Connections[CompanyName=BIJOU].MaeFile",
        "Connections[CompanyName=BIJOU].SageUser",
        "ServiceAccount",
    ]
    result = outcome.to_result()
    assert result["kept"] == outcome.kept
    assert result["msg"].endswith(
        "; 3 member(s) only the current file had, kept: Connections[CompanyName=BIJOU].MaeFile, "
        "Connections[CompanyName=BIJOU].SageUser, ServiceAccount"
    )
    assert outcome.sha256 == settings_sha256(sim.fs.read(PATH).decode("utf-8"))
    assert outcome.diff is not None and '+      "CompanyName": "CHOCO",' in outcome.diff
    assert "Vendor-" not in outcome.diff + json.dumps(result)


def test_a_file_that_already_holds_the_new_content_and_more_is_left_as_it_is(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session = SimSession(sim)
    sim.fs.write(PATH, with_installer_answers(vendor_settings("BIJOU")))
    first = guarded(session, target, vendor_settings("BIJOU"))
    assert first.changed and first.kept  # re-indented, members kept
    before = files(sim)
    again = guarded(session, target, vendor_settings("BIJOU"))
    assert not again.changed and files(sim) == before
    assert again.msg.startswith(f"{PATH} already up to date; 3 member(s) only the current file")


def test_check_mode_reports_what_would_be_kept_and_writes_nothing(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    sim.fs.write(PATH, with_installer_answers(vendor_settings("BIJOU")))
    before = files(sim)
    outcome = guarded(SimSession(sim), target, vendor_settings("BIJOU", "CHOCO"), check=True)
    assert outcome.changed and outcome.check and len(outcome.kept) == 3
    assert outcome.msg.startswith(f"{PATH} would be updated; 3 member(s) only the current file")
    assert files(sim) == before


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_read_as_the_agent_reads_it_and_what_it_holds_is_kept(
    sim: WindowsHost, target: SettingsTarget, encoding: str
) -> None:
    """Windows PowerShell 5.1's Out-File and '>' write UTF-16 with a byte order mark; .NET
    reads it by that mark: the write lays the document over it as over any other."""
    text = with_installer_answers(vendor_settings("BIJOU")).decode("utf-8")
    sim.fs.write(PATH, "\ufeff".encode(encoding) + text.encode(encoding))
    outcome = guarded(SimSession(sim), target, vendor_settings("BIJOU", "CHOCO"))
    assert outcome.changed and "Connections[CompanyName=BIJOU].MaeFile" in outcome.kept
    written = sim.fs.read(PATH)
    assert json.loads(written.decode("utf-8"))["ServiceAccount"] == "CORP\\svc-spendesk"


def test_a_file_in_the_ansi_code_page_is_refused_as_unreadable_unless_told(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    """Not UTF-8 and no byte order mark (Set-Content's default in 5.1): its connections
    cannot be read, so the write is refused with the documented way through."""
    document = json.loads(with_installer_answers(vendor_settings("BIJOU")))
    document["Connections"][0]["SageUser"] = "Société"
    sim.fs.write(PATH, json.dumps(document, ensure_ascii=False).encode("cp1252"))
    before = files(sim)
    with pytest.raises(SettingsRefused, match="not valid JSON.*not UTF-8.*drop_connections"):
        guarded(SimSession(sim), target, vendor_settings("BIJOU"))
    assert files(sim) == before
    dropping = vendor_settings("BIJOU", sagefleet_settings_drop_connections=True)
    assert guarded(SimSession(sim), target, dropping).changed


# -- a restart still owed ----------------------------------------------------------

AGENT = "SpendeskSageAgent"


def running_agent(host: WindowsHost) -> None:
    """The agent's service, installed and running (its process starts now)."""
    host.install_service(Service(name=AGENT, display_name="Spendesk Sage Agent"))
    host.start_service(AGENT)


def watching(target: SettingsTarget) -> SettingsTarget:
    """The target as the settings task makes it: the host also says when the agent's
    process started."""
    return settings_host.reading_agent(target, agent_profile.default())


def test_a_file_written_after_the_agent_started_is_owed_a_restart(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    """A write whose restart failed or never ran: the next run finds the file up to date,
    and the agent still running without it. The restart is still owed, and said."""
    running_agent(sim)
    session, target = SimSession(sim), watching(target)
    settings_host.write_settings(session, target, text_for())  # no restart after it
    again = settings_host.write_settings(session, target, text_for())
    assert not again.changed and again.restart_pending
    result = again.to_result()
    assert result["changed"] is True and result["restart_pending"] is True
    assert f"{PATH} already up to date; the agent ({AGENT}) started at " in again.msg
    assert "before the file was last written at " in again.msg
    assert again.msg.endswith("it runs without these settings; restarting it")
    # Check mode words it as what a run would do.
    checked = settings_host.write_settings(session, target, text_for(), check=True)
    assert checked.restart_pending and checked.msg.endswith("; it would be restarted")
    # Once restarted, the agent has read the file: nothing is owed.
    sim.stop_service(AGENT)
    sim.start_service(AGENT)
    done = settings_host.write_settings(session, target, text_for())
    assert not done.restart_pending and done.msg == f"{PATH} already up to date"
    assert done.to_result()["changed"] is False


def test_a_rename_keeps_the_files_write_time(sim: WindowsHost, target: SettingsTarget) -> None:
    """MoveFile and CopyFile keep LastWriteTime (KB 299648), and the host's clock (skew
    included) stamps what is written."""
    sim.clock_skew_s = -3600.0
    settings_host.write_settings(SimSession(sim), target, text_for())
    written = sim.fs.stat(PATH).modified
    assert abs((written - sim.utc_now()).total_seconds()) < 60
    sim.fs.rename(PATH, PATH + ".old")
    assert sim.fs.stat(PATH + ".old").modified == written
    assert sim.fs.copy(PATH + ".old", PATH).modified == written


def test_an_agent_that_does_not_run_or_cannot_be_read_is_never_restarted(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    session, target = SimSession(sim), watching(target)
    # Not installed: nothing to say.
    settings_host.write_settings(session, target, text_for())
    outcome = settings_host.write_settings(session, target, text_for())
    assert (outcome.restart_pending, outcome.agent_note) == (False, "")
    # Stopped: it reads the file when it starts.
    sim.install_service(Service(name=AGENT, display_name="Spendesk Sage Agent"))
    outcome = settings_host.write_settings(session, target, text_for())
    assert not outcome.restart_pending
    stopped = f"the agent ({AGENT}) is Stopped: it reads the file when it starts"
    assert outcome.msg == f"{PATH} already up to date; {stopped}"
    # Running, its start time unreadable: unknown, not restarted.
    sim.start_service(AGENT)
    service = sim.service(AGENT)
    assert service is not None
    service.process_started = None
    outcome = settings_host.write_settings(session, target, text_for())
    assert not outcome.restart_pending and outcome.to_result()["changed"] is False
    assert (
        outcome.agent_note
        == "whether the running agent read the file is unknown (Access is denied)"
    )
    # A target that does not ask (the deploy's): no reading at all.
    plain = settings_host.write_settings(
        session, dataclasses.replace(target, agent=None), text_for()
    )
    assert (plain.restart_pending, plain.agent_note) == (False, "")


@pytest.mark.parametrize(
    ("agent", "written", "note"),
    [
        (
            {
                "name": None,
                "state": None,
                "started_utc": None,
                "error": None,
                "candidates": ["A", "B"],
            },
            "2026-12-06T01:00:00.0000000Z",
            "several services match the agent profile (A, B): "
            "whether the agent read the file is unknown",
        ),
        (
            {
                "name": AGENT,
                "state": "Running",
                "started_utc": "2026-12-06T01:00:00.0000000Z",
                "error": None,
                "candidates": [],
            },
            "2026-12-06T03:00:00.0000000Z",
            "the file's last write (2026-12-06 03:00:00 UTC) is later than the host's clock "
            "(2026-12-06 02:00:00 UTC): whether the running agent read it is unknown",
        ),
        (
            {
                "name": AGENT,
                "state": "Running",
                "started_utc": "2026-12-06T01:30:00.0000000Z",
                "error": None,
                "candidates": [],
            },
            "2026-12-06T01:00:00.0000000Z",
            "",
        ),
    ],
)
def test_what_cannot_be_decided_restarts_nothing(
    agent: dict[str, Any], written: str, note: str
) -> None:
    result = {"agent": agent, "written_utc": written, "now_utc": "2026-12-06T02:00:00.0000000Z"}
    assert settings_host.agent_reading(result) == (False, note)


def test_a_restart_whose_stop_failed_is_not_a_restart() -> None:
    """The old process still running after a failed stop is not settings in effect."""
    done = agent_service.Restart(
        installed=True, state="Running", state_before="Running", error="Cannot stop service"
    )
    assert not done.ok
    assert done.message == (
        "the agent was not restarted: Cannot stop service; it still runs as it started, "
        "so settings.json is not in effect"
    )


# -- File.Replace failing half way ---------------------------------------------------------


@pytest.mark.parametrize("code", sorted(REPLACE_ERRORS))
def test_a_replace_that_fails_half_way_leaves_the_previous_file_in_place(
    sim: WindowsHost, target: SettingsTarget, code: int
) -> None:
    """ReplaceFile's documented failures (1175-1177): whichever state it leaves, the
    previous settings.json is back under its name, nothing else is left, and the error
    says so with Windows' words."""
    session = SimSession(sim)
    settings_host.write_settings(session, target, text_for())
    before = files(sim)
    sim.fs.replace_faults[PATH.lower()] = code
    with pytest.raises(SettingsWriteFailed) as caught:
        settings_host.write_settings(session, target, text_for(analytic_plan=2))
    assert "(the previous file is unchanged)" in str(caught.value)
    assert REPLACE_ERRORS[code] in str(caught.value)
    assert files(sim) == before


@pytest.mark.parametrize("code", sorted(REPLACE_ERRORS))
def test_a_rollback_whose_replace_fails_half_way_loses_nothing(
    sim: WindowsHost, target: SettingsTarget, code: int
) -> None:
    """Without a backup name ReplaceFile deletes the replaced file (1176) or leaves it
    under a name of its own (1177): the rollback names one of its own, and removes it."""
    session = SimSession(sim)
    settings_host.write_settings(session, target, text_for())
    settings_host.write_settings(session, target, text_for(analytic_plan=2))
    before = files(sim)
    sim.fs.replace_faults[PATH.lower()] = code
    with pytest.raises(SettingsWriteFailed):
        settings_host.rollback_settings(session, target)
    assert files(sim) == before
    restored = settings_host.rollback_settings(session, target)
    assert restored.changed and sim.fs.read(PATH) == text_for().encode("utf-8")
    assert not [n for n in sim.fs.listdir(FOLDER) if n.endswith((".old", ".tmp"))]


def test_a_script_that_does_not_move_the_file_back_loses_settings_json(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    """The model is not kinder than Windows: the same write without the recovery leaves
    no settings.json (the agent would not start), while saying the file is unchanged."""
    session = SimSession(sim)
    settings_host.write_settings(session, target, text_for())
    sim.fs.replace_faults[PATH.lower()] = 1177

    def without_recovery(script: str) -> str:
        cut = script.replace("[System.IO.File]::Move($aside, $target)", "")
        assert cut != script
        return cut

    with pytest.raises(SettingsWriteFailed):
        settings_host.write_settings(
            SimSession(sim, rewrite=without_recovery), target, text_for(analytic_plan=2)
        )
    assert not sim.fs.is_file(PATH)
    assert [n for n in sim.fs.listdir(FOLDER) if n.endswith(".bak")]


def test_a_profiles_running_agent_started_after_its_files_were_written() -> None:
    """A profile's server was set up before its agent started: no restart is owed."""
    host = host_from_profile("old", "127.0.0.2", "admin", "pw", load_profile("agent-old"))
    target = watching(settings_host.settings_target("old"))
    current = settings_sha256(host.fs.read(target.path).decode("utf-8"))
    params = settings_host.write_params(target, current, check=True, return_content=False)
    result = SimSession(host).run_snippet("settings_write", params)
    assert result["agent"]["state"] == "Running"
    assert settings_host.agent_reading(result) == (False, "")


def test_protect_restricts_an_installers_copy_and_leaves_its_content(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    """The copy an install stopped part way left (its folder's DACL: Users may read) gets
    the private ACL, its content and write time untouched; a second protect finds it so."""
    sim.fs.write(PATH, b'{"SqlPassword": "canary"}')  # as the installer wrote it
    written = sim.fs.stat(PATH).modified
    assert sim.fs.acl_of(PATH).may_read(USERS)
    session = SimSession(sim)
    assert settings_host.protect_settings(session, target) is True
    acl = sim.fs.acl_of(PATH)
    assert acl.protected and not acl.may_read(USERS) and not acl.may_write(USERS)
    assert sim.fs.read(PATH) == b'{"SqlPassword": "canary"}'
    assert sim.fs.stat(PATH).modified == written
    result = session.run_snippet("settings_write", settings_host.protect_params(target))
    assert (result["existed"], result["changed"], result["backup"]) == (True, False, None)
    assert result["sha256"] == result["previous_sha256"]
    assert [e for e in sim.journal if e["kind"] == "settings_write"] == []


def test_protect_finds_nothing_to_do_without_the_file_or_its_folder(
    sim: WindowsHost, target: SettingsTarget
) -> None:
    """A stopped install may not have reached the agent's folder: no error, nothing done."""
    session = SimSession(sim)
    assert settings_host.protect_settings(session, target) is False
    elsewhere = dataclasses.replace(target, path="C:\\Nowhere\\Sage Agent\\settings.json")
    result = session.run_snippet("settings_write", settings_host.protect_params(elsewhere))
    assert (result["existed"], result["backups"], result["leftovers"]) == (False, [], [])
    assert not sim.fs.exists("C:\\Nowhere")
    # A write still refuses the missing folder, naming it.
    with pytest.raises(SnippetFailed, match="does not exist"):
        session.run_snippet(
            "settings_write",
            settings_host.write_params(elsewhere, "0" * 64, check=True, return_content=False),
        )
