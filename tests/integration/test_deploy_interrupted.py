"""A deploy stopped by a signal: ansible-playbook against the simulated fleet, stopped by
Ctrl-C (SIGINT to its process group, as a terminal sends it) or by a TERM to its process
(a CI job's timeout, a service manager, kill), once a host holds its deploy lock."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from sagefleet.package import build_test_package
from sagefleet.settings import build_host_settings
from sagefleet.sim.fleet import Fleet
from tests.support.deploy import INSTALL_DIR, agent, deploy, report_folder
from tests.support.fleets import FleetFactory
from tests.support.scenarios import entities_for, write_inventory
from tests.support.signals import LOCK, commands_ended, stopped_playbook

DEPLOYING = "TASK [sagefleet_agent : Install or upgrade the agent]"
# How each signal ends the run: ansible-playbook's exit code, and the callback's word.
STOPS = {
    signal.SIGINT: (99, "interrupted"),  # ansible-playbook's "User interrupted execution"
    signal.SIGTERM: (143, "terminated (SIGTERM)"),  # 128 + SIGTERM, as the CLI's
}


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_test_package(
        tmp_path_factory.mktemp("pkg") / "Setup.zip", agent_version="3.2.0", installer_bytes=4096
    )


def stopped_deploy(
    fleet: Fleet,
    tmp: Path,
    package: Path,
    signum: signal.Signals,
    *extra: str,
    reached: Callable[[], bool] | None = None,
) -> tuple[int, str]:
    """deploy.yml, stopped by ``signum`` once ``reached()`` (by default: once host b holds
    its deploy lock); each command on b takes 1 s, so that b's deploy is still under way
    when the signal lands (its next commands take seconds more), while a, deployed
    first, is as fast as the simulator."""
    fleet.faults("b").set(powershell_startup=1.0)
    inventory = write_inventory(
        fleet, tmp / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
    )
    arguments = ["-i", str(inventory), "playbooks/deploy.yml"]
    arguments += ["-e", f"sagefleet_agent_package={package}"]
    arguments += ["-e", f"sagefleet_report_dir={tmp / 'reports'}", *extra]
    locked = reached or (lambda: fleet.host("b").fs.is_file(LOCK))
    return stopped_playbook(arguments, signum, locked, tmp)


@pytest.mark.parametrize("signum", list(STOPS), ids=lambda s: s.name)
def test_a_stopped_deploy_leaves_no_run_folder_and_says_it_wrote_no_report(
    tmp_path: Path, package: Path, make_fleet: FleetFactory, signum: signal.Signals
) -> None:
    """It left reports/<inventory>/deploy/<time>/ empty, and said nothing of a report nor
    of the host whose lock stays; a TERM killed ansible-playbook with the signal (exit code
    -15) before any word, leaving ansible's temporary folder too."""
    fleet = make_fleet(profiles=["healthy-onprem"] * 2, names=["a", "b"])
    earlier, _ = deploy(fleet, tmp_path, package, "--limit", "a")
    assert earlier.returncode == 0, earlier.stdout[-3000:]
    reported = report_folder(earlier)
    assert reported is not None
    job = reported.parent
    code, output = stopped_deploy(fleet, tmp_path, package, signum)
    expected_code, word = STOPS[signum]
    assert code == expected_code, output[-3000:]
    assert DEPLOYING in output and "Traceback" not in output
    lines = [line for line in output.splitlines() if line.startswith("[sagefleet] ")]
    assert len(lines) == 2, output[-3000:]
    prefix = f"[sagefleet] this run was {word} and wrote no report: its report folder "
    assert lines[0].startswith(prefix), lines
    opened = Path(lines[0].removeprefix(prefix).split(" was removed ", 1)[0])
    assert opened.parent == job and opened != reported
    assert not opened.exists()
    # latest stays on the earlier run, the only run folder left.
    assert sorted(p.name for p in job.iterdir()) == sorted([reported.name, "latest"])
    assert (job / "latest").resolve() == reported.resolve()
    # The host's deploy was cut short: what became of it, and of its lock, is said.
    assert lines[1] == (
        f"[sagefleet] this run was {word} while it deployed b: the command under way there "
        "runs to its end on the host, and a deploy lock the run took there stays until it "
        "expires (sagefleet_deploy_lock_ttl_s after it was taken); until then a deploy of b "
        "fails on that lock ('another deploy holds the lock', with its owner and expiry)"
    ), lines
    # Nothing of the run is left on the bastion: ansible's own temporary folder included.
    assert list((tmp_path / "tmp").rglob("*")) == [tmp_path / "tmp" / "ansible"], output
    # On the host: the lock stays, and settings.json is the old file or the new, never torn.
    commands_ended(fleet, "b")
    host = fleet.host("b")
    assert host.fs.is_file(LOCK)
    settings = INSTALL_DIR + "\\settings.json"
    variables = {"sagefleet_entities": entities_for("healthy-onprem")}
    if host.fs.is_file(settings):  # a fresh install: no file before
        assert host.fs.read(settings).decode() == build_host_settings("b", variables).text


@pytest.mark.parametrize("signum", list(STOPS), ids=lambda s: s.name)
def test_a_stopped_deploy_keeps_an_earlier_report_in_a_folder_named_explicitly(
    tmp_path: Path, package: Path, make_fleet: FleetFactory, signum: signal.Signals
) -> None:
    fleet = make_fleet(profiles=["healthy-onprem"] * 2, names=["a", "b"])
    out = tmp_path / "out"
    given = ("-e", f"sagefleet_deploy_report_dir={out}")
    earlier, _ = deploy(fleet, tmp_path, package, *given, "--limit", "a")
    assert earlier.returncode == 0, earlier.stdout[-3000:]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "report.json" in before
    code, output = stopped_deploy(fleet, tmp_path, package, signum, *given)
    expected_code, word = STOPS[signum]
    assert code == expected_code, output[-3000:]
    assert (
        f"[sagefleet] this run was {word} and wrote no report: what it wrote in {out} "
        "was removed (any report there is from an earlier run)"
    ) in output, [line for line in output.splitlines() if line.startswith("[sagefleet]")]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_deploy_terminated_while_its_install_runs_leaves_the_host_whole(
    tmp_path: Path, package: Path, make_fleet: FleetFactory
) -> None:
    """The install command the TERM cut the bastion from runs to its end on the host, as on
    Windows: the agent and its settings.json are the new ones, whole; the staged copy of
    settings.json (it holds secrets) is deleted; the lock stays, and the run says so."""
    fleet = make_fleet(profiles=["healthy-onprem"], names=["b"])
    host = fleet.host("b")

    def installing() -> bool:
        return any(e.get("name") == "agent_install" for e in list(host.journal))

    code, output = stopped_deploy(fleet, tmp_path, package, signal.SIGTERM, reached=installing)
    assert code == 143, output[-3000:]
    assert "[sagefleet] this run was terminated (SIGTERM) while it deployed b: " in output
    commands_ended(fleet, "b")
    assert agent(fleet, "b") == ("Running", "3.2.0")
    variables = {"sagefleet_entities": entities_for("healthy-onprem")}
    expected = build_host_settings("b", variables).text
    assert host.fs.read(INSTALL_DIR + "\\settings.json").decode() == expected
    staged = [k for k, e in host.fs.entries.items() if "staging" in k and not e.is_dir]
    assert staged and not [k for k in staged if k.endswith("\\settings.json")], staged
    assert host.fs.is_file(LOCK)
