"""The wire form of a snippet run and the output contract."""

from __future__ import annotations

import pytest

from sagefleet import snippets
from sagefleet.remote.command import (
    CMD_LINE_LIMIT,
    LANGUAGE_MODE_TAG,
    POWERSHELL_PREFIX,
    STDIN_BOOTSTRAP,
    command_line,
    decode_clixml,
    decode_script,
    parse_result,
    snippet_invocation,
)
from sagefleet.remote.errors import LanguageModeRestricted, SnippetFailed

CLIXML = (
    b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
    b'<S S="Error">Cannot find path C:\\x_x000D__x000A_</S>'
    b'<S S="Error">Soci\xc3\xa9t\xc3\xa9 not found_x000D__x000A_</S></Objs>'
)


def test_command_is_the_bootstrap_behind_the_prefix_ansible_passes_through() -> None:
    line, stdin = snippet_invocation("host_info", {"a": 1})
    assert line.startswith(POWERSHELL_PREFIX)
    assert decode_script(line[len(POWERSHELL_PREFIX) :]) == STDIN_BOOTSTRAP
    script = snippets.render("host_info", {"a": 1}).encode("utf-8")
    assert stdin == f"{len(script)}\n".encode() + script


def test_command_line_over_the_cmd_exe_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds the Windows limit of 8191"):
        command_line("x" * CMD_LINE_LIMIT)


def test_the_bootstrap_names_the_language_mode_and_the_bastion_reads_it() -> None:
    stderr = (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/'
        f'2004/04"><S S="Error">{LANGUAGE_MODE_TAG} ConstrainedLanguage_x000D__x000A_</S></Objs>'
    ).encode()
    with pytest.raises(LanguageModeRestricted) as caught:
        parse_result("sage01", "facts", 1, b"", stderr)
    assert caught.value.mode == "ConstrainedLanguage"
    assert "runs in ConstrainedLanguage mode" in str(caught.value)
    assert "AppLocker or WDAC" in str(caught.value)


def test_clixml_errors_are_decoded_to_text() -> None:
    assert decode_clixml(CLIXML) == "Cannot find path C:\\x\nSociété not found"


def test_plain_stderr_is_kept_as_is() -> None:
    assert decode_clixml(b"access denied\r\n") == "access denied"


def test_result_is_the_json_document() -> None:
    assert parse_result("h", "s", 0, b'{"a":[1,"\\u00e9"]}', b"") == {"a": [1, "é"]}


def test_nonzero_rc_raises_with_host_snippet_rc_and_error_text() -> None:
    with pytest.raises(SnippetFailed) as caught:
        parse_result("sage01", "facts", 1, b"", CLIXML)
    error = caught.value
    assert (error.host, error.snippet, error.rc) == ("sage01", "facts", 1)
    assert "Société not found" in str(error)
    assert str(error).startswith("sage01: snippet facts failed (rc 1)")


def test_output_that_is_not_json_is_a_failure() -> None:
    with pytest.raises(SnippetFailed, match="not one JSON document"):
        parse_result("h", "s", 0, b'{"a":1}{"b":2}', b"")


def test_empty_output_is_a_failure() -> None:
    with pytest.raises(SnippetFailed, match="no output"):
        parse_result("h", "s", 0, b"  ", b"")
