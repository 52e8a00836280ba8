"""PowerShell 5.1 lint: what a real Windows server refuses, found in the parse tree.

Every snippet (``snippets/*.ps1``, the prelude included), every PowerShell template the
CLI writes (the offline facts collector, rendered), the bootstrap a snippet's command
line carries when its script travels on stdin, and each snippet's rendered command line
are checked; ``make lint`` runs ``python -m sagefleet.pslint`` and fails on any finding.
The rules work on the tree that tree-sitter-powershell builds (commands, parameters, type
literals, member invocations, try statements, strings), so a word in a comment never
triggers a rule and a word inside a string only triggers the principal rule, which is
about strings. docs/powershell.md says what each rule refuses and why.

Rules (``RULES`` holds the one-line summaries):

``ps7-syntax``
    PowerShell 6+/7 syntax: pipeline chains ``&&``/``||``, ternary ``a ? b : c``,
    ``??``/``??=``, ``?.``/``?[]``, ``clean {}``, background ``&``, ``ForEach-Object
    -Parallel``, the ```u{...}`` and ```e`` escapes. Windows PowerShell 5.1 does not parse
    the operators (the whole script fails before its first line runs).
``parse-error``
    Any other text tree-sitter-powershell cannot parse: a construct the 5.1 grammar
    lacks is a finding by itself (rewrite it in a form the grammar reads).
``ps7-command``
    Cmdlets, parameters and ``-Encoding`` values that only PowerShell 6+/7 has (Microsoft
    Learn, "Module and cmdlet version history" and each cmdlet's reference page).
``fips-hash``
    ``Get-FileHash``, ``[SHA256]::Create()``, ``SHA256Managed`` and friends: under the
    FIPS policy .NET Framework's managed hash classes throw; use
    ``SHA256CryptoServiceProvider``.
``expand-archive``
    ``Expand-Archive`` and ``ExtractToDirectory``: they extract every entry, not the
    entries you validated; open the zip with System.IO.Compression and extract validated
    entries one by one.
``start-process-wait``
    ``Start-Process -Wait`` (also through a splatted hashtable) waits for the whole process
    tree; use ``-PassThru`` and ``WaitForExit(milliseconds)``.
``unbounded-wait``
    ``WaitForExit()`` and ``WaitForStatus(state)`` without a timeout, ``Wait-Process``
    without ``-Timeout``: a hung installer or service hangs the run.
``service-cmdlet``
    ``Stop-/Start-/Restart-Service`` and ``Set-Service -Status`` wait without bound while a
    service stays pending; use ``ServiceController.WaitForStatus(state, timeout)``.
``principal-name``
    Built-in principals by name (``BUILTIN\\...``, ``NT AUTHORITY\\...``, ``Everyone``,
    ``Authenticated Users``, ``Administrators``...) in a string or a bare argument: they
    are named in the UI language; use the well-known SID. A name a script only reads
    passes: compared with (``Win32_Service.StartName`` holds the Service Control Manager's
    unlocalised ``LocalSystem``...), or a hashtable key (a map of names to SIDs).
``try-erroraction``
    A cmdlet inside a ``try`` block (one with a ``catch``) without ``-ErrorAction Stop``.
``command-line-length``
    A snippet's rendered command line longer than cmd.exe's 8191 characters.

The prelude sets ``$ErrorActionPreference = 'Stop'``; ``try-erroraction`` still asks for
``-ErrorAction Stop`` on each cmdlet inside a ``try``, for three reasons. On Windows
PowerShell 5.1 the preference variable does not reach functions defined in script modules:
they read their own module's session state, so a CDXML or script-module cmdlet
(``Get-NetAdapter``, ``Get-ScheduledTask``, ``Expand-Archive``...) keeps ``Continue`` and its
non-terminating errors skip the ``catch`` (PowerShell/PowerShell#4568); the ``-ErrorAction``
common parameter reaches them. A snippet body is also linted on its own, and a function or
script block may set the preference back for its scope: the explicit parameter holds
wherever the call is moved. An explicit ``-ErrorAction SilentlyContinue`` or ``Ignore`` is
a stated decision (the error is meant to be dropped, not caught) and passes; ``Continue``,
``Inquire`` or a value the lint cannot read does not. Exempt are script functions defined
in the linted file or the prelude, native programs, and cmdlets that cannot write a
non-terminating error in the way they are called (``EXEMPT_IN_TRY``): ``Write-Output``,
``Out-Null``, ``Where-Object``, ``ForEach-Object`` (the commands inside its script block are
checked themselves), ``Sort-Object``, ``New-Object``, ``ConvertTo-Json``, ``ConvertFrom-Json``
(their errors are terminating), ``Test-Path`` (answers false), ``Select-Object`` unless
``-ExpandProperty`` (a missing property is a non-terminating error). ``Join-Path`` is not
exempt: on 5.1 it resolves the drive and a missing one is a non-terminating error.
"""

