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
$script = [System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String($sagefleetFacts))
$stamp = [guid]::NewGuid().ToString('N')
$work = Join-Path -Path ([System.IO.Path]::GetTempPath()) -ChildPath ('sagefleet-facts-' + $stamp)
$scriptFile = $work + '.ps1'
$outFile = $work + '.out'
$errFile = $work + '.err'
[System.IO.File]::WriteAllText($scriptFile, $script, (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $true))
try {{
    $exe = Join-Path -Path $PSHOME -ChildPath 'powershell.exe'
    $arguments = '-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "' + $scriptFile + '"'
    $child = Start-Process -FilePath $exe -ArgumentList $arguments -NoNewWindow -Wait -PassThru -RedirectStandardOutput $outFile -RedirectStandardError $errFile
    $document = ''
    if (Test-Path -LiteralPath $outFile) {{ $document = ([System.IO.File]::ReadAllText($outFile)).Trim() }}
    if ($child.ExitCode -ne 0 -or -not $document) {{
        $detail = ''
        if (Test-Path -LiteralPath $errFile) {{ $detail = [System.IO.File]::ReadAllText($errFile) }}
        throw ('the facts script failed (exit code ' + $child.ExitCode + '): ' + $detail)
    }}
    [void](ConvertFrom-Json -InputObject $document)
    $target = Join-Path -Path $OutDir -ChildPath ('sagefleet-facts-' + $env:COMPUTERNAME + '.json')
    [System.IO.File]::WriteAllText($target, $document, (New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false))
    Write-Output ('sagefleet: facts written to ' + $target)
}} finally {{
    foreach ($file in @($scriptFile, $outFile, $errFile)) {{
        if (Test-Path -LiteralPath $file) {{ Remove-Item -LiteralPath $file -Force }}
    }}
}}
