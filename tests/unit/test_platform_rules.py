"""Platform realities the simulator holds against the snippets (windows-realities.md).

Each test runs the real snippet text through the simulator's dispatch, and
where a fix replaced a construct Windows refuses, runs the same script with
the old construct put back to prove the simulator refuses it.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import threading
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support.scenarios import text_for

from sagefleet import diagnose, snippets, transfer
from sagefleet.remote.command import decode_clixml
from sagefleet.remote.errors import SnippetFailed
from sagefleet.settings import host as settings_host
from sagefleet.settings import settings_sha256
from sagefleet.sim.commands.dispatch import run_snippet
from sagefleet.sim.host import (
    ADMINISTRATORS,
    SYSTEM,
    Acl,
    WindowsHost,
    host_from_profile,
    load_profile,
    private_folder_acl,
)
from sagefleet.sim.session import SimSession

CSP = "New-Object -TypeName System.Security.Cryptography.SHA256CryptoServiceProvider"
MANAGED = "[System.Security.Cryptography.SHA256]::Create()"
FIPS_TEXT = "This implementation is not part of the Windows Platform FIPS validated"


def make_host(profile: str = "healthy-onprem") -> WindowsHost:
    return host_from_profile("sage01", "127.0.0.2", "admin", "pw", load_profile(profile))


def old_hash(script: str) -> str:
    """The hashing construct every snippet used before the FIPS fix."""
    return script.replace(CSP, MANAGED)


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def private_root(host: WindowsHost, path: str) -> None:
    """A staging root as sagefleet creates it: SYSTEM and Administrators only (a folder
    that inherits C:\\'s or ProgramData's DACL is refused by every staging snippet)."""
    host.fs.mkdir(path, acl=private_folder_acl())


def put_zip(host: WindowsHost, path: str, entries: dict[str, bytes]) -> str:
    data = zip_bytes(entries)
    private_root(host, transfer.staging_dir_of(path))
    host.fs.mkdir(path.rsplit("\\", 1)[0])
    host.fs.write(path, data)
    return hashlib.sha256(data).hexdigest()


# -- FIPS policy (9) ---------------------------------------------------------------------


def test_fips_profile_sets_the_policy_value() -> None:
    host = make_host("fips")
    key = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa\\FipsAlgorithmPolicy"
    assert host.registry.get(key, "Enabled") == 1
    assert make_host().registry.get(key, "Enabled") is None


def test_no_snippet_creates_a_managed_sha256() -> None:
    for name in snippets.available():
        text = snippets.render(name, {})
        assert "SHA256]::Create(" not in text and "SHA256Managed" not in text, name
        assert "Get-FileHash" not in text, name


def test_fips_host_runs_extract_and_status_and_query_with_the_csp() -> None:
    host = make_host("fips")
    sha = put_zip(host, "C:\\Stage\\1.0\\pkg.zip", {"setup.exe": b"MZ" * 10})
    session = SimSession(host)
    result = transfer.extract(session, "C:\\Stage\\1.0\\pkg.zip", "C:\\Stage\\1.0\\x", sha256=sha)
    assert result.changed
    status = session.run_snippet("stage_status", transfer.status_params("C:\\Stage\\1.0\\pkg.zip"))
    assert status["sha256"] == sha
    question = {"kind": "file", "path": "C:\\Stage\\1.0\\pkg.zip", "hash": True, "acl": False}
    (answer,) = session.run_snippet("query", {"questions": [question]})["answers"]
    assert answer["sha256"] == sha


def test_fips_host_runs_settings_write_with_the_csp() -> None:
    host = make_host("fips")
    target = settings_host.settings_target("sage01", service_account="CORP\\svc-spendesk")
    outcome = settings_host.write_settings(SimSession(host), target, text_for())
    assert outcome.changed and outcome.sha256 == settings_sha256(text_for())


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("stage_status", {"path": "C:\\a.zip", "part": "C:\\a.zip.part", "hash": True}),
        ("stage_extract", {"path": "C:\\a.zip", "dest": "C:\\x", "marker": "m", "check": True}),
        ("stage_pull", {"url": "http://127.0.0.1:9/a", "path": "C:\\a", "part": "C:\\a.p"}),
        ("settings_write", {"action": "write", "path": "C:\\s.json", "sha256": "0" * 64}),
    ],
)
def test_the_old_managed_sha256_is_refused_on_a_fips_host(
    name: str, params: dict[str, Any]
) -> None:
    host = make_host("fips")
    script = old_hash(snippets.render(name, params))
    rc, _, err = run_snippet(host, name, params, b"", script=script)
    assert rc == 1 and FIPS_TEXT in decode_clixml(err)
    assert host.journal[-1]["kind"] == "refused"


def test_the_old_get_filehash_of_query_is_only_refused_for_a_non_fips_algorithm() -> None:
    # Windows PowerShell 5.1's Get-FileHash tries <Algorithm>CryptoServiceProvider first.
    host = make_host("fips")
    params = {"questions": []}
    script = snippets.render("query", params)
    sha256 = script + "\n$h = Get-FileHash -LiteralPath $p -Algorithm SHA256\n"
    md5 = script + "\n$h = Get-FileHash -LiteralPath $p -Algorithm MD5\n"
    assert run_snippet(host, "query", params, b"", script=sha256)[0] == 0
    rc, _, err = run_snippet(host, "query", params, b"", script=md5)
    assert rc == 1 and FIPS_TEXT in decode_clixml(err)


def test_the_managed_sha256_still_runs_without_the_policy() -> None:
    host = make_host()
    params = {"root": "C:\\Stage", "path": "C:\\a.zip", "part": "C:\\a.zip.part", "hash": True}
    script = old_hash(snippets.render("stage_status", params))
    assert run_snippet(host, "stage_status", params, b"", script=script)[0] == 0


# -- Expand-Archive (10) -----------------------------------------------------------------

OLD_EXTRACT_LOOP = "Expand-Archive -LiteralPath $zip -DestinationPath $dest -Force"


def test_the_old_expand_archive_is_refused() -> None:
    host = make_host()
    sha = put_zip(host, "C:\\Stage\\1.0\\pkg.zip", {"setup.exe": b"MZ"})

    def back_to_expand_archive(script: str) -> str:
        start = script.index("        foreach ($item in $plan) {")
        end = script.index("        $utf8 = ")
        return script[:start] + "        " + OLD_EXTRACT_LOOP + "\n" + script[end:]

    session = SimSession(host, rewrite=back_to_expand_archive)
    with pytest.raises(SnippetFailed, match="Expand-Archive is refused"):
        transfer.extract(session, "C:\\Stage\\1.0\\pkg.zip", "C:\\Stage\\1.0\\x", sha256=sha)
    assert not host.fs.exists("C:\\Stage\\1.0\\x")


def test_extract_writes_exactly_the_validated_entries() -> None:
    host = make_host()
    entries = {"setup.exe": b"MZ", "conf/": b"", "conf/settings.json": b"{}", "a/./b.txt": b"b"}
    sha = put_zip(host, "C:\\Stage\\1.0\\pkg.zip", entries)
    session = SimSession(host)
    result = transfer.extract(session, "C:\\Stage\\1.0\\pkg.zip", "C:\\Stage\\1.0\\x", sha256=sha)
    dest = "C:\\Stage\\1.0\\x"
    written = sorted(
        e.path
        for k, e in host.fs.entries.items()
        if k.startswith(dest.lower() + "\\") and not e.is_dir
    )
    marker = json.loads(host.fs.read_text(f"{dest}\\{transfer.EXTRACT_MARKER}"))
    assert sorted(result.files) == [
        f"{dest}\\a\\b.txt",
        f"{dest}\\conf\\settings.json",
        f"{dest}\\setup.exe",
    ]
    assert written == sorted([*result.files, f"{dest}\\{transfer.EXTRACT_MARKER}"])
    assert marker["sha256"] == sha
    snippet = snippets.load("stage_extract").body
    assert "ZipFileExtensions]::ExtractToFile($item.entry" in snippet
    assert "Expand-Archive -" not in snippet


# -- read-only and locked files (8) --------------------------------------------------------

ROOT = "C:\\ProgramData\\sagefleet\\staging"


def staged_versions(host: WindowsHost) -> None:
    private_root(host, ROOT)
    for version in ("1.0", "2.0", "3.0"):
        host.fs.mkdir(f"{ROOT}\\{version}\\x\\docs")
        host.fs.write(f"{ROOT}\\{version}\\pkg.zip", b"PK")
        host.fs.write(f"{ROOT}\\{version}\\x\\docs\\readme.txt", b"r")
    host.fs.write(f"{ROOT}\\1.0\\install-1.0.log", b"log")


def test_directory_delete_refuses_read_only_and_open_files_and_removes_the_rest() -> None:
    host = make_host()
    staged_versions(host)
    host.fs.set_attributes(f"{ROOT}\\1.0\\x\\docs\\readme.txt", readonly=True)
    with pytest.raises(Exception, match=r"Access to the path '.*readme.txt' is denied"):
        host.fs.delete_tree(f"{ROOT}\\1.0")
    assert host.fs.exists(f"{ROOT}\\1.0\\x\\docs\\readme.txt")
    assert not host.fs.exists(f"{ROOT}\\1.0\\pkg.zip")  # .NET goes on past the failure
    host.fs.set_attributes(f"{ROOT}\\2.0\\pkg.zip", open_by="SpendeskSageAgent.exe")
    with pytest.raises(Exception, match="being used by another process"):
        host.fs.delete_tree(f"{ROOT}\\2.0")


def test_removedirectory_refuses_a_read_only_folder_and_keeps_the_folders_above_it() -> None:
    host = make_host()
    staged_versions(host)
    host.fs.set_attributes(f"{ROOT}\\1.0\\x\\docs", readonly=True)
    with pytest.raises(Exception, match=r"Access to the path '.*\\docs' is denied"):
        host.fs.delete_tree(f"{ROOT}\\1.0")
    assert host.fs.listdir(f"{ROOT}\\1.0") == ["x"]
    assert host.fs.listdir(f"{ROOT}\\1.0\\x") == ["docs"]
    assert host.fs.listdir(f"{ROOT}\\1.0\\x\\docs") == []  # its files went
    with pytest.raises(Exception, match="is denied"):
        host.fs.delete(f"{ROOT}\\1.0\\x\\docs")  # Directory.Delete(path) alike
    host.fs.delete(f"{ROOT}\\1.0", force=True)  # Remove-Item -Recurse -Force clears it


def test_a_folder_held_open_stays_and_is_reported_not_thrown() -> None:
    """A prompt whose current folder is in a staged version: RemoveDirectory fails with a
    sharing violation (Directory.Delete: "being used by another process"); the cleanup
    says so in 'left' and removes the other versions."""
    host = make_host()
    staged_versions(host)
    host.fs.set_attributes(f"{ROOT}\\1.0\\x", open_by="cmd.exe")
    with pytest.raises(Exception, match=r"'.*\\1.0\\x' because it is being used"):
        host.fs.delete_tree(f"{ROOT}\\1.0")
    host.fs.set_attributes(f"{ROOT}\\2.0", open_by="cmd.exe")
    done = SimSession(host).run_snippet("stage_cleanup", {"root": ROOT, "remove": ["1.0", "2.0"]})
    assert done["removed"] == []
    # Directory.Delete(folder, true) removed the rest and names the folder held open.
    assert [(item["folder"], item["path"]) for item in done["left"]] == [
        ("1.0", f"{ROOT}\\1.0"),
        ("2.0", f"{ROOT}\\2.0"),
    ]
    assert f"'{ROOT}\\1.0\\x' because it is being used" in done["left"][0]["error"]
    assert "being used by another process" in done["left"][1]["error"]
    assert host.fs.listdir(f"{ROOT}\\1.0") == ["x"] and host.fs.listdir(f"{ROOT}\\2.0") == []


def test_cleanup_clears_a_read_only_folder_before_removing_it() -> None:
    host = make_host()
    staged_versions(host)
    host.fs.set_attributes(f"{ROOT}\\1.0\\x\\docs", readonly=True)
    host.fs.set_attributes(f"{ROOT}\\2.0", readonly=True)
    done = SimSession(host).run_snippet("stage_cleanup", {"root": ROOT, "remove": ["1.0", "2.0"]})
    assert done["removed"] == ["1.0", "2.0"] and done["left"] == []
    assert host.fs.listdir(ROOT) == ["3.0"]


def test_cleanup_clears_read_only_and_reports_a_locked_file_instead_of_failing() -> None:
    host = make_host()
    staged_versions(host)
    host.fs.set_attributes(f"{ROOT}\\1.0\\x\\docs\\readme.txt", readonly=True)
    host.fs.set_attributes(f"{ROOT}\\1.0\\install-1.0.log", open_by="SpendeskSageAgent.exe")
    host.fs.set_attributes(f"{ROOT}\\2.0\\x\\docs\\readme.txt", readonly=True)
    session = SimSession(host)
    done = session.run_snippet("stage_cleanup", {"root": ROOT, "remove": ["1.0", "2.0"]})
    assert done["removed"] == ["2.0"]
    (left,) = done["left"]
    assert left["folder"] == "1.0" and left["path"].endswith("install-1.0.log")
    assert "being used by another process" in left["error"]
    assert host.fs.listdir(ROOT) == ["1.0", "3.0"]
    assert host.fs.listdir(f"{ROOT}\\1.0") == ["install-1.0.log"]  # the rest went


def test_transfer_cleanup_carries_what_was_left() -> None:
    host = make_host()
    staged_versions(host)
    host.fs.set_attributes(f"{ROOT}\\1.0\\install-1.0.log", open_by="SpendeskSageAgent.exe")
    result = transfer.cleanup(SimSession(host), ROOT, keep=1, current=f"{ROOT}\\3.0\\pkg.zip")
    assert "2.0" in result.removed and "1.0" not in result.removed
    assert [i["folder"] for i in result.left] == ["1.0"]


# -- lock race (18) ----------------------------------------------------------------------

LOCK = "C:\\ProgramData\\sagefleet\\deploy.lock"
OLD_RECOVERY = "Remove-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue"


def put_stale_lock(host: WindowsHost) -> None:
    host.fs.mkdir("C:\\ProgramData\\sagefleet")
    stale = {
        "owner": "killed:1",
        "acquired": "2026-01-01T00:00:00Z",
        "expires": "2026-01-01T01:00:00Z",
    }
    host.fs.write(LOCK, json.dumps(stale).encode())


def delete_recovery(script: str) -> str:
    """deploy_lock/1's recovery: delete the expired lock, then CreateNew."""
    start = script.index("                $stale = '{0}.{1}.stale'")
    end = script.index("                $result.recovered = $current")
    return script[:start] + "                " + OLD_RECOVERY + "\n" + script[end:]


