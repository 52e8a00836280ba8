"""The support bundle's steps and verdict (sagefleet.diagnosis) from findings alone."""

from __future__ import annotations

from sagefleet.diagnosis import diagnose
from sagefleet.findings import Finding


def steps_of(*findings: Finding, reachable: bool = True, error: str | None = None) -> dict:
    found = diagnose(
        lang="en", findings=findings, result=None, verdict=None, evidence=None, options=None,
        error=error, reachable=reachable,
    )
    return {"steps": {s.step: s for s in found.steps}, "found": found}


def test_a_step_whose_error_check_could_not_decide_is_neither_ok_nor_failed() -> None:
    unknown = Finding("SF301", "unknown", "error", "DNS", "the probe timed out")
    passed = Finding("SF102", "pass", "error", "TLS", "chain valid")
    got = steps_of(unknown, passed)
    reachability, tls = got["steps"]["reachability"], got["steps"]["tls"]
    assert reachability.ok is None and reachability.cause is None
    assert "SF301 unknown: the probe timed out" in reachability.detail
    assert tls.ok is True
    # No step failed: the verdict does not blame the step that could not decide.
    assert (got["found"].outcome, got["found"].failed) == ("undecided", None)


def test_a_failed_error_check_fails_its_step_even_beside_an_unknown_one() -> None:
    failed = Finding("SF302", "fail", "error", "TCP", "443 refused")
    unknown = Finding("SF301", "unknown", "error", "DNS", "the probe timed out")
    got = steps_of(failed, unknown)
    assert got["steps"]["reachability"].ok is False
    assert (got["found"].outcome, got["found"].failed) == ("failed", "reachability")
    assert got["found"].verdict == "Step 3 failed (The endpoints are reachable from the host): " \
        "SF302: 443 refused"


def test_warning_and_info_checks_do_not_decide_a_step() -> None:
    got = steps_of(
        Finding("SF304", "unknown", "warning", "SQL", "not probed"),
        Finding("SF301", "pass", "error", "DNS", "resolved"),
    )
    assert got["steps"]["reachability"].ok is True


def test_an_unreachable_host_has_its_own_verdict() -> None:
    got = steps_of(reachable=False, error="credentials rejected")
    assert got["found"].outcome == "unreachable" and got["found"].failed is None
    assert got["found"].verdict == (
        "The host could not be reached, so nothing on it was diagnosed: credentials rejected"
    )
    assert got["found"].to_dict()["outcome"] == "unreachable"
