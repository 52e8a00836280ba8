"""What the command groups of ``sagefleet`` share: exit codes, groups, inventory options."""

from __future__ import annotations

import argparse
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagefleet.errors import InputError, shown
from sagefleet.files import write_atomic
from sagefleet.inventory import add_vault_arguments
from sagefleet.variables.declarations import LANG
from sagefleet.variables.jobs import REPORT_FORMATS as FORMATS_VAR

if TYPE_CHECKING:
    from sagefleet.findings import FleetReport

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130
#: Standard output closed before the command wrote all of it (128 + SIGPIPE), by any command.
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143

DOCTOR_EXIT_CODES: dict[int, str] = {
    EXIT_OK: "every host diagnosed (reports written), whatever their findings",
    EXIT_BLOCKED: "--fail-on-blocked, and a host is blocked (every host diagnosed)",
    EXIT_USAGE: "usage or input error (options, inventory, vault): no host was contacted",
    EXIT_UNREACHABLE: "a host could not be reached, so it was not diagnosed (reports written, "
    "the host marked unreachable); wins over 1, as ansible-playbook's 4 wins over its 2",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_BROKEN_PIPE: "standard output closed early (--out - | head): stopped quietly",
    EXIT_TERMINATED: "terminated (SIGTERM)",
}
"""What each exit code of `sagefleet doctor` means (its --help shows this table)."""

SELFTEST_EXIT_CODES: dict[int, str] = {
    EXIT_OK: "every snippet OK (transcript written)",
    EXIT_BLOCKED: "a snippet failed or broke its output contract (transcript written)",
    EXIT_USAGE: "usage or input error (options, inventory, vault): the host was not contacted",
    EXIT_UNREACHABLE: "the host could not be reached (transcript written), as doctor's 4",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}
"""What each exit code of `sagefleet selftest` means (its --help shows this table)."""

CHECKS_EXIT_CODES: dict[int, str] = {
    EXIT_OK: "the reports written, whatever the findings",
    EXIT_BLOCKED: "--fail-on-blocked, and the host is blocked (reports written)",
    EXIT_USAGE: "usage or input error (options, facts file, inventory, vault)",
}
"""What each exit code of `sagefleet checks --facts` means (its --help shows this table)."""


VALIDATE_EXIT_CODES: dict[int, str] = {
    EXIT_OK: "no job refuses the inventory of any host checked",
    EXIT_USAGE: "usage or input error: a job would refuse the inventory (every error listed), "
    "or the options, inventory or vault are wrong; no host was contacted",
}
"""What each exit code of `sagefleet validate` means (its --help shows this table)."""

SETTINGS_EXIT_CODES: dict[int, str] = {
    EXIT_OK: "done: every host's entities valid (validate), the document built (render) or "
    "merged (merge)",
    EXIT_USAGE: "usage or input error: an entity, a vendor file, a merge conflict or "
    "--template refused (every problem listed), or the options, files, inventory or vault "
    "are wrong; no host is contacted",
}
"""What each exit code of `sagefleet settings validate|render|merge` means (their --help
shows this table): input errors exit 2, as every other command's."""


def report_exit_code(command: str, report: FleetReport, *, fail_on_blocked: bool) -> int:
    """The exit code of a command that diagnosed hosts (DOCTOR_EXIT_CODES), and on stderr,
    when not 0, the hosts that set it: a host not diagnosed means the run did not do what
    was asked."""
    from sagefleet.outcomes import Outcome

    unreachable = [h.host for h in report.hosts if h.status == Outcome.UNREACHABLE]
    if unreachable:
        _say_exit(command, EXIT_UNREACHABLE, unreachable, "unreachable, so not diagnosed")
        return EXIT_UNREACHABLE
    blocked = [h.host for h in report.hosts if h.status == Outcome.BLOCKED]
    if fail_on_blocked and blocked:
        _say_exit(command, EXIT_BLOCKED, blocked, "blocked (--fail-on-blocked)")
        return EXIT_BLOCKED
    return EXIT_OK


