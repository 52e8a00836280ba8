"""The rules, each a walk over one script's tree, and ``lint_text`` that runs them all
(docs/powershell.md, "Rules")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from tree_sitter import Node

from sagefleet.pslint.tables import (
    _BARE_PRINCIPAL,
    _FIPS_CREATE,
    _FIPS_MANAGED,
    _PREFIXED_PRINCIPAL,
    _STRING_TYPES,
    _WRAPPERS,
    ERRORACTION_ACCEPTED,
    EXEMPT_IN_TRY,
    PS7_COMMANDS,
    PS7_ENCODINGS,
    PS7_PARAMETERS,
    WELL_KNOWN_SIDS,
    Finding,
)
from sagefleet.pslint.tree import (
    _PARSER,
    _elements,
    _find_parameter,
    _is_parameter,
    _parameters,
    _point,
    _Splats,
    _text,
    _unquote,
    _walk,
    _word,
    command_name,
)

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
        if member == "authenticateasclient" and len(arguments) < 3:
            ctx.add(
                node,
                "tls-default",
                "AuthenticateAsClient(host) offers .NET Framework's default protocols, TLS 1.0 "
                "only in powershell.exe unless SchUseStrongCrypto is set: name them, "
                "AuthenticateAsClient($name, $null, [Security.Authentication.SslProtocols]::Tls12, "
                "$false)",
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
