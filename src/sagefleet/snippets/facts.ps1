# sagefleet:facts/4
# All facts in one round trip (schema 1, sagefleet/facts.py); gathers, never decides.
# Terse on purpose: every byte of the script crosses the network on every run (on stdin).
function Get-SfText($Value) { if ($null -ne $Value -and "$Value" -ne '') { "$Value" } }
function Test-SfFile($Path) { $Path -and (Test-Path -LiteralPath $Path -PathType Leaf) }
function Open-SfKey($Path, $View = 64, $Hive = 'LocalMachine') { [Microsoft.Win32.RegistryKey]::OpenBaseKey($Hive, "Registry$View").OpenSubKey($Path) }
function Get-SfValue($Path, $Name, $View = 64, $Hive = 'LocalMachine') { $k = Open-SfKey $Path $View $Hive; if ($k) { $k.GetValue($Name); $k.Close() } }
function Get-SfVersion($Path, $Field) { if (Test-SfFile $Path) { Get-SfText (Get-Item -LiteralPath $Path).VersionInfo.$Field } }
# The agent profile's service: its name, else a pattern on ImagePath or DisplayName.
$svcName = Get-SfText (Get-SfParam service_name $null)
$ipPat = Get-SfText (Get-SfParam agent_image_path_pattern $null)
$dnPat = Get-SfText (Get-SfParam agent_display_name_pattern $null)
# Any install of the vendor's agent, by its uninstall entry's name or publisher (SF405).
$vendorPat = Get-SfText (Get-SfParam agent_vendor_pattern $null)
$endpoints = @(Get-SfParam endpoints @())
$timeout = [int](Get-SfParam timeout_ms 3000)
# GUESS: how an SPC VM marks itself (overridable).
$markers = @(Get-SfParam spc_marker_paths @('HKLM:\SOFTWARE\WOW6432Node\Sage\SPC'))

$os = Get-CimInstance Win32_OperatingSystem
$cs = Get-CimInstance Win32_ComputerSystem
$drives = @(foreach ($d in @(Get-CimInstance Win32_LogicalDisk)) {
  $t = @{ 2 = 'removable'; 3 = 'fixed'; 4 = 'network'; 5 = 'cdrom' }[[int]$d.DriveType]; if (-not $t) { $t = 'unknown' }
  @{ name = $d.DeviceID; drive_type = $t; free_bytes = $d.FreeSpace; size_bytes = $d.Size; provider = Get-SfText $d.ProviderName }
})
$nx = 'SOFTWARE\Microsoft\.NETFramework\v4.0.30319'
$sc = 'SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Client'
$tls = @{ schannel_tls12_client = @{ Enabled = Get-SfValue $sc Enabled; DisabledByDefault = Get-SfValue $sc DisabledByDefault } }
foreach ($v in 64, 32) { $tls["netfx_x$($v -replace 32, 86)"] = @{ SchUseStrongCrypto = Get-SfValue $nx SchUseStrongCrypto $v; SystemDefaultTlsVersions = Get-SfValue $nx SystemDefaultTlsVersions $v } }
# netsh "label : value" lines, in any display language.
$proxy = @(foreach ($l in @(& netsh.exe winhttp show proxy)) { if ("$l" -match '^\s*\S[^:]*\s:\s+(\S.*?)\s*$') { $Matches[1] } })

