# sagefleet:settings_write/7
# Write or roll back the agent's settings.json atomically, or protect it; the bastion
# decides what.
# $P: action (write|rollback|protect), path, sha256 (write), backup (rollback, null: newest),
#     check, return_content, keep_backups, acl {owner, full_control[], read[]} (SIDs for
#     built-in principals, DOMAIN\user or .\user for accounts: see Resolve-SfPrincipal),
#     expect_previous (write: null, or {sha256} of the file the bastion read and checked;
#     a file changed since is not replaced), agent (null, or the agent profile's service
#     lookup {name, image_path_pattern, display_name_pattern}: the answer then says when
#     the agent's process started, to tell whether it read the file since its last write).
# stdin (write, not check): the content as one base64 line, the last non-empty line read.
# The content holds passwords: it never travels in $P, and is echoed back (base64) only
# when return_content asks for it (diff mode), for a caller that hides its logs.
# A write that is not a check first removes what a stopped write left (leftovers).
# protect: the file at path, if there, gets the private DACL, its content untouched: the
# copy an installer stopped part way left (it holds passwords, and inherits the install
# folder's DACL, which lets Users read). A missing folder or file has nothing to protect.

function Get-SfSha256([byte[]] $Bytes) {
    $sha = New-Object -TypeName System.Security.Cryptography.SHA256CryptoServiceProvider
    try { ([System.BitConverter]::ToString($sha.ComputeHash($Bytes))).Replace('-', '').ToLowerInvariant() }
    finally { $sha.Dispose() }
}

function Get-SfBackups {
    # Newest first: the UTC timestamp in the name sorts like the time it stands for.
    $pattern = '^' + [regex]::Escape($leaf) + '\.\d{8}T\d{6}Z\.bak$'
    [System.IO.Directory]::GetFiles($folder) | ForEach-Object { [System.IO.Path]::GetFileName($_) } |
        Where-Object { $_ -match $pattern } | Sort-Object -Descending
}

function Set-SfContent([byte[]] $Bytes, [bool] $KeepBackup) {
    # Temporary file in the same folder, restricted while still empty, then filled and
    # swapped in one step: readers see the old file or the new one, never half of one.
    # File.Replace always gets a name for the replaced file ($aside: the backup, or one of
    # ours deleted after): failing half way (ERROR_UNABLE_TO_MOVE_REPLACEMENT_2, 1177) it
    # leaves that file there, and it goes back; without a name, ReplaceFile may delete it
    # (1176) or leave it under a name of its own.
    $tmp = Join-Path $folder ('.' + $leaf + '.' + [guid]::NewGuid().ToString('N') + '.tmp')
    $backup = $null
    $aside = $null
    try {
        [System.IO.File]::Open($tmp, [System.IO.FileMode]::CreateNew, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None).Dispose()
        Set-SfPrivateAcl $tmp $P.acl
        $stream = New-Object -TypeName System.IO.FileStream -ArgumentList $tmp, ([System.IO.FileMode]::Truncate), ([System.IO.FileAccess]::Write), ([System.IO.FileShare]::None)
        try { $stream.Write($Bytes, 0, $Bytes.Length); $stream.Flush($true) } finally { $stream.Dispose() }
        if ([System.IO.File]::Exists($target)) {
            if ($KeepBackup) {
                # A new backup must sort after every kept one, even within the same second.
                $format = "yyyyMMdd'T'HHmmss'Z'"
                $invariant = [Globalization.CultureInfo]::InvariantCulture
                $backup = $leaf + '.' + [DateTime]::UtcNow.ToString($format, $invariant) + '.bak'
                $newest = @(Get-SfBackups) | Select-Object -First 1
                if ($newest -and [string]::CompareOrdinal($newest, $backup) -ge 0) {
                    $last = [DateTime]::ParseExact($newest.Substring($leaf.Length + 1, 16), $format, $invariant)
                    $backup = $leaf + '.' + $last.AddSeconds(1).ToString($format, $invariant) + '.bak'
                }
                $aside = [System.IO.Path]::Combine($folder, $backup)
            } else {
                $aside = [System.IO.Path]::Combine($folder, '.' + $leaf + '.' + [guid]::NewGuid().ToString('N') + '.old')
            }
            [System.IO.File]::Replace($tmp, $target, $aside)
        } else {
            [System.IO.File]::Move($tmp, $target)
        }
    } catch {
        $failure = $_.Exception.Message
        if ($aside -and -not [System.IO.File]::Exists($target) -and [System.IO.File]::Exists($aside)) {
            try { [System.IO.File]::Move($aside, $target) }
            catch { throw "settings not written to '$target', and the file is missing: File.Replace failed half way ($failure), and moving the previous file back from '$aside' failed: $($_.Exception.Message)" }
        }
        if ([System.IO.File]::Exists($tmp)) { [System.IO.File]::Delete($tmp) }
        throw "settings not written to '$target' (the previous file is unchanged): $failure"
    }
    if (-not $KeepBackup -and $aside) { [System.IO.File]::Delete($aside) }
    # File.Replace keeps the replaced file's DACL: set ours again on the result.
    Set-SfPrivateAcl $target $P.acl
    $backup
}

