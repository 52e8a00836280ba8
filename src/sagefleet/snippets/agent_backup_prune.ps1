# sagefleet:agent_backup_prune/6
# List the agent's backups under the backup folder and remove the ones the bastion names
# (check mode lists here; after an upgrade agent_install lists and stage_cleanup removes).
# Which to keep (how many, which one this run took) is decided on the bastion from the
# listing (sagefleet.deploy.backups); only direct children of the folder whose name has the
# form agent_install gives a backup, '<version>-<yyyyMMddTHHmmssZ>' (Get-SfBackupStamp), are
# listed or removed: anything else is never touched, and a name of another form is refused.
# A junction or symbolic link of a backup's name is no backup: listed apart (backup_links),
# never counted, and refused if named. A copy stopped part way is listed apart too
# (backup_incomplete), never counted; it goes when the bastion names it.
# $P: backup_dir, remove (folder names; empty: list only, as check mode does).
# The prelude's Remove-SfBackups (Remove-SfTree): a file another process holds open keeps
# its folder, reported in 'left' with its error, and everything else still goes.

# The backup folder is private (each backup holds a copy of settings.json) and checked on
# every run; a missing one has nothing to prune: it stays missing.
$root = Confirm-SfPrivateFolder ([string]$P.backup_dir) $false

$done = Remove-SfBackups $root $P.remove
$found = Get-SfBackups $root
Complete-SageFleet -Result ([ordered]@{
    backup_dir   = $root
    exists       = [System.IO.Directory]::Exists($root)
    backups      = @($found.names)
    backup_links = @($found.links)
    backup_incomplete = @($found.incomplete)
    pruned       = $done.pruned
    left         = $done.left
})
