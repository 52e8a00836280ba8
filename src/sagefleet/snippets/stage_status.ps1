# sagefleet:stage_status/3
# What is already staged for one package, in one round trip: the SHA-256 of the complete
# file, the size of the .part an interrupted transfer left and of the pieces a transfer
# over several connections left ('<part>.<start>': the package's bytes from <start>), the
# free space of the volume.
# Gathers only: whether to skip, resume or refuse is the bastion's decision.
# $P: root (the staging folder), path (the staged file), part (its .part file), hash (bool:
#   hash a complete file).

# The staging folder (parameter root) is private and checked on every run; a status (check
# mode too) creates nothing.
[void](Confirm-SfPrivateFolder ([string]$P.root) $false)
$target = [System.IO.Path]::GetFullPath([string]$P.path)
$part = [System.IO.Path]::GetFullPath([string]$P.part)
$result = [ordered]@{
    path        = $target
    exists      = $false
    size        = $null
    sha256      = $null
    part        = $part
    part_exists = $false
    part_size   = 0
    segments    = @()
    volume      = $null
    free_bytes  = $null
}
if ([System.IO.File]::Exists($target)) {
    $result.exists = $true
    $result.size = [long](New-Object -TypeName System.IO.FileInfo -ArgumentList $target).Length
    if ($P.hash) { $result.sha256 = Get-SfFileSha256 $target }
}
if ([System.IO.File]::Exists($part)) {
    $result.part_exists = $true
    $result.part_size = [long](New-Object -TypeName System.IO.FileInfo -ArgumentList $part).Length
}
$folder = [System.IO.Path]::GetDirectoryName($part)
$name = [System.IO.Path]::GetFileName($part)
if ([System.IO.Directory]::Exists($folder)) {
    $result.segments = @(foreach ($file in [System.IO.Directory]::GetFiles($folder, $name + '.*')) {
        # On Windows '<name>.*' also matches '<name>' itself.
        $leaf = [System.IO.Path]::GetFileName($file)
        if ($leaf.Length -gt $name.Length + 1 -and $leaf.Substring($name.Length + 1) -match '^[0-9]{1,18}$') {
            [ordered]@{ start = [long]$leaf.Substring($name.Length + 1); size = [long](New-Object -TypeName System.IO.FileInfo -ArgumentList $file).Length }
        }
    })
}
# The drive of the staging folder: DriveInfo answers even when the folder does not exist yet.
$drive = New-Object -TypeName System.IO.DriveInfo -ArgumentList ([System.IO.Path]::GetPathRoot($target))
$result.volume = $drive.Name
$result.free_bytes = [long]$drive.AvailableFreeSpace
Complete-SageFleet -Result $result
