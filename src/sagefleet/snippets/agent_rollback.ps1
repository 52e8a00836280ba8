# sagefleet:agent_rollback/2
# Put the previous agent back: stop the service, restore its folder from the
# backup taken before the upgrade, start it and report state and version.
# Services are controlled as in agent_install (ServiceController, bounded waits,
# a stuck service's process killed: killed_pid); the program is read from the
# service's PathName the same way (quotes, arguments after .exe).
# $P: service_name, install_dir, backup_path, stop_timeout_s, start_timeout_s,
#     settings_path, settings_acl {owner, full_control[], read[]} (as agent_install).

$serviceName = [string]$P.service_name
$installDir = [string]$P.install_dir
$backup = [string]$P.backup_path
$result = [ordered]@{ restored = $false; state = $null; version = $null; killed_pid = $null; error = $null }

try {
    $service = @(Get-CimInstance -ClassName Win32_Service -ErrorAction Stop | Where-Object { $_.Name -eq $serviceName })
    if ($service.Count -gt 0 -and $service[0].State -ne 'Stopped') {
        $killed = Set-SfServiceState $serviceName 'Stopped' ([int]$P.stop_timeout_s)
        if ($killed) { $result.killed_pid = $killed }
    }
    if (-not (Test-Path -LiteralPath $backup -PathType Container)) {
        throw "backup folder $backup not found"
    }
    # What is restored goes into Program Files: only from a private backup root.
    [void](Confirm-SfPrivateFolder (Split-Path -Path $backup -Parent -ErrorAction Stop))
    if (Test-Path -LiteralPath $installDir) {
        Get-ChildItem -LiteralPath $installDir -Force -ErrorAction Stop | Remove-Item -Recurse -Force -ErrorAction Stop
    } else {
        New-Item -ItemType Directory -Path $installDir -Force -ErrorAction Stop | Out-Null
    }
    Copy-Item -Path (Join-Path -Path $backup -ChildPath '*' -ErrorAction Stop) -Destination $installDir -Recurse -Force -ErrorAction Stop
    $result.restored = $true
    # A copy takes the DACL of the install folder (Users may read): settings.json holds
    # passwords, so it gets its own protected DACL again before the service starts.
    $settings = [string]$P.settings_path
    if ($settings -and (Test-Path -LiteralPath $settings -PathType Leaf)) { Set-SfPrivateAcl $settings $P.settings_acl }
    [void](Set-SfServiceState $serviceName 'Running' ([int]$P.start_timeout_s))
} catch {
    $result.error = Get-SfError $_
}

$after = Get-CimInstance -ClassName Win32_Service | Where-Object { $_.Name -eq $serviceName } |
    Select-Object -First 1
if ($null -ne $after) {
    $result.state = [string]$after.State
    $exe = Get-ServiceExe $after
    if ($exe -and (Test-Path -LiteralPath $exe -PathType Leaf)) {
        $result.version = (Get-Item -LiteralPath $exe).VersionInfo.ProductVersion
    }
}
Complete-SageFleet -Result $result
