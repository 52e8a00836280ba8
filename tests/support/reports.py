"""Reports the report tests render: a deploy over every way a host ends, and its findings."""

from __future__ import annotations

from sagefleet.findings import Finding, FleetReport, HostReport, Severity, Status
from sagefleet.outcomes import HostOutcome


def dotnet(status: Status, message: str, remediation: str = "") -> Finding:
    """SF101, the .NET Framework check, with this status and message."""
    return Finding(
        check_id="SF101",
        status=status,
        severity=Severity.ERROR,
        title=".NET Framework 4.8 or later",
        message=message,
        remediation=remediation,
    )


def deploy_report(lang: str = "en") -> FleetReport:
    """A deploy over five hosts: every way a host can end."""
    sf601 = Finding(
        check_id="SF601",
        status=Status.FAIL,
        severity=Severity.ERROR,
        title="Agent installed or upgraded",
        message="installer failed: installer exit code 1603",
    )
    return FleetReport(
        title="sagefleet deploy",
        lang=lang,
        generated_at="2025-01-02T03:04:05+00:00",
        hosts=(
            HostReport(
                host="old",
                reachable=True,
                findings=(sf601,),
                duration_s=12.5,
                outcome=HostOutcome(
                    status="rolled-back",
                    reason="installer failed: installer exit code 1603; previous version 2.3.0 "
                    "restored, running",
                    plan="upgrade 2.3.0 → 3.2.0 (v11.0)",
                    previous_version="2.3.0",
                    target_version="3.2.0",
                    version="2.3.0",
                ),
            ),
            HostReport(
                host="fresh",
                reachable=True,
                duration_s=8.0,
                outcome=HostOutcome(
                    status="installed", plan="install 3.2.0 (v11.0)", target_version="3.2.0"
                ),
            ),
            HostReport(
                host="later",
                reachable=True,
                outcome=HostOutcome(status="not-run", reason="the rollout stopped before its wave"),
            ),
            HostReport(
                host="down",
                reachable=False,
                error="cannot connect to 10.0.0.9:5986: connection refused",
                outcome=HostOutcome(
                    status="unreachable",
                    reason="cannot connect to 10.0.0.9:5986: connection refused",
                    target_version="3.2.0",
                ),
            ),
            HostReport(
                host="net472",
                reachable=True,
                findings=(dotnet(Status.FAIL, "4.7.2"),),
                outcome=HostOutcome(status="blocked", reason="preflight: SF101 failed"),
            ),
        ),
    )
