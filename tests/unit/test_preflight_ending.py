"""The preflight task ends its host with its status, as sagefleet_outcome would
(sagefleet.ansible.preflight_play.ended): the role has no per-host task after it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.support.reports import dotnet

from sagefleet import outcomes
from sagefleet.ansible.preflight_play import ENDS_UNREACHABLE, deferred, ended, task_result
from sagefleet.findings import Finding, HostReport, Severity, Status


def _report(*findings: Finding, reachable: bool = True, error: str | None = None) -> HostReport:
    return HostReport(host="sage01", reachable=reachable, error=error, findings=findings)


BLOCKING = dotnet(Status.FAIL, ".NET Framework 4.7.2 found")
# A warning only: the same failed check, at warning severity.
WARNING = replace(BLOCKING, check_id="SF302", severity=Severity.WARNING, title="Proxy")


def test_a_blocked_host_fails_with_fail_on_blocked_in_the_outcome_tasks_words() -> None:
    result = task_result(_report(BLOCKING))
    assert result["status"] == "blocked" and "failed" not in result
    assert ended(result, fail_on_blocked=False) == result
    failed = ended(result, fail_on_blocked=True)
    assert failed["failed"] is True
    assert failed["msg"] == "blocked: SF101 failed"
    assert failed["msg"] == outcomes.end_host("blocked", "SF101 failed", ["blocked"], [])["msg"]
    # The findings stay: the report and a failed_when read them.
    assert failed["host_report"] == result["host_report"]
    assert "failed" not in result  # the given result is not changed


@pytest.mark.parametrize("fail_on_blocked", [False, True])
def test_hosts_whose_status_fails_none_end_ok(fail_on_blocked: bool) -> None:
    for report in (_report(), _report(WARNING)):
        result = task_result(report)
        assert result["status"] in ("ready", "warnings")
        assert ended(result, fail_on_blocked) == result


def test_an_undiagnosed_host_is_unreachable_whichever_way() -> None:
    unreachable = task_result(_report(reachable=False, error="connection refused"))
    assert unreachable["unreachable"] is True
    assert ended(unreachable, fail_on_blocked=False) == unreachable

    # Reached, but its facts could not be gathered: unreachable too, with the cause.
    undiagnosed = task_result(_report(error="facts could not be gathered: Access denied"))
    assert undiagnosed["status"] == "unreachable" and "unreachable" not in undiagnosed
    marked = ended(undiagnosed, fail_on_blocked=False)
    assert marked["unreachable"] is True
    assert marked["msg"] == "unreachable: facts could not be gathered: Access denied"


def test_the_first_host_of_the_batch_is_ended_unreachable_after_the_report() -> None:
    """Ansible runs nothing more once every host is unreachable: the batch's first host
    stays (no ``unreachable``) and says why, in the words its own end would have used."""
    batch = ["sage01", "sage02"]
    refused = task_result(_report(reachable=False, error="credentials rejected"))
    first = deferred(refused, "sage01", batch)
    assert "unreachable" not in first and first[ENDS_UNREACHABLE] == "credentials rejected"
    assert first["host_report"] == refused["host_report"]  # the report reads it as before
    assert deferred(refused, "sage02", batch) == refused  # any other host ends here
    undiagnosed = ended(task_result(_report(error="facts could not be gathered: X")), False)
    assert undiagnosed["msg"] == "unreachable: facts could not be gathered: X"
    # sagefleet_outcome says "unreachable: <reason>": the reason is given without it.
    assert deferred(undiagnosed, "sage01", batch)[ENDS_UNREACHABLE] == (
        "facts could not be gathered: X"
    )
    for result in (task_result(_report()), ended(task_result(_report(BLOCKING)), True)):
        assert deferred(result, "sage01", batch) == result  # reached: nothing to defer
    assert deferred(refused, "sage01", []) == refused


def test_a_task_that_failed_on_its_own_keeps_its_error() -> None:
    refused = {"failed": True, "msg": "invalid input, host not contacted: ..."}
    assert ended(refused, fail_on_blocked=True) == refused
    blocked_and_failed = {**task_result(_report(BLOCKING)), "failed": True, "msg": "own error"}
    assert ended(blocked_and_failed, fail_on_blocked=True)["msg"] == "own error"


def test_the_task_message_names_the_checks_that_failed_and_those_that_could_not_decide() -> None:
    unknown = dotnet(Status.UNKNOWN, "the registry could not be read")
    info = replace(BLOCKING, check_id="SF102", severity=Severity.INFO, title="TLS")
    assert task_result(_report(BLOCKING, WARNING))["msg"] == "blocked: SF101 SF302 failed"
    assert task_result(_report(unknown, info))["msg"] == "blocked: SF101 unknown"
    unknown_warning = replace(unknown, check_id="SF302", severity=Severity.WARNING)
    assert task_result(_report(unknown_warning))["msg"] == "warnings: SF302 unknown"
    assert task_result(_report(WARNING, unknown_warning))["msg"] == (
        "warnings: SF302 failed, SF302 unknown"
    )
    # Only a host whose checks all passed reads "all checks pass".
    assert task_result(_report(info))["msg"] == "ready: no error or warning check fails"
    assert task_result(_report(dotnet(Status.PASS, "4.8")))["msg"] == "ready: all checks pass"