def _say_exit(command: str, code: int, hosts: list[str], what: str) -> None:
    line = f"{command}: exit code {code}: {len(hosts)} host(s) {what}: {shown(hosts)}"
    print(line, file=sys.stderr)


def exit_codes_epilog(codes: dict[int, str]) -> str:
    """The exit codes of a command, for its --help."""
    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in codes.items())


def missing_command(parser: argparse.ArgumentParser, action: Any) -> Any:
    """A func for a parser whose command was not given: say which commands there are."""

    def choose(args: argparse.Namespace) -> int:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: choose a command: {', '.join(action.choices)}", file=sys.stderr)
        return EXIT_USAGE

    return choose


def help_texts(doc: str | None) -> dict[str, str]:
    """A command's --help from its docstring: the first paragraph is the one-line ``help``
    shown in the group's list, the rest (if any) the ``description`` of its own --help.
    Notes for developers go in comments."""
    first, _, rest = inspect.cleandoc(doc or "").partition("\n\n")
    texts = {"help": " ".join(first.split())}
    if rest.strip():
        texts["description"] = " ".join(rest.split())
    return texts


def command_group(sub: Any, name: str, doc: str | None, *, required: bool = False) -> Any:
    """A command with its own commands (``sagefleet NAME COMMAND``), documented by ``doc``
    (see :func:`help_texts`; a group's module docstring); returns their parsers' action.
    ``required``: argparse refuses a missing command, else the group lists them."""
    group = sub.add_parser(name, **help_texts(doc))
    commands = group.add_subparsers(
        dest=f"{name}_command", metavar="COMMAND", required=required
    )
    group.set_defaults(func=missing_command(group, commands))
    return commands


def command(
    actions: Any,
    name: str,
    func: Callable[[argparse.Namespace], int],
    **parser_options: Any,
) -> argparse.ArgumentParser:
    """The parser of command ``name`` of a group (``actions``), which runs ``func``; its
    --help comes from ``func``'s docstring (:func:`help_texts`) unless ``parser_options``
    give it."""
    parser: argparse.ArgumentParser = actions.add_parser(
        name, **(help_texts(func.__doc__) | parser_options)
    )
    parser.set_defaults(func=func)
    return parser


def inventory_options(
    parser: argparse.ArgumentParser,
    *,
    limit: str | None = None,
    limit_default: str | None = None,
    host: str | None = None,
    required: bool = True,
    help: str = "Ansible inventory (repeatable)",
) -> None:
    """-i/--inventory (repeatable) with ``help``, -l/--limit with ``limit`` as its help
    (None: none), --host with ``host`` as its help (None: none), and the vault options,
    as ansible-playbook takes them."""
    parser.add_argument("-i", "--inventory", action="append", required=required, help=help)
    if limit is not None:
        parser.add_argument(
            "-l", "--limit", required=limit_default is None, default=limit_default, help=limit
        )
    if host is not None:
        parser.add_argument("--host", help=host)
    add_vault_arguments(parser)


def lang_option(parser: argparse.ArgumentParser, help: str, default: str | None = None) -> None:
    """--lang: the language of what the command writes (sagefleet_lang's choices)."""
    parser.add_argument("--lang", choices=LANG.choices, default=default, help=help)


#: ``--out -``, ``-o -``: standard output.
STDOUT = "-"


def _output_path(text: str) -> Path | None:
    return None if text == STDOUT else Path(text)


def output_option(
    parser: argparse.ArgumentParser, help: str = "output file (default, or -: stdout)"
) -> None:
    """-o/--output: the file written instead of standard output (``check_output``, then
    ``write_output``); None when not given or ``-``."""
    parser.add_argument("-o", "--output", type=_output_path, help=help)


