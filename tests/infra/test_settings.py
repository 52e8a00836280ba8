"""settings.json on every host: the host's connections exactly, as built, not readable by all."""

from __future__ import annotations

import pytest

from sagefleet.settings.host import FULL_CONTROL, grant_account
from sagefleet.settings.merge import connections
from sagefleet.verify import Windows
from sagefleet.verify.expectations import Expectations, differences


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
    found = differences(document, expected.settings, extra_allowed=expected.settings_extra_allowed)
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


def _local(account: str, windows: Windows) -> str:
    """``.\\user`` as Windows names the account: COMPUTERNAME\\user."""
    if not account.startswith(".\\"):
        return account
    computer = windows.host.run("hostname").stdout.strip()
    return computer + account[1:]
