# sagefleet:agent_restart/2
# Restart (or start) the agent service so it reads its settings again. A service
# that stays pending past its timeout has its process killed (killed_pid).

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
    $sc = New-Object -TypeName System.ServiceProcess.ServiceController -ArgumentList $Name
    try {
        $now = [string]$sc.Status
        if ($State -eq 'Stopped' -and $now -ne 'Stopped' -and $now -ne 'StopPending') { $sc.Stop() }
        if ($State -eq 'Running' -and $now -ne 'Running' -and $now -ne 'StartPending') { $sc.Start() }
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
