# sagefleet:failed_install/1
# The failed-install record: what a fresh install that failed left on the host, kept
# so that the next deploy does not take that agent as installed (docs/deploy.md).
# read: its text, or exists false; write: the text given; remove: delete it.
# It lives in a private folder (the backup root): only SYSTEM and Administrators may
# write it, checked on every run; a read or a remove creates nothing. The bastion
# writes and parses the JSON text: here it is only a file.

$path = [string]$P.path
$action = [string]$P.action
$result = [ordered]@{ exists = $false; text = $null; written = $false; removed = $false }
if (@('read', 'write', 'remove') -notcontains $action) {
    throw "sagefleet failed_install: unknown action '$action'"
}
$folder = Confirm-SfPrivateFolder (Split-Path -Path $path -Parent -ErrorAction Stop) ($action -eq 'write')
$path = Join-Path -Path $folder -ChildPath ([System.IO.Path]::GetFileName($path)) -ErrorAction Stop
if ($action -eq 'write') {
    # UTF-8 without a byte order mark ([Text.Encoding]::UTF8 would write one).
    $utf8 = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
    [System.IO.File]::WriteAllText($path, [string]$P.text, $utf8)
    $result.exists = $true
    $result.written = $true
} elseif ([System.IO.File]::Exists($path)) {
    $result.exists = $true
    if ($action -eq 'read') {
        # A byte order mark decides the encoding (a record saved again by an editor).
        $result.text = [System.IO.File]::ReadAllText($path, [System.Text.Encoding]::UTF8)
    } else {
        [System.IO.File]::Delete($path)
        $result.removed = $true
    }
}
Complete-SageFleet -Result $result
