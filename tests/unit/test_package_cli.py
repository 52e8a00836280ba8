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


@pytest.mark.parametrize(
    ("labels", "says"),
    [("", "no Sage version label"), (" , ", "no Sage version label"), ("v11.0,v11.0", "v11.0")],
)
def test_a_refused_build_leaves_the_package_there_as_it_was(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    recwarn: pytest.WarningsRecorder,
    labels: str,
    says: str,
) -> None:
    """Checked before anything is written: a valid package of that name stays whole."""
    out = tmp_path / "Good.zip"
    run(capsys, "package", "build", str(out), "--version", "3.2.0", "--labels", "v11.0")
    before = out.read_bytes()
    code, _, err = run(
        capsys, "package", "build", str(out), "--version", "3.3.0", "--labels", labels
    )
    assert code == 2 and "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith("sagefleet: error: field --labels: ") and says in line, line
    assert "sagefleet_agent_package" not in line
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Good.zip"]
    assert [str(w.message) for w in recwarn] == []  # no zipfile "Duplicate name"


def test_a_build_into_a_folder_is_refused_naming_the_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "package", "build", str(tmp_path), "--version", "3.2.0")
    assert code == 2 and "Traceback" not in err
    assert f"field OUT.zip: is a folder, not a file (value: {tmp_path})" in err
    assert list(tmp_path.iterdir()) == []


def test_a_build_that_inspect_would_refuse_is_not_left_on_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package is inspected before it takes its name: one deploy would refuse (here a
    build whose installers have no version resource) is never written there."""
    from sagefleet import package

    monkeypatch.setattr(package, "stamp_version", lambda data, name, version: b"MZ")
    out = tmp_path / "Setup.zip"
    code, _, err = run(capsys, "package", "build", str(out), "--version", "3.2.0")
    assert code == 2 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
    assert ".part" not in err


def test_inspect_of_a_folder_says_it_is_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "package", "inspect", str(tmp_path))
    assert code == 2
    assert f"field SETUP.zip: is a folder, not a package file (value: {tmp_path})" in err


@pytest.mark.parametrize("sha256", ["abc", "0" * 63, "g" * 64, ""])
def test_inspect_refuses_a_malformed_sha256_before_reading_the_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sha256: str
) -> None:
    out = tmp_path / "Setup.zip"
    run(capsys, "package", "build", str(out), "--version", "3.2.0", "--labels", "v11.0")
    code, _, err = run(capsys, "package", "inspect", str(out), "--sha256", sha256)
    assert code == 2
    assert f"field --sha256: a SHA-256 is 64 hexadecimal digits (value: {sha256})" in err
    assert "mismatch" not in err
