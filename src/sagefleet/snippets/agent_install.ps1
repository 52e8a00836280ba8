# sagefleet:agent_install/2
# Install or upgrade the agent: stop the service, back up its folder, run the
# installer unattended, set the logon account, start and read the version.
# Expected failures come back in the document (failed_step, error); the
# controller decides about rollback. The staged settings.json (it holds
# secrets) is deleted whatever happens.

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
    failed_step      = $null
    error            = $null
}

function Get-AgentService {
    Get-CimInstance -ClassName Win32_Service | Where-Object { $_.Name -eq $serviceName } |
        Select-Object -First 1
}

function Get-ServiceExe($Service) {
    $exe = [string]$Service.PathName
    if ($exe -match '^"([^"]+)"') { return $Matches[1] }
    if ($exe -match '^(.*?\.exe)(\s|$)') { return $Matches[1] }
    $exe
}

function Read-Version($Path) {
    if ($Path -and (Test-Path -LiteralPath $Path -PathType Leaf)) {
        return (Get-Item -LiteralPath $Path).VersionInfo.ProductVersion
    }
    $null
}

function Wait-State([string]$State, [int]$Seconds) {
    $controller = Get-Service -Name $serviceName
    $controller.WaitForStatus($State, [TimeSpan]::FromSeconds($Seconds))
}

# The service account password, if any, is the next stdin line (base64), never a parameter.
$passwordLine = [Console]::In.ReadLine()
$password = $null
if ($passwordLine) {
    $password = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($passwordLine.Trim()))
}

try {
    $existing = Get-AgentService
    if ($null -ne $existing) {
        $exe = Get-ServiceExe $existing
        $result.previous_version = Read-Version $exe
        $result.install_dir = Split-Path -Parent $exe
        if ($existing.State -ne 'Stopped') {
            try {
                Stop-Service -Name $serviceName -Force -ErrorAction Stop
                Wait-State 'Stopped' ([int]$P.stop_timeout_s)
            } catch {
                $result.failed_step = 'stop'
                $result.error = $_.Exception.Message
            }
        }
        if ($null -eq $result.failed_step) {
            $stamp = [DateTime]::UtcNow.ToString('yyyyMMddTHHmmssZ')
            try {
                # The backup holds settings.json (passwords), and a copy takes the DACL of
                # its destination: the root is private (SYSTEM and Administrators), checked.
                $backupRoot = Confirm-SfPrivateFolder ([string]$P.backup_root)
                $backup = Join-Path $backupRoot ('{0}-{1}' -f $result.previous_version, $stamp)
                New-Item -ItemType Directory -Path $backup -Force | Out-Null
                Copy-Item -Path (Join-Path $result.install_dir '*') -Destination $backup -Recurse -Force -ErrorAction Stop
                $result.backup_path = $backup
            } catch {
                $result.failed_step = 'backup'
                $result.error = $_.Exception.Message
            }
        }
    }
    if ($null -eq $result.failed_step) {
        $quoted = @($P.arguments | ForEach-Object {
            $argument = [string]$_
            if ($argument -match '\s') { '"' + $argument + '"' } else { $argument }
        }) -join ' '
        try {
            $start = @{ FilePath = [string]$P.installer; Wait = $true; PassThru = $true; ErrorAction = 'Stop' }
            if ($quoted) { $start.ArgumentList = $quoted }
            $process = Start-Process @start
            $result.exit_code = [int]$process.ExitCode
        } catch {
            $result.failed_step = 'installer'
            $result.error = $_.Exception.Message
        }
        if ($P.log_path -and (Test-Path -LiteralPath ([string]$P.log_path) -PathType Leaf)) {
            $result.log_tail = (Get-Content -LiteralPath ([string]$P.log_path) -Tail 40) -join "`n"
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
            $service = Get-AgentService
            $change = Invoke-CimMethod -InputObject $service -MethodName Change -Arguments @{
                StartName = [string]$P.account; StartPassword = $password
            }
            if ($change.ReturnValue -ne 0) { throw "Win32_Service.Change returned $($change.ReturnValue)" }
        } catch {
            $result.failed_step = 'account'
            $result.error = $_.Exception.Message
        }
    }
    if ($null -eq $result.failed_step) {
        try {
            if ((Get-Service -Name $serviceName).Status -ne 'Running') {
                Start-Service -Name $serviceName -ErrorAction Stop
            }
            Wait-State 'Running' ([int]$P.start_timeout_s)
        } catch {
            $result.failed_step = 'start'
            $result.error = $_.Exception.Message
        }
    }
} finally {
    if ($P.staged_settings -and (Test-Path -LiteralPath ([string]$P.staged_settings))) {
        Remove-Item -LiteralPath ([string]$P.staged_settings) -Force
    }
}

$after = Get-AgentService
if ($null -ne $after) {
    $result.state = [string]$after.State
    $result.account = [string]$after.StartName
    $result.version = Read-Version (Get-ServiceExe $after)
}
Complete-SageFleet -Result $result
