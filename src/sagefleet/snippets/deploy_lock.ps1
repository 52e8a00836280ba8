# sagefleet:deploy_lock/2
# A host-side lock so two deploy runs never work on one host at once.
# acquire: create the lock file only if absent (CreateNew); an expired lock
# (a killed run) is recovered; a live one is reported with its holder.
# release: remove the lock only if we own it.
# Recovery renames the stale file to a unique name (File.Move, atomic): of two runs that
# judged it expired, one rename succeeds, the other finds nothing to move and then meets the
# winner's fresh lock. Deleting it instead would let both runs delete and both CreateNew.
# The renamed file is compared with what was judged: a fresh lock taken by mistake (another
# run recovered and created in between) is put back.

$path = [string]$P.path
$owner = [string]$P.owner
$now = [DateTime]::UtcNow
$result = [ordered]@{ acquired = $false; released = $false; holder = $null; recovered = $null }

function Read-SfLockText {
    try { return [System.IO.File]::ReadAllText($path) }
    catch [System.IO.FileNotFoundException] { return $null }
    catch { return '' }
}

function ConvertFrom-SfLock($Text) {
    if ($null -eq $Text) { return $null }
    try { $lock = $Text | ConvertFrom-Json } catch { $lock = $null }
    # Any other JSON shape (an array, a string, an object without expires) is unreadable:
    # under StrictMode reading a member it lacks would throw on every run.
    if ($lock -isnot [pscustomobject] -or $null -eq $lock.PSObject.Properties['expires'] -or $null -eq $lock.PSObject.Properties['owner']) { $lock = $null }
    if ($null -eq $lock) { $lock = [pscustomobject]@{ owner = '(unreadable)'; acquired = $null; expires = $null } }
    $lock
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
    for ($attempt = 0; $attempt -lt 3 -and -not $result.acquired; $attempt++) {
        try {
            $stream = [System.IO.File]::Open($path, [System.IO.FileMode]::CreateNew,
                [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
            try { $stream.Write($bytes, 0, $bytes.Length) } finally { $stream.Dispose() }
            $result.acquired = $true
        } catch [System.IO.IOException] {
            $seen = Read-SfLockText
            $current = ConvertFrom-SfLock $seen
            if ($null -ne $current -and [string]$current.owner -eq $owner) {
                [System.IO.File]::WriteAllBytes($path, $bytes)
                $result.acquired = $true
            } elseif ($null -eq $current -or (Test-Expired $current)) {
                $stale = '{0}.{1}.stale' -f $path, [guid]::NewGuid().ToString('N')
                try { [System.IO.File]::Move($path, $stale) } catch [System.IO.IOException] { continue }
                if ([System.IO.File]::ReadAllText($stale) -cne $seen) {
                    try { [System.IO.File]::Move($stale, $path) } catch [System.IO.IOException] { }
                    continue
                }
                [System.IO.File]::Delete($stale)
                $result.recovered = $current
            } else {
                $result.holder = $current
                break
            }
        }
    }
} elseif ($P.action -eq 'release') {
    $current = ConvertFrom-SfLock (Read-SfLockText)
    if ($null -ne $current -and [string]$current.owner -eq $owner) {
        Remove-Item -LiteralPath $path -Force
        $result.released = $true
    }
} else {
    throw "sagefleet deploy_lock: unknown action '$($P.action)'"
}
Complete-SageFleet -Result $result
