# sagefleet:host_info/1
# Identity of the host: name, operating system, PowerShell version and language mode, clock.
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$result = [ordered]@{
    hostname           = [System.Net.Dns]::GetHostName()
    os_caption         = [string]$os.Caption
    os_version         = [string]$os.Version
    os_build           = [int]$os.BuildNumber
    powershell_version = $PSVersionTable.PSVersion.ToString()
    language_mode      = [string]$ExecutionContext.SessionState.LanguageMode
    utc_now            = [DateTime]::UtcNow.ToString('o')
}
Complete-SageFleet -Result $result
