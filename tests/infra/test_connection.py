"""The agent on every host is connected to its vendor's services, not just running (SF513)."""

from __future__ import annotations

import pytest

from sagefleet.agent import connection
from sagefleet.findings import Status
from sagefleet.verify import Windows
from sagefleet.verify.expectations import Expectations


@pytest.mark.sagefleet_check(connection.CHECK_ID, connection.TITLE_EN)
def test_agent_holds_a_connection_to_the_vendors_services(
    windows: Windows, expected: Expectations
) -> None:
    """Running is not connected: an established connection to a required endpoint (or its
    account's proxy), or the profile's "connected" log line since start and within the
    window; unknown while the agent is younger than sagefleet_agent_connect_window_s
    (docs/verify.md)."""
    assert expected.agent_connection is not None
    verdict, _ = connection.look(windows.agent_connections, expected.agent_connection)
    if verdict.status is Status.UNKNOWN:
        pytest.skip(f"{windows.name} SF513: {verdict.message}")
    assert verdict.status is Status.PASS, (
        f"{windows.name} SF513: {verdict.message}; {verdict.remediation}"
    )