def race(host: WindowsHost, rewrite: Callable[[str], str] | None) -> list[dict[str, Any]]:
    """Two acquiring runs forced to interleave between the expiry check and CreateNew."""
    host.interleave["deploy_lock.stale"] = threading.Barrier(2)
    answers: list[dict[str, Any]] = []

    def run(owner: str) -> None:
        params = {"action": "acquire", "path": LOCK, "owner": owner, "ttl_s": 600}
        answers.append(SimSession(host, rewrite=rewrite).run_snippet("deploy_lock", params))

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 2
    return answers


def test_two_runs_recovering_one_stale_lock_never_both_hold_it() -> None:
    host = make_host()
    put_stale_lock(host)
    answers = race(host, None)
    holders = [a for a in answers if a["acquired"]]
    (winner,) = holders
    (loser,) = [a for a in answers if not a["acquired"]]
    lock = json.loads(host.fs.read_text(LOCK))
    assert winner["recovered"]["owner"] == "killed:1"
    assert loser["holder"]["owner"] == lock["owner"]
    assert [n for n in host.fs.listdir("C:\\ProgramData\\sagefleet")] == ["deploy.lock"]


def test_the_old_delete_recovery_lets_both_runs_hold_the_lock() -> None:
    host = make_host()
    put_stale_lock(host)
    answers = race(host, delete_recovery)
    assert [a["acquired"] for a in answers] == [True, True]


