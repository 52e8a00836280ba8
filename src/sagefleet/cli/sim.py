"""the simulated Windows/Sage fleet"""

# docs/simulator.md tells the rest.

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from sagefleet.cli.common import command, command_group
from sagefleet.errors import SagefleetError
from sagefleet.inventory import add_vault_arguments

#: Where `sim up --hosts` writes its inventory unless --out says otherwise.
DEFAULT_OUT = ".sagefleet/sim"
#: Where `sim twin` writes its profiles unless -o says otherwise.
TWINS_OUT = "twins"


def _state_dir_for(inventory: Path) -> Path:
    folder = inventory if inventory.is_dir() else inventory.parent
    return folder / ".sim"


#: `sim up`/`serve` options that shape generated hosts: the inventory decides with -i.
_GENERATED_ONLY = (
    ("first_address", "--first-address"),
    ("port", "--port"),
    ("scheme", "--scheme"),
    ("profile", "--profile"),
    ("settings_source", "--settings-source"),
)


def _check_fleet_options(args: argparse.Namespace) -> None:
    """Options that only shape generated hosts are refused with -i, never ignored."""
    if not args.inventory:
        return
    given = [flag for name, flag in _GENERATED_ONLY if getattr(args, name, None) is not None]
    if given:
        raise SagefleetError(
            f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --hosts only: with "
            "-i/--inventory the inventory gives each host its address, port, scheme and "
            "profile (sagefleet_sim_profile, sagefleet_sim_overrides)"
        )


def _profile_names(args: argparse.Namespace) -> list[str]:
    """--profile values, repeated or comma-separated (`--profile a,b --profile c`)."""
    names = [n.strip() for value in args.profile or [] for n in value.split(",")]
    if any(not n for n in names):
        raise SagefleetError(f"--profile: empty profile name in {args.profile!r}")
    return names


def _library(args: argparse.Namespace) -> Any:
    from sagefleet.sim.host_profiles import ProfileLibrary

    return ProfileLibrary(args.profile_file or [])


def _fleet_args(args: argparse.Namespace) -> tuple[list[str], Path]:
    """Arguments for `sim serve` and the state folder, from `sim up` options."""
    files = []
    for path in args.profile_file or []:
        files += ["--profile-file", str(Path(path).resolve())]
    if args.inventory:
        inventory = Path(args.inventory).resolve()
        state_dir = Path(args.state_dir) if args.state_dir else _state_dir_for(inventory)
        return ["--inventory", str(inventory), *files], state_dir.resolve()
    out = Path(args.out).resolve()
    state_dir = Path(args.state_dir).resolve() if args.state_dir else out / ".sim"
    serve = [
        "--hosts",
        str(args.hosts),
        "--inventory-out",
        str(out / "hosts.yml"),
        "--first-address",
        args.first_address or "127.0.1.1",
        "--port",
        str(5986 if args.port is None else args.port),
        "--scheme",
        args.scheme or "https",
        "--settings-source",
        args.settings_source or "vendor",
        *files,
    ]
    for profile in _profile_names(args):
        serve += ["--profile", profile]
    return serve, state_dir


def _specs(args: argparse.Namespace, library: Any) -> list[Any]:
    from sagefleet.inventory import vault_options
    from sagefleet.sim.fleet import generate_specs, specs_from_inventory

    _check_fleet_options(args)
    if args.inventory:
        return specs_from_inventory(Path(args.inventory), vault_options(args))
    return generate_specs(
        args.hosts,
        profiles=_profile_names(args) or library.custom_names or ["healthy-onprem"],
        first_address=args.first_address or "127.0.1.1",
        port=5986 if args.port is None else args.port,
        scheme=args.scheme or "https",
    )


