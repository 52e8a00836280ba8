"""A WinRM transport whose library the bastion lacks (kerberos or credssp without pywinrm's
extra) is refused by the playbooks' first task (sagefleet_validate), as any other input
error, before any host is contacted: ansible-core's winrm connection would otherwise find it
out at the host and call the host unreachable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import winrm.transport

from sagefleet.package import build_test_package
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import next_first_address
from tests.support.reliability import playbook, untouched
from tests.support.scenarios import write_inventory

pytestmark = pytest.mark.integration


def refused_lines(text: str) -> list[str]:
    """The refusal's error lines (``- host ...``), as the task prints them (once
    each: ansible-core prints a failed task's message twice)."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("- host ")]
    return list(dict.fromkeys(lines))


def contacted(fleet: Fleet) -> dict[str, int]:
    """The hosts a WinRM request reached, with how many."""
    served = {name: fleet.listeners[name].stats.http_requests for name in fleet.hosts}
    return {name: count for name, count in served.items() if count}


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("package")
    return build_test_package(folder / "Setup.zip", agent_version="3.2.0")


def test_the_bastion_has_no_kerberos_extra() -> None:
    # What the kerberos host below depends on: pywinrm without pywinrm[kerberos].
    assert not winrm.transport.HAVE_KERBEROS


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("preflight.yml", ["-e", "sagefleet_preflight_mode=per_host"]),
        ("deploy.yml", []),
    ],
)
def test_a_transport_the_bastion_lacks_is_refused_before_any_host_is_contacted(
    tmp_path: Path, package: Path, name: str, extra: list[str]
) -> None:
    """sage02 asks for kerberos, which this bastion cannot speak: the run stops at its
    first task, as for any other input error, and sage01 is not contacted either."""
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet,
            tmp_path / "inv" / "hosts.yml",
            {"sagefleet_agent_target_version": "3.2.0"},
            host_vars={"sage02": {"ansible_winrm_transport": "kerberos"}},
        )
        before = untouched(fleet)
        run = playbook(
            name,
            inventory,
            "-e",
            f"sagefleet_agent_package={package}",
            "-e",
            f"sagefleet_report_dir={tmp_path / 'reports'}",
            *extra,
        )
        assert run.returncode == 2, run.stdout[-3000:]
        assert "1 input error(s); no host was contacted" in run.stdout, run.stdout[-3000:]
        assert refused_lines(run.stdout) == [
            "- host sage02, field ansible_winrm_transport: the kerberos transport needs "
            "pywinrm[kerberos], not installed on the bastion (value: kerberos). Fix: install "
            "it in sagefleet's Python environment (pip install 'pywinrm[kerberos]', and the "
            "system libraries it needs), or use ntlm"
        ]
        assert contacted(fleet) == {}
        assert untouched(fleet) == before
