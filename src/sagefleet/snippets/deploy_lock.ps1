# sagefleet:deploy_lock/1
# A host-side lock so two deploy runs never work on one host at once.
# acquire: create the lock file only if absent (CreateNew); an expired lock
# (a killed run) is recovered; a live one is reported with its holder.
# release: remove the lock only if we own it.

$path = [string]$P.path
$owner = [string]$P.owner
$now = [DateTime]::UtcNow
$result = [ordered]@{ acquired = $false; released = $false; holder = $null; recovered = $null }

function Read-Lock {
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { return $null }
    try {
        return [System.IO.File]::ReadAllText($path) | ConvertFrom-Json
    } catch {
        return [pscustomobject]@{ owner = '(unreadable)'; acquired = $null; expires = $null }
    }
}

function Test-Expired($Lock) {
    if ($null -eq $Lock.expires) { return $true }
    $styles = [System.Globalization.DateTimeStyles]::RoundtripKind
    $culture = [System.Globalization.CultureInfo]::InvariantCulture
    [DateTime]::Parse([string]$Lock.expires, $culture, $styles).ToUniversalTime() -lt $now
}

if ($P.action -eq 'acquire') {
    $folder = Split-Path -Parent $path
    if (-not (Test-Path -LiteralPath $folder)) { New-Item -ItemType Directory -Path $folder -Force | Out-Null }
    $record = [ordered]@{
        owner    = $owner
        acquired = $now.ToString('o')
        expires  = $now.AddSeconds([int]$P.ttl_s).ToString('o')
    } | ConvertTo-Json -Compress
    $bytes = [System.Text.Encoding]::UTF8.GetBytes($record)
    for ($attempt = 0; $attempt -lt 2 -and -not $result.acquired; $attempt++) {
        try {
            $stream = [System.IO.File]::Open($path, [System.IO.FileMode]::CreateNew,
                [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
            try { $stream.Write($bytes, 0, $bytes.Length) } finally { $stream.Dispose() }
            $result.acquired = $true
        } catch [System.IO.IOException] {
            $current = Read-Lock
            if ($null -ne $current -and [string]$current.owner -eq $owner) {
                [System.IO.File]::WriteAllBytes($path, $bytes)
                $result.acquired = $true
            } elseif ($null -eq $current -or (Test-Expired $current)) {
                $result.recovered = $current
                Remove-Item -LiteralPath $path -Force -ErrorAction SilentlyContinue
            } else {
                $result.holder = $current
                break
            }
        }
    }
} elseif ($P.action -eq 'release') {
    $current = Read-Lock
    if ($null -ne $current -and [string]$current.owner -eq $owner) {
        Remove-Item -LiteralPath $path -Force
        $result.released = $true
    }
} else {
    throw "sagefleet deploy_lock: unknown action '$($P.action)'"
}
Complete-SageFleet -Result $result
