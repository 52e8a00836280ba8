"""Where the commands write: a report folder (--out) or a file (-o) the bastion could not
write is refused before any host is contacted, naming the option and the path, with exit
code 2 (usage or input error), never found out after the hosts with a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support import factsdoc
from tests.support.fleets import next_first_address

from sagefleet import cli
from sagefleet.sim.fleet import Fleet, generate_specs

VENDOR = Path(__file__).resolve().parent / "settings_data" / "vendor_bijou.json"


@pytest.fixture
def no_contact(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every way these commands reach a host, made to record the attempt and fail."""
    attempts: list[str] = []

    def contact(*args: Any, **kwargs: Any) -> Any:
        attempts.append("contacted")
        raise AssertionError("a host was contacted")

    monkeypatch.setattr("sagefleet.doctor.run", contact)
    monkeypatch.setattr("sagefleet.remote.winrm.WinRMSession.__init__", contact)
    monkeypatch.setattr("sagefleet.remote.jump.connect", contact)
    return attempts


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """A one-host inventory whose inputs are valid (never served: nothing may reach it)."""
    specs = generate_specs(1, first_address=next_first_address(), port=5986)
    return Fleet(specs, tmp_path / "fleet").write_inventory(tmp_path / "inv" / "hosts.yml")


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    path = tmp_path / "facts.json"
    text = json.dumps(factsdoc.healthy()).replace('"Tls12"', '"TLSv1.2"')  # as facts.ps1 says
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def entities(tmp_path: Path) -> Path:
    entity = {
        "name": "BIJOU",
        "company_code": "BIJOU",
        "analytic_plan": 1,
        "edition": "onpremise",
        "sql_instance": "SRV\\SAGE",
        "database": "BIJOU",
        "sage_user": "<administrateur>",
        "sage_password": "",
        "sql_user": "u",
        "sql_password": "p",
        "mae_path": "C:\\Sage\\BIJOU.MAE",
        "pdf_storage": "filestream",
    }
    path = tmp_path / "srv1.yml"
    path.write_text(
        yaml.safe_dump({"sagefleet_settings_source": "template", "sagefleet_entities": [entity]})
    )
    return path


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], option: str, path: Path) -> str:
    """Run ``argv``; it must exit 2 with one error line naming ``option`` and ``path``."""
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("sagefleet: error: ")]
    assert f"field {option}: " in line and str(path) in line, line
    return line


