"""The findings data model: validation, host status rules, aggregates, round trips."""

from __future__ import annotations

import json

import pytest

from sagefleet.errors import InputError
from sagefleet.findings import (
    SCHEMA_VERSION,
    Finding,
    FleetReport,
    HostReport,
    Severity,
    Status,
)


def finding(
    check_id: str = "SF101",
    status: str = "pass",
    severity: str = "error",
    *,
    entity: str | None = None,
    observed: object = None,
    waiver_reason: str | None = None,
    waiver_expires: str | None = None,
) -> Finding:
    return Finding(
        check_id=check_id,
        status=Status(status),
        severity=Severity(severity),
        title=f"{check_id} title",
        message=f"{check_id} observed",
        remediation=f"{check_id} remediation",
        entity=entity,
        observed=observed,
        waiver_reason=waiver_reason,
        waiver_expires=waiver_expires,
    )


def host(
    name: str,
    *findings: Finding,
    reachable: bool = True,
    error: str | None = None,
    address: str | None = None,
    summary: dict[str, str] | None = None,
    duration_s: float = 0.0,
) -> HostReport:
    return HostReport(
        host=name,
        reachable=reachable,
        findings=findings,
        error=error,
        address=address,
        summary=summary or {},
        duration_s=duration_s,
    )


# ----------------------------------------------------------------------------- Finding


def test_finding_round_trips_through_json() -> None:
    original = finding(
        "SF301",
        "waived",
        "warning",
        entity="BIJOU",
        observed={"ports": [80, 443], "ok": False},
        waiver_reason="proxy only",
        waiver_expires="2030-06-30",
    )
    assert Finding.from_dict(json.loads(json.dumps(original.to_dict()))) == original


def test_finding_accepts_plain_strings_for_enums() -> None:
    item = Finding("SF101", "fail", "warning", "t", "m")  # type: ignore[arg-type]
    assert item.status is Status.FAIL and item.severity is Severity.WARNING


def test_finding_rejects_malformed_check_id() -> None:
    with pytest.raises(ValueError, match="SF123"):
        finding("NET-1")


def test_finding_rejects_unknown_status() -> None:
    with pytest.raises(ValueError):
        Finding("SF101", "broken", "error", "t", "m")  # type: ignore[arg-type]


def test_finding_rejects_observed_value_that_is_not_json_safe() -> None:
    with pytest.raises(ValueError, match="JSON-safe"):
        finding(observed={"when": object()})


def test_finding_rejects_nan_in_observed() -> None:
    with pytest.raises(ValueError, match="JSON"):
        finding(observed=[float("nan")])


def test_finding_rejects_waiver_without_reason() -> None:
    with pytest.raises(ValueError, match="waiver_reason"):
        finding(status="waived")


def test_finding_rejects_waiver_expiry_that_is_not_a_date() -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        finding(status="waived", waiver_reason="r", waiver_expires="next year")


def test_finding_from_dict_reports_missing_key_as_input_error() -> None:
    data = finding().to_dict()
    del data["title"]
    with pytest.raises(InputError, match="title"):
        Finding.from_dict(data)


# ----------------------------------------------------------------------------- HostReport status


def test_host_without_failures_is_ready() -> None:
    assert host("h", finding(status="pass"), finding("SF102", "fail", "info")).status == "ready"


def test_host_with_failed_error_check_is_blocked() -> None:
    assert host("h", finding(status="fail", severity="error")).status == "blocked"


def test_host_with_unknown_error_check_is_blocked() -> None:
    assert host("h", finding(status="unknown", severity="error")).status == "blocked"


def test_host_with_failed_warning_check_has_warnings() -> None:
    assert host("h", finding(status="fail", severity="warning")).status == "warnings"


def test_host_with_waived_error_check_is_ready() -> None:
    waived = finding(status="waived", severity="error", waiver_reason="accepted by client")
    assert host("h", waived).status == "ready"


def test_unreachable_host_is_unreachable() -> None:
    assert host("h", reachable=False, error="WinRM refused").status == "unreachable"


def test_reachable_host_with_diagnosis_error_is_unreachable() -> None:
    assert host("h", error="facts script failed").status == "unreachable"


def test_blocking_failure_wins_over_diagnosis_error() -> None:
    report = host("h", finding(status="fail"), error="partial facts")
    assert report.status == "blocked"


def test_host_status_counts_cover_every_status() -> None:
    report = host(
        "h",
        finding(status="fail"),
        finding("SF102"),
        finding("SF103", "unknown"),
        finding("SF305", "not_applicable"),
    )
    assert report.status_counts == {
        "pass": 1,
        "fail": 1,
        "waived": 0,
        "unknown": 1,
        "not_applicable": 1,
    }


