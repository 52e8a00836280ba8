# Template of `sagefleet facts-script` (str.format: doubled braces are literal).
# sagefleet offline facts collector (sagefleet {version}){for_host}.
# Run it on the server, in Windows PowerShell 5.1 as an administrator:
#   powershell.exe -NoProfile -ExecutionPolicy Bypass -File .\collect.ps1 [-OutDir C:\Temp]
# It changes nothing on the server: it runs sagefleet's facts script (the same text
# sagefleet sends over WinRM, embedded below as base64 of its UTF-8 text) in a child
# PowerShell process and writes its JSON document to {pattern}
# (UTF-8). Copy that file to the bastion and evaluate it there:
#   sagefleet checks --facts sagefleet-facts-<COMPUTERNAME>.json{checks_args} --out reports/offline
param([string] $OutDir = (Get-Location).Path)
$ErrorActionPreference = 'Stop'
$sagefleetFacts = @(
{chunks}
) -join ''
$script = [System.Convert]::FromBase64String($sagefleetFacts)
# Windows PowerShell 5.1 by its full path (under PowerShell 7 the PowerShell home is pwsh's
# folder), started exactly as WinRM starts sagefleet's scripts: the fixed stdin bootstrap
# in -EncodedCommand, the script on stdin behind its length.
$exe = Join-Path -Path $env:SystemRoot -ChildPath 'System32\WindowsPowerShell\v1.0\powershell.exe'
$info = New-Object -TypeName System.Diagnostics.ProcessStartInfo
$info.FileName = $exe
$info.Arguments = '{arguments}'
$info.UseShellExecute = $false
$info.CreateNoWindow = $true
$info.RedirectStandardInput = $true
$info.RedirectStandardOutput = $true
$info.RedirectStandardError = $true
$child = [System.Diagnostics.Process]::Start($info)
$stdout = $child.StandardOutput.ReadToEndAsync()
$stderr = $child.StandardError.ReadToEndAsync()
$head = [System.Text.Encoding]::ASCII.GetBytes([string]$script.Length + "`n")
$stdin = $child.StandardInput.BaseStream
# A child that stops before reading (the bootstrap names a constrained language mode) closes
# its end: its stderr below says why, not this write's "The pipe has been ended".
try {{
    $stdin.Write($head, 0, $head.Length)
    $stdin.Write($script, 0, $script.Length)
    $stdin.Close()
}} catch [System.IO.IOException] {{ }}
if (-not $child.WaitForExit({timeout_ms})) {{
    $child.Kill()
    throw 'the facts script did not finish within {timeout_s} seconds: it was stopped'
}}
$document = $stdout.Result.Trim()
if ($child.ExitCode -ne 0 -or -not $document) {{
    throw ('the facts script failed (exit code ' + $child.ExitCode + '): ' + $stderr.Result)
}}
[void](ConvertFrom-Json -InputObject $document)
$target = Join-Path -Path $OutDir -ChildPath ('sagefleet-facts-' + $env:COMPUTERNAME + '.json')
[System.IO.File]::WriteAllText($target, $document, (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false))
Write-Output ('sagefleet: facts written to ' + $target)
