"""The deploy playbook as the tests run it, and what they read back from its output."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from sagefleet.outcomes import STATUSES
from sagefleet.report import LABELS
from sagefleet.sim.fleet import Fleet
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT
from tests.support.scenarios import write_inventory

SERVICE = "SpendeskSageAgent"
INSTALL_DIR = "C:\\Program Files\\Spendesk\\Sage Agent"
CANARY = "Sql-Canary-Passw0rd!"


def deploy(
    fleet: Fleet,
    tmp: Path,
    package: Path,
    *extra: str,
    inventory_vars: dict[str, Any] | None = None,
    source: str = "vendor",
    host_vars: dict[str, dict[str, Any]] | None = None,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    inventory = write_inventory(
        fleet,
        tmp / "inventory" / "hosts.yml",
        {"sagefleet_agent_target_version": "3.2.0", **(inventory_vars or {})},
        source=source,
        host_vars=host_vars,
    )
    # Reports in their default layout, under the test's folder: reports/inventory/deploy/...
    process = subprocess.run(
        [
            ANSIBLE_PLAYBOOK,
            "-i",
            str(inventory),
            "playbooks/deploy.yml",
            "-e",
            f"sagefleet_agent_package={package}",
            "-e",
            f"sagefleet_report_dir={tmp / 'reports'}",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    folder = report_folder(process)
    report = json.loads((folder / "report.json").read_text()) if folder else {}
    return process, report


def report_folder(process: subprocess.CompletedProcess[str]) -> Path | None:
    """The folder of the report this run wrote, as the run says."""
    match = re.search(r"^\[sagefleet\] report of this run: (.+)$", process.stdout, re.M)
    return Path(match.group(1)) if match else None


# Each status as the English console writes it, longest first (a label may begin another).
LABEL_TO_STATUS = {LABELS["en"][f"status.{s}"]: s for s in STATUSES}
_STATUS_LINE = re.compile(
    r"^(\S+)\s+("
    + "|".join(map(re.escape, sorted(LABEL_TO_STATUS, key=len, reverse=True)))
    + r")\s"
)


def outcomes(process: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Host → outcome, read from the summary table the playbook prints."""
    found = {}
    table = re.split(r"^HOST\s+STATUS\s", process.stdout, maxsplit=1, flags=re.M)[-1]
    table = table.split(LABELS["en"]["by_check"], 1)[0]
    for line in table.splitlines():
        match = _STATUS_LINE.match(line)
        if match:
            found[match.group(1)] = LABEL_TO_STATUS[match.group(2)]
    return found


def recap(process: subprocess.CompletedProcess[str]) -> dict[str, dict[str, int]]:
    """Host → PLAY RECAP counters."""
    return {
        m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
        for m in re.finditer(r"^(\S+)\s+: (ok=.*)$", process.stdout, re.M)
    }


def recap_changed(process: subprocess.CompletedProcess[str]) -> dict[str, int]:
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", process.stdout, re.M)
    }


def agent(fleet: Fleet, name: str) -> tuple[str | None, str | None]:
    host = fleet.host(name)
    service = host.service(SERVICE)
    if service is None:
        return None, None
    version = host.fs.stat(service.executable).product_version
    return service.state, version


def snapshot(fleet: Fleet, name: str) -> Any:
    host = fleet.host(name)
    files = {
        k: (e.size, e.data, e.product_version, repr(e.acl)) for k, e in host.fs.entries.items()
    }
    services = {k: (s.state, s.version, s.account) for k, s in host.services.items()}
    return files, services
