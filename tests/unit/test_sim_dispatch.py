"""What a simulated host understands, and that it fails loudly on the rest."""

from __future__ import annotations

import base64
import json

import pytest

from sagefleet import snippets
from sagefleet.remote.command import decode_clixml, snippet_command
from sagefleet.sim.dispatch import run_command
from sagefleet.sim.model import ProfileError, WindowsHost, host_from_profile, load_profile


@pytest.fixture
def host() -> WindowsHost:
    return host_from_profile("h1", "127.0.0.2", "admin", "pw", load_profile("healthy-onprem"))


def encode(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode()


def test_snippet_in_sagefleet_form_runs_its_model(host: WindowsHost) -> None:
    rc, out, err = run_command(host, snippet_command("host_info", {}), b"")
    assert rc == 0, err
    assert json.loads(out)["hostname"] == "SAGE-ONPREM"


def test_snippet_in_pywinrm_run_ps_form_runs(host: WindowsHost) -> None:
    line = f"powershell -encodedcommand {encode(snippets.render('host_info', {}))}"
    rc, out, _ = run_command(host, line, b"")
    assert rc == 0 and json.loads(out)["os_build"] == 17763


def test_double_encoded_command_of_ansible_2_18_is_decoded(host: WindowsHost) -> None:
    inner = snippet_command("host_info", {})
    outer = (
        "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted "
        f"-EncodedCommand {encode(inner)}"
    )
    rc, out, _ = run_command(host, outer, b"")
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
