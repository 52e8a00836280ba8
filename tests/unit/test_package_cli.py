"""``sagefleet package inspect|build`` from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sagefleet.cli import main
from sagefleet.package import inspect

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_build_writes_a_package_inspect_reads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "Setup.zip"
    code, text, _ = run(capsys, "package", "build", str(out), "--version", "3.3.1",
                        "--labels", "v10.0,v11.0", "--technology", "nsis")
    assert code == 0 and f"test package written: {out}" in text
    info = inspect(out)
    assert info.labels() == ["v10.0", "v11.0"] and info.agent_version == "3.3.1"
    assert {i.technology for i in info.installers} == {"nsis"}


def test_inspect_shows_each_installer_with_its_evidence_version_and_switches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "Setup.zip"
    run(capsys, "package", "build", str(out), "--version", "3.2.0", "--labels", "v11.0")
    code, text, _ = run(capsys, "package", "inspect", str(out))
    assert code == 0
    assert "version   3.2.0 (version resource ProductVersion)" in text
    assert "Spendesk Sage Agent Setup v11.0.exe\n  Sage label   v11.0\n" in text
    assert "  technology   Inno Setup (inno)\n" in text
    assert "  evidence     setup loader offset table (rDlPtS) in RCDATA resource 11111\n" in text
    assert "  switches     /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /LOG={log}\n" in text
    assert "switches from the agent profile: the shipped agent profile" in text


def test_inspect_json_of_an_unknown_installer_has_no_switches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "Setup.zip"
    run(capsys, "package", "build", str(out), "--version", "3.2.0", "--labels", "v11.0",
        "--technology", "unknown")
    code, text, _ = run(capsys, "package", "inspect", str(out), "--format", "json")
    document = json.loads(text)
    (installer,) = document["installers"]
    assert code == 0
    assert (installer["technology"], installer["switches"]) == ("unknown", None)
    assert document["agent_version"] == "3.2.0"
    code, text, _ = run(capsys, "package", "inspect", str(out))
    assert "switches     none known for this technology: deploy needs " \
        "sagefleet_agent_installer_arguments" in text


def test_inspect_of_a_symlink_package_is_a_clear_error(
    capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "package", "inspect", str(FIXTURES / "zip" / "symlink-entry.zip"))
    assert code == 2 and out == ""
    assert "entry settings.json is a symbolic link" in err and "Traceback" not in err


def test_build_with_a_bad_label_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "package", "build", str(tmp_path / "p.zip"), "--version", "3.2.0",
                       "--labels", "v11.0,eleven")
    assert code == 2
    assert "field --labels: a Sage version label is v<major>.<minor> (value: eleven)" in err
    assert not (tmp_path / "p.zip").exists()


def test_inspect_errors_name_the_commands_own_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not the inventory variables deploy.yml reads for the same checks."""
    out = tmp_path / "Setup.zip"
    run(capsys, "package", "build", str(out), "--version", "3.2.0", "--labels", "v11.0")
    code, _, err = run(capsys, "package", "inspect", str(out), "--sha256", "0" * 64)
    assert code == 2 and "field --sha256: " in err and "sagefleet_agent_package" not in err
    code, _, err = run(capsys, "package", "inspect", str(tmp_path / "missing.zip"))
    assert code == 2 and "field SETUP.zip: " in err and "sagefleet_agent_package" not in err