# -- Service Control Manager events (17) -------------------------------------------------


def diagnose_events(host: WindowsHost, **changes: Any) -> list[dict[str, Any]]:
    params = diagnose.options_from("sage01", {}).params()
    params["events"].update(changes)
    return list(SimSession(host).run_snippet("diagnose", params)["events"])


def test_scm_events_name_the_service_by_its_display_name() -> None:
    host = make_host("agent-old")
    record = host.scm_event(7031, "SpendeskSageAgent")
    assert record.message.startswith("The Spendesk Sage Agent service terminated unexpectedly.")
    assert "SpendeskSageAgent" not in record.message
    assert record.properties[0] == "Spendesk Sage Agent"


def test_diagnose_finds_an_scm_event_naming_the_display_name() -> None:
    host = make_host("agent-old")
    host.scm_event(7031, "SpendeskSageAgent")
    host.scm_event(7034, "Spooler")
    (event,) = diagnose_events(host)
    assert (event["log"], event["provider"], event["id"]) == (
        "System",
        "Service Control Manager",
        7031,
    )
    assert "Spendesk Sage Agent" in event["message"]


def test_diagnose_finds_it_by_the_catalog_display_name_when_the_service_is_gone() -> None:
    host = make_host("agent-old")
    host.stop_service("SpendeskSageAgent")
    host.services["spendesksageagent"].start_failure = "The system cannot find the file specified."
    with pytest.raises(Exception, match="cannot be started"):
        host.start_service("SpendeskSageAgent")  # the SCM logs 7000
    host.remove_service("SpendeskSageAgent")
    assert [e["id"] for e in diagnose_events(host)] == [7000]
    # By the service name alone (what diagnose/1 matched), the event is not found.
    assert diagnose_events(host, display_names=[]) == []
    assert diagnose.options_from("sage01", {}).params()["events"]["display_names"] == [
        "Spendesk Sage Agent"
    ]


