# Shared prelude of every sagefleet snippet (not a snippet itself: no marker). Its
# statements run in every snippet; a function travels only with the snippets that call it
# (directly or through another function here): a function ends at its first line "}".
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

function Resolve-SfPrincipal([string] $Name) {
    # An account named as Windows needs it: a SID string as is; LocalSystem and the other
    # service logon names by their SIDs; '.\user' (a local account) with the computer name,
    # which NTAccount needs; any other name translated. Built-in principals have names in
    # the UI language (BUILTIN\Administrateurs on a French server): name them by SID.
    $text = $Name.Trim()
    $pseudo = @{
        'localsystem' = 'S-1-5-18'; '.\localsystem' = 'S-1-5-18'; 'nt authority\localsystem' = 'S-1-5-18'
        'system' = 'S-1-5-18'; 'nt authority\system' = 'S-1-5-18'
        'localservice' = 'S-1-5-19'; 'nt authority\localservice' = 'S-1-5-19'; 'nt authority\local service' = 'S-1-5-19'
        'networkservice' = 'S-1-5-20'; 'nt authority\networkservice' = 'S-1-5-20'; 'nt authority\network service' = 'S-1-5-20'
    }
    if ($pseudo.ContainsKey($text.ToLowerInvariant())) { $text = $pseudo[$text.ToLowerInvariant()] }
    if ($text -match '^S-1-[0-9]+(-[0-9]+)+$') {
        return New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList $text
    }
    if ($text.StartsWith('.\')) { $text = $env:COMPUTERNAME + $text.Substring(1) }
    try {
        (New-Object -TypeName System.Security.Principal.NTAccount -ArgumentList $text).Translate([System.Security.Principal.SecurityIdentifier])
    } catch {
        throw "account '$Name' could not be translated to a SID on this host: $($_.Exception.Message) (name it DOMAIN\user, .\user or by SID; built-in accounts only by SID, e.g. S-1-5-32-544 for Administrators, S-1-5-18 for SYSTEM: their names depend on the Windows language)"
    }
}

function New-SfPrivateSecurity([bool] $Folder, [string] $Owner, $FullControl, $Read) {
    # A protected DACL (nothing inherited): only the principals given; a folder passes
    # them on to what it contains.
    if ($Folder) {
        $security = New-Object -TypeName System.Security.AccessControl.DirectorySecurity
        $inherit = 'ContainerInherit, ObjectInherit'
    } else {
        $security = New-Object -TypeName System.Security.AccessControl.FileSecurity
        $inherit = 'None'
    }
    $security.SetAccessRuleProtection($true, $false)
    foreach ($who in @($FullControl)) {
        if ($who) { $security.AddAccessRule((New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList (Resolve-SfPrincipal ([string]$who)), 'FullControl', $inherit, 'None', 'Allow')) }
    }
    foreach ($who in @($Read)) {
        if ($who) { $security.AddAccessRule((New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList (Resolve-SfPrincipal ([string]$who)), 'Read', $inherit, 'None', 'Allow')) }
    }
    $security.SetOwner((Resolve-SfPrincipal $Owner))
    $security
}

function Set-SfPrivateAcl([string] $Path, $Acl) {
    # The one way a snippet protects a file or folder: $Acl is {owner, full_control[], read[]}
    # as the bastion sends it (SIDs for built-in principals).
    $folder = [System.IO.Directory]::Exists($Path)
    $security = New-SfPrivateSecurity $folder ([string]$Acl.owner) $Acl.full_control $Acl.read
    if ($folder) { [System.IO.Directory]::SetAccessControl($Path, $security) }
    else { [System.IO.File]::SetAccessControl($Path, $security) }
}

function Confirm-SfPrivateFolder([string] $Path, [bool] $Create = $true) {
    # A folder only SYSTEM and Administrators may use (staging: installers; backups: copies
    # of settings.json). Under ProgramData, Users may create folders and own what they
    # create: so the folder is created with a protected DACL in one step, and its owner and
    # DACL are checked on every run. Returns the full path. Self-contained (SIDs only): it
    # travels with every staging snippet. A read-only caller ($Create false: status, check
    # mode) leaves a missing folder missing: there is nothing in it to trust.
    if (-not $Path) { throw 'no private folder given (parameter root)' }
    $full = [System.IO.Path]::GetFullPath($Path).TrimEnd('\')
    $sid = [System.Security.Principal.SecurityIdentifier]
    if (-not [System.IO.Directory]::Exists($full)) {
        if (-not $Create) { return $full }
        $security = New-Object -TypeName System.Security.AccessControl.DirectorySecurity
        $security.SetAccessRuleProtection($true, $false)
        foreach ($who in 'S-1-5-18', 'S-1-5-32-544') {
            $security.AddAccessRule((New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList ($sid::new($who)), 'FullControl', 'ContainerInherit, ObjectInherit', 'None', 'Allow'))
        }
        $security.SetOwner($sid::new('S-1-5-32-544'))
        [void][System.IO.Directory]::CreateDirectory($full, $security)
    }
    $security = [System.IO.Directory]::GetAccessControl($full)
    $problems = @()
    $owner = $security.GetOwner($sid).Value
    if (@('S-1-5-32-544', 'S-1-5-18') -notcontains $owner) {
        $problems += "it is owned by $owner, not by Administrators (S-1-5-32-544) or SYSTEM (S-1-5-18)"
    }
    if (([System.IO.File]::GetAttributes($full) -band [System.IO.FileAttributes]::ReparsePoint) -ne 0) {
        $problems += 'it is a junction or a symbolic link'
    }
    foreach ($rule in $security.GetAccessRules($true, $true, $sid)) {
        $who = $rule.IdentityReference.Value
        if ($rule.AccessControlType -eq 'Allow' -and @('S-1-5-32-545', 'S-1-1-0', 'S-1-5-11') -contains $who) {
            $problems += "$who (Users, Everyone or Authenticated Users) is granted $($rule.FileSystemRights)"
        }
    }
    if ($problems.Count -gt 0) {
        throw "refusing to use the folder '$full': $($problems -join '; '). Only SYSTEM and Administrators may own or open it. Check who created it and what it holds, delete it, and run again: sagefleet creates it with SYSTEM and Administrators only."
    }
    $full
}

function Remove-SfTree([string] $Name, [string] $Folder) {
    # A folder and everything in it (stage_cleanup: a staged version; agent_backup_prune: an
    # agent backup). [IO.Directory]::Delete(folder, $true) throws on a read-only file (zip
    # attributes; a copy keeps them), a read-only folder (Explorer marks a customised one so)
    # and a file or folder another process holds open (a log, a prompt's current folder):
    # ReadOnly is cleared first, each entry that stays is returned as {folder, path, kind,
    # error} (kind: file, folder or link), and everything else still goes. Empty means the
    # folder is gone. A junction or symbolic link is removed as a link, never entered:
    # GetFiles(..., AllDirectories) would go through it and delete what it points to (the
    # company files, another folder); a read-only link stays, said.
    $link = [System.IO.FileAttributes]::ReparsePoint
    if (([System.IO.File]::GetAttributes($Folder) -band $link) -ne 0) {
        try { [System.IO.Directory]::Delete($Folder) } catch {
            return @([ordered]@{ folder = $Name; path = $Folder; kind = 'link'; error = $_.Exception.GetBaseException().Message })
        }
        return @()
    }
    # Normal: ReadOnly (and Hidden, System) cleared, as each file and folder goes anyway.
    $normal = [System.IO.FileAttributes]::Normal
    [System.IO.File]::SetAttributes($Folder, $normal)
    $left = @()
    $dirs = @($Folder)
    for ($at = 0; $at -lt $dirs.Count; $at++) {
        foreach ($entry in (New-Object -TypeName System.IO.DirectoryInfo -ArgumentList $dirs[$at]).GetFileSystemInfos()) {
            $isDir = $entry -is [System.IO.DirectoryInfo]
            $kind = 'file'
            if (($entry.Attributes -band $link) -ne 0) { $kind = 'link' } elseif ($isDir) { $kind = 'folder' }
            try {
                if (($entry.Attributes -band $link) -ne 0) {
                    # RemoveDirectory and DeleteFile remove the link, not its target.
                    if ($isDir) { [System.IO.Directory]::Delete($entry.FullName) } else { [System.IO.File]::Delete($entry.FullName) }
                } elseif ($isDir) {
                    [System.IO.File]::SetAttributes($entry.FullName, $normal)
                    $dirs += $entry.FullName
                } else {
                    [System.IO.File]::SetAttributes($entry.FullName, $normal)
                    [System.IO.File]::Delete($entry.FullName)
                }
            } catch {
                $left += [ordered]@{ folder = $Name; path = $entry.FullName; kind = $kind; error = $_.Exception.GetBaseException().Message }
            }
        }
    }
    if ($left.Count -eq 0) {
        try { [System.IO.Directory]::Delete($Folder, $true) } catch {
            $left += [ordered]@{ folder = $Name; path = $Folder; kind = 'folder'; error = $_.Exception.GetBaseException().Message }
        }
        return $left
    }
    # Empty folders go, deepest first (each comes after its parent); the ones above a file
    # left stay, and one held open stays, said.
    for ($at = $dirs.Count - 1; $at -gt 0; $at--) {
        try {
            if (@([System.IO.Directory]::GetFileSystemEntries($dirs[$at])).Count -eq 0) { [System.IO.Directory]::Delete($dirs[$at]) }
        } catch {
            $left += [ordered]@{ folder = $Name; path = $dirs[$at]; kind = 'folder'; error = $_.Exception.GetBaseException().Message }
        }
    }
    $left
}

function Get-SfBackupStamp([string] $Name) {
    # The UTC time in the name of an agent backup, '<version>-<yyyyMMddTHHmmssZ>' as
    # agent_install makes it (the version in letters, digits and . + _ -), or $null for
    # any other name: nothing sagefleet made, never listed nor touched. Case-sensitive, as
    # made; the time must be one (sagefleet.deploy.backups reads names the same way).
    if ($Name -cmatch '^[0-9A-Za-z.+_-]+-([0-9]{8}T[0-9]{6}Z)$') {
        $when = [DateTime]::MinValue
        $format = "yyyyMMdd'T'HHmmss'Z'"
        $invariant = [Globalization.CultureInfo]::InvariantCulture
        if ([DateTime]::TryParseExact($Matches[1], $format, $invariant, [Globalization.DateTimeStyles]::None, [ref]$when)) {
            return $Matches[1]
        }
    }
    $null
}

function Get-SfBackupCopying([string] $Backup) {
    # The file agent_install writes into a backup folder before it copies the agent there,
    # and deletes once the copy is whole: a copy stopped part way (killed) keeps it.
    Join-Path $Backup '.sagefleet-copying'
}

function Get-SfBackups([string] $Root) {
    # The agent backups in $Root by name (Get-SfBackupStamp's form), none when it is missing:
    # names, the folders; links, a junction or symbolic link of a backup's name, which is no
    # backup (agent_install copies into a folder) and would take a backup's place in the
    # count: listed apart, never counted nor removed (GetDirectories lists links too);
    # incomplete, a folder holding Get-SfBackupCopying's file or nothing at all (a copy
    # stopped part way): listed apart, never counted (the bastion names it for removal
    # after an upgrade that ended well: it may hold settings.json). A backup of an earlier
    # sagefleet has no marker: whole, as it always was taken.
    $found = [ordered]@{ names = @(); links = @(); incomplete = @() }
    if ([System.IO.Directory]::Exists($Root)) {
        foreach ($dir in [System.IO.Directory]::GetDirectories($Root)) {
            $leaf = [System.IO.Path]::GetFileName($dir)
            if ($null -eq (Get-SfBackupStamp $leaf)) { continue }
            if (([System.IO.File]::GetAttributes($dir) -band [System.IO.FileAttributes]::ReparsePoint) -ne 0) { $found.links += $leaf }
            elseif ([System.IO.File]::Exists((Get-SfBackupCopying $dir)) -or @([System.IO.Directory]::GetFileSystemEntries($dir)).Count -eq 0) { $found.incomplete += $leaf }
            else { $found.names += $leaf }
        }
    }
    $found
}
function Remove-SfBackups([string] $Root, $Names) {
    # The agent backups the bastion names, in the checked folder $Root (agent_backup_prune,
    # stage_cleanup): every name must have a backup's form and not be a junction or symbolic
    # link (Get-SfBackups lists none as a backup), or nothing goes. Remove-SfTree: a file
    # held open keeps its folder, in 'left'.
    foreach ($name in @($Names)) {
        if ($null -eq $name) { continue }
        if ($null -eq (Get-SfBackupStamp ([string]$name))) {
            throw "refusing to remove '$name' under '${Root}': not the name of an agent backup (<version>-<yyyyMMddTHHmmssZ>)"
        }
        $folder = Join-Path $Root ([string]$name)
        if ([System.IO.Directory]::Exists($folder) -and ([System.IO.File]::GetAttributes($folder) -band [System.IO.FileAttributes]::ReparsePoint) -ne 0) {
            throw "refusing to remove '$name' under '${Root}': a junction or symbolic link, not an agent backup"
        }
    }
    $done = [ordered]@{ pruned = @(); left = @() }
    foreach ($name in @($Names)) {
        if ($null -eq $name) { continue }
        $folder = Join-Path $Root ([string]$name)
        if ([System.IO.Directory]::Exists($folder)) {
            $stuck = @(Remove-SfTree ([string]$name) $folder)
            if ($stuck.Count -eq 0) { $done.pruned += [string]$name } else { $done.left += $stuck }
        }
    }
    $done
}
function Get-SfFileSha256([string] $Path) {
    $sha = New-Object -TypeName System.Security.Cryptography.SHA256CryptoServiceProvider
    $stream = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::Read)
    try { ([System.BitConverter]::ToString($sha.ComputeHash($stream))).Replace('-', '').ToLowerInvariant() }
    finally { $stream.Dispose(); $sha.Dispose() }
}

function Move-SfPart([string] $Part, [string] $Target) {
    # A verified .part renamed to its final name in one step, over an older file if any.
    if ([System.IO.File]::Exists($Target)) {
        # [NullString]: a plain $null would reach .NET as '' and be refused.
        [System.IO.File]::Replace($Part, $Target, [NullString]::Value)
    } else {
        [System.IO.File]::Move($Part, $Target)
    }
}

function Get-SfParam($Name, $Default) {
    # An optional parameter of $P (strict mode refuses a missing property): else $Default.
    $p = $P.PSObject.Properties[$Name]
    if ($null -eq $p -or $null -eq $p.Value) { return $Default }
    $p.Value
}

function Find-SfAgentService([string] $Name, [string] $ImagePattern, [string] $DisplayPattern) {
    # The agent profile's lookup: the exact name first; else the one service whose PathName
    # (ImagePath) or DisplayName matches a pattern (regex, case-insensitive); several matches
    # are candidates, none of them the agent. Names compared here: nothing becomes WQL.
    $all = @(Get-CimInstance -ClassName Win32_Service)
    $svc = $all | Where-Object { $Name -and $_.Name -eq $Name } | Select-Object -First 1
    $found = @{ service = $svc; matched_by = $null; candidates = @() }
    if ($null -ne $svc) { $found.matched_by = 'name' }
    elseif ($ImagePattern -or $DisplayPattern) {
        $hits = @($all | Where-Object {
            ($ImagePattern -and [string]$_.PathName -match $ImagePattern) -or
            ($DisplayPattern -and [string]$_.DisplayName -match $DisplayPattern)
        } | Sort-Object -Property Name)
        if ($hits.Count -eq 1) {
            $found.service = $hits[0]
            $found.matched_by = 'display_name'
            if ($ImagePattern -and [string]$hits[0].PathName -match $ImagePattern) { $found.matched_by = 'image_path' }
        } elseif ($hits.Count -gt 1) {
            $found.candidates = @($hits | ForEach-Object { [string]$_.Name })
        }
    }
    $found
}

function Get-SfProcessStart([int] $ProcessId) {
    # When a process started (Process.StartTime), in UTC, 'o' format; throws when it
    # cannot be read (no such process, access denied).
    [System.Diagnostics.Process]::GetProcessById($ProcessId).StartTime.ToUniversalTime().ToString('o')
}

function Get-ServiceExe($Service) {
    $exe = [string]$Service.PathName
    if ($exe -match '^"([^"]+)"') { return $Matches[1] }
    if ($exe -match '^(.*?\.exe)(\s|$)') { return $Matches[1] }
    $exe
}

function Get-SfError($Err) {
    # The message, then the Win32 reason the innermost exception carries (error 1069...).
    $e = $Err.Exception
    while ($null -ne $e.InnerException) { $e = $e.InnerException }
    if ($e -eq $Err.Exception) { return $e.Message }
    '{0} {1}' -f $Err.Exception.Message, $e.Message
}

function Set-SfServiceState([string]$Name, [string]$State, [int]$Seconds) {
    # ServiceController takes the name literally (the service cmdlets expand wildcards) and
    # its WaitForStatus is bounded (Stop-/Start-Service poll for ever while a service stays
    # pending). On timeout the service's own process is killed; returns its id (0: none).
    if ($Name -match '[*?\[\]]') { throw "service name '$Name' has a wildcard character" }
    # Not loaded by default in a -NoProfile session: the type would not be found.
    Add-Type -AssemblyName System.ServiceProcess
    $sc = New-Object -TypeName System.ServiceProcess.ServiceController -ArgumentList $Name
    try {
        $now = [string]$sc.Status
        # A pending service accepts no control (Win32 1061, 1056): let it settle, bounded.
        $settle = @{ StartPending = 'Running'; StopPending = 'Stopped' }[$now]
        if ($settle -and $settle -ne $State) {
            try { $sc.WaitForStatus($settle, [TimeSpan]::FromSeconds($Seconds)) } catch [System.ServiceProcess.TimeoutException] { }
            $sc.Refresh()
            $now = [string]$sc.Status
        }
        if ($State -eq 'Stopped' -and $now -eq 'Running') { $sc.Stop() }
        if ($State -eq 'Running' -and $now -eq 'Stopped') { $sc.Start() }
        try {
            $sc.WaitForStatus($State, [TimeSpan]::FromSeconds($Seconds))
            return 0
        } catch [System.ServiceProcess.TimeoutException] { }
        $sc.Refresh()
        $pending = [string]$sc.Status
        $wmi = @(Get-CimInstance -ClassName Win32_Service | Where-Object { $_.Name -eq $Name })[0]
        $procId = [int]$wmi.ProcessId
        # Only a process of its own: killing a shared svchost would stop other services.
        if ($procId -le 0 -or [string]$wmi.ServiceType -ne 'Own Process') {
            throw "service $Name stayed $pending for $Seconds s"
        }
        Stop-Process -Id $procId -Force -ErrorAction Stop
        $sc.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))
        if ($State -eq 'Running') { throw "service $Name stayed $pending for $Seconds s: its process $procId was killed" }
        $procId
    } finally {
        $sc.Dispose()
    }
}

function Read-SfTail([string] $Path, [long] $Bytes) {
    # The last $Bytes of a file, read shared: the agent keeps its log open while it runs.
    $stream = New-Object -TypeName System.IO.FileStream -ArgumentList $Path, ([System.IO.FileMode]::Open), ([System.IO.FileAccess]::Read), ([System.IO.FileShare]::ReadWrite)
    try {
        $start = [Math]::Max([long]0, $stream.Length - $Bytes)
        [void]$stream.Seek($start, [System.IO.SeekOrigin]::Begin)
        $buffer = New-Object -TypeName byte[] -ArgumentList ([int]($stream.Length - $start))
        $read = 0
        while ($read -lt $buffer.Length) {
            $n = $stream.Read($buffer, $read, $buffer.Length - $read)
            if ($n -le 0) { break }
            $read += $n
        }
        [ordered]@{ size = $stream.Length; truncated = ($start -gt 0); buffer = $buffer; read = $read }
    } finally { $stream.Dispose() }
}
