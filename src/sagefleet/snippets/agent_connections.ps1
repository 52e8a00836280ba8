# sagefleet:agent_connections/1
# Read-only evidence that the agent reaches its vendor's services (sagefleet/agent/connection/
# decides): its process and when it started, its TCP connections, what the endpoint names
# resolve to on this host, the proxy its account would use, direct probes when asked, and
# the last "connected" line of its log when the agent profile names one. Changes nothing.
# $P: service {name, image_path_pattern, display_name_pattern}, names[], probes[{name, port}],
#     timeout_ms, log {folders[], filter, pattern, tail_bytes, max_files} or null.

function Get-SfMember($Object, [string]$Name) {
    # An optional member (strict mode refuses a missing property).
    if ($null -eq $Object) { return $null }
    $member = $Object.PSObject.Properties[$Name]
    if ($null -ne $member) { $member.Value }
}

function Read-SfProxySettings([Microsoft.Win32.RegistryKey]$Root, [string]$Path) {
    # Internet Options (WinINET) proxy values of one hive; $null when the key is absent.
    $key = $Root.OpenSubKey($Path)
    if ($null -eq $key) { return $null }
    try {
        [ordered]@{
            enabled         = ($key.GetValue('ProxyEnable', 0) -eq 1)
            server          = [string]$key.GetValue('ProxyServer', '')
            bypass          = [string]$key.GetValue('ProxyOverride', '')
            auto_config_url = [string]$key.GetValue('AutoConfigURL', '')
        }
    } finally { $key.Close() }
}

function Resolve-SfName([string]$Name, [int]$TimeoutMs) {
    $entry = [ordered]@{ name = $Name; addresses = @(); error = $null }
    try {
        $task = [System.Net.Dns]::GetHostAddressesAsync($Name)
        if ($task.Wait($TimeoutMs)) { $entry.addresses = @($task.Result | ForEach-Object { $_.ToString() }) }
        else { $entry.error = "timed out after $TimeoutMs ms" }
    } catch { $entry.error = $_.Exception.GetBaseException().Message }
    $entry
}

function Test-SfEndpoint([string]$Name, [int]$Port, [int]$TimeoutMs) {
    # A direct TCP connect and, on 443, a TLS handshake validated by the host's own stores.
    $probe = [ordered]@{ name = $Name; port = $Port; tcp = [ordered]@{ ok = $false; error = $null }; tls = $null }
    $client = New-Object -TypeName System.Net.Sockets.TcpClient
    try {
        try {
            if ($client.ConnectAsync($Name, $Port).Wait($TimeoutMs)) { $probe.tcp.ok = $true }
            else { $probe.tcp.error = 'timeout' }
        } catch {
            $probe.tcp.error = @{ ConnectionRefused = 'refused'; TimedOut = 'timeout'; HostNotFound = 'dns'; NoData = 'dns' }["$($_.Exception.GetBaseException().SocketErrorCode)"]
            if (-not $probe.tcp.error) { $probe.tcp.error = 'unreachable' }
        }
        if ($probe.tcp.ok -and $Port -eq 443) {
            $seen = @{ errors = $null }
            $callback = { param($origin, $certificate, $chain, $errors) $seen.errors = "$errors"; $true }.GetNewClosure()
            $probe.tls = [ordered]@{ ok = $false; policy_errors = $null; error = $null }
            try {
                $stream = $client.GetStream()
                $stream.ReadTimeout = $TimeoutMs
                $stream.WriteTimeout = $TimeoutMs
                $ssl = New-Object -TypeName System.Net.Security.SslStream -ArgumentList $stream, $false, ([System.Net.Security.RemoteCertificateValidationCallback]$callback)
                # TLS 1.2 named: the one-argument overload takes .NET's defaults, TLS 1.0 only
                # in powershell.exe without SchUseStrongCrypto (as facts.ps1 does).
                $ssl.AuthenticateAsClient($Name, $null, [Security.Authentication.SslProtocols]::Tls12, $false)
                $probe.tls.ok = $true
            } catch { $probe.tls.error = $_.Exception.GetBaseException().Message }
            $probe.tls.policy_errors = $seen.errors
        }
    } finally { $client.Close() }
    $probe
}