$target = [System.IO.Path]::GetFullPath([string]$P.path)
$folder = [System.IO.Path]::GetDirectoryName($target)
$leaf = [System.IO.Path]::GetFileName($target)
$folderExists = [System.IO.Directory]::Exists($folder)
if (-not $folderExists -and $P.action -ne 'protect') {
    throw "the folder '$folder' of '$target' does not exist (is the agent installed there?)"
}
$current = $null
if ([System.IO.File]::Exists($target)) { $current = [System.IO.File]::ReadAllBytes($target) }
$result = [ordered]@{
    action          = [string]$P.action
    path            = $target
    existed         = ($null -ne $current)
    changed         = $false
    previous_sha256 = $null
    sha256          = $null
    backup          = $null
    restored        = $null
    pruned          = @()
    backups         = @()
    previous        = $null
    content         = $null
}
if ($null -ne $current) { $result.previous_sha256 = Get-SfSha256 $current }
# A write killed before its swap (a terminate Signal ends the process where it is: no
# catch, no finally runs) leaves its temporary file, or the replaced file it put aside:
# both hold the settings' secrets. Removed by the next write, and named.
$result.leftovers = @()
if (-not $P.check -and $folderExists) {
    $pattern = '^\.' + [regex]::Escape($leaf) + '\.[0-9a-f]{32}\.(tmp|old)$'
    $found = @([System.IO.Directory]::GetFiles($folder) | ForEach-Object { [System.IO.Path]::GetFileName($_) } |
        Where-Object { $_ -match $pattern } | Sort-Object)
    foreach ($name in $found) { [System.IO.File]::Delete((Join-Path $folder $name)) }
    $result.leftovers = $found
}

if ($P.action -eq 'write') {
    if ($null -ne $P.expect_previous -and $result.previous_sha256 -ne $P.expect_previous.sha256) {
        throw "settings not written to '${target}': the file changed since it was read (run again)"
    }
    $result.sha256 = ([string]$P.sha256).ToLowerInvariant()
    $bytes = $null
    if (-not $P.check) {
        $line = $null
        while ($null -ne ($next = [Console]::In.ReadLine())) { if ($next.Trim()) { $line = $next.Trim() } }
        if ($null -eq $line) { throw "settings not written to '${target}': no content line on stdin" }
        $bytes = [Convert]::FromBase64String($line)
        if ((Get-SfSha256 $bytes) -ne $result.sha256) {
            throw "settings not written to '${target}': the content received does not match its SHA-256"
        }
    }
} elseif ($P.action -eq 'rollback') {
    $available = @(Get-SfBackups)
    if ($available.Count -eq 0) {
        throw "no backup of '$target' to roll back to ($leaf.<yyyyMMddTHHmmssZ>.bak in '$folder')"
    }
    $name = $available[0]
    if ($P.backup) {
        $name = @($available | Where-Object { $_ -eq [string]$P.backup })
        if ($name.Count -eq 0) {
            throw "backup '$($P.backup)' of '$target' not found; available: $($available -join ', ')"
        }
        $name = $name[0]
    }
    $bytes = [System.IO.File]::ReadAllBytes((Join-Path $folder $name))
    $result.restored = $name
    $result.sha256 = Get-SfSha256 $bytes
    if ($P.return_content) { $result.content = [Convert]::ToBase64String($bytes) }
} elseif ($P.action -eq 'protect') {
    if ($null -ne $current -and -not $P.check) { Set-SfPrivateAcl -Path $target -Acl $P.acl }
    $result.sha256 = $result.previous_sha256
} else {
    throw "unknown settings_write action '$($P.action)'"
}

$result.changed = ($result.previous_sha256 -ne $result.sha256)
if ($result.changed -and $P.return_content -and $null -ne $current) {
    $result.previous = [Convert]::ToBase64String($current)
}
if ($result.changed -and -not $P.check) {
    # A rollback does not back up the file it replaces: that file is what the inventory
    # renders, and keeping it would make the next rollback swap back to it.
    $result.backup = Set-SfContent $bytes ($P.action -eq 'write')
    if ($P.action -eq 'write') {
        $old = @(Get-SfBackups)
        $keep = [int]$P.keep_backups
        $result.pruned = @(if ($old.Count -gt $keep) { $old[$keep..($old.Count - 1)] })
        foreach ($name in $result.pruned) { [System.IO.File]::Delete((Join-Path $folder $name)) }
    }
}
$result.backups = @(if ($folderExists) { Get-SfBackups })
# The file's last write and the agent's process start, both on this host's clock.
$result.now_utc = [DateTime]::UtcNow.ToString('o')
$result.written_utc = $null
if ([System.IO.File]::Exists($target)) { $result.written_utc = [System.IO.File]::GetLastWriteTimeUtc($target).ToString('o') }
$result.agent = $null
if ($null -ne $P.agent) {
    $lookup = Find-SfAgentService ([string]$P.agent.name) ([string]$P.agent.image_path_pattern) ([string]$P.agent.display_name_pattern)
    $agent = [ordered]@{ name = $null; state = $null; started_utc = $null; error = $null; candidates = @($lookup.candidates) }
    $svc = $lookup.service
    if ($null -ne $svc) {
        $agent.name = [string]$svc.Name
        $agent.state = [string]$svc.State
        if ([int]$svc.ProcessId -gt 0) {
            try { $agent.started_utc = Get-SfProcessStart ([int]$svc.ProcessId) }
            catch { $agent.error = $_.Exception.Message }
        }
    }
    $result.agent = $agent
}
Complete-SageFleet -Result $result