def test_host_severity_counts_count_only_failures() -> None:
    report = host(
        "h", finding(status="fail"), finding("SF102", "fail", "warning"), finding("SF103")
    )
    assert report.severity_counts == {"error": 1, "warning": 1, "info": 0}


def test_host_round_trips_through_json() -> None:
    original = host(
        "sage-01",
        finding(status="fail"),
        address="10.0.0.5",
        summary={"os": "Windows Server 2019", "sage_version": "11.02"},
        duration_s=2.5,
    )
    assert HostReport.from_dict(json.loads(json.dumps(original.to_dict()))) == original


def test_host_from_dict_recomputes_status_instead_of_trusting_it() -> None:
    data = host("h", finding(status="fail")).to_dict()
    data["status"] = "ready"
    assert HostReport.from_dict(data).status == "blocked"


def test_host_rejects_non_string_summary_values() -> None:
    with pytest.raises(ValueError, match="summary"):
        HostReport(host="h", reachable=True, summary={"dotnet": 528040})  # type: ignore[dict-item]


def test_host_rejects_negative_duration() -> None:
    with pytest.raises(ValueError, match="duration_s"):
        host("h", duration_s=-1)


# ----------------------------------------------------------------------------- FleetReport


def fleet() -> FleetReport:
    return FleetReport(
        title="ACME preflight",
        generated_at="2025-01-02T03:04:05+00:00",
        tool_version="0.1.0",
        hosts=(
            host("c-ready", finding()),
            host("a-warn", finding("SF301", "fail", "warning")),
            host("b-blocked", finding(status="fail"), finding("SF301", "fail", "warning")),
            host("d-down", reachable=False, error="timeout"),
            host("e-blocked", finding(status="fail")),
        ),
    )


def test_fleet_counts_hosts_by_status() -> None:
    assert fleet().host_status_counts == {
        "blocked": 2,
        "unreachable": 1,
        "warnings": 1,
        "ready": 1,
    }


def test_fleet_counts_failing_hosts_by_check_most_frequent_first() -> None:
    assert list(fleet().failures_by_check.items()) == [("SF101", 2), ("SF301", 2)]


def test_an_info_check_that_found_something_is_a_note_never_a_failure() -> None:
    """SF308 (a WinHTTP proxy is set) only informs: a blocked host's reason, its failed
    checks and the fleet's failures by check name SF303 alone, and SF308 as a note."""
    proxy = host("proxy-tls", finding("SF303", "fail"), finding("SF308", "fail", "info"))
    assert proxy.status == "blocked"
    assert proxy.failed_check_ids == ("SF303",)
    assert proxy.noted_check_ids == ("SF308",)
    assert proxy.blocked_reason == "SF303 failed"
    assert [f.check_id for f in proxy.findings if f.is_failure] == ["SF303"]
    assert [f.check_id for f in proxy.findings if f.is_note] == ["SF308"]
    both = FleetReport(title="t", hosts=(proxy, host("spc", finding("SF308", "fail", "info"))))
    assert both.failures_by_check == {"SF303": 1}
    assert both.notes_by_check == {"SF308": 2}
    # An info check that could not decide is not a note: it is unknown, as any other.
    assert not finding("SF308", "unknown", "info").is_note


def test_fleet_sorts_blocked_first_then_unreachable_warnings_ready() -> None:
    names = [h.host for h in fleet().sorted_hosts()]
    assert names == ["b-blocked", "e-blocked", "d-down", "a-warn", "c-ready"]


def test_fleet_round_trips_through_json() -> None:
    original = fleet()
    assert FleetReport.from_dict(json.loads(json.dumps(original.to_dict()))) == original


def test_fleet_document_carries_schema_version() -> None:
    assert fleet().to_dict()["schema_version"] == SCHEMA_VERSION


def test_fleet_from_dict_refuses_unknown_schema_version() -> None:
    data = fleet().to_dict()
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(InputError, match="schema version"):
        FleetReport.from_dict(data)


def test_fleet_stamps_generation_time_in_utc_by_default() -> None:
    assert FleetReport(title="t", hosts=()).generated_at.endswith("+00:00")


def test_fleet_rejects_non_utc_timestamp() -> None:
    with pytest.raises(ValueError, match="UTC"):
        FleetReport(title="t", hosts=(), generated_at="2025-01-02T03:04:05+02:00")


def test_fleet_rejects_unsupported_language() -> None:
    with pytest.raises(ValueError, match="lang"):
        FleetReport(title="t", hosts=(), lang="de")


def test_fleet_rejects_duplicate_host_names() -> None:
    with pytest.raises(ValueError, match="unique"):
        FleetReport(title="t", hosts=(host("h"), host("h")))
