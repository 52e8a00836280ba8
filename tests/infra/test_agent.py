"""The agent on every host: installed, running, automatic, right account and version."""

from __future__ import annotations

import pytest

from sagefleet import versions
from sagefleet.verify import Windows
from sagefleet.verify.expectations import Expectations
from sagefleet.verify.windows import ServiceState


def agent_service(windows: Windows, expected: Expectations) -> ServiceState:
    """The agent's service as the agent profile finds it (by name, else by a pattern)."""
    return windows.service(**expected.service_lookup)


@pytest.mark.sagefleet_check("SF501", "Agent service installed")
def test_agent_service_is_installed(windows: Windows, expected: Expectations) -> None:
    service = agent_service(windows, expected)
    assert not service.candidates, (
        f"{windows.name} SF501: several services match {expected.service_label}: "
        f"{', '.join(service.candidates)}; name the agent's in the agent profile"
    )
    assert service.exists, f"{windows.name} SF501: service {expected.service_label} not found"


@pytest.mark.sagefleet_check("SF502", "Agent service running")
def test_agent_service_is_running(windows: Windows, expected: Expectations) -> None:
    service = agent_service(windows, expected)
    assert service.state == "Running", (
        f"{windows.name} SF502: service {service.name or expected.service_label} is "
        f"{service.state}, "
        "expected Running"
    )


@pytest.mark.sagefleet_check("SF503", "Agent service starts automatically")
def test_agent_service_starts_automatically(windows: Windows, expected: Expectations) -> None:
    service = agent_service(windows, expected)
    assert service.start_mode == "Auto", (
        f"{windows.name} SF503: start mode is {service.start_mode}, expected Auto"
    )


@pytest.mark.sagefleet_check("SF504", "Agent service runs as the expected account")
def test_agent_service_account(windows: Windows, expected: Expectations) -> None:
    service = agent_service(windows, expected)
    if expected.service_account is None:  # not set: any account, but one must be set
        assert service.account, f"{windows.name} SF504: service has no logon account"
        return
    assert (service.account or "").lower() == expected.service_account.lower(), (
        f"{windows.name} SF504: service runs as {service.account}, "
        f"expected {expected.service_account}"
    )


@pytest.mark.sagefleet_check("SF505", "Agent version is the fleet's target")
def test_agent_version_is_the_target(windows: Windows, expected: Expectations) -> None:
    if expected.target_version is None:
        # Nothing to compare with: the check cannot decide (unknown), it did not fail.
        pytest.skip(
            f"{windows.name} SF505: sagefleet_agent_target_version is not set (inventory or -e)"
        )
    service = agent_service(windows, expected)
    # ProductVersion may read 3.2.0.0 or 3.2.0+<commit>: the same release.
    assert versions.same(service.version, expected.target_version), (
        f"{windows.name} SF505: agent version is {service.version}, "
        f"expected {expected.target_version}"
    )
