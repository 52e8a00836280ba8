"""The agent on every host: installed, running, automatic, right account and version."""

from __future__ import annotations

import pytest

from sagefleet import versions
from sagefleet.verify import Windows
from sagefleet.verify.expectations import Expectations


@pytest.mark.sagefleet_check("SF501", "Agent service installed")
def test_agent_service_is_installed(windows: Windows, expected: Expectations) -> None:
    service = windows.service(expected.service_name)
    assert service.exists, f"{windows.name} SF501: service {expected.service_name} not found"


@pytest.mark.sagefleet_check("SF502", "Agent service running")
def test_agent_service_is_running(windows: Windows, expected: Expectations) -> None:
    service = windows.service(expected.service_name)
    assert service.state == "Running", (
        f"{windows.name} SF502: service {expected.service_name} is {service.state}, "
        "expected Running"
    )


@pytest.mark.sagefleet_check("SF503", "Agent service starts automatically")
def test_agent_service_starts_automatically(windows: Windows, expected: Expectations) -> None:
    service = windows.service(expected.service_name)
    assert service.start_mode == "Auto", (
        f"{windows.name} SF503: start mode is {service.start_mode}, expected Auto"
    )


@pytest.mark.sagefleet_check("SF504", "Agent service runs as the expected account")
def test_agent_service_account(windows: Windows, expected: Expectations) -> None:
    service = windows.service(expected.service_name)
    if expected.service_account is None:  # not set: any account, but one must be set
        assert service.account, f"{windows.name} SF504: service has no logon account"
        return
    assert (service.account or "").lower() == expected.service_account.lower(), (
        f"{windows.name} SF504: service runs as {service.account}, "
        f"expected {expected.service_account}"
    )


@pytest.mark.sagefleet_check("SF505", "Agent version is the fleet's target")
def test_agent_version_is_the_target(windows: Windows, expected: Expectations) -> None:
    if expected.agent_version is None:
        pytest.fail(f"{windows.name} SF505: sagefleet_agent_version is not set in the inventory")
    service = windows.service(expected.service_name)
    # ProductVersion may read 3.2.0.0 or 3.2.0+<commit>: the same release.
    assert versions.same(service.version, expected.agent_version), (
        f"{windows.name} SF505: agent version is {service.version}, "
        f"expected {expected.agent_version}"
    )
