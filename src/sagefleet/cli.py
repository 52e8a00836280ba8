"""The ``sagefleet`` command line: simulator, demo, doctor, selftest, settings and agent tools."""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sagefleet import __version__
from sagefleet.errors import InputError, SagefleetError
from sagefleet.inventory import add_vault_arguments

EXIT_OK = 0
EXIT_BLOCKED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

DOCTOR_EXIT_CODES: dict[int, str] = {
    EXIT_OK: "every host diagnosed (reports written), whatever their status",
    EXIT_BLOCKED: "--fail-on-blocked, and a host is blocked or unreachable",
    EXIT_USAGE: "usage or input error (options, inventory, vault): no host was contacted",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
    EXIT_TERMINATED: "terminated (SIGTERM)",
}
"""What each exit code of `sagefleet doctor` means (its --help shows this table)."""


def exit_codes_epilog(codes: dict[int, str]) -> str:
    """The exit codes of a command, for its --help."""
    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in codes.items())


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
    from sagefleet.inventory import current_secrets
    from sagefleet.sim.fleet import Fleet, up

    serve_args, state_dir = _fleet_args(args)
    # Every input error is reported here, before the background simulator starts
    # (a vault that does not open too).
    library = _library(args)
    Fleet(_specs(args, library), state_dir, library).validate(inventory=not args.inventory)
    # The vault secrets that opened the inventory go to `sim serve` in memory.
    state = up(serve_args, state_dir, vault_secrets=current_secrets())
    hosts = state["hosts"]
    print(f"simulated fleet up: {len(hosts)} host(s), pid {state['pid']}, state in {state_dir}")
    for host in hosts[:10]:
        print(
            f"  {host['name']:<12} {host['scheme']}://{host['address']}:{host['port']}/wsman"
            f"  profile={host['profile']}"
        )
    if len(hosts) > 10:
        print(f"  ... and {len(hosts) - 10} more")
    if not args.inventory:
        print(f"inventory: {Path(args.out).resolve() / 'hosts.yml'}")
    return 0


def cmd_sim_down(args: argparse.Namespace) -> int:
    from sagefleet.sim.fleet import down

    if args.state_dir:
        state_dir = Path(args.state_dir)
    elif args.inventory:
        state_dir = _state_dir_for(Path(args.inventory))
    else:
        state_dir = Path(args.out) / ".sim"
    if down(state_dir.resolve()):
        print(f"simulated fleet from {state_dir} stopped")
    else:
        print(f"no simulated fleet running from {state_dir}")
    return 0


def cmd_sim_serve(args: argparse.Namespace) -> int:
    from sagefleet.sim.fleet import serve

    library = _library(args)
    specs = _specs(args, library)
    out = Path(args.inventory_out) if args.inventory_out else None
    return serve(specs, Path(args.state_dir), out, library, args.settings_source or "vendor")


def cmd_sim_profiles(args: argparse.Namespace) -> int:
    from sagefleet.sim.host import profile_names

    library = _library(args)
    for name in [*profile_names(), *library.custom_names]:
        print(f"{name:<24} {library.get(name).get('description', '')}")
    return 0


def demo_epilogue(root: Path, inventory: Path, started: float, rc: int) -> str:
    """Where the demo's reports are, and what to do next."""
    from sagefleet.report.runs import LATEST, inventory_name

    folder = root / "reports" / inventory_name([str(inventory)])
    lines = [] if rc == 0 else [f"a playbook failed (exit code {rc}): its output is above"]
    reports = [
        path
        for path in sorted(folder.glob(f"*/{LATEST}/report.html"))
        if path.stat().st_mtime >= started
    ]
    if reports:
        lines.append("reports of this demo (open the HTML ones in a browser):")
        lines += [f"  {p.relative_to(root) if p.is_relative_to(root) else p}" for p in reports]
    else:
        lines.append("this demo wrote no report")
    shown = inventory.relative_to(root) if inventory.is_relative_to(root) else inventory
    lines += [
        "next:",
        f"  - serve the demo fleet again: sagefleet sim up -i {shown}",
        f"    then run any playbook on it: ansible-playbook -i {shown} playbooks/verify.yml",
        f"    and stop it: sagefleet sim down -i {shown}",
        "  - point sagefleet at a client's servers: docs/operator-guide.md",
    ]
    return "\n".join(lines)