$om = 'Objets m[e' + [char]0xE9 + ']tiers'
$sageUn = $omUn = $agentUn = $products = $exes = @()
foreach ($v in 64, 32) {
  $root = Open-SfKey 'SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall' $v
  foreach ($n in @(if ($root) { $root.GetSubKeyNames() })) {
    $k = $root.OpenSubKey($n)
    if (-not $k) { continue }
    $e = @{ view = "$v" }
    foreach ($f in 'DisplayName', 'DisplayVersion', 'InstallLocation', 'Publisher') { $e[($f -creplace '(.)([A-Z])', '$1_$2').ToLower()] = Get-SfText $k.GetValue($f) }
    $dn = "$($e.display_name)"
    if ($vendorPat -and $dn -and ($dn -match $vendorPat -or "$($e.publisher)" -match $vendorPat)) { $agentUn += $e }
    if ($dn -match $om) { $omUn += @{ display_name = $dn; display_version = $e.display_version; view = "$v" } }
    elseif ($dn -match '^Sage 100' -and ($dn -match 'Comptabilit' -or "$($e.publisher)" -match 'Sage')) { $sageUn += $e }
  }
}
$root = Open-SfKey SOFTWARE\Sage 32
foreach ($n in @(if ($root) { $root.GetSubKeyNames() })) {
  $path = Get-SfValue "SOFTWARE\Sage\$n" Path 32
  if (-not $path) { continue }
  $products += @{ product = $n; path = $path }
  foreach ($x in 'Maestria.exe', 'GecoMaes.exe', 'MopaMaes.exe') {
    $f = "$path".TrimEnd('\') + '\' + $x
    if (Test-SfFile $f) { $exes += @{ name = $x; path = $f; product_version = Get-SfVersion $f ProductVersion } }
  }
}
# Objets Metiers: the DLL its COM classes (Cpta, Cial) are registered with, InprocServer32
# under HKLM\SOFTWARE\Classes\CLSID, in both registry views, whatever its folder.
$omClasses = @(foreach ($v in 64, 32) {
  foreach ($c in @(@('Cpta', '{309DE0FB-9FB8-4F4E-8295-CC60C60DAA33}'), @('Cial', '{ED0EC116-16B8-44CC-A68A-41BF6E15EB3F}'))) {
    $key = 'SOFTWARE\Classes\CLSID\' + $c[1]
    $k = Open-SfKey $key $v
    if (-not $k) { continue }
    $k.Close()
    $server = Get-SfText (Get-SfValue "$key\InprocServer32" '' $v)
    $file = "$server".Trim().Trim('"')
    @{ name = $c[0]; clsid = $c[1]; view = "$v"; server = $server; progid = Get-SfText (Get-SfValue "$key\ProgID" '' $v); exists = [bool](Test-SfFile $file); file_version = Get-SfVersion $file FileVersion }
  }
})
$seenDll = @{}
$omFiles = @(foreach ($c in $omClasses) {
  $file = "$($c.server)".Trim().Trim('"')
  if ($c.exists -and -not $seenDll.ContainsKey($file.ToLowerInvariant())) { $seenDll[$file.ToLowerInvariant()] = 1; @{ path = $file; file_version = $c.file_version } }
})

$lookup = Find-SfAgentService $svcName $ipPat $dnPat
$s = $lookup.service; $by = $lookup.matched_by; $cand = $lookup.candidates
$path = $null
if ($s -and "$($s.PathName)" -match '^\s*"([^"]+)"|^\s*(.*?\.exe)') { $path = "$($Matches[1])$($Matches[2])" }
$agent = @{ service_name = $svcName; installed = $false; state = $null; start_mode = $null; account = $null; version = Get-SfVersion $path ProductVersion; path = $path; matched_by = $by; candidates = $cand }
if ($s) { $agent.service_name = $s.Name; $agent.installed = $true; $agent.state = $s.State; $agent.start_mode = $s.StartMode; $agent.account = Get-SfText $s.StartName }
# The failed-install record (sagefleet/deploy/record.py), read only: its folder is checked
# as failed_install does, never created; what stops the read is its error.
$rec = $null
$rp = Get-SfText (Get-SfParam record_path $null)
if ($rp) {
  $rec = @{ path = $rp; exists = $false; text = $null; error = $null }
  try {
    $f = Join-Path -Path (Confirm-SfPrivateFolder (Split-Path -Path $rp -Parent -ErrorAction Stop) $false) -ChildPath ([IO.Path]::GetFileName($rp)) -ErrorAction Stop
    if ([IO.File]::Exists($f)) { $rec.exists = $true; $rec.text = [System.IO.File]::ReadAllText($f, [Text.Encoding]::UTF8) }
  } catch { $rec.error = $_.Exception.GetBaseException().Message }
}

# "Log on as a service" of the service account (the inventory's, else the agent's): the
# SIDs secedit's export of the local security policy lists for SeServiceLogonRight.
$acct = Get-SfText (Get-SfParam service_account $null)
if (-not $acct) { $acct = $agent.account }
$logon = $null
if ($acct) {
  $logon = @{ account = $acct; sid = $null; granted = $null; error = $null }
  try {
    $sid = (Resolve-SfPrincipal $acct).Value
    $logon.sid = $sid
    # SYSTEM, LOCAL SERVICE, NETWORK SERVICE and virtual accounts hold it by design.
    if (@('S-1-5-18', 'S-1-5-19', 'S-1-5-20') -contains $sid -or $sid.StartsWith('S-1-5-80-')) { $logon.granted = $true }
    else {
      $dir = Join-Path -Path $env:SystemRoot -ChildPath ('Temp\sagefleet-' + [guid]::NewGuid().ToString('N')) -ErrorAction Stop
      New-Item -ItemType Directory -Path $dir -ErrorAction Stop | Out-Null
      try {
        $inf = Join-Path -Path $dir -ChildPath 'rights.inf' -ErrorAction Stop
        & secedit.exe /export /cfg $inf /areas USER_RIGHTS /quiet | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "secedit /export exited with $LASTEXITCODE" }
        $line = @(Get-Content -LiteralPath $inf -Encoding Unicode -ErrorAction Stop | Where-Object { $_ -match '^SeServiceLogonRight\s*=' })
        $holders = @(if ($line.Count -gt 0) { ($line[0] -split '=', 2)[1].Split(',') | ForEach-Object { $_.Trim() } })
        $logon.granted = ($holders -contains ('*' + $sid)) -or ($holders -contains $acct)
      } finally {
        Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction SilentlyContinue
      }
    }
  } catch { $logon.error = $_.Exception.GetBaseException().Message }
}

