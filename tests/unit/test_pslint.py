"""The PowerShell 5.1 lint: each rule refuses a planted example at its line, ignores the
same words in comments (and, but for principal names, in strings), and what sagefleet
ships gives no finding."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from sagefleet import pslint, snippets
from sagefleet.remote import command as remote_command


def found(script: str) -> set[tuple[str, int]]:
    return {(f.rule, f.line) for f in pslint.lint_text(script, "planted.ps1")}


def only(script: str) -> list[pslint.Finding]:
    return pslint.lint_text(script, "planted.ps1")


# (rule, script, line of the finding): each planted on line 2 or later behind clean code,
# so a finding on the wrong line (or everywhere) fails.
PLANTED: list[tuple[str, str, int]] = [
    ("ps7-syntax", "$a = 1\nGet-Item a && Get-Item b\n", 2),
    ("ps7-syntax", "$a = 1\nGet-Item a || Get-Item b\n", 2),
    ("ps7-syntax", "$a = 1\n$x = $a ? 1 : 2\n", 2),
    ("ps7-syntax", "$a = 1\n$x = $a ?? 2\n", 2),
    ("ps7-syntax", "$a = 1\n$x ??= 2\n", 2),
    ("ps7-syntax", "$a = 1\n$x = ${a}?.Name\n", 2),
    ("ps7-syntax", "$a = 1\n$x = ${a}?[0]\n", 2),
    ("ps7-syntax", "function f {\n    begin { }\n    clean { }\n}\n", 3),
    ("ps7-syntax", "$a = 1\n1..3 | ForEach-Object -Parallel { $_ }\n", 2),
    ("ps7-syntax", "$a = 1\nGet-Item a &\n", 2),
    ("ps7-syntax", '$a = 1\n$x = "`u{2195}"\n', 2),
    ("parse-error", "$a = 1\n$x = (1 + )\n", 2),
    ("ps7-command", "$a = 1\nTest-Json -Json $a\n", 2),
    ("ps7-command", "$a = 1\nGet-Error\n", 2),
    ("ps7-command", "$a = 1\n$a | Join-String\n", 2),
    ("ps7-command", "$a = 1\nRemove-Alias -Name x\n", 2),
    ("ps7-command", "$a = 1\nConvertFrom-Json $a -AsHashtable\n", 2),
    ("ps7-command", "$a = 1\nConvertFrom-Json -InputObject $a -Depth 5\n", 2),
    ("ps7-command", "$a = 1\nOut-File -FilePath x -Encoding utf8NoBOM\n", 2),
    ("fips-hash", "$a = 1\nGet-FileHash -LiteralPath x -Algorithm SHA256\n", 2),
    ("fips-hash", "$a = 1\n$s = [System.Security.Cryptography.SHA256]::Create()\n", 2),
    ("fips-hash", "$a = 1\n$s = [System.Security.Cryptography.SHA256Managed]::new()\n", 2),
    ("fips-hash", "$a = 1\n$s = New-Object System.Security.Cryptography.SHA256Managed\n", 2),
    ("fips-hash", "$a = 1\n$s = New-Object -TypeName 'Security.Cryptography.SHA1Managed'\n", 2),
    ("expand-archive", "$a = 1\nExpand-Archive -LiteralPath a -DestinationPath b -Force\n", 2),
    ("expand-archive", "$a = 1\n[System.IO.Compression.ZipFile]::ExtractToDirectory($a, 'b')\n", 2),
    ("start-process-wait", "$a = 1\n$p = Start-Process -FilePath x -Wait -PassThru\n", 2),
    ("start-process-wait", "$a = 1\nStart-Process x -Wai\n", 2),
    ("start-process-wait", "$s = @{ FilePath = 'x'; Wait = $true }\nStart-Process @s\n", 2),
    ("start-process-wait", "$s = @{ FilePath = 'x' }\n$s.Wait = $true\nStart-Process @s\n", 3),
    ("unbounded-wait", "$p = 1\n$p.WaitForExit()\n", 2),
    ("unbounded-wait", "$s = 1\n$s.WaitForStatus('Running')\n", 2),
    ("unbounded-wait", "$a = 1\nWait-Process -Id 4\n", 2),
    ("tls-default", "$a = 1\n$ssl.AuthenticateAsClient($name)\n", 2),
    ("service-cmdlet", "$a = 1\nStop-Service -Name x -Force -ErrorAction Stop\n", 2),
    ("service-cmdlet", "$a = 1\nStart-Service -Name x\n", 2),
    ("service-cmdlet", "$a = 1\nRestart-Service -Name x -Force\n", 2),
    ("service-cmdlet", "$a = 1\nspsv x\n", 2),
    ("service-cmdlet", "$a = 1\nMicrosoft.PowerShell.Management\\Start-Service x\n", 2),
    ("service-cmdlet", "$a = 1\n& 'Restart-Service' -Name x\n", 2),
    ("service-cmdlet", "$a = 1\nSet-Service -Name x -Status Stopped\n", 2),
    ("principal-name", "$a = 1\n$g = 'BUILTIN\\Administrators'\n", 2),
    ("principal-name", '$a = 1\n$g = "NT AUTHORITY\\SYSTEM"\n', 2),
    ("principal-name", "$a = 1\n$g = 'Everyone'\n", 2),
    ("principal-name", "$a = 1\n$g = @'\nAuthenticated Users\n'@\n", 2),
    ("principal-name", "$a = 1\nicacls.exe C:\\x /grant BUILTIN\\Users:R\n", 2),
    ("principal-name", "$a = 1\n$n = New-Object Security.Principal.NTAccount('LocalSystem')\n", 2),
    ("try-erroraction", "try {\n    Get-Item -LiteralPath x\n} catch { }\n", 2),
    ("try-erroraction", "try {\n    Get-Item x -ErrorAction Continue\n} catch { }\n", 2),
    ("try-erroraction", "try {\n    Get-Item x -ErrorAction $mode\n} catch { }\n", 2),
    ("try-erroraction", "try {\n    Get-Item @unknown\n} catch { }\n", 2),
    ("try-erroraction", "try {\n    $a | Select-Object -ExpandProperty Name\n} catch { }\n", 2),
    ("try-erroraction", "try {\n  $a | ForEach-Object {\n    Remove-Item $_\n  }\n} catch {}", 3),
    ("try-erroraction", "try {\n    $x = Join-Path $a 'b'\n} catch { }\n", 2),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "script", "line"),
    PLANTED,
    ids=[f"{r}:{s.splitlines()[n - 1].strip()[:40]}" for r, s, n in PLANTED],
)
def test_planted_construct_is_refused_at_its_line(rule: str, script: str, line: int) -> None:
    findings = only(script)
    assert (rule, line) in {(f.rule, f.line) for f in findings}, findings
    assert {f.line for f in findings if f.rule == rule} == {line}


def test_every_rule_has_a_planted_example() -> None:
    planted = {rule for rule, _, _ in PLANTED} | {"command-line-length"}
    assert planted == set(pslint.RULES)


CLEAN_WORDS = """\
# Stop-Service x; Start-Service x; Restart-Service x; Start-Process x -Wait
# Get-FileHash x; [System.Security.Cryptography.SHA256]::Create(); SHA256Managed
# Expand-Archive a b; [IO.Compression.ZipFile]::ExtractToDirectory($a, $b)
# $x = $a ? 1 : 2; $a ?? $b; $a ??= 1; ${a}?.Name; a && b; a || b; clean { }
# Test-Json; Get-Error; ConvertFrom-Json -AsHashtable -Depth 5; Join-String; Remove-Alias
# BUILTIN\\Administrators, NT AUTHORITY\\SYSTEM, Everyone, Authenticated Users, LocalSystem
# try { Get-Item x } catch { }; $p.WaitForExit(); Wait-Process -Id 1
<#
Stop-Service -Name x -Force
$x = $a ? 1 : 2
try { Remove-Item x } catch { }
BUILTIN\\Administrators
#>
$text = 'Stop-Service -Name x; Start-Process x -Wait; Get-FileHash x; Expand-Archive a b'
$more = "Test-Json, ConvertFrom-Json -AsHashtable, [System.Security.Cryptography.SHA256]::Create()"
$ops = 'a ? b : c, a ?? b, a && b, a || b, ${a}?.b, clean { }, ForEach-Object -Parallel'
$here = @'
Restart-Service x
$x = $a ? 1 : 2
try { Get-Item x } catch { }
'@
$calls = "Stop-Service and WaitForExit() and Wait-Process"
"""


def test_the_same_words_in_comments_and_strings_do_not_trigger() -> None:
    assert only(CLEAN_WORDS) == []


CLEAN_CODE = """\
$ErrorActionPreference = 'Stop'
$admins = New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-544'
$sha = New-Object System.Security.Cryptography.SHA256CryptoServiceProvider
$zip = [System.IO.Compression.ZipFile]::OpenRead('C:\\stage\\agent.zip')
$process = Start-Process -FilePath 'C:\\stage\\setup.exe' -PassThru -Wait:$false
if (-not $process.WaitForExit(600000)) { $process.Kill() }
$service = New-Object System.ServiceProcess.ServiceController 'SpendeskAgent'
$service.Stop()
$service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))
$ssl.AuthenticateAsClient('s3.example', $null, [Security.Authentication.SslProtocols]::Tls12, 0)
$start = @{ FilePath = 'x.exe'; PassThru = $true; ErrorAction = 'Stop' }
if ($service.StartName -eq 'LocalSystem') { $account = 'S-1-5-18' }
$scm = @{ 'localsystem' = 'S-1-5-18'; 'nt authority\\localservice' = 'S-1-5-19'
    'nt authority\\system' = 'S-1-5-18' }