from __future__ import annotations

import argparse
import base64
import difflib
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from sagefleet.remote.command import CMD_LINE_LIMIT

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
}

_PARSER = Parser(Language(tree_sitter_powershell.language()))

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

# Cmdlets that cannot leave a non-terminating error behind in a try block (see above).
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


# -- tree helpers ---------------------------------------------------------------------


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="replace")


def _walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def _unquote(text: str) -> str:
    text = text.strip()
    if text.startswith("@") and len(text) >= 5 and text[1] in "'\"":
        return text[3:-3]  # here-string: @'<newline> ... <newline>'@
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _word(node: Node | None) -> str:
    """A parameter value as one lower-case word: 'Stop', Stop, ([ActionPreference]::Stop)."""
    if node is None:
        return ""
    text = _unquote(_text(node).strip().strip("()").strip())
    if "::" in text:
        text = text.rsplit("::", 1)[1]
    return text.lower()


def command_name(command: Node) -> str | None:
    """The lower-case cmdlet name a command calls (aliases and module qualifiers resolved),
    None when the name is computed at run time (``& $exe``)."""
    for child in command.children:
        if child.type == "command_name":
            name = _text(child)
            break
        if child.type == "command_name_expr":
            literals = [c for c in child.children if c.type == "string_literal"]
            if len(literals) != 1:
                return None
            name = _unquote(_text(literals[0]))
            break
    else:
        return None
    name = name.rsplit("\\", 1)[-1].lower()
    return ALIASES.get(name, name)


def _elements(command: Node) -> list[Node]:
    for child in command.children:
        if child.type == "command_elements":
            return [c for c in child.children if c.type != "command_argument_sep"]
    return []


def _parameter_name(parameter: Node) -> str:
    return _text(parameter).split(":", 1)[0].lstrip("-").strip().lower()


def _is_parameter(written: str, full: str, aliases: Sequence[str] = ()) -> bool:
    """PowerShell binds a unique prefix of a parameter name: ``-Wai`` is ``-Wait``."""
    if written == full or written in aliases:
        return True
    if len(written) < 3 or not full.startswith(written):
        return False
    return not any(common.startswith(written) for common in COMMON_PARAMETERS if common != full)


@dataclass
class _Parameter:
    node: Node
    value: Node | None
    has_value: bool


def _parameters(command: Node) -> dict[str, list[_Parameter]]:
    """The command's ``-Name [value]`` pairs, keyed by lower-case written name.

    The grammar puts the ``:`` of ``-Name:value`` either inside the parameter node (with
    the value) or in the separator that follows it (the value then comes next)."""
    found: dict[str, list[_Parameter]] = {}
    raw: list[Node] = []
    for child in command.children:
        if child.type == "command_elements":
            raw = list(child.children)
    for index, element in enumerate(raw):
        if element.type != "command_parameter":
            continue
        inline = [c for c in element.children if c.type != ":"]
        has_colon = any(c.type == ":" for c in element.children)
        rest = raw[index + 1 :]
        if rest and rest[0].type == "command_argument_sep" and ":" in _text(rest[0]):
            has_colon = True
        following = [c for c in rest if c.type != "command_argument_sep"]
        value: Node | None = None
        if inline:
            value = inline[-1]
        elif following and following[0].type != "command_parameter":
            value = following[0]
        found.setdefault(_parameter_name(element), []).append(
            _Parameter(element, value, has_colon or bool(inline))
        )
    return found


def _find_parameter(command: Node, full: str, aliases: Sequence[str] = ()) -> list[_Parameter]:
    return [
        p
        for written, params in _parameters(command).items()
        if _is_parameter(written, full, aliases)
        for p in params
    ]