# A drive letter this session does not see may be a user's persistent mapping (HKU).
# A network logon (WinRM: group NETWORK, S-1-5-2) holds no credentials for a file server
# (the second hop): a network .MAE it cannot read is not verifiable here, not missing.
$netLogon = [Security.Principal.WindowsIdentity]::GetCurrent().Groups.Value -contains 'S-1-5-2'
$mae = @(foreach ($m in @(Get-SfParam mae_files @())) {
  $m = "$m"; $letter = $map = $type = $null
  if ($m -match '^([A-Za-z]):') { $letter = $Matches[1].ToUpper() }
  $disk = @($drives | Where-Object { $_.name -eq "${letter}:" })
  if ($letter -and -not $disk) { $map = @(foreach ($u in (Open-SfKey '' 64 Users).GetSubKeyNames()) { Get-SfValue "$u\Network\$letter" RemotePath 64 Users })[0] }
  if ($m.StartsWith('\\') -or $map) { $type = 'network' } elseif ($disk) { $type = $disk[0].drive_type }
  $file = $m
  if ($map -and -not (Test-SfFile $m)) { $file = $map.TrimEnd('\') + $m.Substring(2) }
  $doc = @{ path = $m; exists = $false; size = $null; drive_type = $type; unc = $m.StartsWith('\\'); mapped_drive = $letter -and $type -eq 'network'; serveur_sql = $null; type = $null; database = $null; verifiable = $true }
  if (Test-SfFile $file) {
    $len = (Get-Item -LiteralPath $file).Length
    $doc.exists = $true; $doc.size = $len; $doc.database = [IO.Path]::GetFileNameWithoutExtension($m)
    foreach ($l in @(if ($len -le 1048576) { [IO.File]::ReadAllLines($file, [Text.Encoding]::Default) })) {
      if ($l -match '^\s*(ServeurSQL|Type)\s*=\s*(.*?)\s*$') {
        $f = @('type', 'serveur_sql')[[int]($Matches[1] -eq 'ServeurSQL')]
        if ($null -eq $doc[$f]) { $doc[$f] = Get-SfText $Matches[2] }
      }
    }
  } elseif ($type -eq 'network' -and $netLogon) { $doc.verifiable = $false }
  $doc
})

# Concurrent probes, each step bounded by timeout_ms: a dead endpoint cannot stall us.
$probe = {
  param($Name, $Port, $Tls, $Ms)
  $dns = @{ status = $null; addresses = @(); error = $null }
  $tcp = @{ ok = $false; elapsed_ms = $null; error = 'dns' }
  $tr = $ip = $null
  try {
    $q = [Net.Dns]::GetHostAddressesAsync($Name)
    if ($q.Wait($Ms)) {
      $dns.status = 'ok'; $dns.addresses = @($q.Result | ForEach-Object { "$_" })
      $ip = @($q.Result | Sort-Object { $_.AddressFamily -ne 'InterNetwork' })[0]
    } else { $dns.status = 'timeout'; $dns.error = "timed out after $Ms ms" }
  } catch {
    $x = $_.Exception.GetBaseException(); $dns.error = $x.Message
    $dns.status = @{ HostNotFound = 'nxdomain'; NoData = 'nxdomain'; TryAgain = 'servfail'; NoRecovery = 'servfail' }["$($x.SocketErrorCode)"]
    if (-not $dns.status) { $dns.status = 'error' }
  }
  if ($ip) {
    $c = New-Object Net.Sockets.TcpClient($ip.AddressFamily)
    $w = [Diagnostics.Stopwatch]::StartNew()
    try {
      $tcp.error = 'timeout'
      if ($c.ConnectAsync($ip, $Port).Wait($Ms)) { $tcp.ok = $true; $tcp.error = $null }
    } catch {
      $tcp.error = @{ ConnectionRefused = 'refused'; TimedOut = 'timeout' }["$($_.Exception.GetBaseException().SocketErrorCode)"]
      if (-not $tcp.error) { $tcp.error = 'unreachable' }
    }
    $tcp.elapsed_ms = [int]$w.ElapsedMilliseconds
    if ($Tls -and $tcp.ok) {
      $tr = @{ ok = $false; protocol = $null; issuer = $null; subject = $null; not_after = $null; error = $null; policy_errors = $null; chain_status = @(); chain = @(); root_in_authroot = $null; root_in_root = $null }
      $seen = @{}
      # Accept any certificate, but keep what Windows made of it: the chain X509Chain built
      # from the certificates the endpoint sent and the host's stores, its ChainStatus, and
      # SslStream's verdict. Read here: SslStream resets the chain once the callback returns.
      $check = {
        param($origin, $leaf, $chain, $errors)
        $seen.errors = "$errors"; $seen.status = @(); $seen.chain = @()
        if ($chain) {
          $seen.status = @(foreach ($x in $chain.ChainStatus) { "$($x.Status)" })
          $seen.chain = @(foreach ($el in $chain.ChainElements) { $x = $el.Certificate; @{ subject = $x.GetNameInfo('SimpleName', $false); issuer = $x.GetNameInfo('SimpleName', $true); thumbprint = $x.Thumbprint; not_after = $x.NotAfter.ToUniversalTime().ToString('o') } })
        }
        $true
      }.GetNewClosure()
      try {
        $st = $c.GetStream(); $st.ReadTimeout = $st.WriteTimeout = $Ms
        $ssl = New-Object Net.Security.SslStream($st, $false, [Net.Security.RemoteCertificateValidationCallback] $check)
        $ssl.AuthenticateAsClient($Name, $null, [Security.Authentication.SslProtocols]::Tls12, $false)
        $cert = New-Object Security.Cryptography.X509Certificates.X509Certificate2($ssl.RemoteCertificate)
        $tr.ok = $true; $tr.protocol = "$($ssl.SslProtocol)" -replace '^Tls$', 'TLSv1.0' -replace '^Tls1(\d)$', 'TLSv1.$1'
        $tr.issuer = $cert.GetNameInfo('SimpleName', $true); $tr.subject = $cert.GetNameInfo('SimpleName', $false)
        $tr.not_after = $cert.NotAfter.ToUniversalTime().ToString('o')
      } catch { $tr.error = $_.Exception.GetBaseException().Message }
      if ($seen.ContainsKey('errors')) {
        $tr.policy_errors = $seen.errors; $tr.chain_status = $seen.status; $tr.chain = $seen.chain
        # Where the last certificate of the chain sits: AuthRoot holds the roots of Microsoft's
        # Trusted Root Program (third-party roots); Root, the logical store, holds those and
        # the roots added by hand, by Group Policy or by an enterprise.
        if ($seen.chain.Count -gt 0) {
          foreach ($n in 'AuthRoot', 'Root') {
            $store = New-Object Security.Cryptography.X509Certificates.X509Store($n, [Security.Cryptography.X509Certificates.StoreLocation]::LocalMachine)
            try {
              $store.Open([Security.Cryptography.X509Certificates.OpenFlags]'ReadOnly, OpenExistingOnly')
              $tr['root_in_' + $n.ToLowerInvariant()] = $store.Certificates.Find('FindByThumbprint', $seen.chain[-1].thumbprint, $false).Count -gt 0
            } catch { } finally { $store.Close() }
          }
        }
      }
    }
    $c.Close()
  }
  @{ name = $Name; port = $Port; tls = $Tls; dns = $dns; tcp = $tcp; tls_result = $tr }
}
$probes = @()
if ($endpoints.Count) {
  $pool = [RunspaceFactory]::CreateRunspacePool(1, [Math]::Min(16, $endpoints.Count))
  $pool.Open()
  $jobs = @(foreach ($ep in $endpoints) {
    $ps = [PowerShell]::Create(); $ps.RunspacePool = $pool
    [void]$ps.AddScript($probe).AddArgument("$($ep.name)").AddArgument([int]$ep.port).AddArgument([bool]$ep.tls).AddArgument($timeout)
    @{ ep = $ep; ps = $ps; h = $ps.BeginInvoke() }
  })
  $deadline = [DateTime]::UtcNow.AddMilliseconds(4 * $timeout + 2000)
  $probes = @(foreach ($j in $jobs) {
    $out = $null
    if ($j.h.AsyncWaitHandle.WaitOne([int][Math]::Max(0, ($deadline - [DateTime]::UtcNow).TotalMilliseconds))) {
      try { $out = @($j.ps.EndInvoke($j.h))[0] } catch { }
    }
    if (-not $out) { $out = @{ name = $j.ep.name; port = $j.ep.port; tls = $j.ep.tls; dns = $null; tcp = $null; tls_result = $null } }
    $out
  })
}

if ($vendorPat) { $agent.installs = $agentUn }
Complete-SageFleet -Result @{
  schema = 1; drives = $drives; tls = $tls; agent = $agent; mae_files = $mae; probes = $probes; service_logon_right = $logon; failed_install = $rec
  host = @{
    hostname = [Net.Dns]::GetHostName(); os_caption = $os.Caption; os_version = $os.Version; os_build = [int]$os.BuildNumber
    powershell_version = "$($PSVersionTable.PSVersion)"; language_mode = [string]$ExecutionContext.SessionState.LanguageMode; utc_now = [DateTime]::UtcNow.ToString('o')
    domain = Get-SfText $cs.Domain; part_of_domain = $cs.PartOfDomain
  }
  dotnet = @{ release = Get-SfValue 'SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full' 'Release' }
  proxy = @{ winhttp_proxy = $proxy[0]; winhttp_bypass = $proxy[1] }
  sage = @{ uninstall = $sageUn; products = $products; executables = $exes }
  objets_metiers = @{ files = $omFiles; uninstall = $omUn; classes = $omClasses }
  azure = @{
    guest_agent_service = $null -ne (Get-Service 'WindowsAzureGuestAgent' -ErrorAction SilentlyContinue)
    azure_registry_key = $null -ne (Open-SfKey 'SOFTWARE\Microsoft\Windows Azure')
    spc_marker = @($markers | Where-Object { Test-Path -LiteralPath "$_" }).Count -gt 0
  }
}
