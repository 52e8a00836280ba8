# sagefleet:stage_extract/2
# Expand the staged package into one folder, so the installers find settings.json beside
# them. Idempotent: a marker file records which package the folder holds, and a folder
# that already holds it with every file present is left alone.
# $P: root (the staging folder), path (the staged zip), dest (the folder), sha256 (expected, or null), marker (file
#     name of the marker inside dest), check (bool: report only).
# Every entry is checked before anything is written: a name escaping the folder (zip-slip)
# or a volume without room for the expanded size refuses the whole extraction. Exactly the
# checked entries are then written, from the same open file that was hashed (Expand-Archive
# would expand the archive by its own rules, and is a script-module cmdlet).

function Get-SfStreamSha256([System.IO.Stream] $Stream) {
    $sha = New-Object -TypeName System.Security.Cryptography.SHA256CryptoServiceProvider
    try { ([System.BitConverter]::ToString($sha.ComputeHash($Stream))).Replace('-', '').ToLowerInvariant() }
    finally { $sha.Dispose() }
}

# The staging folder (parameter root) is private and checked on every run (check mode
# creates nothing).
[void](Confirm-SfPrivateFolder ([string]$P.root) (-not $P.check))
$zip = [System.IO.Path]::GetFullPath([string]$P.path)
$dest = [System.IO.Path]::GetFullPath([string]$P.dest).TrimEnd('\')
$marker = Join-Path $dest ([string]$P.marker)
if (-not [System.IO.File]::Exists($zip)) { throw "cannot extract '$zip' into '$dest': the staged package is not there" }
Add-Type -AssemblyName 'System.IO.Compression', 'System.IO.Compression.FileSystem'
# One handle, shared for reading only: the bytes hashed are the bytes checked and extracted.
$stream = [System.IO.File]::Open($zip, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::Read)
$archive = $null
try {
    $sha256 = Get-SfStreamSha256 $stream
    if ($P.sha256 -and $sha256 -ne ([string]$P.sha256).ToLowerInvariant()) {
        throw "cannot extract '$zip' into '${dest}': its SHA-256 is $sha256, expected $($P.sha256)"
    }
    [void]$stream.Seek(0, [System.IO.SeekOrigin]::Begin)
    $archive = New-Object -TypeName System.IO.Compression.ZipArchive -ArgumentList $stream, ([System.IO.Compression.ZipArchiveMode]::Read), $true
    $plan = @()
    $total = [long]0
    foreach ($entry in $archive.Entries) {
        $full = [System.IO.Path]::GetFullPath([System.IO.Path]::Combine($dest + '\', $entry.FullName))
        if (-not $full.StartsWith($dest + '\', [System.StringComparison]::OrdinalIgnoreCase)) {
            throw "cannot extract '$zip': the entry '$($entry.FullName)' would land outside '$dest' (zip-slip)"
        }
        if ($entry.FullName.EndsWith('/') -or $entry.FullName.EndsWith('\')) { continue }
        $plan += [pscustomobject]@{ entry = $entry; path = $full; name = $full.Substring($dest.Length + 1) }
        $total += $entry.Length
    }
    $names = @($plan | ForEach-Object { $_.name })
    $files = @($names | Sort-Object | ForEach-Object { Join-Path $dest $_ })

    $present = $false
    if ([System.IO.File]::Exists($marker)) {
        $known = $null
        try { $known = [string](ConvertFrom-Json ([System.IO.File]::ReadAllText($marker, [System.Text.Encoding]::UTF8))).sha256 }
        catch { $known = $null }  # an unreadable marker proves nothing: extract again
        $missing = @($files | Where-Object { -not [System.IO.File]::Exists($_) })
        $present = ($known -eq $sha256) -and $missing.Count -eq 0
    }
    $result = [ordered]@{ path = $zip; dest = $dest; sha256 = $sha256; files = $files; bytes = $total; skipped = $present; changed = (-not $present) }
    if (-not ($present -or $P.check)) {
        $drive = New-Object -TypeName System.IO.DriveInfo -ArgumentList ([System.IO.Path]::GetPathRoot($dest))
        if ($drive.AvailableFreeSpace -lt $total) {
            throw "cannot extract '$zip' into '${dest}': it expands to $total bytes, $($drive.AvailableFreeSpace) bytes free on $($drive.Name)"
        }
        [void][System.IO.Directory]::CreateDirectory($dest)
        # The marker goes first, stale: an extraction cut short is never taken for a complete one.
        if ([System.IO.File]::Exists($marker)) { [System.IO.File]::Delete($marker) }
        foreach ($item in $plan) {
            if (-not $item.path.StartsWith($dest + '\', [System.StringComparison]::OrdinalIgnoreCase)) { throw "cannot extract '$zip': '$($item.path)' is outside '$dest'" }
            [void][System.IO.Directory]::CreateDirectory([System.IO.Path]::GetDirectoryName($item.path))
            [System.IO.Compression.ZipFileExtensions]::ExtractToFile($item.entry, $item.path, $true)
        }
        $utf8 = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
        [System.IO.File]::WriteAllText($marker, (ConvertTo-SageFleetJson -InputObject ([ordered]@{ sha256 = $sha256; files = $names })), $utf8)
    }
} finally {
    if ($null -ne $archive) { $archive.Dispose() }
    $stream.Dispose()
}
Complete-SageFleet -Result $result
