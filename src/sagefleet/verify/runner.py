"""Run the testinfra suites in a child pytest, with the vault secrets of the playbook.

The suites read the inventory themselves (sagefleet.verify.plugin). A playbook
that runs them (playbooks/verify.yml, the deploy role's wave check) hands its
own vault secrets over to that child in memory (`inventory.secrets_for_child`:
an inherited pipe, never the command line, never a file), so whatever opened
the vault for ansible-playbook (--vault-password-file, --ask-vault-pass,
--vault-id, AWX's vault credential) opens it for the suites too. It also hands over,
in a file (--sagefleet-host-vars), the variables it resolved for each host that the
suites read (`handed_over`): an -e value ranks above the inventory for the suites as
it does for the playbook; the secret ones stay out of the file.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagefleet import variables
from sagefleet.inventory import secrets_for_child
from sagefleet.settings.redact import is_secret_key
from sagefleet.settings.validate import to_plain

#: pytest's exit codes (pytest.ExitCode), in the words of a verification.
PYTEST_OUTCOMES: dict[int, str] = {
    0: "every check passed",
    1: "verification failed",
    2: "verification interrupted",
    3: "pytest internal error",
    4: "the suites could not start",
    5: "no verification test was collected",
}


@dataclass(frozen=True)
class SuiteRun:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str

    @property
    def message(self) -> str:
        """One line: what happened, and pytest's own error line when the suites could not run."""
        text = PYTEST_OUTCOMES.get(self.rc, f"pytest exited with code {self.rc}")
        if self.rc >= 2:
            errors = [
                line.strip()
                for line in (self.stderr + "\n" + self.stdout).splitlines()
                if line.strip().startswith(("ERROR:", "sagefleet: error:"))
            ]
            if errors:
                text += ": " + errors[0].removeprefix("ERROR:").strip()
        return text


def handed_over(name: str) -> bool:
    """Whether a playbook hands its value of the host variable ``name`` over to the suites
    (--sagefleet-host-vars): a variable sagefleet declares (what Expectations reads, and
    what a suite of your own reads from ``sagefleet_host.variables``), unless it is secret.
    A secret (the entities' passwords, the service account's) never goes into that file:
    the suites read it from the inventory and its vault themselves."""
    var = variables.declared().get(name)
    return var is not None and not var.secret and not is_secret_key(name)


def write_host_vars(path: Path, by_host: Mapping[str, Mapping[str, Any]]) -> str:
    """``by_host`` as --sagefleet-host-vars reads it (a YAML date as its ISO text); only
    the variables :func:`handed_over` names, whatever ``by_host`` holds."""
    kept = {
        host: {name: to_plain(value) for name, value in found.items() if handed_over(name)}
        for host, found in by_host.items()
    }
    path.write_text(json.dumps(kept, default=str), encoding="utf-8")
    return str(path)


def suite_workers(asked: int, hosts: int) -> int:
    """How many hosts the suites verify at once: ``asked`` (sagefleet_verify_workers), never
    more than the hosts there are (each worker reads the inventory again, a second or more
    for nothing when it has no host to verify)."""
    return max(1, min(asked, hosts)) if hosts > 0 else asked


def suites_argv(
    python: str,
    suites: str,
    inventories: Sequence[str],
    *,
    limit: str = "all",
    workers: int = 0,
    report_dir: str | None = None,
    host_vars: str | None = None,
) -> list[str]:
    """The pytest command line of the suites (no secret in it); ``host_vars``: a JSON
    file of variables by host that rank above the inventory's (--sagefleet-host-vars).
    ``workers``: pytest-xdist's -n from 2 on; one worker would only be one more
    interpreter to start, so 0 and 1 run the suites in pytest's own process."""
    argv = [python, "-m", "pytest", "-p", "sagefleet.verify.plugin", "-p", "no:cacheprovider"]
    argv += ["-q", suites, f"--sagefleet-limit={limit}"]
    if workers > 1:
        argv += ["-n", str(workers)]
    if report_dir:
        argv += [
            f"--junitxml={Path(report_dir) / 'pytest.junit.xml'}",
            f"--sagefleet-report={report_dir}",
        ]
    argv += [f"--sagefleet-inventory={source}" for source in inventories]
    if host_vars:
        argv.append(f"--sagefleet-host-vars={host_vars}")
    return argv


def run_suites(
    argv: Sequence[str], secrets: Sequence[tuple[str, bytes]], *, env: dict[str, str] | None = None
) -> SuiteRun:
    """Run ``argv`` with ``secrets`` handed over in memory; wait for it."""
    import os

    with secrets_for_child(secrets) as (handoff, fds):
        process = subprocess.run(
            list(argv),
            env={**(env if env is not None else os.environ), **handoff},
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
    return SuiteRun(list(argv), process.returncode, process.stdout, process.stderr)
