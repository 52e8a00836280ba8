# sagefleet:stage_push/4
# Receive the package on stdin and put it in place only once its SHA-256 is verified.
# $P: root (the staging folder), path (the staged file), part (its .part file), offset, size,
#   sha256, encoding,
#   segments (optional): [{start, end}, ...] in order, the pieces of the package that other
#   commands pushed at the same time into '<part>.<start>' files; appended to the .part
#   after this command's own stdin, each deleted once appended (the volume holds at most
#   one piece twice), before the size and SHA-256 checks.
#   piece (optional, true): this command pushes one such piece: part is its file, size the
#   bytes that file must hold at the end, nothing is verified or renamed.
# stdin, by encoding (read only when bytes are expected: offset below the first piece or the
# size):
# - 'binary' (the default): the raw bytes of the package from the offset, to the end of
#   stdin. Read through [Console]::OpenStandardInput(), a raw Stream: each Read returns
#   what has arrived. Never [Console]::In, a StreamReader that decodes and reads ahead,
#   and never $input (a script that names it has the PowerShell host read stdin itself).
#   The stdin bootstrap read exactly this script's bytes from the same raw stream before.
# - 'base64': base64 lines, until the end (null).
# Each block or line is appended to the .part at once and flushed, so a transfer cut
# halfway leaves a prefix of the package on disk and the next run resumes at
# offset = the size of the .part.
# A failed write or check removes the .part (a disk-full volume gets its space back); the
# final file only ever appears complete and verified, renamed in one step. A piece that is
# not there whole when its turn to be appended comes fails the command and keeps every
# file: the bastion resumes from them.

function Remove-SfPieces {
    # Every '<part>.<digits>' file: pieces of this package pushed by other commands.
    $folder = [System.IO.Path]::GetDirectoryName($part)
    $name = [System.IO.Path]::GetFileName($part)
    if (-not [System.IO.Directory]::Exists($folder)) { return }
    foreach ($file in [System.IO.Directory]::GetFiles($folder, $name + '.*')) {
        # On Windows '<name>.*' also matches '<name>' itself.
        $leaf = [System.IO.Path]::GetFileName($file)
        if ($leaf.Length -gt $name.Length + 1 -and $leaf.Substring($name.Length + 1) -match '^[0-9]{1,18}$') {
            [System.IO.File]::Delete($file)
        }
    }
}

function Remove-SfPart([string] $Reason) {
    if ([System.IO.File]::Exists($part)) { [System.IO.File]::Delete($part) }
    if (-not $piece) { Remove-SfPieces }
    throw "package not staged at '$target': $Reason (the partial file '$part' was removed)"
}

# The staging folder (parameter root) is private and checked on every run.
[void](Confirm-SfPrivateFolder ([string]$P.root))
$target = [System.IO.Path]::GetFullPath([string]$P.path)
$part = [System.IO.Path]::GetFullPath([string]$P.part)
$offset = [long]$P.offset
$size = [long]$P.size
$expected = ([string]$P.sha256).ToLowerInvariant()
$piece = ($null -ne $P.PSObject.Properties['piece']) -and [bool]$P.piece
$segments = @()
if ($null -ne $P.PSObject.Properties['segments'] -and $null -ne $P.segments) { $segments = @($P.segments) }
$encoding = 'binary'
if ($null -ne $P.PSObject.Properties['encoding'] -and $null -ne $P.encoding) { $encoding = [string]$P.encoding }
if ($encoding -cne 'binary' -and $encoding -cne 'base64') {
    throw "package not staged at '${target}': unknown stdin encoding '$encoding' (binary or base64)"
}
[void][System.IO.Directory]::CreateDirectory([System.IO.Path]::GetDirectoryName($part))

# FileShare.Read: a second transfer of the same file fails at once instead of interleaving.
$stream = New-Object -TypeName System.IO.FileStream -ArgumentList $part, ([System.IO.FileMode]::OpenOrCreate), ([System.IO.FileAccess]::Write), ([System.IO.FileShare]::Read)
if ($stream.Length -lt $offset) {
    $have = $stream.Length
    $stream.Dispose()
    throw "package not staged at '${target}': cannot resume '$part' at offset $offset, it holds $have bytes"
}
$received = [long]0
$failure = $null
$in = $null
# What stdin carries: the package from the offset up to the first piece (or the end). A
# command with nothing to receive never reads: started without stdin (a console no Send
# feeds), a read would wait until the command is killed.
$until = $size
if ($segments.Count -gt 0) { $until = [long]$segments[0].start }
try {
    # Bytes past the offset were not acknowledged by the bastion: drop them.
    $stream.SetLength($offset)
    [void]$stream.Seek(0, [System.IO.SeekOrigin]::End)
    if ($until -le $offset) {
        # Nothing to receive.
    } elseif ($encoding -eq 'binary') {
        $in = [Console]::OpenStandardInput()
        $buffer = New-Object -TypeName byte[] -ArgumentList 65536
        $n = $in.Read($buffer, 0, $buffer.Length)
        while ($n -gt 0) {
            $stream.Write($buffer, 0, $n)
            $stream.Flush()
            $received += $n
            $n = $in.Read($buffer, 0, $buffer.Length)
        }
    } else {
        while ($null -ne ($line = [Console]::In.ReadLine())) {
            $line = $line.Trim()
            if (-not $line) { continue }
            $bytes = [Convert]::FromBase64String($line)
            $stream.Write($bytes, 0, $bytes.Length)
            $stream.Flush()
            $received += $bytes.Length
        }
    }
} catch {
    $failure = $_.Exception.Message
} finally {
    if ($null -ne $in) { $in.Dispose() }
}
if ($null -ne $failure) {
    $stream.Dispose()
    Remove-SfPart "writing failed after $received bytes: $failure"
}
foreach ($segment in $segments) {
    $start = [long]$segment.start
    $length = [long]$segment.end - $start
    $file = $part + '.' + $start
    $have = [long]-1
    if ([System.IO.File]::Exists($file)) { $have = [long](New-Object -TypeName System.IO.FileInfo -ArgumentList $file).Length }
    if ($stream.Length -ne $start -or $have -ne $length) {
        $at = $stream.Length
        $stream.Dispose()
        throw "package not staged at '${target}': cannot append the piece '$file' ($have bytes, expected $length) to '$part' at $at bytes, expected $start; every file is kept for the next attempt"
    }
    try {
        $source = [System.IO.File]::OpenRead($file)
        try { $source.CopyTo($stream); $stream.Flush() } finally { $source.Dispose() }
    } catch {
        $failure = $_.Exception.Message
        $stream.Dispose()
        Remove-SfPart "appending the piece '$file' failed: $failure"
    }
    [System.IO.File]::Delete($file)
}
$stream.Dispose()

$length = [long](New-Object -TypeName System.IO.FileInfo -ArgumentList $part).Length
if ($length -ne $size) { Remove-SfPart "received $length bytes in all, expected $size" }
if ($piece) {
    Complete-SageFleet -Result ([ordered]@{
        path           = $part
        size           = $length
        offset         = $offset
        received_bytes = $received
    })
}
$actual = Get-SfFileSha256 $part
if ($actual -ne $expected) { Remove-SfPart "the content does not match the expected SHA-256 ($actual, expected $expected)" }
Move-SfPart $part $target
Remove-SfPieces
Complete-SageFleet -Result ([ordered]@{
    path           = $target
    sha256         = $actual
    size           = $length
    offset         = $offset
    received_bytes = $received
})
