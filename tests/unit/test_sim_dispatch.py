"""What a simulated host understands, and that it fails loudly on the rest."""

from __future__ import annotations

import base64
import json
import threading

import pytest

from sagefleet import snippets
from sagefleet.remote.command import (
    CMD_LINE_LIMIT,
    CREATE_PROCESS_LIMIT,
    LANGUAGE_MODE_TAG,
    bootstrap_command,
    command_line,
    decode_clixml,
    snippet_invocation,
)
from sagefleet.sim.commands.dispatch import reads_stdin, run_command
from sagefleet.sim.host import ProfileError, WindowsHost, host_from_profile, load_profile, process


@pytest.fixture
def host() -> WindowsHost:
    return host_from_profile("h1", "127.0.0.2", "admin", "pw", load_profile("healthy-onprem"))


def encode(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode()


def snippet_command(name: str, params: dict[str, object]) -> str:
    """A short snippet whole on the command line (as a client may send one that fits)."""
    return command_line(snippets.render(name, params))


def without_cmd_shell(host: WindowsHost, line: str) -> tuple[int, bytes, bytes]:
    """Run ``line`` as a Command with WINRS_SKIP_CMD_SHELL=TRUE would be run."""

    return run_command(host, line, b"", cmd_shell=False)


def test_cmd_exe_refuses_a_command_line_over_8191_characters(host: WindowsHost) -> None:
    padded = snippets.render("host_info", {"pad": "x" * CMD_LINE_LIMIT})
    line = "PowerShell -NoProfile -EncodedCommand " + encode(padded)
    assert CMD_LINE_LIMIT < len(line) <= CREATE_PROCESS_LIMIT
    assert run_command(host, line, b"") == (1, b"", b"The command line is too long.\r\n")
    assert not any(e.get("kind") == "snippet" for e in host.journal)
    # The same line without cmd.exe: only CreateProcess's 32767 characters apply.
    rc, out, err = without_cmd_shell(host, line)
    assert rc == 0, decode_clixml(err)
    assert json.loads(out)["hostname"] == "SAGE-ONPREM"


def test_a_line_of_exactly_8191_characters_passes_cmd_exe(host: WindowsHost) -> None:
    line = "echo " + "a" * (CMD_LINE_LIMIT - 5)
    rc, out, _ = run_command(host, line, b"")
    assert rc == 0 and out.strip() == b"a" * (CMD_LINE_LIMIT - 5)
    rc, _, err = run_command(host, line + "a", b"")
    assert (rc, err) == (1, b"The command line is too long.\r\n")


def test_create_process_refuses_a_line_over_32767_without_cmd_exe(host: WindowsHost) -> None:
    padded = snippets.render("host_info", {"pad": "x" * CREATE_PROCESS_LIMIT})
    rc, _, err = without_cmd_shell(host, "PowerShell -EncodedCommand " + encode(padded))
    assert (rc, err) == (1, b"The filename or extension is too long.\r\n")


def test_every_snippet_runs_behind_the_bootstrap_line(host: WindowsHost) -> None:
    line, stdin = snippet_invocation("host_info", {"pad": "x" * 50_000})
    assert len(line) <= CMD_LINE_LIMIT
    rc, out, err = run_command(host, line, stdin)
    assert rc == 0, decode_clixml(err)
    assert json.loads(out)["hostname"] == "SAGE-ONPREM"


@pytest.mark.parametrize(
    ("stdin", "error"),
    [
        (b"", "does not start with the length of a script"),
        (b"12x\n# sagefleet:host_info/1", "does not start with the length of a script"),
        (b"1234567890\nabc", "does not start with the length of a script"),
        (b"500\n# sagefleet:host_info/1", "stdin ended before the whole script"),
    ],
)
def test_bootstrap_refuses_stdin_without_a_whole_script(
    host: WindowsHost, stdin: bytes, error: str
) -> None:
    line, _ = snippet_invocation("host_info", {})
    rc, _, err = run_command(host, line, stdin)
    assert rc == 1 and error in decode_clixml(err)


def test_constrained_language_mode_stops_the_bootstrap_and_names_the_mode(
    host: WindowsHost,
) -> None:
    host.language_mode = "ConstrainedLanguage"
    line, stdin = snippet_invocation("host_info", {})
    rc, _, err = run_command(host, line, stdin)
    assert rc == 1 and decode_clixml(err) == f"{LANGUAGE_MODE_TAG} ConstrainedLanguage"
    # A snippet whole on the command line fails on the prelude's [Console] call.
    rc, _, err = run_command(host, snippet_command("host_info", {}), b"")
    assert rc == 1 and "supported only on core types in this language mode" in decode_clixml(err)


def test_snippet_in_sagefleet_form_runs_its_model(host: WindowsHost) -> None:
    rc, out, err = run_command(host, snippet_command("host_info", {}), b"")
    assert rc == 0, err
    assert json.loads(out)["hostname"] == "SAGE-ONPREM"


def test_snippet_in_pywinrm_run_ps_form_runs(host: WindowsHost) -> None:
    line = f"powershell -encodedcommand {encode(snippets.render('host_info', {}))}"
    rc, out, _ = run_command(host, line, b"")
    assert rc == 0 and json.loads(out)["os_build"] == 17763


def test_double_encoded_command_of_ansible_2_18_is_decoded(host: WindowsHost) -> None:
    inner, stdin = snippet_invocation("host_info", {})
    outer = (
        "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted "
        f"-EncodedCommand {encode(inner)}"
    )
    assert len(outer) <= CMD_LINE_LIMIT  # ansible-core 2.18 encodes the bootstrap line again
    rc, out, _ = run_command(host, outer, stdin)
    assert rc == 0 and "hostname" in json.loads(out)


def test_snippet_params_are_recorded_byte_identical(host: WindowsHost) -> None:
    params = {"value": "x'@\n$(y)`;Comptabilité"}
    run_command(host, snippet_command("host_info", params), b"")
    assert host.journal[-1] == {
        "kind": "snippet",
        "name": "host_info",
        "params": params,
        "stdin_bytes": 0,
    }


def test_tampered_snippet_text_is_refused(host: WindowsHost) -> None:
    script = snippets.render("host_info", {}).replace("exit 0", "exit 1")
    rc, _, err = run_command(host, f"powershell -encodedcommand {encode(script)}", b"")
    assert rc == 1
    assert "differs from the shipped snippet" in decode_clixml(err)


def test_unknown_powershell_fails_loudly(host: WindowsHost) -> None:
    rc, out, err = run_command(host, f"powershell -encodedcommand {encode('Get-Foo -Bar')}", b"")
    assert (rc, out) == (1, b"")
    assert "not understood: Get-Foo -Bar" in decode_clixml(err)


def test_unknown_cmd_command_fails_loudly(host: WindowsHost) -> None:
    rc, _, err = run_command(host, "format C: /y", b"")
    assert rc == 1
    assert b"cmd command not understood: format C: /y" in err


def test_configured_snippet_failure_comes_back_as_clixml(host: WindowsHost) -> None:
    host.snippet_failures["host_info"] = "Access to the path is denied."
    rc, _, err = run_command(host, snippet_command("host_info", {}), b"")
    assert rc == 1
    assert err.startswith(b"#< CLIXML")
    assert decode_clixml(err) == "Access to the path is denied."


@pytest.mark.parametrize(
    ("line", "rc", "expected"),
    [
        ("uname -s", 1, b"'uname' is not recognized"),
        ('systeminfo | findstr /B /C:"OS"', 0, b"OS Name:                   Microsoft Windows"),
        ("echo %PROCESSOR_ARCHITECTURE%", 0, b"AMD64"),
        ("hostname", 0, b"SAGE-ONPREM"),
        ('powershell -command "hostname"', 0, b"SAGE-ONPREM"),
    ],
)
def test_testinfra_windows_probes(host: WindowsHost, line: str, rc: int, expected: bytes) -> None:
    code, out, err = run_command(host, line, b"")
    assert code == rc
    assert expected in (out if rc == 0 else err)


def test_clock_skew_shows_in_host_info() -> None:
    skewed = host_from_profile("h", "127.0.0.3", "u", "p", load_profile("clock-skew"))
    rc, out, _ = run_command(skewed, snippet_command("host_info", {}), b"")
    assert rc == 0 and skewed.clock_skew_s == 1200
    assert json.loads(out)["hostname"] == "SAGE-SKEW"


def test_unknown_profile_key_is_an_error() -> None:
    with pytest.raises(ProfileError, match="unknown keys"):
        host_from_profile("h", "127.0.0.4", "u", "p", {"hostname": "X", "colour": "red"})


def test_unknown_profile_name_lists_known_ones() -> None:
    with pytest.raises(ProfileError, match="known: .*healthy-onprem"):
        load_profile("no-such-profile")


def test_reset_restores_the_profile_state(host: WindowsHost) -> None:
    host.hostname = "CHANGED"
    host.snippet_failures["host_info"] = "boom"
    host.reset()
    assert host.hostname == "SAGE-ONPREM" and host.snippet_failures == {}


# What the shell layer starts at Command (no stdin read) or at the end of stdin.
READERS = {
    "the stdin bootstrap": bootstrap_command(),
    "encoded twice (ansible-core 2.18)": command_line(command_line("[Console]::In.ReadLine()")),
    "ansible's pipeline input": command_line("foreach ($in in $INPUT) { $in }"),
    "the raw stream": command_line("$s = [System.Console]::OpenStandardInput()"),
    "commands from stdin": "powershell.exe -NoProfile -Command -",
}
NOT_READERS = {
    "a snippet sent whole": command_line(snippets.render("host_info", {})),
    "a raw one-liner": command_line("Get-Service WinRM; $inputFile = 'x'"),
    "a cmd.exe line": "hostname",
    "testinfra's probe": "powershell -command \"Test-Path 'C:\\Windows'\"",
}


@pytest.mark.parametrize("line", READERS.values(), ids=READERS.keys())
def test_a_powershell_line_naming_a_stdin_reader_reads_stdin(line: str) -> None:
    assert reads_stdin(line)


@pytest.mark.parametrize("line", NOT_READERS.values(), ids=NOT_READERS.keys())
def test_a_line_naming_no_stdin_reader_reads_none(line: str) -> None:
    assert not reads_stdin(line)


def test_a_killed_process_stops_at_its_next_effect_and_a_replace_file_is_never_torn(
    host: WindowsHost,
) -> None:
    """A command whose process is already killed changes nothing (its first effect is
    where it stops) and says nothing; ReplaceFile, one call, is whole or not started."""
    lock = "C:\\ProgramData\\sagefleet\\deploy.lock"
    killed = threading.Event()
    killed.set()
    params = {"action": "acquire", "path": lock, "owner": "run-1", "ttl_s": 600}
    line, script = snippet_invocation("deploy_lock", params)
    assert run_command(host, line, script, killed=killed) == (1, b"", b"")
    assert not host.fs.exists(lock)
    assert host.journal[-1]["kind"] == "terminated"
    host.fs.write("C:\\a.json", b"old")
    host.fs.write("C:\\a.json.tmp", b"new")
    with process.running(killed), pytest.raises(process.Terminated):
        host.fs.replace("C:\\a.json.tmp", "C:\\a.json", None)
    assert host.fs.read("C:\\a.json") == b"old" and host.fs.is_file("C:\\a.json.tmp")
    live = threading.Event()
    with process.running(live), process.one_call():
        live.set()  # the kill comes during the call: the call ends first
        host.fs.rename("C:\\a.json.tmp", "C:\\a.json")
    assert host.fs.read("C:\\a.json") == b"new"