def cmd_sim_up(args: argparse.Namespace) -> int:
    """start a simulated fleet in the background"""
    from sagefleet.inventory import current_secrets
    from sagefleet.sim.fleet import Fleet, up

    serve_args, state_dir = _fleet_args(args)
    # Every input error is reported here, before the background simulator starts
    # (a vault that does not open too).
    library = _library(args)
    Fleet(_specs(args, library), state_dir, library).validate(inventory=not args.inventory)
    # The vault secrets that opened the inventory go to `sim serve` in memory.
    state = up(
        serve_args, state_dir, vault_secrets=current_secrets(), stop_with=_down_command(args)
    )
    hosts = state["hosts"]
    print(f"simulated fleet up: {len(hosts)} host(s), pid {state['pid']}, state in {state_dir}")
    for host in hosts[:10]:
        print(
            f"  {host['name']:<12} {host['scheme']}://{host['address']}:{host['port']}/wsman"
            f"  profile={host['profile']}"
        )
    if len(hosts) > 10:
        print(f"  ... and {len(hosts) - 10} more")
    first, last = hosts[0]["address"], hosts[-1]["address"]
    if not args.inventory and first.rsplit(".", 1)[0] != last.rsplit(".", 1)[0]:
        print(f"addresses {first} to {last}, each .255 and .0 skipped")
    if not args.inventory:
        print(f"inventory: {Path(args.out).resolve() / 'hosts.yml'}")
    return 0


def _down_command(args: argparse.Namespace) -> str:
    """The `sim down` that stops the fleet these `sim up` options start, for the shell."""
    if args.state_dir:
        where = ["--state-dir", args.state_dir]
    elif args.inventory:
        where = ["-i", args.inventory]
    else:
        where = ["--out", args.out]
    return shlex.join(["sagefleet", "sim", "down", *where])


#: `sim down` found no fleet running where it was told to look: it stopped nothing.
EXIT_NOT_RUNNING = 1


def cmd_sim_down(args: argparse.Namespace) -> int:
    """stop a fleet started with `sim up`

    Stop the fleet whose state is in --state-dir, beside -i INVENTORY, or in --out's .sim
    folder (default .sagefleet/sim/.sim). Exit codes: 0 stopped, 1 no fleet running from
    there (nothing stopped; a state file whose simulator is gone, killed or the machine
    restarted, is removed, and a process that took its pid is left alone), 2 usage error.
    """
    from sagefleet.sim.fleet import down

    if args.state_dir:
        state_dir = Path(args.state_dir)
    elif args.inventory:
        state_dir = _state_dir_for(Path(args.inventory))
    else:
        state_dir = Path(args.out or DEFAULT_OUT) / ".sim"
    stop = down(state_dir.resolve())
    if stop.outcome == "stopped":
        print(f"simulated fleet from {state_dir} stopped")
        return 0
    if stop.outcome == "stale":
        print(
            f"simulated fleet from {state_dir} was not running (pid {stop.pid} gone, or "
            "another program's): its stale state file removed"
        )
        return EXIT_NOT_RUNNING
    if args.state_dir or args.inventory or args.out:
        print(f"no simulated fleet running from {state_dir}")
    else:
        # The fleet may have been started from an inventory: its state is beside it.
        print(
            f"no simulated fleet running from {state_dir}; a fleet started with "
            "`sim up -i <inventory>` is stopped with `sim down -i <inventory>` "
            "(or --state-dir <folder>)"
        )
    return EXIT_NOT_RUNNING


def cmd_sim_serve(args: argparse.Namespace) -> int:
    """run a simulated fleet in the foreground"""
    from sagefleet.sim.fleet import serve

    library = _library(args)
    specs = _specs(args, library)
    out = Path(args.inventory_out) if args.inventory_out else None
    return serve(specs, Path(args.state_dir), out, library, args.settings_source or "vendor")


def cmd_sim_profiles(args: argparse.Namespace) -> int:
    """list the host profiles"""
    from sagefleet.sim.host import profile_names

    library = _library(args)
    for name in [*profile_names(), *library.custom_names]:
        print(f"{name:<24} {library.get(name).get('description', '')}")
    return 0


