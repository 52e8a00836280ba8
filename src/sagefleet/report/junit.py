"""JUnit XML: one testsuite per host, one testcase per host x check, and one for the host's
status (or outcome, or its unreachability).

How statuses and outcomes map to <failure>, <skipped> and <error>: docs/operations.md,
"Reports".
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from sagefleet.findings import Finding, FleetReport, HostReport, Status
from sagefleet.outcomes import Outcome
from sagefleet.report.outcome_table import host_reason

#: Characters XML 1.0 cannot carry even escaped (control characters from raw command output).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

REACHABILITY_CASE = "reachability"
OUTCOME_CASE = "outcome"
STATUS_CASE = "status"


def _clean(text: str) -> str:
    """Drop characters XML 1.0 forbids, which would make the whole file unparsable."""
    return _XML_ILLEGAL.sub("", text)


def _case_name(item: Finding) -> str:
    name = f"{item.check_id} {item.title}"
    return f"{name} [{item.entity}]" if item.entity else name


def _finding_case(suite: ET.Element, host: HostReport, item: Finding) -> str | None:
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": _clean(host.host), "name": _clean(_case_name(item)), "time": "0"},
    )
    if item.is_note:
        # An info check only informs (docs/checks.md): what it found is said, and a CI
        # reading the file does not count it as a failed test of a ready host.
        ET.SubElement(case, "system-out").text = _clean(f"info: {item.message}")
        return None
    if item.status is Status.FAIL:
        node = ET.SubElement(
            case,
            "failure",
            {"message": _clean(item.message), "type": f"{item.check_id}:{item.severity}"},
        )
        node.text = _clean(f"{item.message}\n\nRemediation: {item.remediation}")
        return "failure"
    if item.status is Status.WAIVED:
        reason = item.waiver_reason or ""
        if item.waiver_expires:
            reason += f" (until {item.waiver_expires})"
        ET.SubElement(case, "skipped", {"message": _clean(f"waived: {reason}")})
        return "skipped"
    if item.status is Status.NOT_APPLICABLE:
        ET.SubElement(case, "skipped", {"message": _clean(f"not applicable: {item.message}")})
        return "skipped"
    if item.status is Status.UNKNOWN:
        node = ET.SubElement(
            case,
            "error",
            {"message": _clean(f"unknown: {item.message}"), "type": f"{item.check_id}:unknown"},
        )
        node.text = _clean(f"{item.message}\n\nRemediation: {item.remediation}")
        return "error"
    return None


def _outcome_case(suite: ET.Element, report: FleetReport, host: HostReport) -> str | None:
    """One testcase for what the run did to the host, as PLAY RECAP ends it: a failure when
    the host fails the run (failed, rolled back, verify failed, not run, and blocked when
    the run fails its blocked hosts), an error when it was unreachable, skipped when
    preflight blocked it and the run let blocked hosts pass."""
    outcome = host.outcome
    assert outcome is not None
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": _clean(host.host), "name": OUTCOME_CASE, "time": f"{host.duration_s:.3f}"},
    )
    text = _clean(f"{outcome.status}: {outcome.detail}" if outcome.detail else outcome.status)
    recap = report.recap(host)
    if recap == "failed":
        node = ET.SubElement(case, "failure", {"message": text, "type": outcome.status})
        node.text = text
        return "failures"
    if recap == "unreachable":
        node = ET.SubElement(case, "error", {"message": text, "type": outcome.status})
        node.text = _clean(host.error or text)
        return "errors"
    if outcome.status == Outcome.BLOCKED:
        ET.SubElement(case, "skipped", {"message": text})
        return "skipped"
    ET.SubElement(case, "system-out").text = text
    return None


def _status_case(suite: ET.Element, host: HostReport) -> str | None:
    """One testcase for a diagnosed host's status, in the report's words: a failure when
    preflight blocked it, its words in system-out when it is ready or has warnings."""
    case = ET.SubElement(
        suite,
        "testcase",
        {"classname": _clean(host.host), "name": STATUS_CASE, "time": f"{host.duration_s:.3f}"},
    )
    status, reason = host.status, host_reason(host)
    text = _clean(f"{status}: {reason}" if reason else status)
    if status == Outcome.BLOCKED:
        node = ET.SubElement(case, "failure", {"message": text, "type": status})
        node.text = text
        return "failures"
    ET.SubElement(case, "system-out").text = text
    return None


def render_junit(report: FleetReport) -> str:
    """Render the fleet as JUnit XML text (UTF-8, with an XML declaration)."""
    root = ET.Element("testsuites", {"name": _clean(report.title)})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for host in report.sorted_hosts():
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": _clean(host.host),
                "timestamp": report.generated_at,
                "time": f"{host.duration_s:.3f}",
            },
        )
        if host.address:
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", {"name": "address", "value": _clean(host.address)})
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if host.outcome is not None:
            kind = _outcome_case(suite, report, host)
            counts["tests"] += 1
            if kind:
                counts[kind] += 1
        elif not host.reachable or host.error is not None:
            case = ET.SubElement(
                suite,
                "testcase",
                {"classname": _clean(host.host), "name": REACHABILITY_CASE, "time": "0"},
            )
            reason = host.error or "host not reachable"
            node = ET.SubElement(case, "error", {"message": _clean(reason), "type": "unreachable"})
            node.text = _clean(reason)
            counts["tests"] += 1
            counts["errors"] += 1
        else:
            kind = _status_case(suite, host)
            counts["tests"] += 1
            if kind:
                counts[kind] += 1
        for item in host.findings:
            outcome = _finding_case(suite, host, item)
            counts["tests"] += 1
            if outcome == "failure":
                counts["failures"] += 1
            elif outcome == "error":
                counts["errors"] += 1
            elif outcome == "skipped":
                counts["skipped"] += 1
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
