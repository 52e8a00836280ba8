# sagefleet:agent_install/7
# Install or upgrade the agent: stop the service, back up its folder, run the
# installer unattended, set the logon account, start and read the version.
# Expected failures come back in the document (failed_step, error); the
# bastion decides about rollback. The staged settings.json (it holds
# secrets) is deleted whatever happens, and the service password read from
# stdin is dropped in the same finally (it is never written anywhere).
# Services are controlled with ServiceController: literal name, bounded waits, a
# service stuck pending has its process killed (killed_pid). The installer is
# waited for alone, installer_timeout_s at most (then its process tree is
# killed); an .msi runs through msiexec.exe. A new logon account is granted
# "Log on as a service" first (logon_right_granted). An install that went through lists
# the agent backups in the backup folder (backups, names only; backup_links, a junction or
# symbolic link named as one, never counted): the bastion decides which are older than it
# keeps, and stage_cleanup removes them after the health gate. A backup
# that fails half way (a full disk) has its copy removed (Remove-SfPartialBackup).

$serviceName = [string]$P.service_name
$result = [ordered]@{
    previous_version = $null
    install_dir      = $null
    backup_path      = $null
    exit_code        = $null
    reboot_required  = $false
    log_tail         = $null
    state            = $null
    version          = $null
    account          = $null
    killed_pid       = $null
    logon_right_granted = $false
    failed_step      = $null
    error            = $null
    state_error      = $null
    backups          = $null
    backups_error    = $null
    backup_links     = $null
    backup_incomplete = $null
}

function Get-AgentService {
    Get-CimInstance -ClassName Win32_Service | Where-Object { $_.Name -eq $serviceName } |
        Select-Object -First 1
}

function Read-Version($Path) {
    if ($Path -and (Test-Path -LiteralPath $Path -PathType Leaf)) {
        return (Get-Item -LiteralPath $Path).VersionInfo.ProductVersion
    }
    $null
}

function Grant-SfServiceLogon([string]$Account) {
    # Win32_Service.Change does not grant "Log on as a service" (services.msc does): without
    # it the service fails to start with error 1069. secedit rather than LsaAddAccountRights,
    # since Add-Type is refused in Constrained Language Mode. Returns whether it was added.
    # SYSTEM, LOCAL SERVICE, NETWORK SERVICE and virtual accounts (NT SERVICE\x, S-1-5-80-)
    # hold the right already: told apart by SID, their names depend on the UI language.
    $sid = (Resolve-SfPrincipal $Account).Value
    if (@('S-1-5-18', 'S-1-5-19', 'S-1-5-20') -contains $sid -or $sid.StartsWith('S-1-5-80-')) { return $false }
    $dir = Join-Path -Path $env:SystemRoot -ChildPath ('Temp\sagefleet-' + [guid]::NewGuid().ToString('N')) -ErrorAction Stop
    New-Item -ItemType Directory -Path $dir -ErrorAction Stop | Out-Null
    try {
        $inf = Join-Path $dir 'rights.inf'
        & secedit.exe /export /cfg $inf /areas USER_RIGHTS /quiet | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "secedit /export exited with $LASTEXITCODE" }
        $line = @(Get-Content -LiteralPath $inf -Encoding Unicode | Where-Object { $_ -match '^SeServiceLogonRight\s*=' })
        $holders = @()
        if ($line.Count -gt 0) { $holders = @(($line[0] -split '=', 2)[1].Split(',') | ForEach-Object { $_.Trim() } | Where-Object { $_ }) }
        if ($holders -contains ('*' + $sid)) { return $false }
        $holders += '*' + $sid
        $policy = @('[Unicode]', 'Unicode=yes', '[Version]', 'signature="$CHICAGO$"', 'Revision=1', '[Privilege Rights]', ('SeServiceLogonRight = ' + ($holders -join ',')))
        Set-Content -LiteralPath $inf -Value $policy -Encoding Unicode
        & secedit.exe /configure /db (Join-Path $dir 'rights.sdb') /cfg $inf /areas USER_RIGHTS /quiet | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "secedit /configure exited with $LASTEXITCODE" }
        $true
    } finally {
        Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction SilentlyContinue
    }
}

function New-SfBackupName([string] $Root, $Version) {
    # '<version>-<yyyyMMddTHHmmssZ>', UTC, the version's characters other than letters,
    # digits and . + _ - as '_' ('unknown' without one): the form agent_backup_prune
    # recognises (Get-SfBackupStamp). Its time sorts after every backup's in the folder, even
    # within the same second, as settings_write's backups do: the newest is this run's, and
    # no name is used twice (a copy into an earlier backup would mix two installs).
    $format = "yyyyMMdd'T'HHmmss'Z'"
    $invariant = [Globalization.CultureInfo]::InvariantCulture
    $stamp = [DateTime]::UtcNow.ToString($format, $invariant)
    foreach ($dir in [System.IO.Directory]::GetDirectories($Root)) {
        $found = Get-SfBackupStamp ([System.IO.Path]::GetFileName($dir))
        if ($null -ne $found -and [string]::CompareOrdinal($found, $stamp) -ge 0) {
            $stamp = [DateTime]::ParseExact($found, $format, $invariant).AddSeconds(1).ToString($format, $invariant)
        }
    }
    $safe = ([string]$Version) -creplace '[^0-9A-Za-z.+_-]', '_'
    if (-not $safe) { $safe = 'unknown' }
    '{0}-{1}' -f $safe, $stamp
}

