"""`sagefleet selftest`: every read-only snippet once against one simulated server."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagefleet import selftest, snippets
from sagefleet.cli import main
from sagefleet.remote.command import snippet_invocation
from sagefleet.sim.commands import dispatch
from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.host import WindowsHost
from tests.support.fleets import next_first_address
from tests.support.scenarios import write_inventory

SQL_SECRET = "Sql-Canary-Passw0rd!"
SETTINGS = "C:\\Program Files\\Spendesk\\Sage Agent\\settings.json"


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Fleet, Path, str]]:
    """One server with the agent installed, its settings.json holding the SQL password."""
    specs = generate_specs(1, profiles=("agent-old",), first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        host = fleet.host("sage01")
        host.fs.write(SETTINGS, json.dumps({"sqlPassword": SQL_SECRET}).encode())
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        yield fleet, inventory, fleet.spec("sage01").password


def selftest_run(inventory: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["selftest", "-i", str(inventory), "-l", "sage01", "--out", str(out)])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def bundle_files(out: Path) -> dict[str, bytes]:
    (zip_path,) = out.glob("sage01-*.zip")
    with zipfile.ZipFile(zip_path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def files_of(host: WindowsHost) -> dict[str, tuple[object, ...]]:
    return {k: (e.size, e.data, repr(e.acl), e.readonly) for k, e in host.fs.entries.items()}


def test_read_only_list_covers_every_snippet_once() -> None:
    assert sorted([*selftest.READ_ONLY, *selftest.NOT_RUN]) == snippets.available()
    assert not set(selftest.READ_ONLY) & set(selftest.NOT_RUN)


def test_a_healthy_host_is_all_ok_and_changes_nothing(
    setup: tuple[Fleet, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, inventory, password = setup
    host = fleet.host("sage01")
    before = files_of(host)
    services = {k: s.state for k, s in host.services.items()}
    rc, output = selftest_run(inventory, tmp_path / "out", capsys)
    assert rc == 0, output
    for name in selftest.READ_ONLY:
        assert f"OK    {name}" in output
    assert "  FAIL  " not in output and f"{len(selftest.READ_ONLY)} OK, 0 FAIL" in output
    # The names make one column, the longest included: the durations line up.
    rows = [line for line in output.splitlines() if line.startswith("  OK    ")]
    assert len({line.index(" s  command line") for line in rows}) == 1, rows
    ran = [e["name"] for e in host.journal if e["kind"] == "snippet"]
    assert ran == list(selftest.READ_ONLY)
    assert files_of(host) == before  # contents, DACLs and attributes alike
    assert {k: s.state for k, s in host.services.items()} == services
    files = bundle_files(tmp_path / "out")
    summary = json.loads(files["selftest.json"])
    assert summary["status"] == "ok"
    assert [s["snippet"] for s in summary["snippets"]] == list(selftest.READ_ONLY)
    facts = json.loads(files["snippets/02-facts.json"])
    assert facts["rc"] == 0 and facts["ok"] and facts["output"]["schema"] == 1
    command, prefix = snippet_invocation("facts", facts["params"])
    assert facts["command_line_length"] == len(command)
    assert facts["stdin_bytes"] == len(prefix or b"")
    assert facts["duration_s"] >= 0
    for data in [*files.values(), output.encode()]:
        assert SQL_SECRET.encode() not in data
        assert password.encode() not in data


def test_a_failing_snippet_is_a_fail_with_its_powershell_error_and_exit_1(
    setup: tuple[Fleet, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, inventory, password = setup
    error = 'Exception calling "OpenBaseKey": Cannot invoke method. Method invocation is '
    error += "supported only on core types in this language mode."
    fleet.host("sage01").snippet_failures["discover"] = error
    rc, output = selftest_run(inventory, tmp_path / "out", capsys)
    assert rc == 1
    line = next(x for x in output.splitlines() if "FAIL  discover" in x)
    command, _ = snippet_invocation(
        "discover",
        json.loads(bundle_files(tmp_path / "out")["snippets/04-discover.json"])["params"],
    )
    assert "rc 1" in line and f"command line {len(command)} characters" in line
    assert error in output
    for name in selftest.READ_ONLY:
        if name != "discover":
            assert f"OK    {name}" in output
    files = bundle_files(tmp_path / "out")
    record = json.loads(files["snippets/04-discover.json"])
    assert (record["ok"], record["rc"], record["error"]) == (False, 1, error)
    assert json.loads(files["selftest.json"])["status"] == "failed"
    for data in [*files.values(), output.encode()]:
        assert SQL_SECRET.encode() not in data and password.encode() not in data


def test_an_output_that_breaks_its_contract_is_a_fail_naming_the_member(
    setup: tuple[Fleet, Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, inventory, _ = setup
    real = dispatch.SNIPPETS["host_info"]

    def as_text(host: WindowsHost, params: dict[str, Any], stdin: bytes) -> Any:
        return {**real(host, params, stdin), "os_build": str(host.os_build)}

    monkeypatch.setitem(dispatch.SNIPPETS, "host_info", as_text)
    rc, output = selftest_run(inventory, tmp_path / "out", capsys)
    assert rc == 1
    assert "FAIL  host_info" in output
    assert "member /os_build: expected integer, found a string of 5 characters" in output


def test_an_unreachable_host_exits_4_as_doctor(
    setup: tuple[Fleet, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet, inventory, password = setup
    fleet.stop()
    rc, output = selftest_run(inventory, tmp_path / "out", capsys)
    assert rc == 4
    assert "UNREACHABLE" in output and "host unreachable" in output
    files = bundle_files(tmp_path / "out")
    assert json.loads(files["selftest.json"])["status"] == "unreachable"
    assert password.encode() not in b"".join(files.values())


def test_one_host_only(setup: tuple[Fleet, Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, inventory, _ = setup
    assert main(["selftest", "-i", str(inventory), "-l", "nothing*"]) == 2
    assert "selftest runs against one server" in capsys.readouterr().err