function Get-SfTcpRows([int]$ProcessId) {
    # The process's TCP connections: Get-NetTCPConnection (NetTCPIP module, Windows 8 and
    # Server 2012 on); where it is missing (Server 2008 R2), netstat -ano for the owning
    # process, with each row's state from .NET (netstat prints states in the UI language).
    $tcp = [ordered]@{ source = $null; error = $null; connections = @() }
    if (Get-Command -Name Get-NetTCPConnection -ErrorAction SilentlyContinue) {
        $tcp.source = 'Get-NetTCPConnection'
        try {
            $tcp.connections = @(Get-NetTCPConnection -OwningProcess $ProcessId -ErrorAction Stop | ForEach-Object {
                [ordered]@{ local_address = [string]$_.LocalAddress; local_port = [int]$_.LocalPort; remote_address = [string]$_.RemoteAddress; remote_port = [int]$_.RemotePort; state = [string]$_.State }
            })
        } catch {
            # No row for the process is an error of the cmdlet, not of the host.
            if ("$($_.CategoryInfo.Category)" -ne 'ObjectNotFound') { $tcp.error = $_.Exception.Message }
        }
        return $tcp
    }
    $tcp.source = 'netstat'
    try {
        $states = @{}
        foreach ($c in [System.Net.NetworkInformation.IPGlobalProperties]::GetIPGlobalProperties().GetActiveTcpConnections()) {
            $states["$($c.LocalEndPoint.Address)|$($c.LocalEndPoint.Port)|$($c.RemoteEndPoint.Address)|$($c.RemoteEndPoint.Port)"] = [string]$c.State
        }
        $lines = @(& netstat.exe -ano -p TCP)
        if ($LASTEXITCODE -ne 0) { throw "netstat -ano exited with $LASTEXITCODE" }
        $tcp.connections = @(foreach ($line in $lines) {
            $parts = @(-split [string]$line)
            if ($parts.Count -lt 5 -or $parts[0] -ne 'TCP' -or $parts[-1] -ne [string]$ProcessId) { continue }
            $local = $parts[1] -replace '^\[(.*)\]:(\d+)$', '$1:$2'
            $remote = $parts[2] -replace '^\[(.*)\]:(\d+)$', '$1:$2'
            $l = $local.LastIndexOf(':'); $r = $remote.LastIndexOf(':')
            if ($l -lt 1 -or $r -lt 1) { continue }
            $row = [ordered]@{ local_address = $local.Substring(0, $l); local_port = [int]$local.Substring($l + 1); remote_address = $remote.Substring(0, $r); remote_port = [int]$remote.Substring($r + 1); state = $null }
            $key = "$($row.local_address)|$($row.local_port)|$($row.remote_address)|$($row.remote_port)"
            if ($states.ContainsKey($key)) { $row.state = $states[$key] } else { $row.state = [string]$parts[3] }
            $row
        })
    } catch { $tcp.error = $_.Exception.GetBaseException().Message }
    $tcp
}

function Find-SfLogLine($Spec) {
    # The last line matching the agent profile's "connected" pattern in the newest log files,
    # reading their tail only (shared read: the agent keeps its log open).
    $found = [ordered]@{ files = @(); path = $null; line = $null; time_text = $null; time_utc = $null; error = $null }
    try {
        $files = @(foreach ($folder in @($Spec.folders)) {
            if ([System.IO.Directory]::Exists([string]$folder)) {
                # -Filter also matches longer extensions (*.log: x.log_old); -like does not.
                Get-ChildItem -LiteralPath ([string]$folder) -File -Filter ([string]$Spec.filter) -ErrorAction Stop |
                    Where-Object { $_.Name -like [string]$Spec.filter }
            }
        })
        $files = @($files | Sort-Object -Property LastWriteTimeUtc -Descending | Select-Object -First ([int]$Spec.max_files))
        foreach ($file in $files) {
            $found.files += $file.FullName
            $tail = Read-SfTail $file.FullName ([long]$Spec.tail_bytes)
            $lines = [System.Text.Encoding]::UTF8.GetString($tail.buffer, 0, $tail.read) -split "`r?`n"
            for ($i = $lines.Count - 1; $i -ge 0; $i--) {
                if ($lines[$i] -match [string]$Spec.pattern) {
                    $found.path = $file.FullName
                    $found.line = $lines[$i].Substring(0, [Math]::Min(500, $lines[$i].Length))
                    if ($Matches.ContainsKey('time')) {
                        $found.time_text = [string]$Matches['time']
                        $stamp = [datetime]::MinValue
                        $styles = [System.Globalization.DateTimeStyles]'AssumeLocal, AdjustToUniversal'
                        if ([datetime]::TryParse($found.time_text, [System.Globalization.CultureInfo]::InvariantCulture, $styles, [ref]$stamp)) {
                            $found.time_utc = $stamp.ToString('o')
                        }
                    }
                    return $found
                }
            }
        }
    } catch { $found.error = $_.Exception.GetBaseException().Message }
    $found
}

$timeout = [int]$P.timeout_ms
$result = [ordered]@{
    now_utc = $null
    service = [ordered]@{ exists = $false; name = $null; state = $null; account = $null; account_sid = $null; account_error = $null; process_id = 0; candidates = @() }
    process = $null
    tcp     = $null
    resolved = @()
    proxy   = $null
    probes  = @()
    log     = $null
}

