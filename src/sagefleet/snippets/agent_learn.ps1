# sagefleet:agent_learn/2
# Read a reference install of the agent (installed once by hand with the vendor's
# wizard): its service, install folder and file names, the key structure of its
# settings.json and its Add/Remove Programs entry. Read-only; gathers, never decides
# (sagefleet/agent/learn.py writes the agent profile).
# No value of settings.json leaves the host: only its keys, their JSON types, the
# length of each list and which string members of a list of objects are unique.
# $P: service, image_path_pattern, display_name_pattern, settings_names[],
#     uninstall_pattern, max_files, max_depth.
# A folder of the install the WinRM account may not list (no List folder / read data
# right) is in unlisted[] with Windows' reason, never read as empty.

$maxFiles = [int](Get-SfParam 'max_files' 500)
$maxDepth = [int](Get-SfParam 'max_depth' 4)
$result = [ordered]@{
    service         = $null
    matched_by      = $null
    candidates      = @()
    install_dir     = $null
    files           = @()
    files_truncated = $false
    unlisted        = @()
    settings        = $null
    uninstall       = @()
}

# The service: the agent profile's lookup (name, else a pattern).
$lookup = Find-SfAgentService ([string](Get-SfParam 'service' '')) ([string](Get-SfParam 'image_path_pattern' '')) ([string](Get-SfParam 'display_name_pattern' ''))
$svc = $lookup.service
$result.matched_by = $lookup.matched_by
$result.candidates = @($lookup.candidates)

if ($null -ne $svc) {
    $exe = Get-ServiceExe $svc
    $version = $null
    $fileVersion = $null
    if ($exe -and (Test-Path -LiteralPath $exe -PathType Leaf)) {
        $info = (Get-Item -LiteralPath $exe).VersionInfo
        $version = $info.ProductVersion
        $fileVersion = $info.FileVersion
    }
    $result.service = [ordered]@{
        name         = [string]$svc.Name
        display_name = [string]$svc.DisplayName
        image_path   = [string]$svc.PathName
        exe          = $exe
        account      = [string]$svc.StartName
        start_mode   = [string]$svc.StartMode
        state        = [string]$svc.State
        version      = $version
        file_version = $fileVersion
    }
    if ($exe) { $result.install_dir = Split-Path -Parent $exe }
    # The framework the program asks for (<exe>.config, startup/supportedRuntime/@sku):
    # that attribute only, the file may hold connection strings.
    $result.service.runtime_sku = $null
    $config = [string]$exe + '.config'
    if ($exe -and (Test-Path -LiteralPath $config -PathType Leaf)) {
        try {
            $xml = New-Object -TypeName System.Xml.XmlDocument
            $xml.XmlResolver = $null
            $xml.Load($config)
            $node = $xml.SelectSingleNode('/configuration/startup/supportedRuntime/@sku')
            if ($null -ne $node) { $result.service.runtime_sku = [string]$node.Value }
        } catch {
            $result.service.runtime_sku = $null
        }
    }
}

