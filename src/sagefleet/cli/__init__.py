"""The ``sagefleet`` command line, one module per command group (docs/operations.md)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from sagefleet import __version__
from sagefleet.cli import agent, demo, doctor, ops, package, settings, sim, validate
from sagefleet.cli.common import (
    DOCTOR_EXIT_CODES,
    EXIT_BLOCKED,
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    exit_codes_epilog,
    missing_command,
)
from sagefleet.errors import SagefleetError

__all__ = [
    "DOCTOR_EXIT_CODES",
    "EXIT_BLOCKED",
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "build_parser",
    "exit_codes_epilog",
    "main",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sagefleet",
        description="Fleet automation for the Spendesk agent on Sage 100 Windows servers.",
    )
    parser.add_argument("--version", action="version", version=f"sagefleet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.set_defaults(func=missing_command(parser, sub))
    for group in (sim, demo, doctor, settings, validate, agent, ops, package):
        group.add_subparser(sub)  # ops extends doctor's `checks` with --facts
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "demo" and args.playbook is None:
        args.playbook = ["playbooks/site.yml", "playbooks/preflight.yml", "playbooks/deploy.yml"]
    if getattr(args, "command", None) == "doctor" and args.format is None:
        args.format = ["console", "json", "junit", "html"]
    try:
        code = int(args.func(args))
    except SagefleetError as exc:
        print(f"sagefleet: error: {exc}", file=sys.stderr)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        return _stdout_closed()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return _stdout_closed()
    return code


def _stdout_closed() -> int:
    """Standard output's reader is gone (`sagefleet checks list | head -1`): stop quietly, as
    a program SIGPIPE ends, the exit code a shell gives it; what is left for stdout goes to
    /dev/null, so that Python's own flush at exit does not fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
