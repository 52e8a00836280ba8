"""``sagefleet doctor``, ``selftest`` and ``checks list``: preflight over direct WinRM."""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagefleet.cli.common import (
    DOCTOR_EXIT_CODES,
    EXIT_BLOCKED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_UNREACHABLE,
    SELFTEST_EXIT_CODES,
    check_reports_out,
    command,
    command_group,
    exit_codes_epilog,
    format_option,
    inventory_options,
    lang_option,
    report_exit_code,
    reports_option,
    write_run_reports,
)
from sagefleet.errors import InputError, SagefleetError, shown

if TYPE_CHECKING:
    from sagefleet.findings import FleetReport
    from sagefleet.inventory import InventoryHost
    from sagefleet.preflight import PreparedHost


def cmd_doctor(args: argparse.Namespace) -> int:
    """preflight a fleet over direct WinRM (no Ansible worker per host)

    Preflight a fleet over direct WinRM sessions: the checks and reports of
    playbooks/preflight.yml, without one Ansible worker per host.
    """
    from sagefleet import doctor
    from sagefleet.inventory import InventoryHost, load, vault_options

    if args.forks < 1:
        raise SagefleetError(f"--forks must be at least 1 (got {args.forks})")
    check_reports_out(args.out, args.inventory, args.format)
    matched = load(args.inventory, vault=vault_options(args), pattern=args.limit)
    hosts = [h for h in matched if h.target is not None]
    _without_winrm([h for h in matched if h.target is None])
    if not hosts:
        raise SagefleetError(f"no WinRM host matches {args.limit!r} in {', '.join(args.inventory)}")
    if args.lang:  # the reports' language, whatever the inventory's sagefleet_lang
        hosts = [
            InventoryHost(h.name, {**h.variables, "sagefleet_lang": args.lang}, h.target)
            for h in hosts
        ]
    from sagefleet.remote.jump import (
        forwarded,  # hosts behind an SSH jump host (sagefleet_ssh_jump)
    )

    # Every host's inputs first: an input error stops the run before any host, or any
    # jump host, is contacted.
    prepared = doctor.prepare_all(hosts)
    # A TERM (a cancelled CI job, systemd) stops doctor as Ctrl-C does: its worker
    # processes and SSH forwards with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_TERMINATED))
    behind_lost_jump: dict[str, str] = {}  # the hosts behind a jump host we could not use
    try:
        with forwarded(hosts, unreachable=behind_lost_jump) as reachable:
            # Forwards through a jump host are served by threads of this process: never
            # fork it.
            given = {h.name: h for h in hosts}
            jumped = bool(behind_lost_jump) or any(r is not given[r.name] for r in reachable)
            report = doctor.run(
                reachable,
                forks=args.forks,
                processes=1 if jumped else args.processes,
                progress=doctor.Progress(total=len(reachable)),
                prepared={r.name: prepared[r.name] for r in reachable},
            )
    except (KeyboardInterrupt, SystemExit) as stopped:
        # A host's command may still run in a thread of this process, which the
        # interpreter would wait for on its way out: end now (the worker processes and
        # the forwards were closed on the way here).
        code = EXIT_INTERRUPTED if isinstance(stopped, KeyboardInterrupt) else stopped.code
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else EXIT_TERMINATED)
    if behind_lost_jump:
        report = _with_unreachable(report, behind_lost_jump, prepared)
    report = dataclasses.replace(report, fail_on_blocked=args.fail_on_blocked)
    write_run_reports(report, args.out, args.inventory, args.format)
    return report_exit_code("doctor", report, fail_on_blocked=args.fail_on_blocked)


def _with_unreachable(
    report: FleetReport, errors: dict[str, str], prepared: dict[str, PreparedHost]
) -> FleetReport:
    """``report`` with the hosts that could not be reached before doctor ran (a jump host
    down or refusing us), each unreachable with why."""
    from sagefleet import preflight

    lost = [preflight.unreachable(name, error) for name, error in errors.items()]
    lang = next(iter(prepared.values())).lang if prepared else report.lang
    return preflight.fleet_report([*report.hosts, *lost], lang=lang, title=report.title)


