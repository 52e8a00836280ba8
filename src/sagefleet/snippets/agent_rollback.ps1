# sagefleet:agent_rollback/2
# Put the previous agent back: stop the service, restore its folder from the
# backup taken before the upgrade, start it and report state and version.
# $P: service_name, install_dir, backup_path, stop_timeout_s, start_timeout_s,
#     settings_path, settings_acl {owner, full_control[], read[]} (as agent_install).

$serviceName = [string]$P.service_name
$installDir = [string]$P.install_dir
$backup = [string]$P.backup_path
$result = [ordered]@{ restored = $false; state = $null; version = $null; error = $null }

try {
    $service = Get-Service -Name $serviceName -ErrorAction SilentlyContinue
    if ($null -ne $service -and $service.Status -ne 'Stopped') {
        Stop-Service -Name $serviceName -Force -ErrorAction Stop
        $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds([int]$P.stop_timeout_s))
    }
    if (-not (Test-Path -LiteralPath $backup -PathType Container)) {
        throw "backup folder $backup not found"
    }
    # What is restored goes into Program Files: only from a private backup root.
    [void](Confirm-SfPrivateFolder (Split-Path -Parent $backup))
    if (Test-Path -LiteralPath $installDir) {
        Get-ChildItem -LiteralPath $installDir -Force | Remove-Item -Recurse -Force -ErrorAction Stop
    } else {
        New-Item -ItemType Directory -Path $installDir -Force | Out-Null
    }
    Copy-Item -Path (Join-Path $backup '*') -Destination $installDir -Recurse -Force -ErrorAction Stop
    $result.restored = $true
    # A copy takes the DACL of the install folder (Users may read): settings.json holds
    # passwords, so it gets its own protected DACL again before the service starts.
    $settings = [string]$P.settings_path
    if ($settings -and (Test-Path -LiteralPath $settings -PathType Leaf)) { Set-SfPrivateAcl $settings $P.settings_acl }
    Start-Service -Name $serviceName -ErrorAction Stop
    (Get-Service -Name $serviceName).WaitForStatus('Running', [TimeSpan]::FromSeconds([int]$P.start_timeout_s))
} catch {
    $result.error = $_.Exception.Message
}

$after = Get-CimInstance -ClassName Win32_Service | Where-Object { $_.Name -eq $serviceName } |
    Select-Object -First 1
if ($null -ne $after) {
    $result.state = [string]$after.State
    $exe = [string]$after.PathName
    if ($exe -match '^"([^"]+)"') { $exe = $Matches[1] }
    if (Test-Path -LiteralPath $exe -PathType Leaf) {
        $result.version = (Get-Item -LiteralPath $exe).VersionInfo.ProductVersion
    }
}
Complete-SageFleet -Result $result
