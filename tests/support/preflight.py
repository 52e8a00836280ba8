"""The preflight playbook as the tests run it, and what each shipped scenario must find."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT

# scenario -> (expected host status, check ids that must fail, check ids that must not)
EXPECTED: dict[str, tuple[str, set[str], set[str]]] = {
    "healthy-onprem": ("ready", set(), {"SF101", "SF302", "SF404"}),
    # On SPC, Azure SQL's redirect ports cannot be tested: a standing warning (SF305).
    "healthy-spc": ("warnings", {"SF305"}, {"SF203", "SF304", "SF205"}),
    "sage-v6": ("blocked", {"SF202"}, {"SF101"}),
    "sage-i7": ("blocked", {"SF202"}, {"SF101", "SF203"}),
    "dotnet-472": ("blocked", {"SF101"}, {"SF202"}),
    "spc-with-onprem-om": ("warnings", {"SF203"}, {"SF101"}),
    "om-mismatch": ("blocked", {"SF204"}, {"SF203"}),
    "s3-blocked": ("blocked", {"SF302"}, {"SF301", "SF101"}),
    "tls-intercepted": ("blocked", {"SF303"}, {"SF302"}),
    "dns-fail-one": ("blocked", {"SF301"}, {"SF101"}),
    "schannel-tls12-disabled": ("blocked", {"SF103"}, {"SF101"}),
    "mae-network-drive-localsystem": ("blocked", {"SF402"}, {"SF401"}),
    "clock-skew": ("blocked", {"SF104"}, {"SF101"}),
    "disk-almost-full": ("blocked", {"SF105"}, {"SF101"}),
    "agent-old": ("ready", set(), {"SF403"}),
    "two-entities": ("ready", set(), {"SF401", "SF404"}),
}
SCENARIOS = sorted(EXPECTED)


def run_preflight(
    inventory: Path, out: Path, *extra: str, playbook: str = "playbooks/preflight.yml"
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook playbooks/preflight.yml (or another ``playbook`` importing the
    role) with the report written to ``out``."""
    return subprocess.run(
        [
            ANSIBLE_PLAYBOOK,
            "-i",
            str(inventory),
            playbook,
            *extra,
            "-e",
            f"sagefleet_preflight_report_dir={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