def _without_winrm(hosts: list[InventoryHost]) -> None:
    """doctor reaches hosts over WinRM only. A Sage server (group sage_servers) that is
    not reached so is an input error before any host is contacted: leaving it out would
    report a fleet it did not diagnose. Another host (a bastion, a jump host) is left
    out, and stderr says so."""
    from sagefleet.doctor import DoctorInputError
    from sagefleet.inventory import SAGE_SERVERS

    def connection(host: InventoryHost) -> str:
        return str(host.variables.get("ansible_connection") or "ssh (Ansible's default)")

    servers = [h for h in hosts if SAGE_SERVERS in (h.variables.get("group_names") or ())]
    if servers:
        raise DoctorInputError(
            [
                InputError(
                    "sagefleet doctor reaches Sage servers over WinRM only",
                    host=h.name,
                    field="ansible_connection",
                    value=connection(h),
                    fix="preflight it with playbooks/preflight.yml (its per_host mode takes "
                    "any connection plugin), or leave it out with --limit",
                )
                for h in servers
            ]
        )
    if hosts:
        names = shown([f"{h.name} ({connection(h)})" for h in hosts])
        print(
            f"doctor: left out {len(hosts)} host(s) outside {SAGE_SERVERS} not reached over "
            f"WinRM: {names}",
            file=sys.stderr,
        )


#: Where selftest writes its transcript unless --out says otherwise.
SELFTEST_OUT = "reports/selftest"


def cmd_selftest(args: argparse.Namespace) -> int:
    """run every read-only snippet once against one server (first contact)"""
    # Each snippet says OK or FAIL, and a transcript is written.
    from sagefleet import selftest
    from sagefleet.inventory import one_winrm_host
    from sagefleet.remote.jump import forwarded
    from sagefleet.remote.winrm import WinRMSession
    from sagefleet.report.runs import check_writable

    check_writable(
        args.out,
        "--out",
        fix=f"give a folder the bastion's user can create and write (default {SELFTEST_OUT})",
    )
    host = one_winrm_host(args, "selftest runs against one server")
    secrets = selftest.secrets_of(host.variables)
    selftest.plan(host.name, host.variables)  # input errors before the host is contacted
    with forwarded([host]) as reachable:
        target = reachable[0].target
        assert target is not None
        with WinRMSession(target) as session:
            result = selftest.run(session, host.name, host.variables)
    print(selftest.render(result, secrets))
    bundle = selftest.write_bundle(result, Path(args.out), secrets)
    print(f"transcript: {bundle}")
    if result.unreachable is not None:
        return EXIT_UNREACHABLE
    return EXIT_OK if result.ok else EXIT_BLOCKED


def cmd_checks_list(args: argparse.Namespace) -> int:
    """print every check id as a Markdown table"""
    from sagefleet.checks import markdown_table

    print(markdown_table(args.lang))
    return 0


def add_subparser(sub: Any) -> None:
    """Register ``doctor``, ``selftest`` and ``checks list``."""
    p_doctor = command(
        sub,
        "doctor",
        cmd_doctor,
        epilog=exit_codes_epilog(DOCTOR_EXIT_CODES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inventory_options(p_doctor, limit="host pattern (default all)", limit_default="all")
    p_doctor.add_argument(
        "-f", "--forks", type=int, default=50, help="hosts diagnosed at once (default 50)"
    )
    p_doctor.add_argument(
        "--processes",
        type=int,
        help="processes sharing the hosts (default: one per 50 hosts, at most two per core)",
    )
    reports_option(p_doctor)
    format_option(p_doctor)
    lang_option(
        p_doctor, "language of the findings and reports (default: each host's sagefleet_lang)"
    )
    p_doctor.add_argument(
        "--fail-on-blocked",
        action="store_true",
        help=f"exit {EXIT_BLOCKED} when a host is blocked",
    )

    p_self = command(
        sub,
        "selftest",
        cmd_selftest,
        epilog=exit_codes_epilog(SELFTEST_EXIT_CODES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inventory_options(p_self, limit="the one host to test")
    p_self.add_argument(
        "--out", default=SELFTEST_OUT, help=f"transcript folder (default {SELFTEST_OUT})"
    )

    checks_sub = command_group(sub, "checks", "the preflight check catalog")
    p_list = command(checks_sub, "list", cmd_checks_list)
    lang_option(p_list, "language of the table (default en)", default="en")