$lookup = Find-SfAgentService ([string](Get-SfMember $P.service 'name')) ([string](Get-SfMember $P.service 'image_path_pattern')) ([string](Get-SfMember $P.service 'display_name_pattern'))
$result.service.candidates = @($lookup.candidates)
$svc = $lookup.service
$accountSid = $null
if ($null -ne $svc) {
    $result.service.exists = $true
    $result.service.name = [string]$svc.Name
    $result.service.state = [string]$svc.State
    $result.service.account = [string]$svc.StartName
    $result.service.process_id = [int]$svc.ProcessId
    if ($svc.StartName) {
        try { $accountSid = (Resolve-SfPrincipal ([string]$svc.StartName)).Value }
        catch { $result.service.account_error = $_.Exception.GetBaseException().Message }
    }
    $result.service.account_sid = $accountSid
}

$procId = [int]$result.service.process_id
if ($procId -gt 0) {
    $result.process = [ordered]@{ id = $procId; started_utc = $null; error = $null }
    try { $result.process.started_utc = Get-SfProcessStart $procId }
    catch { $result.process.error = $_.Exception.GetBaseException().Message }
    $result.tcp = Get-SfTcpRows $procId
}

$result.resolved = @(foreach ($name in @($P.names)) { Resolve-SfName ([string]$name) $timeout })

# The proxy the service's account would use: WinHTTP (netsh "label : value" lines, in any
# display language), the machine-wide policy, the account's own Internet Options when its
# hive is loaded, and, for comparison, those of the account running this script.
$winhttp = @(foreach ($l in @(& netsh.exe winhttp show proxy)) { if ("$l" -match '^\s*\S[^:]*\s:\s+(\S.*?)\s*$') { $Matches[1] } })
$users = [Microsoft.Win32.RegistryKey]::OpenBaseKey([Microsoft.Win32.RegistryHive]::Users, [Microsoft.Win32.RegistryView]::Default)
$machine = [Microsoft.Win32.RegistryKey]::OpenBaseKey('LocalMachine', 'Registry64')
$settingsPath = 'Software\Microsoft\Windows\CurrentVersion\Internet Settings'
$policy = $machine.OpenSubKey('SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings')
$perUser = $null
if ($null -ne $policy) { $perUser = $policy.GetValue('ProxySettingsPerUser', $null); $policy.Close() }
$me = [System.Security.Principal.WindowsIdentity]::GetCurrent()
$account = [ordered]@{ sid = $accountSid; loaded = $false; settings = $null }
if ($accountSid) {
    $hive = $users.OpenSubKey($accountSid)
    if ($null -ne $hive) { $account.loaded = $true; $hive.Close(); $account.settings = Read-SfProxySettings $users "$accountSid\$settingsPath" }
}
$result.proxy = [ordered]@{
    winhttp        = [ordered]@{ server = $(if ($winhttp.Count -gt 0) { $winhttp[0] } else { $null }); bypass = $(if ($winhttp.Count -gt 1) { $winhttp[1] } else { $null }) }
    machine_policy = [ordered]@{ per_user = $perUser; settings = Read-SfProxySettings $machine $settingsPath }
    account        = $account
    current_user   = [ordered]@{ name = $me.Name; sid = $me.User.Value; settings = Read-SfProxySettings $users "$($me.User.Value)\$settingsPath" }
    addresses      = @()
}
# Every host:port a proxy setting names, resolved here too: a connection to one of them is
# a connection through that proxy.
$servers = @($result.proxy.winhttp.server, $result.proxy.machine_policy.settings, $account.settings, $result.proxy.current_user.settings) | ForEach-Object {
    if ($_ -is [string]) { $_ } elseif ($null -ne $_) { [string]$_.server }
} | Where-Object { $_ }
$seenProxy = @{}
$result.proxy.addresses = @(foreach ($server in $servers) {
    foreach ($m in [regex]::Matches($server, '(?:^|[;=/])([A-Za-z0-9][A-Za-z0-9.\-]*):([0-9]{1,5})')) {
        $key = "$($m.Groups[1].Value):$($m.Groups[2].Value)".ToLowerInvariant()
        if ($seenProxy.ContainsKey($key)) { continue }
        $seenProxy[$key] = $true
        $entry = Resolve-SfName $m.Groups[1].Value $timeout
        [ordered]@{ host = $m.Groups[1].Value; port = [int]$m.Groups[2].Value; addresses = $entry.addresses; error = $entry.error }
    }
})

$result.probes = @(foreach ($probe in @($P.probes)) { Test-SfEndpoint ([string]$probe.name) ([int]$probe.port) $timeout })

$logSpec = Get-SfMember $P 'log'
if ($null -ne $logSpec -and $logSpec.pattern) { $result.log = Find-SfLogLine $logSpec }

$result.now_utc = [DateTime]::UtcNow.ToString('o')
Complete-SageFleet -Result $result
