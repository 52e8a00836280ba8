"""PowerShell 5.1 lint: what a real Windows server refuses, found in the parse tree.

It reads every snippet, the offline collector and each snippet's command line
(``python -m sagefleet.pslint``; ``make lint``). The rules, what each refuses and why:
docs/powershell.md. Modules: ``tables`` (what 5.1 lacks), ``tree`` (parse-tree helpers),
``rules`` (the rules and ``lint_text``), ``shipped`` (what is read, and the command).
"""

from __future__ import annotations

from sagefleet.pslint.rules import lint_text
from sagefleet.pslint.shipped import (
    encoded_script,
    lint_command_line,
    lint_invocations,
    lint_shipped,
    main,
    template_position,
)
from sagefleet.pslint.tables import RULES, Finding
from sagefleet.remote.command import CMD_LINE_LIMIT

__all__ = [
    "CMD_LINE_LIMIT",
    "RULES",
    "Finding",
    "encoded_script",
    "lint_command_line",
    "lint_invocations",
    "lint_shipped",
    "lint_text",
    "main",
    "template_position",
]
