# sagefleet:query/3
# Read-only answers to a list of questions about the host, in order:
# service, registry, file, json_file, tcp, product, dir. No policy here.

function Get-SfMember($Object, [string]$Name) {
    # An optional member of a question (strict mode refuses a missing property).
    $member = $Object.PSObject.Properties[$Name]
    if ($null -ne $member) { $member.Value }
}

function Get-SfService([string]$Name, [string]$ImagePattern, [string]$DisplayPattern) {
    # The agent profile's lookup: the exact name first; else a pattern (regex,
    # case-insensitive) on PathName (ImagePath) or DisplayName, when one service matches.
    $all = @(Get-CimInstance -ClassName Win32_Service)
    $svc = $all | Where-Object { $Name -and $_.Name -eq $Name } | Select-Object -First 1
    $by = 'name'
    if ($null -eq $svc -and ($ImagePattern -or $DisplayPattern)) {
        $hits = @($all | Where-Object {
            ($ImagePattern -and [string]$_.PathName -match $ImagePattern) -or
            ($DisplayPattern -and [string]$_.DisplayName -match $DisplayPattern)
        } | Sort-Object -Property Name)
        if ($hits.Count -gt 1) {
            return [ordered]@{ exists = $false; candidates = @($hits | ForEach-Object { [string]$_.Name }) }
        }
        if ($hits.Count -eq 1) {
            $svc = $hits[0]
            $by = 'display_name'
            if ($ImagePattern -and [string]$svc.PathName -match $ImagePattern) { $by = 'image_path' }
        }
    }
    if ($null -eq $svc) { return [ordered]@{ exists = $false; candidates = @() } }
    $exe = [string]$svc.PathName
    if ($exe -match '^"([^"]+)"') { $exe = $Matches[1] }
    elseif ($exe -match '^(.*?\.exe)(\s|$)') { $exe = $Matches[1] }
    $version = $null
    if ($exe -and (Test-Path -LiteralPath $exe -PathType Leaf)) {
        $version = (Get-Item -LiteralPath $exe).VersionInfo.ProductVersion
    }
    # When its process started (Process.StartTime, UTC); null without one, or unreadable.
    $started = $null
    if ([int]$svc.ProcessId -gt 0) {
        try { $started = Get-SfProcessStart ([int]$svc.ProcessId) }
        catch { $started = $null }
    }
    [ordered]@{
        exists     = $true
        name       = [string]$svc.Name
        state      = [string]$svc.State
        start_mode = [string]$svc.StartMode
        account    = [string]$svc.StartName
        path       = $exe
        version    = $version
        matched_by = $by
        started_utc = $started
    }
}

function Get-SfRegistry([string]$Path, [string]$Name, [string]$View) {
    $registryView = [Microsoft.Win32.RegistryView]::Registry64
    if ($View -eq '32') { $registryView = [Microsoft.Win32.RegistryView]::Registry32 }
    $parts = $Path -split '\\', 2
    if ($parts[0] -notin @('HKLM', 'HKEY_LOCAL_MACHINE')) {
        throw "sagefleet query: only HKLM is supported, not $($parts[0])"
    }
    $base = [Microsoft.Win32.RegistryKey]::OpenBaseKey('LocalMachine', $registryView)
    $key = $base.OpenSubKey($parts[1])
    if ($null -eq $key) { return [ordered]@{ exists = $false; value = $null; type = $null } }
    try {
        $value = $key.GetValue($Name, $null, 'DoNotExpandEnvironmentNames')
        if ($null -eq $value) { return [ordered]@{ exists = $false; value = $null; type = $null } }
        [ordered]@{ exists = $true; value = $value; type = $key.GetValueKind($Name).ToString() }
    } finally {
        $key.Close()
    }
}

function Get-SfFile([string]$Path, [bool]$Hash, [bool]$Acl) {
    if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) { return [ordered]@{ exists = $false } }
    $item = Get-Item -LiteralPath $Path
    $result = [ordered]@{
        exists   = $true
        size     = [long]$item.Length
        modified = $item.LastWriteTimeUtc.ToString('o')
        sha256   = $null
        acl      = $null
    }
    if ($Hash) {
        # The FIPS-validated implementation: SHA256.Create() (SHA256Managed) fails under a FIPS policy.
        $sha = New-Object -TypeName System.Security.Cryptography.SHA256CryptoServiceProvider
        $stream = [System.IO.File]::Open($Path, [System.IO.FileMode]::Open, [System.IO.FileAccess]::Read, [System.IO.FileShare]::ReadWrite)
        try { $result.sha256 = ([System.BitConverter]::ToString($sha.ComputeHash($stream))).Replace('-', '').ToLowerInvariant() }
        finally { $stream.Dispose(); $sha.Dispose() }
    }
    if ($Acl) {
        # Names are in the server's UI language: the SIDs are what a check compares.
        $security = Get-Acl -LiteralPath $Path
        $sid = [System.Security.Principal.SecurityIdentifier]
        $rules = @($security.GetAccessRules($true, $true, $sid) | ForEach-Object {
            $name = $_.IdentityReference.Value
            try { $name = $_.IdentityReference.Translate([System.Security.Principal.NTAccount]).Value } catch { }
            [ordered]@{
                identity  = $name
                sid       = $_.IdentityReference.Value
                rights    = $_.FileSystemRights.ToString()
                type      = $_.AccessControlType.ToString()
                inherited = $_.IsInherited
            }
        })
        $result.acl = [ordered]@{
            owner     = $security.Owner
            owner_sid = $security.GetOwner($sid).Value
            protected = $security.AreAccessRulesProtected
            rules     = $rules
        }
    }
    $result
}