def check_output(path: Path | None, option: str = "-o/--output") -> None:
    """Refuse, before any host is contacted, an output file ``write_output`` could not
    write: a folder, or a file in a folder the bastion cannot create or write. None is
    standard output."""
    from sagefleet.report.runs import check_writable

    if path is None:
        return
    if path.is_dir():
        raise InputError(
            "is a folder, not a file",
            field=option,
            value=str(path),
            fix=f"name the file to write, e.g. {os.path.join(path, 'NAME')}",
        )
    check_writable(
        path.parent, option, fix="give a file in a folder the bastion's user can create and write"
    )


#: The report formats, as the preflight role's sagefleet_preflight_report_formats declares them.
REPORT_FORMATS = list(FORMATS_VAR.choices or ())


def format_option(parser: argparse.ArgumentParser) -> None:
    """--format, repeatable: the report formats written (default all)."""
    parser.add_argument(
        "--format", action="append", choices=REPORT_FORMATS,
        help="report format (repeatable; default all)",
    )


#: The job whose reports doctor and `checks --facts` write: preflight.yml's, by other doors.
PREFLIGHT_JOB = "preflight"


def reports_option(parser: argparse.ArgumentParser) -> None:
    """--out: the report folder; by default a new one for this run, as the playbooks' are;
    ``-`` for standard output (``write_run_reports``)."""
    parser.add_argument(
        "--out",
        help=f"report folder (default: a new reports/<inventory>/{PREFLIGHT_JOB}/<UTC time>/, "
        f"which reports/<inventory>/{PREFLIGHT_JOB}/latest then points at), or - to write "
        "the one --format asked to stdout",
    )


def check_reports_out(out: str | None, inventory: list[str] | None, formats: list[str]) -> None:
    """Refuse, before any host is contacted, reports ``write_run_reports`` could not write:
    ``--out -`` with other than one format, or a folder the bastion cannot make and write
    (``out``, else the run's default folder under reports/)."""
    from sagefleet.report.runs import check_writable, inventory_name

    if out == STDOUT:
        if len(set(formats)) != 1:
            raise InputError(
                "--out - writes one report to stdout",
                field="--format",
                value=", ".join(formats),
                fix="give exactly one --format with --out -, e.g. --format json --out -",
            )
    elif out:
        check_writable(
            out,
            "--out",
            fix="give a folder the bastion's user can create and write, or leave --out "
            f"unset for reports/<inventory>/{PREFLIGHT_JOB}/",
        )
    else:
        check_writable(
            Path("reports") / inventory_name(inventory) / PREFLIGHT_JOB,
            "--out",
            fix="run it from a folder where the bastion's user can create reports/, or give "
            "--out FOLDER",
        )


def write_run_reports(
    report: FleetReport, out: str | None, inventory: list[str] | None, formats: list[str]
) -> None:
    """Write ``report`` in ``formats`` into this run's own folder (``out``
    as it is when given), then print its console table and where the files are;
    ``out`` ``-``: the one format to standard output, alone, for a pipe.

    A folder of its own: never an earlier run's file beside this one's (a run asking for
    the JSON report alone leaves no older HTML page that looks like its own).
    """
    from sagefleet.report import render_console, render_report, write_reports
    from sagefleet.report.runs import clear_stale, discard, inventory_name, link_latest, open_run

    if out == STDOUT:
        sys.stdout.write(render_report(report, formats[0]))
        return
    run = open_run(PREFLIGHT_JOB, explicit=out, inventory=inventory_name(inventory))
    try:
        clear_stale(run)  # --out used again: what an earlier run left there
        written = write_reports(report, run.path, formats)
    except BaseException:
        discard(run)  # no empty time folder, and latest stays on the last run that reported
        raise
    latest = link_latest(run)
    print(render_console(report))
    also = f" (also {latest}/)" if latest else ""
    print("reports: " + ", ".join(str(p) for p in written.values()) + also)


def write_output(path: str | os.PathLike[str], text: str, *, skip_unchanged: bool = False) -> bool:
    """Write a command's ``--output`` file atomically and privately, its folder created
    (``check_output`` refused what it could not write); False when ``skip_unchanged`` and
    the file already held ``text``."""
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(target, text, skip_unchanged=skip_unchanged)
