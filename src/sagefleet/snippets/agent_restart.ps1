# sagefleet:agent_restart/1
# Restart (or start) the agent service so it reads its settings again.

$serviceName = [string]$P.service_name
$result = [ordered]@{ state = $null; error = $null }
try {
    $service = Get-Service -Name $serviceName -ErrorAction Stop
    if ($service.Status -ne 'Stopped') {
        Stop-Service -Name $serviceName -Force -ErrorAction Stop
        $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds([int]$P.stop_timeout_s))
    }
    Start-Service -Name $serviceName -ErrorAction Stop
    (Get-Service -Name $serviceName).WaitForStatus('Running', [TimeSpan]::FromSeconds([int]$P.start_timeout_s))
} catch {
    $result.error = $_.Exception.Message
}
$after = Get-Service -Name $serviceName -ErrorAction SilentlyContinue
if ($null -ne $after) { $result.state = [string]$after.Status }
Complete-SageFleet -Result $result
