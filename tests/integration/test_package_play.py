"""deploy.yml's first play reads the package once on the bastion: a package of another
version than the target, an installer nobody knows the silent switches of, or an entry
that is a symbolic link stops the run before any host is touched; without a target, the
package's version is deployed."""

from __future__ import annotations

from pathlib import Path

from sagefleet.package import build_test_package
from tests.support.deploy import agent, deploy, outcomes
from tests.support.fleets import FleetFactory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_a_package_of_another_version_is_refused_before_any_host_is_touched(
    tmp_path: Path,
    make_fleet: FleetFactory,
) -> None:
    package = build_test_package(tmp_path / "Setup-3.3.0.zip", agent_version="3.3.0")
    fleet = make_fleet(profiles=["healthy-onprem", "agent-old"], names=["a", "b"])
    process, _ = deploy(fleet, tmp_path, package)  # sagefleet_agent_target_version: 3.2.0
    assert process.returncode != 0
    assert "package refused, no host was contacted" in process.stdout
    assert f"the package {package} holds agent 3.3.0 (version resource ProductVersion)" \
        in process.stdout
    assert "sagefleet_agent_target_version is 3.2.0 for a, b" in process.stdout
    assert "set sagefleet_agent_target_version to 3.3.0" in process.stdout
    assert fleet.host("a").journal == [] and fleet.host("b").journal == []
    # "run complete: 1 host, 1 failed" alone read as one host of the two failing.
    assert (
        "[sagefleet] the agent package was refused before any host was contacted (the error "
        "above says why); no host was changed; PLAY RECAP counts it on a, the host the "
        "inspection ran once for"
    ) in " ".join(process.stdout.split())


def test_an_installer_of_unknown_technology_needs_installer_arguments(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    package = build_test_package(tmp_path / "Setup.zip", technology="unknown")
    fleet = make_fleet(profiles=["healthy-onprem"], names=["a"])
    process, _ = deploy(fleet, tmp_path, package)
    assert process.returncode != 0
    assert "package refused, no host was contacted" in process.stdout
    assert "is of technology unknown: the agent profile (the shipped agent profile) has " \
        "no silent switches for it" in process.stdout
    assert "field sagefleet_agent_installer_arguments" in process.stdout
    assert fleet.host("a").journal == []


def test_without_a_target_version_the_package_version_is_deployed(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    package = build_test_package(tmp_path / "Setup.zip", agent_version="3.3.0")
    fleet = make_fleet(profiles=["healthy-onprem"], names=["a"])
    process, _ = deploy(
        fleet, tmp_path, package, inventory_vars={"sagefleet_agent_target_version": None}
    )
    assert process.returncode == 0, process.stdout[-3000:]
    assert outcomes(process) == {"a": "installed"}
    assert agent(fleet, "a") == ("Running", "3.3.0")


def test_a_symbolic_link_entry_is_refused_before_any_host_is_touched(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    fleet = make_fleet(profiles=["healthy-onprem"], names=["a"])
    process, _ = deploy(fleet, tmp_path, FIXTURES / "zip" / "symlink-entry.zip")
    assert process.returncode != 0
    assert "package refused, no host was contacted" in process.stdout
    assert "entry settings.json is a symbolic link (Unix mode 0o120777)" in process.stdout
    assert fleet.host("a").journal == []
