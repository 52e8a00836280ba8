"""settings.json on every host: the host's connections exactly, as built, not readable by all."""

from __future__ import annotations

import pytest

from sagefleet.agent.connection.evidence import parse_time
from sagefleet.settings.host import FULL_CONTROL, grant_account
from sagefleet.settings.merge import connections
from sagefleet.verify import Windows
from sagefleet.verify.expectations import Expectations, differences
from sagefleet.verify.plugin import NOT_APPLICABLE


@pytest.mark.sagefleet_check("SF506", "settings.json lists exactly the host's connections")
def test_settings_lists_exactly_the_connections(windows: Windows, expected: Expectations) -> None:
    document = windows.json_file(expected.settings_path)
    assert document is not None, f"{windows.name} SF506: {expected.settings_path} not found"
    found = connections(document, expected.settings_keys)
    assert found == list(expected.connections), (
        f"{windows.name} SF506: settings.json has connections {found}, "
        f"expected {list(expected.connections)}"
    )


@pytest.mark.sagefleet_check("SF507", "settings.json matches the rendered expectation")
def test_settings_match_the_rendered_expectation(windows: Windows, expected: Expectations) -> None:
    document = windows.json_file(expected.settings_path)
    assert document is not None, f"{windows.name} SF507: {expected.settings_path} not found"
    found = differences(
        document,
        expected.settings,
        extra_allowed=expected.settings_extra_allowed,
        keys=expected.settings_keys,
    )
    assert not found, f"{windows.name} SF507: settings.json differs: " + "; ".join(found[:10])


@pytest.mark.sagefleet_check("SF508", "settings.json readable only by the agent and admins")
def test_settings_acl_is_restricted(windows: Windows, expected: Expectations) -> None:
    state = windows.file(expected.settings_path, hash=False, acl=True)
    assert state.exists, f"{windows.name} SF508: {expected.settings_path} not found"
    account = expected.service_account or windows.service(**expected.service_lookup).account or ""
    # Compared by SID: built-in principals have names in the host's UI language. The
    # service account is granted by SID (LocalSystem and friends) or by name.
    allowed = {sid.upper() for sid in FULL_CONTROL} | {grant_account(account).upper()}
    extra = sorted(
        r.identity
        for r in state.rules
        if r.type == "Allow"
        and (r.sid or r.identity).upper() not in allowed
        and r.identity.upper() not in allowed
        and r.identity.upper() != _local(account, windows).upper()
    )
    assert state.protected and not extra, (
        f"{windows.name} SF508: ACL of {expected.settings_path} too open "
        f"(inheritance {'off' if state.protected else 'on'}, extra: {extra})"
    )


@pytest.mark.sagefleet_check("SF514", "The running agent read settings.json since its last write")
def test_the_running_agent_read_its_settings(windows: Windows, expected: Expectations) -> None:
    """The agent reads settings.json when it starts: one that started before the file's
    last write runs without it (a settings run whose restart failed or never ran)."""
    if not expected.reads_settings_at_start:
        pytest.skip(f"{NOT_APPLICABLE}the agent profile says settings.read_at_start: false")
    service = windows.service(**expected.service_lookup)
    if service.state != "Running":
        pytest.skip(f"{NOT_APPLICABLE}the agent does not run (SF501, SF502)")
    state = windows.file(expected.settings_path, hash=False, acl=False)
    if not state.exists:
        pytest.skip(f"{NOT_APPLICABLE}{expected.settings_path} not found (SF506)")
    started, written = parse_time(service.started_utc), parse_time(state.modified)
    if started is None or written is None:
        pytest.skip(f"{windows.name} SF514: the agent process's start time could not be read")
    assert started >= written, (
        f"{windows.name} SF514: the agent started at {started:%Y-%m-%d %H:%M:%S} UTC, before "
        f"settings.json was last written at {written:%Y-%m-%d %H:%M:%S} UTC: it runs without "
        "these settings (playbooks/settings.yml restarts it)"
    )


def _local(account: str, windows: Windows) -> str:
    """``.\\user`` as Windows names the account: COMPUTERNAME\\user."""
    if not account.startswith(".\\"):
        return account
    computer = windows.host.run("hostname").stdout.strip()
    return computer + account[1:]
