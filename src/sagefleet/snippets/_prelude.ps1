# Shared prelude of every sagefleet snippet (not a snippet itself: no marker).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 2.0

function ConvertTo-SageFleetJson {
    # Every UTF-16 unit above 0x7E becomes \uXXXX, so the document survives any console
    # code page; one regex pass (a loop per character is slow on megabytes of output).
    param([Parameter(Mandatory = $true)] $InputObject)
    $json = ConvertTo-Json -InputObject $InputObject -Depth 10 -Compress
    [regex]::Replace($json, '[^\x00-\x7e]', [System.Text.RegularExpressions.MatchEvaluator] { param($m) '\u{0:x4}' -f [int][char]$m.Value })
}

function Complete-SageFleet {
    # The one way a snippet ends well: exactly one JSON document on stdout, rc 0.
    param([Parameter(Mandatory = $true)] $Result)
    [Console]::Out.Write((ConvertTo-SageFleetJson -InputObject $Result))
    exit 0
}