function Remove-SfPartialBackup([string] $Backup) {
    # What became of the copy a failed backup left: removed, or what keeps it.
    try {
        $stuck = @(Remove-SfTree ([System.IO.Path]::GetFileName($Backup)) $Backup)
    } catch {
        return 'the partial copy {0} is left: {1}' -f $Backup, $_.Exception.GetBaseException().Message
    }
    if ($stuck.Count -eq 0) { return 'the partial copy {0} was removed' -f $Backup }
    'the partial copy {0} is left: {1}: {2}' -f $Backup, $stuck[0].path, $stuck[0].error
}

function Invoke-SfInstaller {
    # A process of its own, waited for alone: Start-Process -Wait waits for every process the
    # installer leaves running (the agent, a tray app) and never returns. A missing exit code
    # is a failure, never success.
    $installer = [string]$P.installer
    if (-not (Test-Path -LiteralPath $installer -PathType Leaf)) {
        throw "This command cannot be run because the file '$installer' does not exist."
    }
    $quoted = @($P.arguments | ForEach-Object {
        $argument = [string]$_
        if ($argument -match '\s') { '"' + $argument + '"' } else { $argument }
    }) -join ' '
    $program = $installer
    if ($installer -match '\.msi$') {
        # Opened by association an .msi shows msiexec's window in session 0, where nobody can close it.
        $program = Join-Path ([Environment]::SystemDirectory) 'msiexec.exe'
        $line = '/i "{0}" /qn /norestart' -f $installer
        if ($P.log_path) { $line += ' /l*v "{0}"' -f [string]$P.log_path }
        $quoted = ($line + ' ' + $quoted).Trim()
    }
    $info = New-Object -TypeName System.Diagnostics.ProcessStartInfo -ArgumentList $program, $quoted
    $info.UseShellExecute = $false
    $process = [System.Diagnostics.Process]::Start($info)
    try {
        if (-not $process.WaitForExit([int]$P.installer_timeout_s * 1000)) {
            # 5.1 turns a native program's redirected error line into a terminating error
            # ($ErrorActionPreference Stop): a child already gone must not end the kill.
            try { & taskkill.exe /PID $process.Id /T /F 2>&1 | Out-Null } catch { }
            throw ('the installer did not end in {0} s: its process tree was killed' -f [int]$P.installer_timeout_s)
        }
        $code = $null
        try { $code = $process.ExitCode } catch { $code = $null }
        if ($null -eq $code) { throw 'the installer exited without an exit code' }
        $code
    } finally {
        $process.Dispose()
    }
}

