"""``sagefleet validate``: an inventory checked as the playbooks' first task will, before any
run."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from sagefleet.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    VALIDATE_EXIT_CODES,
    command,
    exit_codes_epilog,
    inventory_options,
)
from sagefleet.errors import SagefleetError, refusal

#: --job's value for every job at once.
ALL = "all"


def add_subparser(sub: Any) -> None:
    from sagefleet.ansible.validate import JOBS
    from sagefleet.inventory import SAGE_SERVERS
    from sagefleet.inventory.extra_vars import add_extra_vars_argument

    parser = command(
        sub,
        "validate",
        cmd_validate,
        epilog=exit_codes_epilog(VALIDATE_EXIT_CODES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inventory_options(
        parser,
        limit="host pattern (default sage_servers, the playbooks' group)",
        limit_default=SAGE_SERVERS,
    )
    add_extra_vars_argument(parser)
    parser.add_argument(
        "--job",
        choices=[*JOBS, ALL],
        default=ALL,
        help=f"the job whose checks to run (default {ALL}: every job's); settings checks "
        "each host as its sagefleet_settings_state asks: a write (present, the default) or a "
        "rollback (its target, backup and restart, not the entities), as given with -e "
        "sagefleet_settings_state=rollback too",
    )


def cmd_validate(args: argparse.Namespace) -> int:
    """check an inventory as the playbooks will, before any run

    Check the hosts of an inventory (-i INVENTORY [-l PATTERN], vault values decrypted as
    ansible-playbook does, and the run's -e values, which win over every host's) with the
    very checks the first task of preflight.yml, deploy.yml, settings.yml, diagnose.yml
    and verify.yml (sagefleet_validate) runs before contacting any host: entities,
    waivers, misspelt or retired sagefleet_* variables, each role's argument spec, the
    WinRM transport, each job's own options, and the folder its reports go to when the
    variables name it (sagefleet_report_dir, sagefleet_<job>_report_dir,
    sagefleet_diagnose_dest). Every error is listed, with the job(s) that would refuse
    it. No host is contacted.

    Values are templated as the run templates them: with the variables Ansible gives the
    inventory (inventory_dir, inventory_file, inventory_hostname, group_names, groups) and
    playbook_dir, the playbooks/ folder of the current folder (run it from the project's
    folder, where the runs use playbooks/*.yml). A value using a variable only a play
    defines (role_path, ansible_play_hosts, ansible_play_batch...), or playbook_dir from a
    folder without playbooks/, is left to the run: a note names host, field and value, and
    the exit code is the other checks'.
    """
    from ansible.utils.path import unfrackpath

    from sagefleet.ansible.validate import (
        JOBS,
        expired_waivers,
        for_job,
        host_errors,
        report_errors,
    )
    from sagefleet.inventory import load, sagefleet_var_names, vault_options

    jobs = list(JOBS) if args.job == ALL else [args.job]
    hosts = load(
        args.inventory,
        vault=vault_options(args),
        pattern=args.limit,
        connect=False,
        extra_vars=args.extra_vars,
        at_run=True,
    )
    if not hosts:
        raise SagefleetError(f"no host matches {args.limit!r} in {', '.join(args.inventory)}")
    # As ansible-playbook names its inventory (ansible_inventory_sources).
    sources = [s if "," in s else unfrackpath(s, follow=False) for s in args.inventory]
    refused_by: dict[str, list[str]] = {}  # each error's text -> the jobs refusing it
    today = dt.datetime.now(dt.UTC).date()  # as the checks date a waiver (bastion_utc)
    for job in jobs:
        checks = for_job(job)
        for host in hosts:
            # What the playbooks' task reads: sagefleet's variables, as hostvars give them.
            variables = {name: host.variables[name] for name in sagefleet_var_names(host.variables)}
            for error in host_errors(host.name, variables, checks):
                # A value only the run knows is not missing: the run checks it.
                if getattr(error, "field", None) not in host.at_run:
                    refused_by.setdefault(str(error), []).append(job)
        # The report folder, as the task run once, on the play's first host, checks it.
        first = hosts[0]
        for error in report_errors(job, first.variables, sources, unknown=first.at_run):
            refused_by.setdefault(str(error), []).append(job)
    for host in hosts:
        for note in [*host.at_run.values(), *expired_waivers(host.name, host.variables, today)]:
            print(f"note: {note}", file=sys.stderr)
    if refused_by:
        lines = [
            text if len(jobs) == 1 else f"{text} [jobs: {', '.join(dict.fromkeys(who))}]"
            for text, who in refused_by.items()
        ]
        print(f"sagefleet validate: error: {refusal(lines)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"OK: {len(hosts)} host(s), checked as {', '.join(jobs)} will")
    return EXIT_OK