# -- a log folder the WinRM account may not list (38) ----------------------------------

LOGS = "C:\\Program Files\\Spendesk\\Sage Agent\\logs"
#: Only SYSTEM (the agent's LocalSystem service) may open it: not the WinRM account.
SYSTEM_ONLY = Acl.private(SYSTEM, [SYSTEM], folder=True)


def diagnose_logs(
    host: WindowsHost, rewrite: Callable[[str], str] | None = None
) -> dict[str, Any]:
    params = diagnose.options_from("sage01", {}).params()
    result: dict[str, Any] = SimSession(host, rewrite=rewrite).run_snippet("diagnose", params)
    return result


def host_with_logs() -> WindowsHost:
    host = make_host("agent-old")
    host.fs.mkdir(LOGS)
    host.fs.write(LOGS + "\\agent.log", b"2025-03-01 10:00:00 INFO started\r\n")
    return host


def test_diagnose_reports_a_log_folder_the_winrm_account_may_not_list() -> None:
    host = host_with_logs()
    host.fs.set_acl(LOGS, SYSTEM_ONLY)
    result = diagnose_logs(host)
    folder = next(f for f in result["folders"] if f["folder"] == LOGS)
    assert folder["exists"] is True
    assert folder["error"] == f"Access to the path '{LOGS}' is denied."
    assert [log["path"] for log in result["logs"] if log["path"].startswith(LOGS)] == []