try {
    $item = Get-Item -LiteralPath 'C:\\x' -ErrorAction Stop
    $other = Get-Item -LiteralPath 'C:\\y' -EA:Stop
    $maybe = Get-Service -Name 'x' -ErrorAction SilentlyContinue
    $proc = Start-Process @start
    $names = @($item) | Where-Object { $_ } | ForEach-Object { $_.Name } | Sort-Object
    $json = ConvertTo-Json -InputObject $names -Compress
    Write-Output $json | Out-Null
    & 'C:\\Windows\\System32\\icacls.exe' 'C:\\x' '/grant' '*S-1-5-32-544:F'
} catch {
    Get-Item -LiteralPath 'C:\\z'
}
try { Remove-Item -LiteralPath 'C:\\x' } finally { $done = $true }
"""


def test_the_replacements_each_rule_asks_for_pass() -> None:
    assert only(CLEAN_CODE) == []


def test_finding_names_file_line_column_rule_and_what_to_use() -> None:
    (finding,) = pslint.lint_text("$a = 1\n  Stop-Service -Name x\n", "s.ps1")
    assert str(finding).startswith("s.ps1:2:3: service-cmdlet: ")
    assert "WaitForStatus" in finding.message


def test_columns_count_characters_not_bytes() -> None:
    (finding,) = pslint.lint_text("$v = 'é'; Get-FileHash x\n", "s.ps1")
    assert (finding.line, finding.col) == (1, 11)


def test_functions_of_the_prelude_are_not_cmdlets() -> None:
    script = "try {\n    Complete-SageFleet -Result 1\n} catch { }\n"
    assert found(script) == {("try-erroraction", 2)}
    assert pslint.lint_text(script, functions=["Complete-SageFleet"]) == []


@pytest.mark.parametrize("length", [pslint.CMD_LINE_LIMIT, pslint.CMD_LINE_LIMIT + 1])
def test_command_line_over_cmd_exe_limit_is_refused(length: int) -> None:
    findings = pslint.lint_command_line("x.ps1", "P" * length)
    assert [(f.rule, f.line) for f in findings] == (
        [("command-line-length", 1)] if length > pslint.CMD_LINE_LIMIT else []
    )


def test_every_snippet_command_line_comes_from_snippet_invocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A transport whose fixed bootstrap is short but uses a refused cmdlet: the lint
    # measures what snippet_invocation returns and lints the bootstrap it carries.
    bootstrap = "$a = 1\nStop-Service -Name x\n"
    line = remote_command.POWERSHELL_PREFIX + base64.b64encode(
        bootstrap.encode("utf-16-le")
    ).decode("ascii")
    monkeypatch.setattr(remote_command, "snippet_invocation", lambda name, params: (line, b""))
    findings = pslint.lint_invocations()
    assert [(f.rule, f.line) for f in findings] == [("service-cmdlet", 2)]
    assert "bootstrap" in findings[0].path

    monkeypatch.setattr(
        remote_command, "snippet_invocation", lambda name, params: ("P" * 9000, None)
    )
    paths = {f.path for f in pslint.lint_invocations() if f.rule == "command-line-length"}
    assert paths == {f"src/sagefleet/snippets/{name}.ps1" for name in snippets.available()}


def test_template_findings_map_back_to_template_lines() -> None:
    template = (
        "# {title}\n$x = @{{ a = 1 }}; Get-FileHash x\n$chunks = @(\n{chunks}\n)\nStop-Service y\n"
    )
    rendered = template.format(title="t", chunks="'a',\n'b',\n'c'")
    position = pslint.template_position(template, rendered)
    by_rule = {f.rule: (f.line, f.col) for f in pslint.lint_text(rendered)}
    assert position(*by_rule["fips-hash"]) == (2, 20)
    assert template.split("\n")[1][19:].startswith("Get-FileHash")
    assert position(*by_rule["service-cmdlet"]) == (6, 1)
    assert position(5, 1) == (4, 1)  # a line the placeholder produced


def test_main_exit_code_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.ps1"
    bad.write_text("$a = 1\nExpand-Archive a b\n", encoding="utf-8")
    good = tmp_path / "good.ps1"
    good.write_text("# Expand-Archive a b\n$a = 'Expand-Archive'\n", encoding="utf-8")
    assert pslint.main([str(good)]) == 0
    assert pslint.main([str(bad)]) == 1
    assert f"{bad}:2:1: expand-archive: " in capsys.readouterr().out


def test_shipped_snippets_and_templates_have_no_findings() -> None:
    findings = pslint.lint_shipped()
    assert findings == [], "\n".join(str(f) for f in findings)
