"""``sagefleet demo``: serve the demo fleet, run the playbooks against it, stop it."""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sagefleet.cli.common import command
from sagefleet.cli.sim import _state_dir_for
from sagefleet.errors import SagefleetError


def demo_epilogue(
    root: Path, inventory: Path, started: float, rc: int, reports_root: Path | None = None
) -> str:
    """Where the demo's reports are (under ``reports_root``, default ``<root>/reports``), and
    what to do next."""
    from sagefleet.report.runs import LATEST, inventory_name

    folder = (reports_root or root / "reports") / inventory_name([str(inventory)])
    lines = [] if rc == 0 else [f"a playbook failed (exit code {rc}): its output is above"]
    # Each job's newest report: the HTML page, or site.yml's host_info.json summary.
    reports = [
        path
        for name in ("report.html", "host_info.json")
        for path in sorted(folder.glob(f"*/{LATEST}/{name}"))
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


def cmd_demo(args: argparse.Namespace) -> int:
    """run the playbooks against the simulated demo fleet"""
    # Serve the demo fleet, run the real playbooks against it, stop the fleet.
    from sagefleet.sim.fleet import Fleet, specs_from_inventory

    root = Path(args.project).resolve()
    inventory = (root / args.inventory).resolve()
    # None: the playbooks' default, the project's reports/ (demo_epilogue looks there).
    reports_root = (root / args.report_dir).resolve() if args.report_dir else None
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
            if reports_root is not None:
                command += ["-e", f"sagefleet_report_dir={reports_root}"]
            process = subprocess.Popen(command, cwd=root)
            rc = process.wait()
            process = None
            if rc != 0:
                break
        print(demo_epilogue(root, inventory, started, rc, reports_root), flush=True)
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


def add_subparser(sub: Any) -> None:
    """Register ``demo``."""
    p_demo = command(sub, "demo", cmd_demo)
    p_demo.add_argument("--project", default=".", help="project root (holds ansible.cfg)")
    p_demo.add_argument(
        "--inventory",
        default="inventory/demo/hosts.yml",
        help="the demo inventory, relative to --project (default inventory/demo/hosts.yml)",
    )
    p_demo.add_argument(
        "--report-dir",
        help="the playbooks' sagefleet_report_dir: where the demo's reports go, relative to "
        "--project (default reports)",
    )
    p_demo.add_argument(
        "--playbook",
        action="append",
        default=None,
        help="playbook to run (repeatable; default site.yml, preflight.yml, deploy.yml)",
    )