function Get-SfJsonFile([string]$Path) {
    if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) { return [ordered]@{ exists = $false } }
    $text = [System.IO.File]::ReadAllText($Path, [System.Text.Encoding]::UTF8)
    [ordered]@{ exists = $true; text = $text }
}

function Test-SfTcp([string]$Name, [int]$Port, [int]$TimeoutMs) {
    $client = New-Object -TypeName System.Net.Sockets.TcpClient
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    try {
        $task = $client.ConnectAsync($Name, $Port)
        if (-not $task.Wait($TimeoutMs)) {
            return [ordered]@{ ok = $false; error = 'timeout'; elapsed_ms = [int]$watch.ElapsedMilliseconds }
        }
        [ordered]@{ ok = $true; error = $null; elapsed_ms = [int]$watch.ElapsedMilliseconds }
    } catch {
        $kind = 'unreachable'
        $inner = $_.Exception
        while ($null -ne $inner.InnerException) { $inner = $inner.InnerException }
        if ($inner -is [System.Net.Sockets.SocketException]) {
            switch ($inner.ErrorCode) {
                10061 { $kind = 'refused' }
                10060 { $kind = 'timeout' }
                11001 { $kind = 'dns' }
                11004 { $kind = 'dns' }
            }
        }
        [ordered]@{ ok = $false; error = $kind; elapsed_ms = [int]$watch.ElapsedMilliseconds }
    } finally {
        $client.Dispose()
    }
}

function Get-SfProduct([string]$Pattern) {
    $found = @()
    foreach ($view in @('64', '32')) {
        $registryView = [Microsoft.Win32.RegistryView]::Registry64
        if ($view -eq '32') { $registryView = [Microsoft.Win32.RegistryView]::Registry32 }
        $base = [Microsoft.Win32.RegistryKey]::OpenBaseKey('LocalMachine', $registryView)
        $uninstall = $base.OpenSubKey('SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall')
        if ($null -eq $uninstall) { continue }
        foreach ($sub in $uninstall.GetSubKeyNames()) {
            $key = $uninstall.OpenSubKey($sub)
            $display = [string]$key.GetValue('DisplayName')
            if ($display -and $display -match $Pattern) {
                $found += [ordered]@{
                    display_name    = $display
                    display_version = [string]$key.GetValue('DisplayVersion')
                    view            = $view
                }
            }
            $key.Close()
        }
    }
    [ordered]@{ entries = @($found) }
}

function Get-SfDir([string]$Path) {
    if (-not (Test-Path -LiteralPath $Path -PathType Container)) {
        return [ordered]@{ exists = $false; entries = @() }
    }
    $entries = @(Get-ChildItem -LiteralPath $Path -Force | ForEach-Object {
        [ordered]@{
            name     = $_.Name
            is_dir   = $_.PSIsContainer
            size     = $(if ($_.PSIsContainer) { 0 } else { [long]$_.Length })
            modified = $_.LastWriteTimeUtc.ToString('o')
        }
    })
    [ordered]@{ exists = $true; entries = $entries }
}

$answers = @()
foreach ($question in @($P.questions)) {
    switch ([string]$question.kind) {
        'service' { $answers += , (Get-SfService -Name $question.name -ImagePattern (Get-SfMember $question 'image_path_pattern') -DisplayPattern (Get-SfMember $question 'display_name_pattern')) }
        'registry' { $answers += , (Get-SfRegistry -Path $question.path -Name $question.name -View ([string]$question.view)) }
        'file' { $answers += , (Get-SfFile -Path $question.path -Hash ([bool]$question.hash) -Acl ([bool]$question.acl)) }
        'json_file' { $answers += , (Get-SfJsonFile -Path $question.path) }
        'tcp' { $answers += , (Test-SfTcp -Name $question.host -Port ([int]$question.port) -TimeoutMs ([int]$question.timeout_ms)) }
        'product' { $answers += , (Get-SfProduct -Pattern $question.pattern) }
        'dir' { $answers += , (Get-SfDir -Path $question.path) }
        default { throw "sagefleet query: unknown question kind '$($question.kind)'" }
    }
}
Complete-SageFleet -Result ([ordered]@{ answers = $answers })