def cmd_sim_twin(args: argparse.Namespace) -> int:
    """Profiles of simulated twins from facts collected on real servers."""
    from sagefleet.sim import twin

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


def _missing_command(parser: argparse.ArgumentParser, action: Any) -> Any:
    """A func for a parser whose command was not given: say which commands there are."""

    def choose(args: argparse.Namespace) -> int:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: choose a command: {', '.join(action.choices)}", file=sys.stderr)
        return 2

    return choose


def cmd_demo(args: argparse.Namespace) -> int:
    """Serve the demo fleet, run the real playbook against it, stop the fleet."""
    from sagefleet.sim.fleet import Fleet, specs_from_inventory

    root = Path(args.project).resolve()
    inventory = (root / args.inventory).resolve()
    fleet = Fleet(specs_from_inventory(inventory), _state_dir_for(inventory))
    playbook_bin = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent))
    if playbook_bin is None:
        raise SagefleetError("ansible-playbook not found next to this Python: run `make demo`")
    process: subprocess.Popen[bytes] | None = None
    from sagefleet.package import build_test_package

    state_dir = _state_dir_for(inventory)
    package = build_test_package(state_dir / "Setup.zip", agent_version="3.2.0")
    print(f"starting the simulated fleet from {args.inventory} ...", flush=True)
    started = time.time()
    try:
        fleet.start()  # a Ctrl-C while it starts stops what has started
        print(f"{len(fleet.specs)} simulated hosts listening; running ansible-playbook", flush=True)
        rc = 0
        for playbook in args.playbook:
            command = [
                playbook_bin,
                "-i",
                str(inventory),
                str(root / playbook),
                "-e",
                f"sagefleet_agent_package={package}",
            ]
            process = subprocess.Popen(command, cwd=root)
            rc = process.wait()
            process = None
            if rc != 0:
                break
        print(demo_epilogue(root, inventory, started, rc), flush=True)
        return rc
    except KeyboardInterrupt:
        if process is not None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return 130
    finally:
        fleet.stop()
        print("simulated fleet stopped", flush=True)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Preflight over direct WinRM sessions: same checks and reports as preflight.yml."""
    from sagefleet import doctor
    from sagefleet.inventory import InventoryHost, load, vault_options
    from sagefleet.report import render_console, render_report, write_reports

    if args.forks < 1:
        raise SagefleetError(f"--forks must be at least 1 (got {args.forks})")
    to_stdout = args.out == "-"
    if to_stdout and len(set(args.format)) != 1:
        raise InputError(
            "--out - writes one report to stdout",
            field="--format",
            value=", ".join(args.format),
            fix="give exactly one --format with --out -, e.g. --format json --out -",
        )
    hosts = [
        h
        for h in load(args.inventory, vault=vault_options(args), pattern=args.limit)
        if h.target is not None
    ]
    if not hosts:
        raise SagefleetError(f"no WinRM host matches {args.limit!r} in {', '.join(args.inventory)}")
    if args.lang:  # the reports' language, whatever the inventory's sagefleet_lang
        hosts = [
            InventoryHost(h.name, {**h.variables, "sagefleet_lang": args.lang}, h.target)
            for h in hosts
        ]
    from sagefleet.jump import forwarded  # hosts behind an SSH jump host (sagefleet_ssh_jump)

    # A TERM (a cancelled CI job, systemd) stops doctor as Ctrl-C does: its worker
    # processes and SSH forwards with it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(EXIT_TERMINATED))
    with forwarded(hosts) as reachable:
        # Forwards through a jump host are served by threads of this process: never fork it.
        jumped = any(r is not h for r, h in zip(reachable, hosts, strict=True))
        report = doctor.run(
            reachable,
            forks=args.forks,
            processes=1 if jumped else args.processes,
            progress=doctor.Progress(total=len(hosts)),
        )
    if to_stdout:  # the report alone on stdout, for a pipe
        sys.stdout.write(render_report(report, args.format[0]))
    else:
        written = write_reports(report, Path(args.out), args.format)
        print(render_console(report))
        print("reports: " + ", ".join(str(p) for p in written.values()))
    counts = report.host_status_counts
    if args.fail_on_blocked and (counts.get("blocked") or counts.get("unreachable")):
        return EXIT_BLOCKED
    return EXIT_OK


def cmd_selftest(args: argparse.Namespace) -> int:
    """Every read-only snippet once against one server: OK or FAIL each, and a transcript."""
    from sagefleet import selftest
    from sagefleet.inventory import one_winrm_host
    from sagefleet.jump import forwarded
    from sagefleet.remote.winrm import WinRMSession

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
    return 0 if result.ok else 1


def cmd_checks_list(args: argparse.Namespace) -> int:
    from sagefleet.checks import markdown_table

    print(markdown_table(args.lang))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sagefleet",
        description="Fleet automation for the Spendesk agent on Sage 100 Windows servers.",
    )
    parser.add_argument("--version", action="version", version=f"sagefleet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.set_defaults(func=_missing_command(parser, sub))

    sim = sub.add_parser("sim", help="the simulated Windows/Sage fleet")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="COMMAND")
    sim.set_defaults(func=_missing_command(sim, sim_sub))

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
            help="first loopback address of the generated hosts (default 127.0.1.1)",
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
                default=".sagefleet/sim",
                help="folder for the generated inventory (with --hosts; default .sagefleet/sim)",
            )
            p.add_argument(
                "--state-dir",
                help="folder for the state file, CA and log (default: <out>/.sim, or .sim "
                "beside the inventory)",
            )

    p_up = sim_sub.add_parser("up", help="start a simulated fleet in the background")
    fleet_options(p_up)
    p_up.set_defaults(func=cmd_sim_up)

    p_down = sim_sub.add_parser("down", help="stop a fleet started with `sim up`")
    p_down.add_argument("-i", "--inventory", help="the fleet served from this inventory")
    p_down.add_argument(
        "--out",
        default=".sagefleet/sim",
        help="the fleet generated in this folder (default .sagefleet/sim)",
    )
    p_down.add_argument("--state-dir", help="the fleet whose state file is in this folder")
    p_down.set_defaults(func=cmd_sim_down)

    p_serve = sim_sub.add_parser("serve", help="run a simulated fleet in the foreground")
    fleet_options(p_serve, serve=True)
    p_serve.set_defaults(func=cmd_sim_serve)

    p_prof = sim_sub.add_parser("profiles", help="list the host profiles")
    profile_files(p_prof)
    p_prof.set_defaults(func=cmd_sim_profiles)

    p_twin = sim_sub.add_parser(
        "twin",
        help="host profiles of simulated twins, from facts collected on real servers",
        description="Turn facts collected on real servers (the offline collector's JSON, "
        "a selftest transcript zip or its facts record, a support bundle) into host "
        "profiles, so the fleet can be rehearsed on its simulated twin. Fields the facts "
        "do not give get safe defaults, listed at the top of each profile; no secret is "
        "copied.",
    )
    p_twin.add_argument(
        "facts", nargs="+", metavar="FACTS", help="facts files (.json) or bundles (.zip)"
    )
    p_twin.add_argument(
        "-o", "--out", default="twins", help="folder for the profiles (default ./twins)"
    )
    p_twin.set_defaults(func=cmd_sim_twin)

    p_demo = sub.add_parser("demo", help="run the playbooks against the simulated demo fleet")
    p_demo.add_argument("--project", default=".", help="project root (holds ansible.cfg)")
    p_demo.add_argument(
        "--inventory",
        default="inventory/demo/hosts.yml",
        help="the demo inventory, relative to --project (default inventory/demo/hosts.yml)",
    )
    p_demo.add_argument(
        "--playbook",
        action="append",
        default=None,
        help="playbook to run (repeatable; default site.yml, preflight.yml, deploy.yml)",
    )
    p_demo.set_defaults(func=cmd_demo)

    p_doctor = sub.add_parser(
        "doctor",
        help="preflight a fleet over direct WinRM (no Ansible worker per host)",
        description="Preflight a fleet over direct WinRM sessions: the checks and reports "
        "of playbooks/preflight.yml, without one Ansible worker per host.",
        epilog=exit_codes_epilog(DOCTOR_EXIT_CODES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_doctor.add_argument(
        "-i", "--inventory", action="append", required=True, help="Ansible inventory (repeatable)"
    )
    p_doctor.add_argument("-l", "--limit", default="all", help="host pattern (default all)")
    add_vault_arguments(p_doctor)
    p_doctor.add_argument(
        "-f", "--forks", type=int, default=50, help="hosts diagnosed at once (default 50)"
    )
    p_doctor.add_argument(
        "--processes",
        type=int,
        help="processes sharing the hosts (default: one per 50 hosts, at most two per core)",
    )
    p_doctor.add_argument(
        "--out",
        default="reports/doctor",
        help="report folder, or - to write the one --format asked to stdout",
    )
    p_doctor.add_argument(
        "--format",
        action="append",
        choices=["console", "json", "junit", "html"],
        help="report format (repeatable; default all)",
    )
    p_doctor.add_argument(
        "--lang",
        choices=["en", "fr"],
        help="language of the findings and reports (default: each host's sagefleet_lang)",
    )
    p_doctor.add_argument(
        "--fail-on-blocked",
        action="store_true",
        help=f"exit {EXIT_BLOCKED} when a host is blocked or unreachable",
    )
    p_doctor.set_defaults(func=cmd_doctor)

    p_self = sub.add_parser(
        "selftest",
        help="run every read-only snippet once against one server (first contact)",
    )
    p_self.add_argument(
        "-i", "--inventory", action="append", required=True, help="Ansible inventory (repeatable)"
    )
    p_self.add_argument("-l", "--limit", required=True, help="the one host to test")
    add_vault_arguments(p_self)
    p_self.add_argument("--out", default="reports/selftest", help="transcript folder")
    p_self.set_defaults(func=cmd_selftest)

    p_checks = sub.add_parser("checks", help="the preflight check catalog")
    checks_sub = p_checks.add_subparsers(dest="checks_command", metavar="COMMAND")
    p_checks.set_defaults(func=_missing_command(p_checks, checks_sub))
    p_list = checks_sub.add_parser("list", help="print every check id as a Markdown table")
    p_list.add_argument(
        "--lang", choices=["en", "fr"], default="en", help="language of the table (default en)"
    )
    p_list.set_defaults(func=cmd_checks_list)

    try:
        from sagefleet.settings.cli import add_subparser
    except ImportError:
        pass
    else:
        add_subparser(sub)
    from sagefleet.agent_cli import add_subparser as add_agent_subparser  # agent learn
    from sagefleet.ops_cli import add_subparser as add_ops_subparser  # offline, docs, jump

    add_agent_subparser(sub)

    add_ops_subparser(sub)
    from sagefleet.package_cli import add_subparser as add_package_subparser  # inspect, build

    add_package_subparser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "demo" and args.playbook is None:
        args.playbook = ["playbooks/site.yml", "playbooks/preflight.yml", "playbooks/deploy.yml"]
    if getattr(args, "command", None) == "doctor" and args.format is None:
        args.format = ["console", "json", "junit", "html"]
    try:
        return int(args.func(args))
    except SagefleetError as exc:
        print(f"sagefleet: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