$passwordLine = $null
$password = $null
try {
    # The service account password, if any, is the next stdin line (base64), never a parameter.
    $passwordLine = [Console]::In.ReadLine()
    if ($passwordLine) {
        $password = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($passwordLine.Trim()))
    }
    $existing = Get-AgentService
    if ($null -ne $existing) {
        $exe = Get-ServiceExe $existing
        $result.previous_version = Read-Version $exe
        $result.install_dir = Split-Path -Parent $exe
        if ($existing.State -ne 'Stopped') {
            try {
                $killed = Set-SfServiceState $serviceName 'Stopped' ([int]$P.stop_timeout_s)
                if ($killed) { $result.killed_pid = $killed }
            } catch {
                $result.failed_step = 'stop'
                $result.error = Get-SfError $_
            }
        }
        if ($null -eq $result.failed_step) {
            $backup = $null
            try {
                # The backup holds settings.json (passwords), and a copy takes the DACL of
                # its destination: the root is private (SYSTEM and Administrators), checked.
                $backupDir = Confirm-SfPrivateFolder ([string]$P.backup_dir)
                $backup = Join-Path -Path $backupDir -ChildPath (New-SfBackupName $backupDir $result.previous_version) -ErrorAction Stop
                New-Item -ItemType Directory -Path $backup -Force -ErrorAction Stop | Out-Null
                # Whole only once the marker is gone (Get-SfBackups): a killed copy keeps it.
                $copying = Get-SfBackupCopying $backup
                [System.IO.File]::WriteAllBytes($copying, [byte[]]@())
                Copy-Item -Path (Join-Path -Path $result.install_dir -ChildPath '*' -ErrorAction Stop) -Destination $backup -Recurse -Force -ErrorAction Stop
                [System.IO.File]::Delete($copying)
                $result.backup_path = $backup
            } catch {
                $result.failed_step = 'backup'
                $result.error = $_.Exception.Message
                if ($backup -and [System.IO.Directory]::Exists($backup)) {
                    # A copy that stopped half way (a full disk) is no backup, and its name
                    # would list it as one (Get-SfBackups), kept in place of a whole one.
                    $result.error = '{0}; {1}' -f $result.error, (Remove-SfPartialBackup $backup)
                }
            }
        }
        if ($null -ne $result.failed_step -and $existing.State -eq 'Running') {
            # Nothing was installed: the agent runs again, as before this run stopped it.
            try {
                [void](Set-SfServiceState $serviceName 'Running' ([int]$P.start_timeout_s))
            } catch {
                $result.error = '{0}; the agent could not be started again: {1}' -f $result.error, (Get-SfError $_)
            }
        }
    }
    if ($null -eq $result.failed_step) {
        try {
            $result.exit_code = [int](Invoke-SfInstaller)
        } catch {
            $result.failed_step = 'installer'
            $result.error = Get-SfError $_
        }
        if ($P.log_path -and (Test-Path -LiteralPath ([string]$P.log_path) -PathType Leaf)) {
            # A log the installer still holds open must not lose the result (and the backup).
            try {
                $result.log_tail = (Get-Content -LiteralPath ([string]$P.log_path) -Tail 40 -ErrorAction Stop) -join "`n"
            } catch {
                $result.log_tail = 'installer log not read: ' + $_.Exception.Message
            }
        }
        if ($null -eq $result.failed_step) {
            $codes = @($P.success_codes | ForEach-Object { [int]$_ })
            if ($codes -notcontains $result.exit_code) {
                $result.failed_step = 'installer'
                $result.error = "installer exit code $($result.exit_code)"
            }
            $result.reboot_required = @($P.reboot_codes | ForEach-Object { [int]$_ }) -contains $result.exit_code
        }
    }
    if ($P.installed_settings -and (Test-Path -LiteralPath ([string]$P.installed_settings) -PathType Leaf)) {
        # The installer's copy of settings.json holds passwords and inherits the install
        # folder's DACL (Users may read): only admins, SYSTEM and the service account may
        # open it, inheritance off, before the service is (re)started; after a failed
        # install too.
        try {
            Set-SfPrivateAcl ([string]$P.installed_settings) $P.settings_acl
        } catch {
            if ($null -eq $result.failed_step) {
                $result.failed_step = 'acl'
                $result.error = $_.Exception.Message
            }
        }
    }
    if ($null -eq $result.failed_step -and $P.account) {
        try {
            $result.logon_right_granted = Grant-SfServiceLogon ([string]$P.account)
            # A new logon applies from the next start: the service the installer started stops first.
            $killed = Set-SfServiceState $serviceName 'Stopped' ([int]$P.stop_timeout_s)
            if ($killed) { $result.killed_pid = $killed }
            $service = Get-AgentService
            # Win32_Service.Change: a built-in account (LocalSystem, LocalService, NetworkService,
            # told by SID: their names are localised) takes an empty password, not NULL; a
            # managed (gMSA) or virtual account NULL, which no password line gives.
            $startPassword = $password
            $sid = (Resolve-SfPrincipal ([string]$P.account)).Value
            if (@('S-1-5-18', 'S-1-5-19', 'S-1-5-20') -contains $sid) { $startPassword = '' }
            $change = Invoke-CimMethod -InputObject $service -MethodName Change -ErrorAction Stop -Arguments @{
                StartName = [string]$P.account; StartPassword = $startPassword
            }
            if ($change.ReturnValue -ne 0) { throw "Win32_Service.Change returned $($change.ReturnValue)" }
        } catch {
            $result.failed_step = 'account'
            $result.error = Get-SfError $_
        }
    }
    if ($null -eq $result.failed_step) {
        try {
            [void](Set-SfServiceState $serviceName 'Running' ([int]$P.start_timeout_s))
        } catch {
            $result.failed_step = 'start'
            $result.error = Get-SfError $_
        }
    }
} finally {
    $password = $null
    $passwordLine = $null
    if ($P.staged_settings -and (Test-Path -LiteralPath ([string]$P.staged_settings))) {
        try {
            Remove-Item -LiteralPath ([string]$P.staged_settings) -Force -ErrorAction Stop
        } catch {
            # It holds secrets (in the private staging folder): say so, without losing the
            # result (and the backup) of the run; the bastion records it as a step.
            $left = 'staged settings.json not deleted: ' + $_.Exception.Message
            $result.error = if ($result.error) { '{0}; {1}' -f $result.error, $left } else { $left }
        }
    }
}

try {
    $after = Get-AgentService
    if ($null -ne $after) {
        $result.state = [string]$after.State
        $result.account = [string]$after.StartName
        $result.version = Read-Version (Get-ServiceExe $after)
    }
} catch {
    # WMI not answering (an installer that restarts winmgmt): the result, and the backup
    # in it, still goes back; the bastion reads the service again.
    $result.state_error = Get-SfError $_
}
if ($null -eq $result.failed_step) {
    # Read only: a fresh install took no backup, and a missing folder stays missing.
    try {
        $found = Get-SfBackups (Confirm-SfPrivateFolder ([string]$P.backup_dir) $false)
        $result.backups = @($found.names)
        $result.backup_links = @($found.links)
        $result.backup_incomplete = @($found.incomplete)
    } catch {
        $result.backups_error = Get-SfError $_
    }
}
Complete-SageFleet -Result $result
