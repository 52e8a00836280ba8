"""ansible-core's own traffic (raw, put_file, fetch_file) against the simulator.

Each test runs once per ansible-core leg: the suite's own interpreter, and the
ansible-core 2.18 virtualenv when ``SAGEFLEET_ANSIBLE218_PYTHON`` names its
interpreter (``make test-ansible218`` creates it and sets it). 2.18 and 2.19+
transfer files with different scripts, so both must pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sagefleet.package import build_test_package
from sagefleet.sim.fleet import Fleet
from tests.support.fleets import ROOT, FleetFactory

LEG_SCRIPT = ROOT / "tests" / "support" / "ansible_leg.py"
PLAYBOOK = Path(__file__).parent / "playbooks" / "conformance.yml"


def _legs() -> list[pytest.param]:  # type: ignore[valid-type]
    legs = [pytest.param(sys.executable, id="suite")]
    other = os.environ.get("SAGEFLEET_ANSIBLE218_PYTHON")
    if other:
        legs.append(pytest.param(str(Path(other).absolute()), id="ansible218"))
    return legs


LEGS = _legs()


def _env(python: str) -> dict[str, str]:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    # The 2.18 virtualenv holds only ansible-core and pywinrm: our action
    # plugin imports sagefleet from the source tree.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    return env


def _version(python: str) -> str:
    out = subprocess.run(
        [python, "-c", "from ansible.release import __version__; print(__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def run_leg(
    python: str,
    fleet: Fleet,
    tmp_path: Path,
    files: list[tuple[str, int]],
    stage: dict[str, object] | None = None,
    missing: str = "C:\\temp\\no such file.bin",
) -> dict:
    spec = fleet.spec("sage01")
    target = {
        "stage": stage,
        "address": spec.address,
        "port": spec.port,
        "username": spec.username,
        "password": spec.password,
        "ca_file": str(fleet.ca_file),
        "files": files,
        "missing": missing,
        "directory": "C:\\Windows\\Temp",
    }
    target_file = tmp_path / "target.json"
    target_file.write_text(json.dumps(target), encoding="utf-8")
    result_file = tmp_path / "result.json"
    process = subprocess.run(
        [python, str(LEG_SCRIPT), str(target_file), str(result_file)],
        env=_env(python),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    return json.loads(result_file.read_text(encoding="utf-8"))


@pytest.mark.parametrize("python", LEGS)
def test_put_file_then_fetch_file_round_trips_with_the_same_sha1(
    python: str, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet()
    fleet.host("sage01").fs.mkdir("C:\\temp")  # put_file needs the folder, as on Windows
    files = [
        ("C:\\temp\\small.txt", 100),
        ("C:\\temp\\it's ‘quoted’ big.bin", 600_000),  # 3 put chunks, 2 fetch chunks
        ("C:\\temp\\empty.bin", 0),
    ]
    result = run_leg(python, fleet, tmp_path, files)
    assert result["ansible_version"] == _version(python)
    for entry in result["transfers"]:
        assert entry["fetched_sha1"] == entry["sha1"], entry
    journal = fleet.host("sage01").journal
    puts = [e for e in journal if e.get("action") == "put_file"]
    assert [(e["path"], e["bytes"]) for e in puts] == files
    via = "2.18" if result["ansible_version"].startswith("2.18.") else "2.19"
    fetches = [e for e in journal if e.get("action") == "fetch_file"]
    assert {e["via"] for e in fetches} == {via}
    assert [e["offset"] for e in fetches if e["path"] == files[1][0]] == [0, 524288]


@pytest.mark.parametrize("python", LEGS)
@pytest.mark.parametrize("encoding", ["binary", "base64"])
def test_sagefleet_push_in_pieces_over_copies_of_the_connection(
    python: str, encoding: str, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    """The push deploy.yml makes: three pieces over the task's connection and two copies
    of it, then a command that appends them and verifies; byte-exact in both encodings."""
    fleet = make_fleet()
    package = build_test_package(
        tmp_path / "Setup.zip", agent_version="3.2.0", payload_bytes=1024 * 1024
    )
    options = {"package": str(package), "encoding": encoding, "streams": 3}
    result = run_leg(python, fleet, tmp_path, [], {**options, "min_piece_bytes": 256 * 1024})
    assert result["stage"]["streams"] == 3
    assert result["stage"]["bytes_sent"] == package.stat().st_size
    host = fleet.host("sage01")
    assert host.fs.read(result["stage"]["path"]) == package.read_bytes()
    pushes = [e["params"] for e in host.journal if e.get("name") == "stage_push"]
    assert [bool(p.get("piece")) for p in pushes] == [True, True, True, False]


@pytest.mark.parametrize("python", LEGS)
def test_fetch_of_a_missing_file_fails_and_of_a_folder_writes_nothing(
    python: str, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet()
    result = run_leg(python, fleet, tmp_path, [])
    assert result["missing"].startswith("AnsibleError: failed to transfer file")
    assert result["directory_fetch_created_file"] is False


@pytest.mark.parametrize("python", LEGS)
def test_fetch_of_a_file_on_a_drive_the_user_mapped_fails_in_the_winrm_session(
    python: str, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    """Drive letters belong to a logon session: the interactive user's S: is no drive of
    the WinRM session, for ansible's own fetch as for sagefleet's snippets."""
    fleet = make_fleet(profiles=("mae-network-drive-localsystem",))
    host = fleet.host("sage01")
    path = "S:\\Societes\\BIJOU.MAE"
    assert host.fs.is_file(path)  # the interactive user's view: the file is there
    result = run_leg(python, fleet, tmp_path, [], missing=path)
    assert result["missing"].startswith("AnsibleError: failed to transfer file"), result


@pytest.mark.parametrize("python", LEGS)
def test_raw_commands_run_when_understood_and_fail_loudly_otherwise(
    python: str, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet()
    result = run_leg(python, fleet, tmp_path, [])
    assert result["hostname"] == [0, "SAGE-ONPREM\r\n", ""]
    rc, stdout, stderr = result["not_understood"]
    assert rc == 1 and stdout == ""
    assert "not understood: Get-Process | Stop-Process" in stderr


@pytest.mark.parametrize("python", LEGS)
def test_conformance_playbook_runs_raw_and_the_action_plugin(
    python: str, make_fleet: FleetFactory, tmp_path: Path
) -> None:
    fleet = make_fleet(2, profiles=("healthy-onprem", "healthy-spc"))
    inventory = fleet.write_inventory(tmp_path / "hosts.yml")
    process = subprocess.run(
        [str(Path(python).parent / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK)],
        cwd=ROOT,
        env=_env(python),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    assert "ok=4" in process.stdout and "failed=0" in process.stdout
    for name in ("sage01", "sage02"):
        kinds = [(e["kind"], e.get("name") or e.get("script")) for e in fleet.host(name).journal]
        assert kinds == [
            ("powershell", "hostname"),
            ("powershell", "Get-Process | Stop-Process"),
            ("snippet", "host_info"),
        ]
