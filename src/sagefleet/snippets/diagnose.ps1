# sagefleet:diagnose/3
# Support bundle material of one host; gathers, never decides (sagefleet/diagnose.py).
# $P: service_name, logs [{kind, folder, filter, max_files}], tail_bytes,
#     settings_path, events {providers[], scm_ids[], display_names[], days, max}, restart,
#     restart_timeout_s.
# The settings file holds passwords: it is returned base64 for a caller that hides its
# logs (sensitive run) and redacts it on the bastion before anything is written.

function Get-SfService([string] $Name) {
    # Names compared here: nothing from the caller becomes WQL.
    $s = @(Get-CimInstance -ClassName Win32_Service | Where-Object { $_.Name -eq $Name })
    if ($s.Count -eq 0) {
        return [ordered]@{ name = $Name; display_name = $null; installed = $false; state = $null; start_mode = $null; account = $null; path = $null }
    }
    [ordered]@{ name = $s[0].Name; display_name = "$($s[0].DisplayName)"; installed = $true; state = $s[0].State; start_mode = $s[0].StartMode; account = "$($s[0].StartName)"; path = "$($s[0].PathName)" }
}

function Get-SfTail([string] $Path, [int] $Bytes) {
    $tail = Read-SfTail $Path $Bytes
    [ordered]@{ size = $tail.size; truncated = $tail.truncated; content = [Convert]::ToBase64String($tail.buffer, 0, $tail.read) }
}

$result = [ordered]@{ service = Get-SfService ([string]$P.service_name); logs = @(); folders = @(); events = @(); events_error = $null; settings = $null; restart = $null }

$logs = @()
$folders = @()
foreach ($spec in @($P.logs)) {
    $folder = [ordered]@{ kind = [string]$spec.kind; folder = [string]$spec.folder; filter = [string]$spec.filter; exists = [System.IO.Directory]::Exists([string]$spec.folder); error = $null; left_out = @() }
    $folders += $folder
    if (-not $folder.exists) { continue }
    # A folder the WinRM account may not list (no List folder / read data right) gives
    # Get-ChildItem a non-terminating "Access to the path ... is denied.": stop on it and
    # report it, never an empty folder.
    try {
        $listed = @(Get-ChildItem -LiteralPath $folder.folder -File -Filter $folder.filter -ErrorAction Stop)
    } catch {
        $folder.error = $_.Exception.Message
        continue
    }
    # -Filter also matches longer extensions (*.log: x.log_old); -like does not.
    $sorted = @($listed | Where-Object { $_.Name -like $folder.filter } | Sort-Object -Property LastWriteTimeUtc -Descending)
    $files = @($sorted | Select-Object -First ([int]$spec.max_files))
    # The older ones past max_files: named in the bundle's manifest, never dropped unsaid.
    $folder.left_out = @($sorted | Select-Object -Skip ([int]$spec.max_files) | ForEach-Object { [ordered]@{ path = $_.FullName; modified = $_.LastWriteTimeUtc.ToString('o'); size = $_.Length } })
    foreach ($file in $files) {
        $entry = [ordered]@{ kind = [string]$spec.kind; path = $file.FullName; modified = $file.LastWriteTimeUtc.ToString('o'); size = $file.Length; truncated = $false; content = $null; error = $null }
        try {
            $tail = Get-SfTail $file.FullName ([int]$P.tail_bytes)
            $entry.size = $tail.size; $entry.truncated = $tail.truncated; $entry.content = $tail.content
        } catch { $entry.error = $_.Exception.Message }
        $logs += $entry
    }
}
$result.logs = $logs
$result.folders = $folders

# The agent's Application log entries (provider = service name, an assumption) and the
# Service Control Manager's entries about the service (crash, start failure, timeout). The
# SCM names a service by its DISPLAY name in its messages and insertion strings: match the
# service name, the display names the bastion knows, and the one the service has now.
$since = (Get-Date).AddDays(-[int]$P.events.days)
$events = @()
try {
    $providers = @($P.events.providers)
    if ($providers.Count -gt 0) {
        $events += @(Get-WinEvent -FilterHashtable @{ LogName = 'Application'; ProviderName = $providers; StartTime = $since } -MaxEvents ([int]$P.events.max) -ErrorAction SilentlyContinue)
    }
    # Other services' SCM events must not crowd ours out: filter by name first, keep max after.
    $scm = @(Get-WinEvent -FilterHashtable @{ LogName = 'System'; ProviderName = 'Service Control Manager'; Id = @($P.events.scm_ids); StartTime = $since } -MaxEvents 5000 -ErrorAction SilentlyContinue)
    $names = @(@([string]$P.service_name) + @($P.events.display_names) + @($result.service.display_name) | Where-Object { "$_" -ne '' } | ForEach-Object { "$_" })
    $pattern = @($names | ForEach-Object { [regex]::Escape($_) }) -join '|'
    $events += @($scm | Where-Object { "$($_.Message)" -match $pattern -or @($_.Properties | Where-Object { $names -contains "$($_.Value)" }).Count -gt 0 })
} catch { $result.events_error = $_.Exception.Message }
$result.events = @(foreach ($e in ($events | Sort-Object -Property TimeCreated -Descending | Select-Object -First ([int]$P.events.max))) {
    [ordered]@{ time = $e.TimeCreated.ToUniversalTime().ToString('o'); log = $e.LogName; provider = $e.ProviderName; id = $e.Id; level = "$($e.LevelDisplayName)"; message = "$($e.Message)" }
})

if ($P.settings_path) {
    $path = [string]$P.settings_path
    $result.settings = [ordered]@{ path = $path; exists = [System.IO.File]::Exists($path); content = $null; error = $null }
    if ($result.settings.exists) {
        try { $result.settings.content = [Convert]::ToBase64String([System.IO.File]::ReadAllBytes($path)) }
        catch { $result.settings.error = $_.Exception.Message }
    }
}

if ($P.restart) {
    $restart = [ordered]@{ requested = $true; done = $false; state_before = $result.service.state; state_after = $null; killed_pid = $null; error = $null }
    if (-not $result.service.installed) {
        $restart.error = "service '$($P.service_name)' is not installed"
    } else {
        try {
            # Bounded waits; a service stuck pending has its process killed (killed_pid).
            $killed = Set-SfServiceState ([string]$P.service_name) 'Stopped' ([int]$P.restart_timeout_s)
            if ($killed) { $restart.killed_pid = $killed }
            [void](Set-SfServiceState ([string]$P.service_name) 'Running' ([int]$P.restart_timeout_s))
            $restart.done = $true
        } catch { $restart.error = Get-SfError $_ }
        $restart.state_after = (Get-SfService ([string]$P.service_name)).state
    }
    $result.restart = $restart
}
Complete-SageFleet -Result $result
