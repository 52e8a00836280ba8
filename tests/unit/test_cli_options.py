"""The command line as users read it: every option explained, exit codes in --help,
vault options wherever an inventory is read, no developer command."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.fleets import ROOT

from sagefleet import cli
from sagefleet.inventory import VaultOptions, vault_options


def parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("sagefleet",)
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the command tree, with the words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


def explained(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str]]:
    """(option or subcommand, its help) of one parser."""
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        if isinstance(action, argparse._SubParsersAction):  # each subcommand's line
            for choice in action._choices_actions:
                yield choice.dest, choice.help or ""
        else:
            yield "/".join(action.option_strings) or action.dest, action.help or ""


def test_every_option_and_subcommand_has_help() -> None:
    missing = [
        f"{' '.join(path)} {name}"
        for path, parser in parsers(cli.build_parser())
        for name, text in explained(parser)
        if not text.strip()
    ]
    assert missing == []


def test_the_walk_sees_the_whole_tree() -> None:
    commands = {" ".join(path) for path, _ in parsers(cli.build_parser())}
    assert {"sagefleet doctor", "sagefleet sim up", "sagefleet settings render"} <= commands


@pytest.mark.parametrize(
    "command",
    [
        ["doctor", "-i", "inv"],
        ["selftest", "-i", "inv", "-l", "h"],
        ["settings", "validate", "-i", "inv"],
        ["settings", "render", "-i", "inv", "-l", "h"],
        ["sim", "up", "-i", "inv"],
        ["sim", "serve", "-i", "inv", "--state-dir", "s"],
        ["facts-script", "-i", "inv", "--host", "h"],
        ["checks", "--facts", "f.json", "-i", "inv", "--host", "h"],
        ["jump", "-i", "inv"],
        ["agent", "learn", "-i", "inv", "-l", "h"],
    ],
)
def test_every_command_reading_an_inventory_takes_ansibles_vault_options(
    command: list[str],
) -> None:
    args = cli.build_parser().parse_args(
        [
            *command,
            "--vault-password-file",
            "a",
            "--vault-id",
            "prod@b",
            "--vault-id",
            "c",
            "--ask-vault-pass",
        ]
    )
    assert vault_options(args) == VaultOptions(password_files=("a",), ids=("prod@b", "c"), ask=True)


def test_doctor_help_documents_its_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["doctor", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "exit codes:" in text
    for code, meaning in cli.DOCTOR_EXIT_CODES.items():
        assert f"  {code:<4} {meaning}" in text
    assert cli.DOCTOR_EXIT_CODES[cli.EXIT_BLOCKED].startswith("--fail-on-blocked")
    for option in ("--lang", "--vault-id", "--ask-vault-pass", "--out"):
        assert option in text


def test_a_usage_error_exits_with_the_documented_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["doctor"])  # -i missing: argparse's own usage error
    assert stop.value.code == cli.EXIT_USAGE
    assert cli.main(["doctor", "-i", "inv", "--forks", "0"]) == cli.EXIT_USAGE
    assert "--forks" in capsys.readouterr().err


def test_out_dash_takes_exactly_one_format(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["doctor", "-i", "inv", "--out", "-"])  # every format by default
    assert rc == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--format" in err and "--out -" in err


def test_the_docs_generator_is_not_an_operator_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stop:
        cli.main(["docs", "all", "--check"])
    assert stop.value.code == cli.EXIT_USAGE
    assert "invalid choice: 'docs'" in capsys.readouterr().err
    process = subprocess.run(
        [sys.executable, "-m", "sagefleet.ansible.roledocs", "all", "--check", "--root", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stdout + process.stderr


def test_the_docs_generator_reports_drift(tmp_path: Path) -> None:
    from sagefleet.ansible import roledocs

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "checks.md").write_text(
        f"# Checks\n\n{roledocs.CHECKS_BEGIN}\nstale\n{roledocs.CHECKS_END}\n"
    )
    (tmp_path / "roles").mkdir()
    assert roledocs.main(["checks", "--check", "--root", str(tmp_path)]) == 1
    assert roledocs.main(["checks", "--root", str(tmp_path)]) == 0
    assert roledocs.main(["checks", "--check", "--root", str(tmp_path)]) == 0
    assert "| SF101 |" in (tmp_path / "docs" / "checks.md").read_text()


def test_a_command_is_documented_by_its_function_docstring() -> None:
    from sagefleet.cli.common import help_texts

    doc = """one line of help

    The description, over
    two lines.
    """
    assert help_texts(doc) == {
        "help": "one line of help",
        "description": "The description, over two lines.",
    }
    assert help_texts("only the help") == {"help": "only the help"}
    twin = dict(parsers(cli.build_parser()))[("sagefleet", "sim", "twin")]
    assert twin.description is not None and twin.description.startswith("Turn facts collected")


def test_the_demo_names_its_reports_where_they_were_written(tmp_path: Path) -> None:
    from sagefleet.cli.demo import demo_epilogue

    inventory = tmp_path / "inventory" / "demo" / "hosts.yml"
    for root in (tmp_path / "reports", tmp_path / "elsewhere"):
        report = root / "demo" / "preflight" / "latest" / "report.html"
        report.parent.mkdir(parents=True)
        report.write_text("<html></html>")
    # By default under the project's reports/, named from the project.
    text = demo_epilogue(tmp_path, inventory, 0.0, 0)
    assert "  reports/demo/preflight/latest/report.html" in text.splitlines()
    # --report-dir: that folder's, and only that folder's.
    text = demo_epilogue(tmp_path, inventory, 0.0, 0, tmp_path / "elsewhere")
    assert "  elsewhere/demo/preflight/latest/report.html" in text.splitlines()
    assert "reports/demo" not in text


def test_doctors_exit_code_names_at_most_ten_of_the_hosts_that_set_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from sagefleet.cli.common import report_exit_code
    from sagefleet.findings import FleetReport, HostReport

    down = [HostReport(f"sage{i:02d}", reachable=False, error="refused") for i in range(12)]
    report = FleetReport("sagefleet doctor", (*down, HostReport("sage99", reachable=True)))
    assert report_exit_code("doctor", report, fail_on_blocked=False) == cli.EXIT_UNREACHABLE == 4
    names = ", ".join(f"sage{i:02d}" for i in range(10))
    assert capsys.readouterr().err == (
        f"doctor: exit code 4: 12 host(s) unreachable, so not diagnosed: {names} and 2 more\n"
    )
    healthy = FleetReport("sagefleet doctor", (HostReport("sage99", reachable=True),))
    assert report_exit_code("doctor", healthy, fail_on_blocked=True) == cli.EXIT_OK
    assert capsys.readouterr().err == ""


def test_doctors_progress_counts_blocked_and_unreachable_hosts_apart() -> None:
    import io

    from sagefleet.doctor import Progress
    from sagefleet.findings import HostReport

    stream = io.StringIO()
    progress = Progress(total=2, stream=stream)
    progress.start()
    progress.update(HostReport("sage01", reachable=False, error="refused"))
    progress.update(HostReport("sage02", reachable=True))
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("doctor: 2/2 hosts, 0 blocked, 1 unreachable, "), last


def test_doctor_refuses_a_sage_server_it_cannot_reach_over_winrm_and_names_others_it_leaves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Sage server reached another way would be missing from the report as if diagnosed:
    an input error before any host is contacted. A host outside sage_servers (a bastion)
    is left out, and stderr says so."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n"
        "  children:\n"
        "    sage_servers:\n"
        "      hosts:\n"
        "        sage-psrp: {ansible_connection: psrp, ansible_host: 127.0.0.1}\n"
        "    bastions:\n"
        "      hosts:\n"
        "        jump01: {ansible_host: 127.0.0.1}\n",
        encoding="utf-8",
    )
    assert cli.main(["doctor", "-i", str(inventory), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert (
        "host sage-psrp, field ansible_connection: sagefleet doctor reaches Sage servers over "
        "WinRM only (value: psrp). Fix: preflight it with playbooks/preflight.yml"
    ) in err
    assert not (tmp_path / "r").exists()
    # Without it (--limit), the bastion alone is left out, and said so.
    assert cli.main(["doctor", "-i", str(inventory), "-l", "jump01"]) == 2
    err = capsys.readouterr().err
    assert (
        "doctor: left out 1 host(s) outside sage_servers not reached over WinRM: "
        "jump01 (ssh (Ansible's default))"
    ) in err
    assert "no WinRM host matches 'jump01'" in err


def test_selftest_help_documents_its_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["selftest", "--help"])
    text = capsys.readouterr().out
    assert "exit codes:" in text
    for code in (0, 1, 2, 4):
        assert f"\n  {code:<4} " in text, code


def test_doctor_names_an_inventory_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nonexist" / "hosts.yml"
    assert cli.main(["doctor", "-i", str(missing)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"sagefleet: error: field -i/--inventory: inventory not found: {missing}" in err
    assert "no WinRM host matches" not in err


@pytest.mark.parametrize("command", [["checks", "list"], ["sim", "profiles"]])
def test_a_closed_stdout_ends_the_command_quietly_with_141(command: list[str]) -> None:
    """`sagefleet checks list | head -1`: head exits after one line; the command stops there
    without a traceback, with 141 (128 + SIGPIPE), as a shell reports a tool SIGPIPE ended."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sagefleet", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the first line is written
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (cli.EXIT_BROKEN_PIPE, "") == (141, "")