def _splats(command: Node) -> list[str]:
    return [
        _text(n)[1:].lower()
        for e in _elements(command)
        if _text(e).startswith("@")
        for n in _walk(e)
        if n.type == "variable" and _text(n).startswith("@")
    ]


class _Splats:
    """Hashtables assigned to variables in a script: ``$h = @{ Key = value }``,
    ``$h.Key = value``, ``$h['Key'] = value``, keyed by variable and key (lower case)."""

    def __init__(self, root: Node) -> None:
        self.tables: dict[str, dict[str, Node]] = {}
        for node in _walk(root):
            if node.type != "assignment_expression" or len(node.children) < 3:
                continue
            target, value = node.children[0], node.children[-1]
            variables = [n for n in _walk(target) if n.type == "variable"]
            if not variables:
                continue
            name = _text(variables[0]).lstrip("$").lower()
            access = next(
                (n for n in _walk(target) if n.type in ("member_access", "element_access")), None
            )
            if access is None:
                tables = [n for n in _walk(value) if n.type == "hash_literal_expression"]
                if tables and _text(value).lstrip().startswith("@{"):
                    self.tables[name] = self._entries(tables[0])
                continue
            keys = [
                n
                for n in access.children
                if n.type == "member_name" or (n.is_named and n.type != "variable")
            ]
            if keys and name in self.tables:
                self.tables[name][_unquote(_text(keys[-1])).lower()] = value

    @staticmethod
    def _entries(table: Node) -> dict[str, Node]:
        entries: dict[str, Node] = {}
        for entry in _walk(table):
            if entry.type != "hash_entry" or len(entry.children) < 3:
                continue
            key = _unquote(_text(entry.children[0])).lower()
            entries[key] = entry.children[2]
        return entries

    def lookup(self, command: Node, full: str, aliases: Sequence[str] = ()) -> list[Node] | None:
        """Values given to parameter ``full`` through splats; None if a splat is unknown."""
        values: list[Node] = []
        for splat in _splats(command):
            table = self.tables.get(splat)
            if table is None:
                return None
            values.extend(v for k, v in table.items() if _is_parameter(k, full, aliases))
        return values


def _point(source: bytes, node: Node) -> tuple[int, int]:
    """1-based line and character column of a node's first non-blank character."""
    start = node.start_byte
    while start < node.end_byte and source[start : start + 1] in (b" ", b"\t", b"\r", b"\n"):
        start += 1
    line_start = source.rfind(b"\n", 0, start) + 1
    line = source.count(b"\n", 0, start) + 1
    col = len(source[line_start:start].decode("utf-8", errors="replace")) + 1
    return line, col


# -- the rules ---------------------------------------------------------------------------


@dataclass
class _Context:
    path: str
    source: bytes
    root: Node
    functions: set[str]
    splats: _Splats
    findings: list[Finding] = field(default_factory=list)

    def add(self, node: Node, rule: str, message: str) -> None:
        line, col = _point(self.source, node)
        self.findings.append(Finding(self.path, line, col, rule, message))


def _leaves(node: Node) -> Iterator[Node]:
    """Tokens of a subtree, without the inside of strings and comments."""
    for child in node.children:
        if child.type in ("string_literal", "comment"):
            continue
        if child.child_count == 0:
            yield child
        else:
            yield from _leaves(child)


def _classify_error(ctx: _Context, error: Node) -> None:
    tokens = [_text(t).strip() for t in _leaves(error)]
    following = ctx.source[error.end_byte :].lstrip(b" \t")[:1]
    if any("??" in t for t in tokens):
        ctx.add(
            error,
            "ps7-syntax",
            "null-coalescing ?? / ??= is PowerShell 7.0: write if ($null -eq $x) { ... }",
        )
    elif tokens and tokens[-1].endswith("?") and following in (b".", b"["):
        ctx.add(
            error,
            "ps7-syntax",
            "null-conditional ?. / ?[] is PowerShell 7.1: test $null -ne $x first",
        )
    elif "?" in tokens and ":" in tokens:
        ctx.add(
            error,
            "ps7-syntax",
            "ternary a ? b : c is PowerShell 7.0: write $(if (a) { b } else { c })",
        )
    elif "clean" in (t.lower() for t in tokens) and "{" in tokens:
        ctx.add(
            error,
            "ps7-syntax",
            "clean {} block is PowerShell 7.3: use end {} with try/finally",
        )
    elif any(c.type == "&" for c in error.children):
        ctx.add(
            error,
            "ps7-syntax",
            "background operator & is PowerShell 6.0: use Start-Job or a process with a timeout",
        )
    else:
        ctx.add(
            error,
            "parse-error",
            "tree-sitter-powershell cannot parse this (PowerShell 6+/7 syntax or a form the "
            "grammar lacks): rewrite it in plain Windows PowerShell 5.1 syntax",
        )