def cmd_sim_twin(args: argparse.Namespace) -> int:
    """host profiles of simulated twins, from facts collected on real servers

    Turn facts collected on real servers (the offline collector's JSON, a selftest
    transcript zip or its facts record, a support bundle) into host profiles, so the fleet
    can be rehearsed on its simulated twin. Fields the facts do not give get safe defaults,
    listed at the top of each profile; no secret is copied.
    """
    from sagefleet.report.runs import check_writable
    from sagefleet.sim import twin

    check_writable(
        args.out,
        "-o/--out",
        fix=f"give a folder the bastion's user can create and write (default {TWINS_OUT})",
    )
    written = twin.write_twins([Path(p) for p in args.facts], Path(args.out))
    for item in written:
        print(f"{item.source}: {item.hostname} -> {item.path}")
    names = ",".join(item.path.stem for item in written)
    files = " ".join(f"--profile-file {item.path}" for item in written)
    print(
        f"{len(written)} twin profile(s) in {Path(args.out)}; start them with:\n"
        f"  sagefleet sim up --hosts {len(written)} {files} --profile {names}"
    )
    return 0


def add_subparser(sub: Any) -> None:
    """Register ``sim up|down|serve|profiles|twin``."""
    sim_sub = command_group(sub, "sim", __doc__)

    def profile_files(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--profile-file",
            action="append",
            metavar="PATH",
            help="a custom host profile (YAML, checked against sim-profile.schema.json); "
            "repeatable. --profile and sagefleet_sim_profile name it by its file name "
            "without .yml (or its profile: field)",
        )

    def fleet_options(p: argparse.ArgumentParser, serve: bool = False) -> None:
        source = p.add_mutually_exclusive_group(required=True)
        source.add_argument("--hosts", type=int, help="number of hosts to generate")
        source.add_argument(
            "-i",
            "--inventory",
            help="serve the winrm hosts of this inventory (each host's sagefleet_sim_profile "
            "and sagefleet_sim_overrides)",
        )
        p.add_argument(
            "--profile",
            action="append",
            metavar="NAME[,NAME...]",
            help="profiles the generated hosts cycle through (see `sagefleet sim profiles`): "
            "repeat the option or separate names with commas (default healthy-onprem, or "
            "the --profile-file profiles)",
        )
        profile_files(p)
        p.add_argument(
            "--first-address",
            help="first loopback address of the generated hosts (default 127.0.1.1); the "
            "next hosts take the next addresses, each .255 and .0 skipped",
        )
        p.add_argument(
            "--port", type=int, help="WinRM port of the generated hosts (default 5986; 0: any free)"
        )
        p.add_argument(
            "--scheme",
            choices=["https", "http"],
            help="WinRM over HTTPS (default) or HTTP with message encryption",
        )
        p.add_argument(
            "--settings-source",
            choices=["vendor", "template"],
            help="vendor (default): write each entity's vendor settings.json beside the "
            "inventory and name it; template: none, the inventory says "
            "sagefleet_settings_source: template",
        )
        add_vault_arguments(p)  # with -i
        if serve:
            p.add_argument(
                "--state-dir", required=True, help="folder for the state file and the CA"
            )
            p.add_argument("--inventory-out", help="write the generated inventory here")
        else:
            p.add_argument(
                "--out",
                default=DEFAULT_OUT,
                help=f"folder for the generated inventory (with --hosts; default {DEFAULT_OUT})",
            )
            p.add_argument(
                "--state-dir",
                help="folder for the state file, CA and log (default: <out>/.sim, or .sim "
                "beside the inventory)",
            )

    p_up = command(sim_sub, "up", cmd_sim_up)
    fleet_options(p_up)

    p_down = command(sim_sub, "down", cmd_sim_down)
    p_down.add_argument("-i", "--inventory", help="the fleet served from this inventory")
    p_down.add_argument("--out", help=f"the fleet generated in this folder (default {DEFAULT_OUT})")
    p_down.add_argument("--state-dir", help="the fleet whose state file is in this folder")

    p_serve = command(sim_sub, "serve", cmd_sim_serve)
    fleet_options(p_serve, serve=True)

    profile_files(command(sim_sub, "profiles", cmd_sim_profiles))

    p_twin = command(sim_sub, "twin", cmd_sim_twin)
    p_twin.add_argument(
        "facts", nargs="+", metavar="FACTS", help="facts files (.json) or bundles (.zip)"
    )
    p_twin.add_argument(
        "-o", "--out", default=TWINS_OUT, help=f"folder for the profiles (default {TWINS_OUT})"
    )