def test_the_old_silent_listing_gets_no_log_and_no_error_as_on_windows() -> None:
    """-ErrorAction SilentlyContinue drops Get-ChildItem's error: the folder looks empty."""
    host = host_with_logs()
    host.fs.set_acl(LOGS, SYSTEM_ONLY)

    def silent(script: str) -> str:
        listing = "-Filter $folder.filter -ErrorAction Stop"
        assert listing in script
        return script.replace(listing, "-Filter $folder.filter -ErrorAction SilentlyContinue")

    result = diagnose_logs(host, silent)
    assert [f["error"] for f in result["folders"]] == [None, None, None, None]
    assert result["logs"] == []


def test_a_log_file_the_winrm_account_may_not_read_is_an_error_of_that_file() -> None:
    host = host_with_logs()
    host.fs.set_acl(LOGS + "\\agent.log", Acl.private(SYSTEM, [SYSTEM]))
    (log,) = diagnose_logs(host)["logs"]
    assert (log["content"], log["error"]) == (
        None, f"Access to the path '{LOGS}\\agent.log' is denied."
    )
    host.fs.set_acl(LOGS + "\\agent.log", Acl.private(SYSTEM, [SYSTEM, ADMINISTRATORS]))
    (log,) = diagnose_logs(host)["logs"]
    assert log["error"] is None and log["content"]


# -- second hop (2) ----------------------------------------------------------------------