def _syntax(ctx: _Context) -> None:
    stack = [ctx.root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR":
            _classify_error(ctx, node)
            continue  # one finding per outermost error
        if node.is_missing:
            ctx.add(node, "parse-error", f"missing {node.type}: the script is incomplete")
        if node.type == "pipeline_chain_tail":
            operator = _text(node).strip()
            ctx.add(
                node,
                "ps7-syntax",
                f"pipeline chain {operator} is PowerShell 7.0: test $? or $LASTEXITCODE "
                "in an if statement",
            )
        if node.type in ("expandable_string_literal", "expandable_here_string_literal"):
            text = _text(node)
            if "`u{" in text or re.search(r"(?<!`)`e", text):
                ctx.add(
                    node,
                    "ps7-syntax",
                    "the `u{...} and `e escapes are PowerShell 6.0 (5.1 reads them as plain "
                    "text): use [char]0x.. or [char]27",
                )
        stack.extend(reversed(node.children))


def _commands(ctx: _Context) -> None:
    for node in _walk(ctx.root):
        if node.type != "command":
            continue
        name = command_name(node)
        if name is None:
            continue
        _ps7_command(ctx, node, name)
        if name == "get-filehash":
            ctx.add(
                node,
                "fips-hash",
                "Get-FileHash uses SHA256Managed on 5.1, which throws under the FIPS policy: "
                "hash with New-Object System.Security.Cryptography.SHA256CryptoServiceProvider",
            )
        if name == "new-object":
            _new_object(ctx, node)
        if name == "expand-archive":
            ctx.add(
                node,
                "expand-archive",
                "Expand-Archive extracts every entry (and is a script-module cmdlet): open the "
                "zip with [System.IO.Compression.ZipFile]::OpenRead and extract each validated "
                "entry with [System.IO.Compression.ZipFileExtensions]::ExtractToFile",
            )
        if name == "start-process":
            _start_process(ctx, node)
        if name in ("stop-service", "start-service", "restart-service"):
            ctx.add(
                node,
                "service-cmdlet",
                f"{_text(node.children[0]).strip()} waits without bound while the service stays "
                "pending: use [System.ServiceProcess.ServiceController] with "
                "WaitForStatus(status, timeout) and kill Win32_Service.ProcessId on timeout",
            )
        if name == "set-service" and _find_parameter(node, "status"):
            ctx.add(
                node,
                "service-cmdlet",
                "Set-Service -Status waits without bound while the service stays pending: use "
                "[System.ServiceProcess.ServiceController] with WaitForStatus(status, timeout)",
            )
        if name == "wait-process" and not _find_parameter(node, "timeout"):
            ctx.add(
                node,
                "unbounded-wait",
                "Wait-Process without -Timeout waits forever: pass -Timeout (and kill on timeout)",
            )


def _ps7_command(ctx: _Context, node: Node, name: str) -> None:
    if name in PS7_COMMANDS:
        ctx.add(
            node,
            "ps7-command",
            f"{_text(node.children[0]).strip()} is PowerShell {PS7_COMMANDS[name]}+, absent "
            "from Windows PowerShell 5.1: use .NET or 5.1 cmdlets",
        )
    for written, params in _parameters(node).items():
        for full in PS7_PARAMETERS.get(name, ()):
            if _is_parameter(written, full):
                rule = "ps7-syntax" if (name, full) == ("foreach-object", "parallel") else None
                ctx.add(
                    params[0].node,
                    rule or "ps7-command",
                    f"-{full} of {name} is PowerShell 6+/7 only: Windows PowerShell 5.1's "
                    f"{name} has no such parameter",
                )
        if _is_parameter(written, "encoding"):
            for param in params:
                if _word(param.value) in PS7_ENCODINGS:
                    ctx.add(
                        param.node,
                        "ps7-command",
                        f"-Encoding {_word(param.value)} is PowerShell 6+/7 only: write bytes "
                        "with [System.IO.File] and New-Object System.Text.UTF8Encoding $false",
                    )


def _type_name(type_literal: Node) -> str:
    return ".".join(_text(n) for n in _walk(type_literal) if n.type == "type_identifier").lower()


def _new_object(ctx: _Context, node: Node) -> None:
    typed = _find_parameter(node, "typename")
    candidates = [p.value for p in typed if p.value is not None]
    if not typed:
        positional = [e for e in _elements(node) if e.type != "command_parameter"]
        candidates = positional[:1]
    for candidate in candidates:
        type_name = _unquote(_text(candidate)).rsplit(".", 1)[-1].lower()
        if type_name in _FIPS_MANAGED:
            ctx.add(
                candidate,
                "fips-hash",
                f"{type_name} throws under the FIPS policy: use "
                "System.Security.Cryptography.SHA256CryptoServiceProvider",
            )


def _start_process(ctx: _Context, node: Node) -> None:
    waits = [
        p for p in _find_parameter(node, "wait") if not (p.has_value and _word(p.value) == "$false")
    ]
    splatted = ctx.splats.lookup(node, "wait") or []
    if waits or any(_word(v) not in ("$false", "0") for v in splatted):
        ctx.add(
            node,
            "start-process-wait",
            "Start-Process -Wait waits for the whole process tree (PowerShell issue #15555): "
            "use -PassThru and $process.WaitForExit(milliseconds), kill on timeout",
        )


def _members(ctx: _Context) -> None:
    for node in _walk(ctx.root):
        if node.type == "type_literal":
            name = _type_name(node)
            last = name.rsplit(".", 1)[-1]
            if last in _FIPS_MANAGED:
                ctx.add(
                    node,
                    "fips-hash",
                    f"{_text(node)} throws under the FIPS policy: use "
                    "[System.Security.Cryptography.SHA256CryptoServiceProvider]",
                )
        if node.type != "invokation_expression":
            continue
        members = [c for c in node.children if c.type == "member_name"]
        if not members:
            continue
        member = _text(members[0]).lower()
        arguments = [
            a
            for lst in node.children
            if lst.type == "argument_list"
            for expr in lst.children
            if expr.type == "argument_expression_list"
            for a in expr.children
            if a.type != ","
        ]
        static = node.children[0].type == "type_literal"
        if static and member == "create":
            last = _type_name(node.children[0]).rsplit(".", 1)[-1]
            if last in _FIPS_CREATE:
                ctx.add(
                    node,
                    "fips-hash",
                    f"{_text(node.children[0])}::Create() gives a managed implementation on .NET "
                    "Framework, which throws under the FIPS policy: use New-Object "
                    "System.Security.Cryptography.SHA256CryptoServiceProvider",
                )
        if member == "extracttodirectory":
            ctx.add(
                node,
                "expand-archive",
                "ExtractToDirectory extracts every entry, not the ones you validated: extract "
                "each validated entry with "
                "[System.IO.Compression.ZipFileExtensions]::ExtractToFile",
            )
        if (member, len(arguments)) in (("waitforexit", 0), ("waitforstatus", 1)):
            ctx.add(
                node,
                "unbounded-wait",
                f"{_text(members[0])}() without a timeout waits forever: pass one "
                "(WaitForExit(milliseconds), WaitForStatus(status, [TimeSpan]))",
            )


def _comparison_operand(node: Node) -> bool:
    current = node
    while current.parent is not None and current.parent.type in _WRAPPERS:
        current = current.parent
    parent = current.parent
    # tree-sitter-powershell wraps every expression in a comparison_expression node: only
    # one with an operator (more than one child) is a comparison.
    return parent is not None and parent.type == "comparison_expression" and parent.child_count > 1


# A principal name a script compares with (Win32_Service.StartName is the Service Control
# Manager's unlocalised LocalSystem, NT AUTHORITY\LocalService...) or uses as a hashtable
# key (a map of the names an inventory may hold to their SIDs) is read, never translated:
# that is how a script avoids the localised names. Anywhere else it is refused.


def _scm_name_read(node: Node) -> bool:
    """Whether a string is compared with, or is the key of a hashtable entry."""
    if _comparison_operand(node):
        return True
    current = node.parent
    for _ in range(3):
        if current is None:
            return False
        if current.type == "key_expression":
            return True
        current = current.parent
    return False


def _principals(ctx: _Context) -> None:
    for node in _walk(ctx.root):
        if node.type not in _STRING_TYPES:
            continue
        value = _unquote(_text(node)) if node.type == "string_literal" else _text(node)
        names: list[str] = []
        for match in _PREFIXED_PRINCIPAL.finditer(value):
            names.append((match.group(2) or "").lower())
        bare = _BARE_PRINCIPAL.match(value)
        if bare:
            names.append(bare.group(1).lower())
        if names and _scm_name_read(node):
            continue  # read (compared, or mapped to its SID as a key), never translated
        for name in names:
            sid = WELL_KNOWN_SIDS.get(name)
            hint = f"the well-known SID {sid}" if sid else "its well-known SID (S-1-5-32-544, ...)"
            ctx.add(
                node,
                "principal-name",
                "built-in principals are named in the UI language (BUILTIN\\Administrateurs, "
                f"AUTORITE NT\\Système on a French server): use {hint} through "
                "[System.Security.Principal.SecurityIdentifier]",
            )
            break


def _try_blocks(ctx: _Context) -> None:
    for node in _walk(ctx.root):
        if node.type != "try_statement":
            continue
        if not any(c.type == "catch_clauses" for c in node.children):
            continue  # try/finally: no catch for an error to skip
        body = next((c for c in node.children if c.type == "statement_block"), None)
        if body is None:
            continue
        for command in _walk(body):
            if command.type == "command":
                _try_command(ctx, command)


def _try_command(ctx: _Context, command: Node) -> None:
    name = command_name(command)
    if name is None or not re.fullmatch(r"[a-z]+-[a-z0-9]+", name):
        return  # a native program, a script path, a computed name
    if name in ctx.functions:
        return
    if name in EXEMPT_IN_TRY and not (
        name == "select-object" and _find_parameter(command, "expandproperty")
    ):
        return
    given = [p.value for p in _find_parameter(command, "erroraction", ("ea",))]
    splatted = ctx.splats.lookup(command, "erroraction", ("ea",))
    values = given + (splatted or [])
    if values and all(_word(v) in ERRORACTION_ACCEPTED for v in values):
        return
    ctx.add(
        command,
        "try-erroraction",
        f"{_text(command.children[0]).strip()} inside try without -ErrorAction Stop: its "
        "non-terminating errors skip the catch; add -ErrorAction Stop",
    )


def _functions(root: Node) -> set[str]:
    return {
        _text(n).lower()
        for statement in _walk(root)
        if statement.type == "function_statement"
        for n in statement.children
        if n.type == "function_name"
    }


def lint_text(text: str, path: str = "<script>", *, functions: Iterable[str] = ()) -> list[Finding]:
    """Every finding in one PowerShell script (``functions``: names defined elsewhere,
    e.g. the prelude's, that the script may call)."""
    source = text.encode("utf-8")
    root = _PARSER.parse(source).root_node
    ctx = _Context(
        path=path,
        source=source,
        root=root,
        functions=_functions(root) | {f.lower() for f in functions},
        splats=_Splats(root),
    )
    _syntax(ctx)
    _commands(ctx)
    _members(ctx)
    _principals(ctx)
    _try_blocks(ctx)
    return sorted(set(ctx.findings))


# -- command lines -----------------------------------------------------------------------


def encoded_script(command: str) -> str | None:
    """The script a ``powershell -EncodedCommand`` command line carries."""
    match = re.search(r"(?i)-(?:EncodedCommand|enc|e)\s+([A-Za-z0-9+/=]+)\s*$", command)
    if match is None:
        return None
    return base64.b64decode(match.group(1)).decode("utf-16-le")


def lint_command_line(path: str, command: str) -> list[Finding]:
    """The command line a snippet run sends must fit cmd.exe's 8191 characters."""
    if len(command) <= CMD_LINE_LIMIT:
        return []
    return [
        Finding(
            path,
            1,
            1,
            "command-line-length",
            f"the rendered command line is {len(command)} characters; cmd.exe refuses more than "
            f'{CMD_LINE_LIMIT} ("The command line is too long."): send the script on stdin '
            "behind a short fixed bootstrap",
        )
    ]


# -- what sagefleet ships ----------------------------------------------------------------


def template_position(template: str, rendered: str) -> Callable[[int, int], tuple[int, int]]:
    """Map a (line, column) of a ``str.format`` rendering back to its template.

    Lines the rendering kept map one to one (columns shift by the doubled braces before
    them); lines a placeholder produced map to the placeholder's line.
    """
    raw = template.split("\n")
    plain = [line.replace("{{", "{").replace("}}", "}") for line in raw]
    out = rendered.replace("\r\n", "\n").split("\n")
    lines: dict[int, tuple[int, bool]] = {}
    matcher = difflib.SequenceMatcher(None, plain, out, autojunk=False)
    for tag, i1, _i2, j1, j2 in matcher.get_opcodes():
        for j in range(j1, j2):
            lines[j] = (i1 + (j - j1), True) if tag == "equal" else (min(i1, len(raw) - 1), False)

    def position(line: int, col: int) -> tuple[int, int]:
        index, same = lines.get(line - 1, (line - 1, False))
        if not same:
            return index + 1, 1
        text, i, r = raw[index], 0, 1
        while r < col and i < len(text):
            i += 2 if text[i : i + 2] in ("{{", "}}") else 1
            r += 1
        return index + 1, i + 1

    return position


def _snippet_sources() -> Iterator[tuple[str, str, set[str]]]:
    from sagefleet import snippets

    folder = resources.files(snippets)
    prelude_text = folder.joinpath("_prelude.ps1").read_text(encoding="utf-8")
    prelude_functions = _functions(_PARSER.parse(prelude_text.encode("utf-8")).root_node)
    yield "src/sagefleet/snippets/_prelude.ps1", prelude_text, set()
    for name in snippets.available():
        text = folder.joinpath(f"{name}.ps1").read_text(encoding="utf-8")
        yield f"src/sagefleet/snippets/{name}.ps1", text, prelude_functions


def _lint_collector() -> list[Finding]:
    from sagefleet import offline

    path = "src/sagefleet/templates/facts_collector.ps1"
    template = resources.files("sagefleet").joinpath("templates/facts_collector.ps1")
    raw = template.read_text(encoding="utf-8")
    rendered = offline.facts_script(offline.default_params(mae_files=["C:\\Sage\\X.MAE"]), host="h")
    _, _, body = raw.partition("\n")
    position = template_position(body, rendered)
    mapped = []
    for finding in lint_text(rendered, path):
        line, col = position(finding.line, finding.col)
        mapped.append(Finding(path, line + 1, col, finding.rule, finding.message))  # + line 1
    return mapped


def _lint_invocations() -> list[Finding]:
    from sagefleet import snippets
    from sagefleet.remote.command import snippet_invocation

    findings: list[Finding] = []
    bootstraps: set[str] = set()
    for name in snippets.available():
        path = f"src/sagefleet/snippets/{name}.ps1"
        command, _ = snippet_invocation(name, {})
        findings.extend(lint_command_line(path, command))
        script = encoded_script(command)
        if script is not None and script != snippets.render(name, {}) and script not in bootstraps:
            bootstraps.add(script)
            findings.extend(lint_text(script, "src/sagefleet/remote/command.py (stdin bootstrap)"))
    return findings


def lint_shipped() -> list[Finding]:
    """Every finding in what sagefleet ships: snippets, prelude, templates, command lines."""
    findings: list[Finding] = []
    for path, text, functions in _snippet_sources():
        findings.extend(lint_text(text, path, functions=functions))
    findings.extend(_lint_collector())
    findings.extend(_lint_invocations())
    return sorted(set(findings))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sagefleet.pslint",
        description="PowerShell 5.1 lint of sagefleet's snippets and templates "
        "(or of the given files). Exit 1 on any finding.",
    )
    parser.add_argument("files", nargs="*", type=Path, help="lint these .ps1 files instead")
    parser.add_argument("--rules", action="store_true", help="list the rules and exit")
    args = parser.parse_args(argv)
    if args.rules:
        for rule, summary in RULES.items():
            print(f"{rule:22} {summary}")
        return 0
    if args.files:
        findings = [
            f for path in args.files for f in lint_text(path.read_text(encoding="utf-8"), str(path))
        ]
    else:
        findings = lint_shipped()
    for finding in findings:
        print(finding)
    if findings:
        print(f"pslint: {len(findings)} finding(s)", file=sys.stderr)
        return 1
    what = f"{len(args.files)} file(s)" if args.files else "the shipped snippets and templates"
    print(f"pslint: no finding in {what}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
