# sagefleet:agent_backup_prune/1
# List the agent's backups under the backup folder and remove the ones the bastion names.
# Which to keep (how many, which one this run took) is decided on the bastion from the
# listing, after an install that ended well (sagefleet.deploy.backups); this lists and
# removes only direct children of the folder whose name has the form agent_install gives a
# backup, '<version>-<yyyyMMddTHHmmssZ>' (Get-SfBackupStamp): anything else in the folder is
# never listed nor touched, and a name of another form is refused.
# $P: backup_dir, remove (folder names; empty: list only, as check mode does).
# A backup goes with the prelude's Remove-SfTree: a file another process holds open keeps
# its folder, reported in 'left' with its error, and everything else still goes.

# The backup folder is private (each backup holds a copy of settings.json) and checked on
# every run; a missing one has nothing to prune: it stays missing.
$root = Confirm-SfPrivateFolder ([string]$P.backup_dir) $false

$pruned = @()
$left = @()
foreach ($name in @($P.remove)) {
    if ($null -eq $name) { continue }
    if ($null -eq (Get-SfBackupStamp ([string]$name))) {
        throw "refusing to remove '$name' under '${root}': not the name of an agent backup (<version>-<yyyyMMddTHHmmssZ>)"
    }
    $folder = Join-Path $root ([string]$name)
    if ([System.IO.Directory]::Exists($folder)) {
        $stuck = @(Remove-SfTree ([string]$name) $folder)
        if ($stuck.Count -eq 0) { $pruned += [string]$name } else { $left += $stuck }
    }
}

$backups = @()
$exists = [System.IO.Directory]::Exists($root)
if ($exists) {
    foreach ($dir in [System.IO.Directory]::GetDirectories($root)) {
        $leaf = [System.IO.Path]::GetFileName($dir)
        if ($null -ne (Get-SfBackupStamp $leaf)) { $backups += $leaf }
    }
}
Complete-SageFleet -Result ([ordered]@{
    backup_dir = $root
    exists     = $exists
    backups    = $backups
    pruned     = $pruned
    left       = $left
})
