# sagefleet:stage_cleanup/6
# List the staged versions under the staging folder and remove the ones the bastion names.
# The retention policy (how many to keep, which is current) is decided on the bastion
# from the listing; this only removes direct children of the root, by name.
# $P: root, remove (folder names), remove_parts (names '<folder>\<file>.part', or a piece
#   of one: '<folder>\<file>.part.<start>').
# A version folder goes with the prelude's Remove-SfTree: a file that stays locked is
# reported in 'left' with its error, and everything else still goes.
# backup_dir, remove_backups (optional): after an upgrade that ended well, the agent
# backups older than the bastion keeps (agent_backup_prune's rules, Remove-SfBackups), in
# the same command; what goes or stays is in 'backups', a refusal in its 'error' (the
# staged versions are cleaned all the same).

# The staging folder is private and checked on every run (a missing one has nothing to clean:
# it stays missing).
$root = Confirm-SfPrivateFolder ([string]$P.root) $false

function Resolve-SfChild([string] $Name, [int] $Depth) {
    # A plain name (or folder\file for a .part): nothing that climbs out of the root.
    $parts = @($Name -split '\\')
    if ($parts.Count -ne $Depth -or @($parts | Where-Object { $_ -in @('', '.', '..') -or $_.IndexOfAny([char[]]'/:*?"<>|') -ge 0 }).Count -gt 0) {
        throw "refusing to remove '$Name' under '${root}': not a staged version name"
    }
    Join-Path $root $Name
}

$backups = $null
$names = @(Get-SfParam remove_backups @())
if ($names.Count -gt 0) {
    $backups = [ordered]@{ pruned = @(); left = @(); error = $null }
    try {
        $done = Remove-SfBackups (Confirm-SfPrivateFolder ([string]$P.backup_dir) $false) $names
        $backups.pruned = $done.pruned
        $backups.left = $done.left
    } catch {
        $backups.error = $_.Exception.GetBaseException().Message
    }
}

$removed = @()
$left = @()
foreach ($name in @($P.remove)) {
    if ($null -eq $name) { continue }
    $folder = Resolve-SfChild ([string]$name) 1
    if ([System.IO.Directory]::Exists($folder)) {
        $stuck = @(Remove-SfTree ([string]$name) $folder)
        if ($stuck.Count -eq 0) { $removed += [string]$name } else { $left += $stuck }
    }
}
$removedParts = @()
foreach ($name in @($P.remove_parts)) {
    if ($null -eq $name) { continue }
    $file = Resolve-SfChild ([string]$name) 2
    if ($file -notmatch '\.part(\.[0-9]{1,18})?$') {
        throw "refusing to remove '$file': only .part files and their pieces (.part.<start>) are removed one by one"
    }
    if ([System.IO.File]::Exists($file)) {
        [System.IO.File]::Delete($file)
        $removedParts += [string]$name
    }
}

$folders = @()
if ([System.IO.Directory]::Exists($root)) {
    foreach ($dir in @(Get-ChildItem -LiteralPath $root -Directory -Force)) {
        $files = @(Get-ChildItem -LiteralPath $dir.FullName -File -Force | ForEach-Object {
            [ordered]@{ name = $_.Name; size = [long]$_.Length }
        })
        $folders += [ordered]@{ name = $dir.Name; modified = $dir.LastWriteTimeUtc.ToString('o'); files = $files }
    }
}
Complete-SageFleet -Result ([ordered]@{
    root          = $root
    exists        = [System.IO.Directory]::Exists($root)
    folders       = $folders
    removed       = $removed
    removed_parts = $removedParts
    left          = $left
    backups       = $backups
})
