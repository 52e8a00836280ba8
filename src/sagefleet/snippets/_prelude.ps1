# Shared prelude of every sagefleet snippet (not a snippet itself: no marker).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 2.0

function ConvertTo-SageFleetJson {
    # Non-ASCII characters are escaped so the document survives any console code page.
    param([Parameter(Mandatory = $true)] $InputObject)
    $json = ConvertTo-Json -InputObject $InputObject -Depth 10 -Compress
    $builder = New-Object -TypeName System.Text.StringBuilder
    foreach ($ch in $json.ToCharArray()) {
        if ([int]$ch -gt 126) {
            [void]$builder.AppendFormat('\u{0:x4}', [int]$ch)
        } else {
            [void]$builder.Append($ch)
        }
    }
    $builder.ToString()
}

function Complete-SageFleet {
    # The one way a snippet ends well: exactly one JSON document on stdout, rc 0.
    param([Parameter(Mandatory = $true)] $Result)
    [Console]::Out.Write((ConvertTo-SageFleetJson -InputObject $Result))
    exit 0
}
