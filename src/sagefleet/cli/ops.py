"""Operations subcommands: offline facts (`facts-script`, `checks --facts`), `jump`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from sagefleet.cli.common import (
    CHECKS_EXIT_CODES,
    REPORT_FORMATS,
    check_output,
    check_reports_out,
    command,
    exit_codes_epilog,
    format_option,
    inventory_options,
    lang_option,
    output_option,
    report_exit_code,
    reports_option,
    write_output,
    write_run_reports,
)
from sagefleet.errors import InputError


def _inventory_host(args: argparse.Namespace) -> tuple[str, dict[str, Any]] | None:
    """(name, variables) of ``--host`` in ``-i``, variables only (no connection)."""
    if not args.inventory:
        if args.host:
            raise InputError("--host needs -i/--inventory", field="--host", value=args.host)
        return None
    if not args.host:
        raise InputError("-i/--inventory needs --host NAME", field="--host")
    from sagefleet.inventory import load, vault_options

    hosts = load(args.inventory, vault=vault_options(args), names=[args.host], connect=False)
    if not hosts:
        raise InputError(
            "no such host in the inventory",
            host=args.host,
            field="--host",
            value=", ".join(args.inventory),
        )
    return hosts[0].name, dict(hosts[0].variables)


def cmd_facts_script(args: argparse.Namespace) -> int:
    """print a PowerShell collector of the facts, to run by hand on a server"""
    # The collector of one inventory host, or of the given options.
    from sagefleet import offline
    from sagefleet import variables as declared
    from sagefleet.settings.validate import check_mae_path
    from sagefleet.variables import jobs

    check_output(args.output)
    for mae in args.mae or []:  # read on the server: as an entity's mae_path
        check_mae_path(mae, "--mae")
    if args.timeout_ms is not None:  # checked as the inventory's value is
        declared.check(None, jobs.TIMEOUT_MS, args.timeout_ms, field="--timeout-ms")
    found = _inventory_host(args)
    if found is not None:
        name, variables = found
        prepared = offline.offline_prepared(name, variables)
        params = prepared.facts_params()
        # The options given win over the inventory's values, as --mae adds to its files.
        if args.mae:
            params["mae_files"] = sorted(set(params["mae_files"]) | set(args.mae))
        if args.service_name:
            params["service_name"] = args.service_name
        if args.timeout_ms is not None:
            params["timeout_ms"] = args.timeout_ms
        script = offline.facts_script(params, host=name)
    else:
        params = offline.default_params(
            mae_files=args.mae,
            service_name=args.service_name,
            timeout_ms=jobs.TIMEOUT_MS.default if args.timeout_ms is None else args.timeout_ms,
        )
        script = offline.facts_script(params)
    if args.output is not None:
        write_output(args.output, script)
        print(f"collector written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(script)
    return 0


def cmd_checks_facts(args: argparse.Namespace) -> int:
    """Evaluate a collected facts file on the bastion and write the usual reports."""
    from sagefleet import offline
    from sagefleet.preflight import fleet_report

    if not args.facts:
        raise InputError(
            "give --facts FILE (a file written by the collector) or a subcommand (list)",
            field="--facts",
        )
    formats = args.format or REPORT_FORMATS
    check_reports_out(args.out, args.inventory, formats)
    path = Path(args.facts)
    found = _inventory_host(args)
    if found is not None:
        name, variables = found
    else:
        document = offline.read_facts(path)
        name = str((document.get("host") or {}).get("hostname") or path.stem).lower()
        variables = {}
    if args.lang:
        variables["sagefleet_lang"] = args.lang
    prepared = offline.offline_prepared(name, variables)
    collected_at = None
    if args.collected_at:
        try:
            collected_at = dt.datetime.fromisoformat(args.collected_at)
        except ValueError as exc:
            raise InputError(
                "must be an ISO 8601 time, e.g. 2025-03-01T10:15:00+01:00",
                field="--collected-at",
                value=args.collected_at,
            ) from exc
        if collected_at.tzinfo is None:
            collected_at = collected_at.astimezone()
    report = offline.evaluate_file(path, prepared, bastion_utc=collected_at)
    fleet = fleet_report(
        [report],
        lang=prepared.lang,
        title="sagefleet checks (offline facts)",
        fail_on_blocked=args.fail_on_blocked,
    )
    write_run_reports(fleet, args.out, args.inventory, formats)
    return report_exit_code("checks", fleet, fail_on_blocked=args.fail_on_blocked)


def _host_options(parser: argparse.ArgumentParser, host: str) -> None:
    """-i, --host (``host``: its help) and the vault options: the inventory host whose
    variables the command takes."""
    inventory_options(parser, required=False, help="Ansible inventory", host=host)


def _extend_checks(sub: Any) -> None:
    """`sagefleet checks --facts FILE`: the `checks` command evaluates offline facts too."""
    p_checks = sub.choices.get("checks")
    if p_checks is None:
        return
    for action in p_checks._actions:  # the `list` subcommand becomes optional
        if isinstance(action, argparse._SubParsersAction):
            action.required = False
    p_checks.add_argument("--facts", help="facts file written by `sagefleet facts-script`")
    _host_options(p_checks, "the host of the inventory the facts come from")
    reports_option(p_checks)
    format_option(p_checks)
    lang_option(p_checks, "language (default inventory's)")
    p_checks.add_argument(
        "--collected-at",
        help="bastion time when the collector ran (ISO 8601), for the clock check SF104",
    )
    p_checks.add_argument(
        "--fail-on-blocked", action="store_true", help="exit 1 when the host is blocked"
    )
    p_checks.set_defaults(func=cmd_checks_facts)
    p_checks.epilog = exit_codes_epilog(CHECKS_EXIT_CODES)
    p_checks.formatter_class = argparse.RawDescriptionHelpFormatter


def add_subparser(sub: Any) -> None:
    """Register facts-script and jump, and extend `checks` with --facts."""
    p_script = command(sub, "facts-script", cmd_facts_script)
    _host_options(p_script, "inventory host whose entities and settings to use")
    p_script.add_argument(
        "--mae",
        action="append",
        metavar="PATH",
        help="a .MAE file to examine, as the server sees it: absolute, C:\\... or "
        "\\\\server\\share\\... (repeatable)",
    )
    p_script.add_argument(
        "--service-name",
        "--agent-service",  # its name until 0.1.0
        dest="service_name",
        help="agent service name (default the shipped agent profile's)",
    )
    p_script.add_argument(
        "--timeout-ms",
        type=int,
        help="timeout of each network probe (default the inventory's, else 3000; at least 100)",
    )
    output_option(p_script, "write to this file instead of stdout (default, or -: stdout)")

    _extend_checks(sub)

    _add_jump(sub)


def cmd_jump(args: Any) -> int:
    """open SSH port forwards to hosts behind a jump host (inventory overlay)"""
    # Holds the forwards open and writes the overlay until interrupted.
    import contextlib
    import signal
    import sys
    import threading
    import time

    import yaml

    from sagefleet.cli.common import EXIT_UNREACHABLE
    from sagefleet.inventory import load, vault_options
    from sagefleet.remote.jump import VAR, Forwards, JumpError, overlay, parse

    out = Path(args.overlay)
    check_output(out, "--overlay")  # before any jump host: found out after, with a traceback
    hosts = load(args.inventory, vault=vault_options(args), pattern=args.limit)
    with Forwards() as forwards:
        for host in hosts:
            config = parse(host.name, host.variables.get(VAR))
            if config is not None and host.target is not None:
                try:
                    forwards.open(host.name, config, host.target.address, host.target.port)
                except JumpError as exc:
                    # Tried, so not an input error (2): unreachable, as doctor says it (4).
                    print(f"sagefleet: error: {host.name}: {exc}", file=sys.stderr)
                    return EXIT_UNREACHABLE
        if not forwards.forwards:
            raise InputError(f"no host of {args.limit!r} sets {VAR}", field=VAR)
        write_output(out, yaml.safe_dump(overlay(forwards), sort_keys=False))
        print(f"{len(forwards.forwards)} forward(s) open; overlay: {out}", flush=True)
        print(
            f"run: ansible-playbook -i <inventory> -i {out} <playbook>   (Ctrl-C to close)",
            flush=True,
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.is_set():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    with contextlib.suppress(OSError):
        out.unlink()
    print("forwards closed", file=sys.stderr)
    return 0


def _add_jump(sub: Any) -> None:
    p_jump = command(sub, "jump", cmd_jump)
    from sagefleet.inventory import add_vault_arguments

    p_jump.add_argument(
        "-i", "--inventory", action="append", required=True, help="Ansible inventory (repeatable)"
    )
    p_jump.add_argument("-l", "--limit", default="all", help="host pattern (default all)")
    add_vault_arguments(p_jump)
    p_jump.add_argument(
        "--overlay",
        default=".sagefleet/jump/hosts.yml",
        help="the inventory overlay file to write (default .sagefleet/jump/hosts.yml; its "
        "folder is made; removed on exit); one the bastion cannot write is refused before "
        "any jump host is contacted (exit 2)",
    )
