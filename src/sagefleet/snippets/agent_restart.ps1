# sagefleet:agent_restart/2
# Restart (or start) the agent service so it reads its settings again. A service
# that stays pending past its timeout has its process killed (killed_pid).

$serviceName = [string]$P.service_name
$result = [ordered]@{ state = $null; error = $null; killed_pid = $null }
try {
    $killed = Set-SfServiceState $serviceName 'Stopped' ([int]$P.stop_timeout_s)
    if ($killed) { $result.killed_pid = $killed }
    [void](Set-SfServiceState $serviceName 'Running' ([int]$P.start_timeout_s))
} catch {
    $result.error = Get-SfError $_
}
$after = @(Get-CimInstance -ClassName Win32_Service | Where-Object { $_.Name -eq $serviceName })
if ($after.Count -gt 0) { $result.state = ([string]$after[0].State) -replace ' ', '' }
Complete-SageFleet -Result $result