# The install folder's files, by name (relative path), breadth first and bounded.
$dir = $result.install_dir
if ($dir -and (Test-Path -LiteralPath $dir -PathType Container)) {
    $files = New-Object -TypeName System.Collections.Generic.List[string]
    $queue = New-Object -TypeName System.Collections.Generic.Queue[object]
    $queue.Enqueue(@($dir, '', 0))
    while ($queue.Count -gt 0) {
        $folder = $queue.Dequeue()
        # Get-ChildItem's "Access to the path ... is denied." is non-terminating: stop on it
        # and say the folder, never an empty one.
        try {
            $listed = @(Get-ChildItem -LiteralPath $folder[0] -Force -ErrorAction Stop)
        } catch {
            $result.unlisted += [ordered]@{ folder = [string]$folder[0]; error = $_.Exception.Message }
            continue
        }
        foreach ($entry in @($listed | Sort-Object -Property Name)) {
            $relative = $entry.Name
            if ($folder[1]) { $relative = $folder[1] + '\' + $entry.Name }
            if ($entry.PSIsContainer) {
                if ($folder[2] -lt $maxDepth) { $queue.Enqueue(@($entry.FullName, $relative, $folder[2] + 1)) }
            } elseif ($files.Count -lt $maxFiles) {
                $files.Add($relative)
            } else {
                $result.files_truncated = $true
            }
        }
    }
    $result.files = @($files)
}

# settings.json: its key structure as a flat list of paths (a path holds member names
# and 0 for "the first item of a list"), never a value.
function Add-SfShape($Value, $Path, $Shapes) {
    $shape = [ordered]@{ path = @($Path); type = 'null' }
    if ($null -eq $Value) {
        $Shapes.Add($shape)
    } elseif ($Value -is [string] -or $Value -is [datetime]) {
        $shape.type = 'string'; $Shapes.Add($shape)
    } elseif ($Value -is [bool]) {
        $shape.type = 'boolean'; $Shapes.Add($shape)
    } elseif ($Value -is [int] -or $Value -is [long]) {
        $shape.type = 'integer'; $Shapes.Add($shape)
    } elseif ($Value -is [decimal] -or $Value -is [double]) {
        $shape.type = 'number'; $Shapes.Add($shape)
    } elseif ($Value -is [array]) {
        $items = @($Value)
        $shape.type = 'array'
        $shape.count = $items.Count
        $unique = @()
        $objects = @($items | Where-Object { $_ -is [System.Management.Automation.PSCustomObject] })
        if ($items.Count -gt 0 -and $objects.Count -eq $items.Count) {
            foreach ($member in $objects[0].PSObject.Properties) {
                $seen = New-Object -TypeName 'System.Collections.Generic.HashSet[string]' -ArgumentList ([StringComparer]::Ordinal)
                $ok = $true
                foreach ($item in $objects) {
                    $found = $item.PSObject.Properties[$member.Name]
                    if ($null -eq $found -or $found.Value -isnot [string] -or $found.Value -eq '' -or -not $seen.Add($found.Value)) { $ok = $false; break }
                }
                if ($ok) { $unique += $member.Name }
            }
        }
        $shape.unique_string_members = $unique
        $Shapes.Add($shape)
        if ($items.Count -gt 0 -and $Path.Count -lt 64) { Add-SfShape $items[0] (@($Path) + @(0)) $Shapes }
    } elseif ($Value -is [System.Management.Automation.PSCustomObject]) {
        $shape.type = 'object'
        $Shapes.Add($shape)
        if ($Path.Count -lt 64) {
            foreach ($member in $Value.PSObject.Properties) { Add-SfShape $member.Value (@($Path) + @($member.Name)) $Shapes }
        }
    } else {
        $shape.type = 'unknown'; $Shapes.Add($shape)
    }
}

if ($dir) {
    $settingsFile = $null
    foreach ($candidate in @(Get-SfParam 'settings_names' @('settings.json'))) {
        $match = @($result.files | Where-Object { [System.IO.Path]::GetFileName($_) -eq [string]$candidate })
        if ($match.Count -gt 0) { $settingsFile = $match[0]; break }
    }
    if ($settingsFile) {
        $result.settings = [ordered]@{ path = $settingsFile; structure = @(); error = $null }
        try {
            # ReadAllText honours a BOM (UTF-8 or UTF-16) as the agent would.
            $text = [System.IO.File]::ReadAllText((Join-Path -Path $dir -ChildPath $settingsFile -ErrorAction Stop))
        } catch {
            $text = $null
            $result.settings.error = 'cannot be read: ' + $_.Exception.GetType().Name
        }
        if ($null -ne $text) {
            $document = $null
            $parsed = $false
            try { $document = ConvertFrom-Json -InputObject $text; $parsed = $true }
            catch { $result.settings.error = 'not valid JSON (its text is not shown: it holds secrets)' }
            if ($parsed) {
                $shapes = New-Object -TypeName System.Collections.Generic.List[object]
                Add-SfShape $document @() $shapes
                $result.settings.structure = @($shapes)
            }
        }
    }
}

# The Add/Remove Programs entries of the agent, in both registry views: those whose
# DisplayName matches the pattern or whose paths point into the install folder.
$keep = @('DisplayName', 'DisplayVersion', 'Publisher', 'InstallLocation', 'DisplayIcon',
    'UninstallString', 'QuietUninstallString', 'WindowsInstaller', 'Inno Setup: App Path',
    'Inno Setup: Setup Version', 'BundleCachePath', 'BundleProviderKey', 'BundleUpgradeCode',
    'BundleVersion')
$paths = @('InstallLocation', 'DisplayIcon', 'UninstallString', 'QuietUninstallString', 'Inno Setup: App Path')
$uninstallPattern = [string](Get-SfParam 'uninstall_pattern' '')
$entries = @()
foreach ($view in @('64', '32')) {
    $registryView = [Microsoft.Win32.RegistryView]::Registry64
    if ($view -eq '32') { $registryView = [Microsoft.Win32.RegistryView]::Registry32 }
    $root = [Microsoft.Win32.RegistryKey]::OpenBaseKey('LocalMachine', $registryView).OpenSubKey('SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall')
    if ($null -eq $root) { continue }
    foreach ($sub in $root.GetSubKeyNames()) {
        $key = $root.OpenSubKey($sub)
        if ($null -eq $key) { continue }
        try {
            $display = [string]$key.GetValue('DisplayName')
            $inside = $false
            if ($dir) {
                foreach ($valueName in $paths) {
                    $text = ([string]$key.GetValue($valueName)).Trim().Trim('"')
                    if ($text -and ($text.TrimEnd('\').Equals($dir, [StringComparison]::OrdinalIgnoreCase) -or
                            $text.IndexOf($dir + '\', [StringComparison]::OrdinalIgnoreCase) -ge 0)) { $inside = $true }
                }
            }
            if ($inside -or ($uninstallPattern -and $display -and $display -match $uninstallPattern)) {
                $values = [ordered]@{}
                foreach ($valueName in $keep) {
                    $value = $key.GetValue($valueName, $null, 'DoNotExpandEnvironmentNames')
                    if ($null -ne $value) { $values[$valueName] = $value }
                }
                $entries += , ([ordered]@{ key = $sub; view = $view; values = $values; value_names = @($key.GetValueNames() | Sort-Object) })
            }
        } finally {
            $key.Close()
        }
    }
    $root.Close()
}
$result.uninstall = $entries

Complete-SageFleet -Result $result
