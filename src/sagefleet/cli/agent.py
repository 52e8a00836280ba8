"""the agent profile: learn it from a reference install

The agent profile describes the vendor's agent (docs/agent-profile.md).
"""

# ``sagefleet agent learn`` reaches the one host exactly as ``sagefleet selftest`` and
# ``doctor`` do: the inventory and its vault through Ansible's API (``sagefleet.inventory``),
# an SSH jump host when the inventory names one, a direct WinRM session. Only the read-only
# ``agent_learn`` snippet runs on the host.

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from sagefleet.cli.common import (
    check_output,
    command,
    command_group,
    inventory_options,
    output_option,
    write_output,
)
from sagefleet.errors import InputError

#: The options finding the service by a pattern, and the service's value each matches.
_PATTERNS = (("--image-path-pattern", "ImagePath"), ("--display-name-pattern", "DisplayName"))


def add_subparser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``agent learn`` on the main CLI's sub-parsers."""
    actions = command_group(subparsers, "agent", __doc__, required=True)
    learn = command(actions, "learn", cmd_learn)
    inventory_options(learn, limit="the reference host")
    output_option(learn, "profile file to write (default, or -: standard output)")
    learn.add_argument("--service", metavar="NAME", help="the agent's exact Windows service name")
    for option, value in _PATTERNS:
        learn.add_argument(
            option,
            metavar="REGEX",
            help=f"find the service by its {value} (regex, case-insensitive)",
        )


def _lookup(args: argparse.Namespace, profile: Any) -> Any:
    """The options' lookup when one is given, else the host's profile's."""
    from sagefleet import service_names
    from sagefleet.agent.learn import Lookup

    patterns = [getattr(args, option[2:].replace("-", "_")) for option, _ in _PATTERNS]
    if not any((args.service, *patterns)):
        return Lookup.of(profile)
    if args.service is not None:
        service_names.check(None, args.service, "--service")
    for (option, _), pattern in zip(_PATTERNS, patterns, strict=True):
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InputError(
                    f"not a regular expression ({exc})", field=option, value=repr(pattern)
                ) from None
    return Lookup(args.service, *patterns)


def cmd_learn(args: argparse.Namespace) -> int:
    """read a reference install and write an agent profile

    Read a server where the agent was installed once by hand with the vendor's wizard
    (read-only) and write the agent profile that describes it: service, install folder
    and files, settings.json key structure (no value), uninstall entry, installer
    technology. Exit codes: 0 written, 1 agent not found, or the install could not be read
    (Constrained Language Mode, a timeout), or not whole (a folder the WinRM account may not
    list: the profile is written, install.files assumed), 2 bad input (the host was not
    contacted), 4 host unreachable or the credentials refused (as doctor's).
    """
    from sagefleet.agent import profile as agent_profile
    from sagefleet.agent.learn import AgentNotFound, learn
    from sagefleet.cli.common import EXIT_UNREACHABLE
    from sagefleet.inventory import one_winrm_host
    from sagefleet.remote import AuthenticationFailed, HostUnreachable, RemoteError
    from sagefleet.remote.jump import JumpError, forwarded
    from sagefleet.remote.winrm import WinRMSession

    check_output(args.output)
    host = one_winrm_host(args, "agent learn reads one reference server")
    # Input errors before the host is contacted.
    base = agent_profile.for_host(host.variables, host=host.name)
    lookup = _lookup(args, base)
    try:
        with forwarded([host]) as reachable:
            target = reachable[0].target
            assert target is not None
            with WinRMSession(target) as session:
                learned = learn(session, host.name, base, lookup)
    except AgentNotFound as exc:
        print(f"sagefleet: error: {exc}", file=sys.stderr)
        return 1
    except (HostUnreachable, AuthenticationFailed, JumpError) as exc:
        # As selftest and doctor: the host could not be reached, so nothing was read.
        text = exc.message if isinstance(exc, RemoteError) else str(exc)
        first = (text.strip().splitlines() or ["unreachable"])[0]
        print(f"sagefleet: error: {host.name}: unreachable: {first}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except RemoteError as exc:
        first = (exc.message.strip().splitlines() or [exc.kind])[0]
        print(
            f"sagefleet: error: {host.name}: cannot read the reference install ({exc.kind}): "
            f"{first}",
            file=sys.stderr,
        )
        return 1
    text = learned.to_yaml()
    if args.output is not None:
        write_output(args.output, text)
        where = str(args.output)
    else:
        sys.stdout.write(text)
        where = "standard output"
    profile = learned.profile
    print(
        f"agent profile learned from {host.name}: service {profile['service']['name']} "
        f"({profile['service']['account']}), agent {profile['learned_from']['agent_version']}, "
        f"installer {profile['installer']['technology']}; written to {where}",
        file=sys.stderr,
    )
    for note in learned.notes:
        print(f"  note: {note}", file=sys.stderr)
    print("  still assumed: " + (", ".join(profile["assumed"]) or "nothing"), file=sys.stderr)
    if learned.unlisted:
        print(
            f"sagefleet: error: {host.name}: the reference install was not read whole: "
            f"{len(learned.unlisted)} folder(s) could not be listed as the WinRM account "
            "(see the notes); the profile written leaves install.files assumed",
            file=sys.stderr,
        )
        return 1
    return 0
