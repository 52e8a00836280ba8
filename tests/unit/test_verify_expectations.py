"""SF507's comparison: a vendor file keeps what only the host's file had, a template does not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from sagefleet.sim import vendor_layout
from sagefleet.verify.expectations import differences, for_host


def variables(source: str) -> dict[str, Any]:
    entity = dict(vendor_layout.SAMPLE_ENTITY)
    if source == "vendor":
        entity["vendor_settings"] = vendor_layout.document([entity])
    return {"sagefleet_entities": [entity], "sagefleet_settings_source": source}


def test_members_only_the_file_has_are_allowed_under_the_vendor_source() -> None:
    expected = for_host("sage01", variables("vendor"))
    installed = vendor_layout.installed_document([vendor_layout.SAMPLE_ENTITY])
    assert expected.settings_extra_allowed
    assert differences(installed, expected.settings, extra_allowed=True) == []
    assert differences(installed, expected.settings) == [
        "$.Connections[CompanyName=BIJOU].MaeFile: unexpected field",
        "$.Connections[CompanyName=BIJOU].SageUser: unexpected field",
        "$.ServiceAccount: unexpected field",
    ]
    changed = {**installed, "Version": "9.9"}
    assert differences(changed, expected.settings, extra_allowed=True) == [
        "$.Version: '9.9', expected '1.0'"
    ]


def test_the_template_layout_allows_nothing_more_than_it_renders() -> None:
    assert not for_host("sage01", variables("template")).settings_extra_allowed


def test_host_vars_given_to_the_suites_must_be_variables_by_host(tmp_path: Path) -> None:
    """--sagefleet-host-vars (a deploy's wave hands over its target versions): a file that
    is not {host: {variable: value}} stops the suites with one line, not a traceback."""
    from sagefleet.verify.plugin import _host_vars
    from sagefleet.verify.runner import suites_argv

    good = tmp_path / "good.json"
    good.write_text('{"sage01": {"sagefleet_agent_target_version": "3.2.0"}}')
    assert _host_vars(str(good)) == {"sage01": {"sagefleet_agent_target_version": "3.2.0"}}
    assert _host_vars(None) == {}
    for text in ('["sage01"]', '{"sage01": "3.2.0"}', "{not json"):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(pytest.UsageError, match="--sagefleet-host-vars"):
            _host_vars(str(bad))
    argv = suites_argv("python", "tests/infra", ["inv"], host_vars=str(good))
    assert argv[-1] == f"--sagefleet-host-vars={good}"
    assert not [a for a in suites_argv("python", "tests/infra", ["inv"]) if "host-vars" in a]


def test_xdist_workers_start_from_two_and_one_runs_the_suites_in_process() -> None:
    from sagefleet.verify.runner import suites_argv

    def n_option(workers: int) -> list[str]:
        argv = suites_argv("python", "tests/infra", ["inv"], workers=workers)
        return [a for i, a in enumerate(argv) if a == "-n" or argv[i - 1] == "-n"]

    assert n_option(4) == ["-n", "4"] and n_option(2) == ["-n", "2"]
    assert n_option(1) == [] and n_option(0) == []


def test_the_suites_never_start_more_workers_than_hosts() -> None:
    from sagefleet.verify.runner import suite_workers

    assert suite_workers(4, 1) == 1 and suite_workers(4, 2) == 2 and suite_workers(4, 9) == 4
    assert suite_workers(1, 9) == 1
    assert suite_workers(4, 0) == 4  # hosts not known: as asked


def test_a_difference_of_shapes_never_shows_the_containers() -> None:
    """Connections as a mapping on the host, a list in the inventory: the passwords they hold
    sit under names the differing path does not carry."""
    expected = {"Connections": [{"CompanyName": "BIJOU", "SqlPassword": "Sql-S3cret-Value"}]}
    actual = {"Connections": {"BIJOU": {"SqlPassword": "Old-S3cret-Value"}}}
    found = differences(actual, expected)
    assert found == ["$.Connections: an object of 1 member(s), expected a list of 1 item(s)"]


def test_connections_are_compared_by_their_key_their_order_said_once() -> None:
    """A host's file holding the same connections in another order (e.g. written sorted by
    an earlier sagefleet) is one difference, not every member of every connection."""
    zephyr = {"CompanyName": "ZEPHYR", "Sql": {"Login": "z", "Pwd": "Z-S3cret"}}
    atelier = {"CompanyName": "ATELIER", "Sql": {"Login": "a", "Pwd": "A-S3cret"}}
    expected = {"Connections": [zephyr, atelier]}
    assert differences({"Connections": [atelier, zephyr]}, expected) == [
        "$.Connections: items in the order ATELIER, ZEPHYR, expected ZEPHYR, ATELIER"
    ]
    changed = {**atelier, "Sql": {"Login": "b", "Pwd": "B-S3cret"}}
    other = {"CompanyName": "OLDCO"}
    assert differences({"Connections": [zephyr, changed, other]}, expected) == [
        "$.Connections[CompanyName=ATELIER].Sql.Login: 'b', expected 'a'",
        "$.Connections[CompanyName=ATELIER].Sql.Pwd: ********, another value than expected "
        "(a secret: not shown)",
        "$.Connections[CompanyName=OLDCO]: unexpected item",
    ]
    assert differences({"Connections": [atelier]}, expected) == [
        "$.Connections[CompanyName=ZEPHYR]: missing"
    ]


def test_connections_are_paired_by_the_key_the_merge_used() -> None:
    """Items holding two candidate members: the plan's (here a declared ConnectionId) names
    them, as the merge and SF506 do, not the first candidate detection would take."""
    expected = {"Connections": [{"CompanyName": "A", "ConnectionId": "c1", "x": 1}]}
    actual = {"Connections": [{"CompanyName": "B", "ConnectionId": "c1", "x": 1}]}
    plan = {("Connections",): "ConnectionId"}
    assert differences(actual, expected, keys=plan) == [
        "$.Connections[ConnectionId=c1].CompanyName: 'B', expected 'A'"
    ]
    assert differences(actual, expected) == [
        "$.Connections[CompanyName=A]: missing",
        "$.Connections[CompanyName=B]: unexpected item",
    ]


def test_the_host_vars_file_holds_no_secret(tmp_path: Path) -> None:
    """A playbook hands the suites the variables Ansible resolved for each host (an -e
    value ranks above the inventory for them too), in a file: never a secret (the suites
    read those from the inventory and its vault), nor what sagefleet does not declare (a
    registered result, the WinRM password)."""
    from sagefleet.verify.plugin import _host_vars
    from sagefleet.verify.runner import write_host_vars

    waiver = {"id": "SF308", "reason": "proxy", "expires": dt.date(2027, 3, 31)}
    resolved = {
        "sagefleet_agent_target_version": "3.2.0",
        "sagefleet_agent_staging_keep": 2,
        "sagefleet_waivers": [waiver],
        "sagefleet_entities": [{"name": "BIJOU", "sql_password": "Sql-Canary-Passw0rd!"}],
        "sagefleet_agent_service_password": "Svc-Canary-Passw0rd!",
        "sagefleet_ssh_jump": {"host": "jump", "password": "Jump-Canary-Passw0rd!"},
        "sagefleet_verify_folder": {"path": "/tmp/reports"},
        "ansible_password": "WinRM-Canary-Passw0rd!",
    }
    path = write_host_vars(tmp_path / "host_vars.json", {"sage01": resolved})
    assert _host_vars(path) == {
        "sage01": {
            "sagefleet_agent_target_version": "3.2.0",
            "sagefleet_agent_staging_keep": 2,
            "sagefleet_waivers": [{**waiver, "expires": "2027-03-31"}],
        }
    }
    assert "Canary" not in Path(path).read_text()


def test_a_winrm_error_is_a_host_not_reached_never_a_failed_check() -> None:
    """A check whose command met an error of the WinRM service (HTTP 500, a WS-Management
    fault, its operation timeout) could not run: the host is unreachable with the error
    named, as deploy.yml says it. Its own failure, or a snippet's, is the check's."""
    from winrm.exceptions import WinRMOperationTimeoutError, WinRMTransportError, WSManFaultError

    from sagefleet.remote import HostUnreachable, SnippetFailed
    from sagefleet.verify.plugin import _connection_failure

    fault = WSManFaultError(500, "Code 500", "<s:Envelope/>", "internal error", "s:Receiver")
    assert _connection_failure(fault) == f"WinRM error: {fault}"
    http = WinRMTransportError("http", 500, "")
    assert (
        _connection_failure(http) == "WinRM error: Bad HTTP response returned from server. Code 500"
    )
    assert _connection_failure(WinRMOperationTimeoutError()) == (
        "the WinRM service did not complete the operation in time"
    )
    assert _connection_failure(HostUnreachable("sage01", "cannot connect")) == "cannot connect"
    assert _connection_failure(SnippetFailed("sage01", "query", 1, "boom")) is None
    assert _connection_failure(AssertionError("sage01 SF502: is Stopped")) is None