def file_question(path: str) -> dict[str, Any]:
    return {"kind": "file", "path": path, "hash": False, "acl": False}


def test_a_winrm_session_cannot_read_a_share_or_a_mapped_drive() -> None:
    host = make_host("mae-network-drive-localsystem")
    paths = ["S:\\Societes\\BIJOU.MAE", "\\\\fs01\\sage\\Societes\\BIJOU.MAE"]
    questions = [file_question(p) for p in paths]
    answers = SimSession(host).run_snippet("query", {"questions": questions})["answers"]
    assert [a["exists"] for a in answers] == [False, False]  # Test-Path: false
    assert host.fs.is_file(paths[1])  # the file is there, for whoever may read it
    host.winrm.delegation = True
    answers = SimSession(host).run_snippet("query", {"questions": questions})["answers"]
    # With credentials the share opens; the interactive user's S: is still not a drive of
    # the WinRM session (drive letters belong to a logon session).
    assert [a["exists"] for a in answers] == [False, True]


class _WindowsAuthOnly(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(401, "Unauthorized")
        self.send_header("WWW-Authenticate", "Negotiate")
        self.send_header("WWW-Authenticate", "NTLM")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def windows_auth_repository() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WindowsAuthOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/Setup.zip"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("default_credentials", [True, False])
def test_pull_with_default_credentials_gets_401_and_names_the_second_hop(
    windows_auth_repository: str, default_credentials: bool
) -> None:
    host = make_host()
    params = {
        "root": "C:\\Stage",
        "url": windows_auth_repository,
        "path": "C:\\Stage\\Setup.zip",
        "part": "C:\\Stage\\Setup.zip.part",
        "sha256": "0" * 64,
        "use_default_credentials": default_credentials,
    }
    with pytest.raises(SnippetFailed) as failed:
        SimSession(host).run_snippet("stage_pull", params)
    assert "(401) Unauthorized." in failed.value.error
    assert ("(the second hop)" in failed.value.error) is default_credentials
    assert not host.fs.exists("C:\\Stage\\Setup.zip.part")


# -- the prelude's escaping --------------------------------------------------------------

_REPLACE = re.compile(
    r"\[regex\]::Replace\(\$json, '(?P<pattern>[^']+)', "
    r"\[System\.Text\.RegularExpressions\.MatchEvaluator\] \{ param\(\$m\) "
    r"'(?P<format>[^']+)' -f \[int\]\[char\]\$m\.Value \}\)"
)


def utf16_units(text: str) -> str:
    """The string as .NET holds it: astral characters as two surrogate units."""
    data = text.encode("utf-16-le", "surrogatepass")
    return "".join(chr(int.from_bytes(data[i : i + 2], "little")) for i in range(0, len(data), 2))


def per_character_escape(text: str) -> str:
    """The contract, as the first prelude's loop spelled it: every unit above 126 escaped."""
    return "".join(f"\\u{ord(c):04x}" if ord(c) > 126 else c for c in utf16_units(text))


def test_the_prelude_escapes_in_one_regex_pass_with_the_same_contract() -> None:
    prelude = snippets.prelude()
    start = prelude.index("function ConvertTo-SageFleetJson")
    function = prelude[start : prelude.index("\n}\n", start)]
    match = _REPLACE.search(function)
    assert match is not None, "ConvertTo-SageFleetJson lost its [regex]::Replace"
    assert "foreach" not in function and "ToCharArray" not in function
    assert match.group("format") == "\\u{0:x4}"  # .NET: lower-case hex, 4 digits
    pattern = re.compile(match.group("pattern"))  # the same syntax in .NET and Python
    samples = [
        'plain ascii {}[]:,"\\\\ ~',
        "Comptabilité 100c — Société Générale",
        "\x7f DEL and \x80 and \xff",
        "emoji 😀 and 𝄞 (surrogate pairs)",
        "\u2028\u2029\ufeff",
        "x" * 5000 + "é" * 5000,
    ]
    for text in samples:
        units = utf16_units(json.dumps(text, ensure_ascii=False))
        escaped = pattern.sub(lambda m: f"\\u{ord(m.group()):04x}", units)
        assert escaped == per_character_escape(json.dumps(text, ensure_ascii=False))
        assert escaped.isascii() and json.loads(escaped) == text
