"""The rules' tables: what PowerShell 5.1 lacks, the aliases, the well-known SIDs, and the
finding record (docs/powershell.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass

RULES: dict[str, str] = {
    "ps7-syntax": "PowerShell 6+/7 syntax that Windows PowerShell 5.1 does not parse",
    "parse-error": "text tree-sitter-powershell cannot parse",
    "ps7-command": "cmdlet, parameter or encoding that only PowerShell 6+/7 has",
    "fips-hash": "hash class that throws under the FIPS policy on .NET Framework",
    "expand-archive": "archive extraction that ignores the entries you validated",
    "start-process-wait": "Start-Process -Wait (waits for the whole process tree)",
    "unbounded-wait": "a wait without a timeout",
    "service-cmdlet": "service cmdlet that waits without bound on a pending service",
    "principal-name": "built-in principal written by name (localised on Windows)",
    "try-erroraction": "cmdlet inside try without -ErrorAction Stop",
    "command-line-length": "rendered command line over cmd.exe's 8191 characters",
    "tls-default": "SslStream.AuthenticateAsClient taking .NET's default protocols (TLS 1.0)",
}


COMMON_PARAMETERS = (
    "debug", "erroraction", "errorvariable", "informationaction", "informationvariable",
    "outbuffer", "outvariable", "pipelinevariable", "verbose", "warningaction",
    "warningvariable", "whatif", "confirm",
)  # fmt: skip

# Windows PowerShell 5.1's built-in aliases of the cmdlets the rules name.
ALIASES: dict[str, str] = {
    "%": "foreach-object", "foreach": "foreach-object", "?": "where-object",
    "where": "where-object", "select": "select-object", "sort": "sort-object",
    "echo": "write-output", "write": "write-output", "gci": "get-childitem",
    "dir": "get-childitem", "ls": "get-childitem", "gi": "get-item", "gp": "get-itemproperty",
    "ri": "remove-item", "rm": "remove-item", "rmdir": "remove-item", "del": "remove-item",
    "erase": "remove-item", "rd": "remove-item", "cp": "copy-item", "copy": "copy-item",
    "cpi": "copy-item", "mv": "move-item", "move": "move-item", "mi": "move-item",
    "ni": "new-item", "gc": "get-content", "cat": "get-content", "type": "get-content",
    "sc": "set-content", "ac": "add-content", "sp": "set-itemproperty",
    "gsv": "get-service", "sasv": "start-service", "spsv": "stop-service",
    "start": "start-process", "saps": "start-process", "kill": "stop-process",
    "spps": "stop-process", "gps": "get-process", "ps": "get-process",
    "gwmi": "get-wmiobject", "gcim": "get-ciminstance", "iwr": "invoke-webrequest",
    "curl": "invoke-webrequest", "wget": "invoke-webrequest", "irm": "invoke-restmethod",
    "sleep": "start-sleep", "iex": "invoke-expression", "icm": "invoke-command",
    "measure": "measure-object", "group": "group-object", "sls": "select-string",
}  # fmt: skip

# Commands Windows PowerShell 5.1 does not have, with the version that added them.
PS7_COMMANDS: dict[str, str] = {
    "get-error": "7.0", "test-json": "6.1", "join-string": "6.2", "remove-alias": "6.0",
    "remove-service": "6.0", "get-uptime": "6.0", "convertfrom-markdown": "6.1",
    "show-markdown": "6.1", "get-markdownoption": "6.1", "set-markdownoption": "6.1",
    "get-experimentalfeature": "6.2", "enable-experimentalfeature": "6.2",
    "disable-experimentalfeature": "6.2", "get-securerandom": "7.4",
    "convertto-clixml": "7.5", "convertfrom-clixml": "7.5", "start-threadjob": "6.1",
}  # fmt: skip

_WEB = (
    "skipcertificatecheck", "sslprotocol", "authentication", "token", "skipheadervalidation",
    "form", "noproxy", "maximumretrycount", "retryintervalsec", "resume",
    "allowunencryptedauthentication", "skiphttperrorcheck", "preserveauthorizationonredirect",
    "connectiontimeoutseconds", "operationtimeoutseconds", "httpversion", "custommethod",
    "allowinsecureredirect", "statuscodevariable", "responseheadersvariable", "followrellink",
    "maximumfollowrellink", "preservehttpmethodonredirect", "unixsocket",
)  # fmt: skip
_BYTES = ("asbytestream",)

# Parameters Windows PowerShell 5.1's cmdlet lacks (PowerShell 6.0+).
PS7_PARAMETERS: dict[str, tuple[str, ...]] = {
    "convertfrom-json": ("ashashtable", "depth", "noenumerate", "datekind"),
    "convertto-json": ("asarray", "escapehandling", "enumsasstrings"),
    "get-content": _BYTES, "set-content": _BYTES, "add-content": _BYTES,
    "split-path": ("leafbase", "extension"),
    "sort-object": ("top", "bottom", "stable"),
    "select-string": ("raw", "noemphasis", "culture"),
    "get-childitem": ("followsymlink",),
    "foreach-object": ("parallel", "throttlelimit", "timeoutseconds", "asjob"),
    "get-date": ("asutc", "unixtimeseconds"),
    "test-connection": ("targetname", "ping", "traceroute", "mtusize", "tcpport", "repeat"),
    "invoke-webrequest": _WEB, "invoke-restmethod": _WEB,
    "start-process": ("environment",),
    "import-module": ("usewindowspowershell", "skipeditioncheck"),
    "set-service": ("securitydescriptorsddl",),
    "measure-object": ("allstats", "standarddeviation"),
}  # fmt: skip
PS7_ENCODINGS = {"utf8nobom", "utf8bom", "ansi"}

# Cmdlets that cannot leave a non-terminating error behind in a try block (docs/powershell.md).
EXEMPT_IN_TRY = {
    "write-output", "write-host", "write-verbose", "write-debug", "write-warning",
    "write-information", "write-progress", "out-null", "out-string", "out-host",
    "out-default", "select-object", "where-object", "foreach-object", "sort-object",
    "new-object", "convertto-json", "convertfrom-json", "test-path", "get-date",
    "start-sleep", "set-strictmode", "new-timespan", "get-random", "new-guid",
}  # fmt: skip
ERRORACTION_ACCEPTED = {"stop", "silentlycontinue", "ignore"}

# Well-known SIDs of the built-in principals scripts tend to name.
WELL_KNOWN_SIDS: dict[str, str] = {
    "administrators": "S-1-5-32-544", "users": "S-1-5-32-545", "guests": "S-1-5-32-546",
    "power users": "S-1-5-32-547", "backup operators": "S-1-5-32-551",
    "remote desktop users": "S-1-5-32-555", "system": "S-1-5-18", "localsystem": "S-1-5-18",
    "local service": "S-1-5-19", "localservice": "S-1-5-19", "network service": "S-1-5-20",
    "networkservice": "S-1-5-20", "everyone": "S-1-1-0", "authenticated users": "S-1-5-11",
    "interactive": "S-1-5-4", "network": "S-1-5-2", "creator owner": "S-1-3-0",
}  # fmt: skip
_PREFIXED_PRINCIPAL = re.compile(r"(?i)\b(BUILTIN|NT AUTHORITY)\\([A-Za-z][A-Za-z ]*[A-Za-z])?")
# A whole string (or an icacls-style "name:(perm)" argument) that is one of these names.
_BARE_PRINCIPAL = re.compile(
    r"(?i)^\s*(everyone|authenticated users|administrators|localsystem|"
    r"local service|network service|creator owner|remote desktop users)\s*(:.*)?$"
)

_FIPS_MANAGED = {
    "sha1managed", "sha256managed", "sha384managed", "sha512managed", "ripemd160managed",
    "md5cryptoserviceprovider",
}  # fmt: skip
_FIPS_CREATE = {"sha1", "sha256", "sha384", "sha512", "md5", "ripemd160", "hashalgorithm"}

_STRING_TYPES = {"string_literal", "generic_token"}
_WRAPPERS = {
    "unary_expression", "array_literal_expression", "range_expression", "format_expression",
    "multiplicative_expression", "additive_expression", "string_literal",
}  # fmt: skip


@dataclass(frozen=True, order=True)
class Finding:
    """One refusal: where (1-based line and column), which rule, what to use instead."""

    path: str
    line: int
    col: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.rule}: {self.message}"
