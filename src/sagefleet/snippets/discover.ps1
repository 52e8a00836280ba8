# sagefleet:discover/1
# What Sage 100 holds on this server, for a draft inventory (sagefleet/discover.py).
# $P: roots[] (extra folders), spc_marker_paths[], max_depth, max_files.
# Gathers, never decides: the bastion chooses entity names, edition and what to keep.

function Get-SfText($Value) { if ($null -ne $Value -and "$Value" -ne '') { "$Value" } }
function Open-SfKey($Path, $View = 64) { [Microsoft.Win32.RegistryKey]::OpenBaseKey('LocalMachine', "Registry$View").OpenSubKey($Path) }

$result = [ordered]@{ hostname = $env:COMPUTERNAME; spc_marker = $false; products = @(); uninstall = @(); searched = @(); mae_files = @(); truncated = $false }
foreach ($m in @($P.spc_marker_paths)) { if ($m -and (Test-Path -LiteralPath ([string]$m))) { $result.spc_marker = $true } }

# Products: HKLM\SOFTWARE\WOW6432Node\Sage\<product> Path, and the version of its program.
$folders = New-Object -TypeName System.Collections.Generic.List[string]
$root = Open-SfKey 'SOFTWARE\Sage' 32
foreach ($name in @(if ($root) { $root.GetSubKeyNames() })) {
    $key = $root.OpenSubKey($name)
    $path = if ($key) { Get-SfText $key.GetValue('Path') }
    if (-not $path) { continue }
    $product = [ordered]@{ product = $name; path = $path; executable = $null; version = $null }
    foreach ($exe in 'Maestria.exe', 'GecoMaes.exe', 'MopaMaes.exe') {
        $file = $path.TrimEnd('\') + '\' + $exe
        if (Test-Path -LiteralPath $file -PathType Leaf) {
            $product.executable = $file
            $product.version = Get-SfText (Get-Item -LiteralPath $file).VersionInfo.ProductVersion
            break
        }
    }
    $result.products += $product
    $folders.Add($path)
}
foreach ($view in 64, 32) {
    $un = Open-SfKey 'SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall' $view
    foreach ($name in @(if ($un) { $un.GetSubKeyNames() })) {
        $key = $un.OpenSubKey($name)
        $display = if ($key) { Get-SfText $key.GetValue('DisplayName') }
        if ($display -match '^Sage 100') { $result.uninstall += [ordered]@{ display_name = $display; display_version = Get-SfText $key.GetValue('DisplayVersion'); view = "$view" } }
    }
}

# .MAE files under the usual folders, the product folders and the caller's roots.
foreach ($f in @('C:\Sage', 'C:\Users\Public\Documents\Sage') + @($P.roots)) { if ($f) { $folders.Add([string]$f) } }
$seen = @{}
$mae = @()
foreach ($folder in $folders) {
    $key = $folder.TrimEnd('\').ToLowerInvariant()
    if ($seen.ContainsKey($key)) { continue }
    $seen[$key] = $true
    if (-not [System.IO.Directory]::Exists($folder)) { continue }
    $result.searched += $folder
    $queue = New-Object -TypeName System.Collections.Generic.Queue[object]
    $queue.Enqueue(@($folder, 0))
    while ($queue.Count -gt 0) {
        $item = $queue.Dequeue()
        try {
            # GetFiles('*.mae') also returns x.mae_old and x.maebak (a three-letter extension
            # matches any longer one): the extension itself must be .mae.
            foreach ($file in @([System.IO.Directory]::GetFiles($item[0], '*.mae') | Where-Object { [System.IO.Path]::GetExtension($_) -eq '.mae' })) {
                if ($mae.Count -ge [int]$P.max_files) { $result.truncated = $true; break }
                $doc = [ordered]@{ path = $file; size = (New-Object -TypeName System.IO.FileInfo -ArgumentList $file).Length; serveur_sql = $null; type = $null; database = [System.IO.Path]::GetFileNameWithoutExtension($file) }
                if ($doc.size -le 1048576) {
                    foreach ($line in [System.IO.File]::ReadAllLines($file, [System.Text.Encoding]::Default)) {
                        if ($line -match '^\s*(ServeurSQL|Type)\s*=\s*(.*?)\s*$') {
                            $field = if ($Matches[1] -eq 'Type') { 'type' } else { 'serveur_sql' }
                            if ($null -eq $doc[$field] -and $Matches[2]) { $doc[$field] = $Matches[2] }
                        }
                    }
                }
                $mae += $doc
            }
            if ($item[1] -lt [int]$P.max_depth) {
                foreach ($sub in [System.IO.Directory]::GetDirectories($item[0])) { $queue.Enqueue(@($sub, $item[1] + 1)) }
            }
        } catch [System.UnauthorizedAccessException] { continue }
    }
}
$result.mae_files = $mae
Complete-SageFleet -Result $result
