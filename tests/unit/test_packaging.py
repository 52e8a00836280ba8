"""Packaging and repository hygiene: what `pip install -e .` and `git status` show a user."""

from __future__ import annotations

import re
import subprocess
import tomllib

from tests.support.fleets import ROOT


def test_the_license_is_an_spdx_expression_with_its_file() -> None:
    """setuptools deprecates `license = {text = ...}` (a warning at every install, an
    error from 2027); the SPDX string and license-files need setuptools 77 or later."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0"
    files = project["project"]["license-files"]
    assert files and all(list(ROOT.glob(pattern)) for pattern in files)
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    match = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert match and int(match.group(1)) >= 77, setuptools


def test_every_inventorys_simulator_state_is_ignored_by_git() -> None:
    """`sim up -i inventory/<client>` keeps its state (a private key) in .sim/ there."""
    for path in ("inventory/demo/.sim/key.pem", "inventory/acme/.sim/key.pem"):
        process = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, timeout=30
        )
        assert process.returncode == 0, f"{path} is not ignored"
