"""A client inventory as the operator guide writes it passes ansible-lint without a warning."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.fleets import ROOT

ANSIBLE_LINT = str(Path(sys.executable).parent / "ansible-lint")
WAIVERS = (
    "---\n"
    "sagefleet_waivers:\n"
    "  - id: SF308\n"
    '    reason: "Proxy required by the client\'s security policy (ticket 4711)"\n'
    "    expires: 2027-03-31\n"
)


def test_an_unquoted_waiver_date_draws_no_lint_warning(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".ansible-lint", tmp_path / ".ansible-lint")
    files = [
        tmp_path / "inventory" / "acme" / "host_vars" / "sage-acme-01.yml",
        tmp_path / "inventory" / "acme" / "group_vars" / "acme" / "vars.yml",
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(WAIVERS, encoding="utf-8")
    process = subprocess.run(
        [ANSIBLE_LINT, "--offline", "--nocolor", *(str(f.relative_to(tmp_path)) for f in files)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    output = process.stdout + process.stderr
    assert process.returncode == 0, output
    assert "2 files processed" in output, output
    warnings = [
        line for line in output.splitlines() if "WARNING" in line and "offline mode" not in line
    ]
    assert warnings == []
    assert "date is not JSON serializable" not in output
