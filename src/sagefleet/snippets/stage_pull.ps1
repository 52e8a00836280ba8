# sagefleet:stage_pull/2
# The host downloads the package itself (from an HTTP server on the bastion or an internal
# repository) into the .part file, then verifies its SHA-256 and renames it into place in
# one step. Used when the host reaches the repository faster than WinRM carries stdin.
# $P: root (the staging folder), url, path (the staged file), part (its .part file), sha256, use_default_credentials.
# Any failure removes the .part: a download is not resumed, it starts again.

function Remove-SfPart([string] $Reason) {
    if ([System.IO.File]::Exists($part)) { [System.IO.File]::Delete($part) }
    throw "package not staged at '$target' from '$url': $Reason (the partial file '$part' was removed)"
}

# The staging folder (parameter root) is private and checked on every run.
[void](Confirm-SfPrivateFolder ([string]$P.root))
$url = [string]$P.url
$target = [System.IO.Path]::GetFullPath([string]$P.path)
$part = [System.IO.Path]::GetFullPath([string]$P.part)
$expected = ([string]$P.sha256).ToLowerInvariant()
[void][System.IO.Directory]::CreateDirectory([System.IO.Path]::GetDirectoryName($part))

# Windows PowerShell 5.1 on .NET 4.x may not offer TLS 1.2 by default to an HTTPS repository.
[System.Net.ServicePointManager]::SecurityProtocol = [System.Net.ServicePointManager]::SecurityProtocol -bor [System.Net.SecurityProtocolType]::Tls12
$client = New-Object -TypeName System.Net.WebClient
$client.UseDefaultCredentials = [bool]$P.use_default_credentials
$failure = $null
try {
    $client.DownloadFile($url, $part)
} catch {
    $x = $_.Exception.GetBaseException()
    $failure = $x.Message
    # A network logon (WinRM) has no credentials to hand on: the server sees nobody.
    if ($P.use_default_credentials -and $x -is [System.Net.WebException] -and $null -ne $x.Response -and [int]$x.Response.StatusCode -eq 401) {
        $failure += ' The WinRM session holds no credentials it can pass on to another server (the second hop): let the repository serve the package without Windows authentication, or push it (stage_push).'
    }
} finally {
    $client.Dispose()
}
if ($null -ne $failure) { Remove-SfPart "download failed: $failure" }

$length = [long](New-Object -TypeName System.IO.FileInfo -ArgumentList $part).Length
$actual = Get-SfFileSha256 $part
if ($actual -ne $expected) { Remove-SfPart "the content does not match the expected SHA-256 ($actual, expected $expected)" }
Move-SfPart $part $target
Complete-SageFleet -Result ([ordered]@{
    path   = $target
    sha256 = $actual
    size   = $length
    url    = $url
})