@pytest.mark.parametrize(
    "mae",
    ["BIJOU.MAE", "Sage\\BIJOU.MAE", "\\Sage\\BIJOU.MAE", "C:BIJOU.MAE", "C:\\Sage\\BIJOU"],
)
def test_facts_script_refuses_a_mae_path_that_is_not_absolute_on_windows(
    mae: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read on the server, a relative path starts at whatever folder the script runs in,
    never the one the operator meant; the rule is entity mae_path's."""
    out = tmp_path / "collect.ps1"
    given = ["facts-script", "--mae", "C:\\Sage\\CHOCO.MAE", "--mae", mae, "-o", str(out)]
    assert cli.main(given) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(
        f"sagefleet: error: field --mae: must be an absolute Windows path (C:\\... or "
        f"\\\\server\\share\\...) to a .mae file (value: '{mae}'). Fix: give the full path"
    ), err
    assert not out.exists()


@pytest.mark.parametrize("mae", ["C:\\Sage\\BIJOU.MAE", "\\\\FS01\\Sage\\BIJOU.mae"])
def test_facts_script_takes_a_drive_letter_or_unc_mae_path(mae: str, tmp_path: Path) -> None:
    from sagefleet import offline, snippets

    out = tmp_path / "collect.ps1"
    assert cli.main(["facts-script", "--mae", mae, "-o", str(out)]) == cli.EXIT_OK
    embedded = snippets.parse(offline.embedded_script(out.read_text(encoding="utf-8")))
    assert embedded is not None and embedded.params["mae_files"] == [mae]


def test_checks_help_documents_its_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    # `checks --facts` exits as doctor does (0, 1 with --fail-on-blocked, 2): its --help says so.
    with pytest.raises(SystemExit):
        cli.main(["checks", "--help"])
    text = capsys.readouterr().out
    assert "exit codes:" in text
    for code in (0, 1, 2):
        assert f"\n  {code:<4} " in text, code