@pytest.mark.parametrize(
    "where", ["a file", "in a file", "proc"], ids=["file", "under-a-file", "proc"]
)
def test_doctor_refuses_a_report_folder_it_cannot_write_before_any_host(
    tmp_path: Path,
    inventory: Path,
    no_contact: list[str],
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    out = {"a file": a_file, "in a file": a_file / "reports", "proc": Path("/proc/x")}[where]
    refused(capsys, ["doctor", "-i", str(inventory), "--out", str(out)], "--out", out)
    assert no_contact == []
    assert a_file.read_text() == "x"


def test_doctor_refuses_a_default_report_folder_it_cannot_make_before_any_host(
    tmp_path: Path,
    inventory: Path,
    no_contact: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reports").write_text("not a folder")
    line = refused(capsys, ["doctor", "-i", str(inventory)], "--out", Path("reports"))
    assert "--out FOLDER" in line
    assert no_contact == []


def test_selftest_refuses_a_transcript_folder_it_cannot_write_before_the_host(
    tmp_path: Path,
    inventory: Path,
    no_contact: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    argv = ["selftest", "-i", str(inventory), "-l", "sage01", "--out", str(a_file)]
    refused(capsys, argv, "--out", a_file)
    assert no_contact == []


def test_checks_refuses_a_report_folder_it_cannot_write(
    tmp_path: Path, facts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    refused(capsys, ["checks", "--facts", str(facts), "--out", str(a_file)], "--out", a_file)
    assert a_file.read_text() == "x"


def test_checks_out_dash_writes_one_report_to_stdout_as_doctor_does(
    tmp_path: Path,
    facts: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["checks", "--facts", str(facts), "--out", "-"]
    # Every format by default: which one goes to stdout? As doctor, it asks.
    line = refused(capsys, argv, "--format", Path("json"))
    assert "--out -" in line
    assert cli.main([*argv, "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["hosts"][0]["host"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facts.json"]  # no folder '-'


def test_sim_twin_refuses_a_profile_folder_it_cannot_write(
    tmp_path: Path, facts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    refused(capsys, ["sim", "twin", str(facts), "-o", str(a_file)], "-o/--out", a_file)
    assert a_file.read_text() == "x"


@pytest.mark.parametrize(
    "where", ["a folder", "under a file", "proc"], ids=["folder", "under-a-file", "proc"]
)
def test_jump_refuses_an_overlay_it_cannot_write_before_any_jump_host(
    tmp_path: Path,
    inventory: Path,
    no_contact: list[str],
    capsys: pytest.CaptureFixture[str],
    where: str,
) -> None:
    """The overlay was written after the forwards were open: a traceback then."""
    data = yaml.safe_load(inventory.read_text())
    data["all"]["vars"]["sagefleet_ssh_jump"] = {
        "host": "127.0.0.1", "port": 22, "user": "u", "password": "p",
    }  # fmt: skip
    inventory.write_text(yaml.safe_dump(data))
    folder = tmp_path / "a-folder"
    folder.mkdir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    overlay, named = {
        "a folder": (folder, folder),
        "under a file": (a_file / "hosts.yml", a_file),
        "proc": (Path("/proc/x/hosts.yml"), Path("/proc/x")),
    }[where]
    argv = ["jump", "-i", str(inventory), "--overlay", str(overlay)]
    line = refused(capsys, argv, "--overlay", named)
    assert "Fix: " in line
    assert no_contact == []
    assert list(folder.iterdir()) == [] and a_file.read_text() == "x"


def output_commands(inventory: Path, entities: Path) -> dict[str, list[str]]:
    """Every command writing a file given with -o/--output, without it."""
    return {
        "facts-script": ["facts-script"],
        "agent learn": ["agent", "learn", "-i", str(inventory), "-l", "sage01"],
        "settings merge": ["settings", "merge", str(VENDOR)],
        "settings render": ["settings", "render", "--entities", str(entities)],
    }


@pytest.mark.parametrize("command", ["facts-script", "settings merge", "settings render"])
def test_an_output_file_gets_its_folder_made(
    tmp_path: Path, inventory: Path, entities: Path, command: str
) -> None:
    out = tmp_path / "new" / "deeper" / "file"
    assert cli.main([*output_commands(inventory, entities)[command], "-o", str(out)]) == 0
    assert out.is_file() and out.stat().st_size > 0


@pytest.mark.parametrize(
    "command", ["facts-script", "agent learn", "settings merge", "settings render"]
)
@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_an_output_file_it_cannot_write_is_refused_before_any_host(
    tmp_path: Path,
    inventory: Path,
    entities: Path,
    no_contact: list[str],
    capsys: pytest.CaptureFixture[str],
    command: str,
    where: str,
) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    out = folder if where == "a folder" else a_file / "out"
    argv = [*output_commands(inventory, entities)[command], "-o", str(out)]
    refused(capsys, argv, "-o/--output", folder if where == "a folder" else a_file)
    assert no_contact == []
    assert list(folder.iterdir()) == [] and a_file.read_text() == "x"


@pytest.mark.parametrize("command", ["facts-script", "settings merge", "settings render"])
def test_output_dash_is_standard_output(
    tmp_path: Path,
    inventory: Path,
    entities: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    assert cli.main([*output_commands(inventory, entities)[command], "-o", "-"]) == 0
    assert capsys.readouterr().out
    assert sorted(tmp_path.iterdir()) == before  # no file named '-'
