"""Report renderers: console, JSON (schema-validated), JUnit XML and standalone HTML."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sagefleet.cli.common import write_run_reports
from sagefleet.errors import InputError
from sagefleet.findings import Finding, FleetReport, HostReport, Severity, Status
from sagefleet.report import (
    FILE_NAMES,
    FORMATS,
    LABELS,
    load_schema,
    render_console,
    render_html,
    render_json,
    render_junit,
    write_reports,
)
from sagefleet.report.html import css_class
from sagefleet.report.labels import label, typography
from sagefleet.report.outcome_table import host_reason

HOSTILE = "<script>alert(1)</script>"
DOTNET_FIX = "Install .NET Framework 4.8 (offline installer) and reboot."


def _finding(check_id: str, status: Status, severity: Severity, **extra: str) -> Finding:
    return Finding(
        check_id=check_id,
        status=status,
        severity=severity,
        title=f"title of {check_id}",
        message=f"observed for {check_id}",
        remediation=DOTNET_FIX if check_id == "SF101" else f"fix {check_id}",
        **extra,
    )


def sample(lang: str = "en") -> FleetReport:
    """Five hosts: blocked, warnings, ready (with a waiver), unreachable, hostile name."""
    return FleetReport(
        title="ACME preflight",
        generated_at="2025-01-02T03:04:05+00:00",
        tool_version="0.1.0",
        lang=lang,
        hosts=(
            HostReport(
                host="sage-ready",
                reachable=True,
                address="10.0.0.3",
                summary={"os": "Windows Server 2022", "sage_version": "12.0"},
                findings=(
                    _finding("SF101", Status.PASS, Severity.ERROR),
                    _finding(
                        "SF301",
                        Status.WAIVED,
                        Severity.WARNING,
                        waiver_reason="port 80 closed by policy",
                        waiver_expires="2030-01-01",
                    ),
                ),
            ),
            HostReport(
                host="sage-blocked",
                reachable=True,
                address="10.0.0.1",
                summary={"os": "Windows Server 2016", "dotnet": "4.7.2"},
                duration_s=4.2,
                findings=(
                    _finding("SF101", Status.FAIL, Severity.ERROR),
                    _finding("SF201", Status.PASS, Severity.ERROR),
                    _finding("SF302", Status.FAIL, Severity.WARNING),
                    _finding("SF401", Status.UNKNOWN, Severity.WARNING),
                ),
            ),
            HostReport(
                host="sage-warn",
                reachable=True,
                findings=(_finding("SF302", Status.FAIL, Severity.WARNING),),
            ),
            HostReport(host="sage-down", reachable=False, error="WinRM: connection refused"),
            HostReport(
                host=HOSTILE,
                reachable=True,
                summary={"os": HOSTILE},
                findings=(_finding("SF101", Status.FAIL, Severity.ERROR, entity=HOSTILE),),
            ),
        ),
    )


def big_fleet(count: int = 500) -> FleetReport:
    hosts = []
    for index in range(count):
        status = (Status.FAIL, Status.PASS, Status.PASS, Status.PASS)[index % 4]
        hosts.append(
            HostReport(
                host=f"client{index:03d}-sage-server.very-long-domain-name.example.test",
                reachable=index % 50 != 7,
                findings=(_finding("SF101", status, Severity.ERROR),),
            )
        )
    return FleetReport(title="big", hosts=tuple(hosts), generated_at="2025-01-02T03:04:05+00:00")


# ----------------------------------------------------------------------------- labels


def test_labels_exist_in_english_and_french_with_the_same_keys() -> None:
    assert set(LABELS) == {"en", "fr"}
    assert set(LABELS["en"]) == set(LABELS["fr"])


def test_labels_are_never_empty() -> None:
    assert all(text.strip() for table in LABELS.values() for text in table.values())


# ----------------------------------------------------------------------------- console


def test_console_lists_every_host_with_its_status() -> None:
    text = render_console(sample(), colour=False)
    for name, status in [
        ("sage-blocked", "blocked"),
        ("sage-warn", "warnings"),
        ("sage-ready", "ready"),
        ("sage-down", "unreachable"),
    ]:
        line = next(line for line in text.splitlines() if line.startswith(name + " "))
        assert status in line


def test_console_puts_blocked_hosts_before_warnings_and_ready() -> None:
    text = render_console(sample(), colour=False)
    order = [text.index(name + " ") for name in ("sage-blocked", "sage-warn", "sage-ready")]
    assert order == sorted(order)


def test_console_shows_failed_check_ids_per_host() -> None:
    text = render_console(sample(), colour=False)
    line = next(line for line in text.splitlines() if line.startswith("sage-blocked "))
    assert "SF101 SF302" in line


def test_console_shows_why_a_host_is_unreachable() -> None:
    text = render_console(sample(), colour=False)
    assert "WinRM: connection refused" in text


def test_console_counts_failing_hosts_per_check() -> None:
    text = render_console(sample(), colour=False)
    section = text.split("Failures by check", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith("SF101"))
    assert row.split()[:3] == ["SF101", "error", "2"]


def test_console_lines_fit_the_width_at_500_hosts() -> None:
    text = render_console(big_fleet(), width=100, colour=False)
    assert len(text.splitlines()) > 500
    assert max(len(line) for line in text.splitlines()) <= 100


def test_console_columns_are_aligned() -> None:
    text = render_console(big_fleet(20), width=100, colour=False)
    rows = [line for line in text.splitlines() if line.startswith("client")]
    status_columns = {re.search(r"  (blocked|ready|unreachable)", r).start() for r in rows}  # type: ignore[union-attr]
    assert len(status_columns) == 1


def test_console_has_no_colour_codes_when_colour_is_off() -> None:
    assert "\x1b[" not in render_console(sample(), colour=False)


def test_console_colours_status_when_asked() -> None:
    assert "\x1b[31m" in render_console(sample(), colour=True)


def test_console_has_no_colour_when_stdout_is_not_a_tty(capsys: pytest.CaptureFixture[str]) -> None:
    assert "\x1b[" not in render_console(sample())


def test_console_neutralises_escape_sequences_in_host_data() -> None:
    report = FleetReport(
        title="t", hosts=(HostReport(host="evil\x1b]0;pwned\x07", reachable=False, error="x"),)
    )
    text = render_console(report, colour=False)
    assert "\x1b" not in text and "\x07" not in text
    assert "evil?]0;pwned?" in text


def test_console_speaks_french() -> None:
    text = render_console(sample("fr"), colour=False)
    assert "bloqué" in text and "Échecs par contrôle" in text


def test_console_refuses_unreadably_narrow_width() -> None:
    with pytest.raises(ValueError, match="width"):
        render_console(sample(), width=20)


# ----------------------------------------------------------------------------- JSON


def test_json_schema_is_itself_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_json_report_validates_against_shipped_schema() -> None:
    document = json.loads(render_json(sample()))
    jsonschema.Draft202012Validator(load_schema()).validate(document)


def test_json_schema_rejects_undocumented_fields() -> None:
    document = json.loads(render_json(sample()))
    document["hosts"][0]["password"] = "hunter2"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(load_schema()).validate(document)


def test_json_report_reads_back_into_the_same_model() -> None:
    report = sample()
    assert FleetReport.from_dict(json.loads(render_json(report))) == report


def test_json_report_has_schema_version() -> None:
    assert json.loads(render_json(sample()))["schema_version"] == 1


# ----------------------------------------------------------------------------- JUnit


def _junit(report: FleetReport) -> ET.Element:
    return ET.fromstring(render_junit(report).encode("utf-8"))


def test_junit_has_one_testcase_per_host_and_check() -> None:
    # 2 + 4 + 1 findings, 1 unreachable host, 1 finding on the hostile host, and the status
    # of each of the 4 hosts diagnosed.
    assert len(_junit(sample()).findall(".//testcase")) == 13


def test_junit_names_each_diagnosed_hosts_status_in_the_reports_words() -> None:
    root = _junit(sample())
    found = {}
    for suite in root.iter("testsuite"):
        (case,) = [c for c in suite.findall("testcase") if c.get("name") == "status"] or [None]
        if case is None:
            found[suite.get("name")] = None
            continue
        failure, out = case.find("failure"), case.find("system-out")
        found[suite.get("name")] = (
            ("failure", failure.get("type"), failure.get("message"))
            if failure is not None
            else ("system-out", out.text if out is not None else None)
        )
    assert found == {
        "sage-ready": ("system-out", "ready"),
        "sage-blocked": ("failure", "blocked", "blocked: SF101 SF302 failed"),
        "sage-warn": ("system-out", "warnings: SF302"),
        "sage-down": None,  # its one testcase is the reachability error
        HOSTILE: ("failure", "blocked", "blocked: SF101 failed"),
    }


def test_junit_counts_failures_skips_and_errors() -> None:
    root = _junit(sample())
    assert len(root.findall(".//failure")) == 6  # 4 failed checks, 2 blocked hosts
    assert len(root.findall(".//skipped")) == 1
    assert len(root.findall(".//error")) == 2  # one unknown finding, one unreachable host
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) == (
        "13",
        "6",
        "1",
        "2",
    )


def test_junit_failure_carries_message_and_remediation() -> None:
    root = _junit(sample())
    suite = root.find(".//testsuite[@name='sage-blocked']")
    assert suite is not None
    failed = suite.findall("testcase[failure]")
    (case,) = [c for c in failed if c.get("name", "").startswith("SF101")]
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "observed for SF101"
    assert DOTNET_FIX in (failure.text or "")


def test_junit_an_info_check_that_found_something_informs_and_fails_no_test() -> None:
    """SF308 (a WinHTTP proxy is set) only informs: a CI that gates on the JUnit file must
    not see a failed test on a ready host."""
    info = _finding("SF308", Status.FAIL, Severity.INFO)
    ready = HostReport(host="sage-proxy", reachable=True, findings=(info,))
    assert ready.status == "ready"
    root = _junit(replace(sample(), hosts=(ready,)))
    (case,) = [c for c in root.iter("testcase") if c.get("name", "").startswith("SF308")]
    assert case.find("failure") is None and case.find("error") is None
    assert case.findtext("system-out") == "info: observed for SF308"
    assert root.get("failures") == "0"


def _with_notes() -> FleetReport:
    """The demo's proxy-tls (SF303 fails, SF308 notes a WinHTTP proxy) and a ready host
    whose only finding is SF308's note."""
    proxy = HostReport(
        host="proxy-tls",
        reachable=True,
        findings=(
            _finding("SF303", Status.FAIL, Severity.ERROR),
            _finding("SF308", Status.FAIL, Severity.INFO),
        ),
    )
    ready = HostReport(
        host="sage-noted", reachable=True, findings=(_finding("SF308", Status.FAIL, Severity.INFO),)
    )
    return replace(sample(), hosts=(proxy, ready))


def test_console_says_what_info_checks_found_apart_from_the_failures() -> None:
    text = render_console(_with_notes(), colour=False)
    lines = text.splitlines()
    rows = {line.split()[0]: line for line in lines if line.startswith(("proxy", "sage"))}
    assert rows["proxy-tls"].split()[-1] == "SF303"  # failed checks: SF308 is not one
    assert rows["sage-noted"].split()[1] == "ready" and "SF308" not in rows["sage-noted"]
    failures, notes = text.split("Failures by check\n")[1].split("For information")
    assert "SF303" in failures and "SF308" not in failures
    (line,) = [line for line in notes.splitlines() if line.startswith("SF308")]
    assert line.split()[:2] == ["SF308", "2"] and "title of SF308" in line
    assert "For information" not in render_console(sample(), colour=False)


def test_html_says_what_info_checks_found_apart_from_the_failures() -> None:
    page = render_html(_with_notes())
    assert "SF308" not in _section(page, '<table id="checks">', "</table>")
    notes = _section(page, '<table id="notes-by-check">', "</table>")
    row = _section(notes, '<tr data-check="SF308">', "</tr>")
    assert '<a href="#check=SF308"' in row and '<td class="num">2</td>' in row
    options = _section(page, '<select id="f-check">', "</select>")
    assert options.count('value="SF308"') == 1
    hosts = _section(page, '<table id="hosts">', "</table>")
    noted = set(re.findall(r'data-host="([^"]*)"[^>]*data-checks="[^"]*SF308', hosts))
    assert noted == {"proxy-tls", "sage-noted"}
    finding = _section(_section(page, 'id="host-2"', "</details>"), "<tr class=", "</tr>")
    assert "sev-info fs-noted" in finding and "<td>noted</td>" in finding
    assert 'id="notes-by-check"' not in render_html(sample())


def _undecided() -> FleetReport:
    """A host blocked by a check that could not decide (SF104: the clock, without the
    bastion's time), beside one that fails SF303 and could not decide SF104 either."""
    clock = HostReport(
        host="sage-clock",
        reachable=True,
        findings=(_finding("SF104", Status.UNKNOWN, Severity.ERROR),),
    )
    both = HostReport(
        host="sage-both",
        reachable=True,
        findings=(
            _finding("SF303", Status.FAIL, Severity.ERROR),
            _finding("SF104", Status.UNKNOWN, Severity.ERROR),
        ),
    )
    return replace(sample(), hosts=(clock, both))


def test_the_console_and_json_name_the_checks_that_could_not_decide() -> None:
    """A host blocked by an unknown had an empty failed-checks column, and "Failures by
    check" said "No failed checks." (the HTML counted unknowns, the console and JSON did
    not)."""
    report = _undecided()
    text = render_console(report, colour=False)
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("sage-")}
    assert rows["sage-clock"].split()[1] == "blocked"
    assert rows["sage-clock"].endswith("unknown: SF104")
    assert rows["sage-both"].endswith("SF303; unknown: SF104")
    by_check = text.split("Failures by check\n")[1]
    assert "No failed checks." not in by_check
    table = {line.split()[0]: line.split() for line in by_check.splitlines()[1:] if line}
    assert table["SF303"][2:4] == ["1", "0"] and table["SF104"][2:4] == ["0", "2"]
    document = json.loads(render_json(report))
    assert document["failures_by_check"] == {"SF303": 1}
    assert document["unknown_by_check"] == {"SF104": 2}
    jsonschema.Draft202012Validator(load_schema()).validate(document)


def test_a_blocked_hosts_reason_names_its_failures_not_its_notes() -> None:
    proxy = _with_notes().hosts[0]
    assert proxy.status == "blocked" and host_reason(proxy) == "SF303 failed"


def test_junit_waived_finding_is_skipped_with_reason() -> None:
    skipped = _junit(sample()).find(".//testsuite[@name='sage-ready']//skipped")
    assert skipped is not None
    assert skipped.get("message", "").startswith("waived: port 80 closed by policy")


def test_junit_unreachable_host_is_one_errored_testcase() -> None:
    suite = _junit(sample()).find(".//testsuite[@name='sage-down']")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == 1
    error = cases[0].find("error")
    assert error is not None and error.get("message") == "WinRM: connection refused"


def test_junit_suite_counts_match_its_testcases() -> None:
    for suite in _junit(sample()).iter("testsuite"):
        assert int(suite.get("tests", "-1")) == len(suite.findall("testcase"))
        assert int(suite.get("failures", "-1")) == len(suite.findall("testcase/failure"))


def test_junit_keeps_hostile_host_name_as_text() -> None:
    names = [s.get("name") for s in _junit(sample()).iter("testsuite")]
    assert HOSTILE in names


def test_junit_drops_control_characters_that_break_xml() -> None:
    bad = FleetReport(
        title="t",
        hosts=(HostReport(host="h", reachable=False, error="boom\x1b[0m\x00 here"),),
    )
    error = _junit(bad).find(".//error")
    assert error is not None and error.get("message") == "boom[0m here"


# ----------------------------------------------------------------------------- HTML


def test_html_has_no_external_assets() -> None:
    page = render_html(sample())
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*stylesheet", page, re.IGNORECASE)
    assert "<style>" in page and "<script>" in page


def test_html_escapes_hostile_host_name() -> None:
    page = render_html(sample())
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_html_has_one_script_and_one_inert_data_element() -> None:
    page = render_html(sample())
    assert page.count("<script") == 2
    assert page.count("<script>") == 1  # the only one that runs (CSP: by its hash)
    assert page.count('<script type="application/json" id="quiet-data">') == 1


def test_html_contains_remediation_text() -> None:
    assert DOTNET_FIX in render_html(sample())


def test_html_marks_findings_with_their_severity_colour_class() -> None:
    page = render_html(sample())
    assert 'class="sev-error fs-fail"' in page
    assert 'class="sev-warning fs-fail"' in page


def test_html_csp_allows_only_the_inline_script_shipped() -> None:
    page = render_html(sample())
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page


def test_html_host_table_is_sortable_by_header_click() -> None:
    page = render_html(sample())
    assert '<table id="hosts">' in page
    assert 'addEventListener("click"' in page


def test_html_shows_why_a_host_is_unreachable_in_host_table() -> None:
    table = render_html(sample()).split('<table id="hosts">', 1)[1].split("</table>", 1)[0]
    assert "WinRM: connection refused" in table


def test_html_speaks_french() -> None:
    page = render_html(sample("fr"))
    assert '<html lang="fr">' in page and "Correction" in page


def _section(page: str, start: str, end: str) -> str:
    return page.split(start, 1)[1].split(end, 1)[0]


def _quiet_data(page: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        _section(page, '<script type="application/json" id="quiet-data">', "</script>")
    )
    return data


def test_html_puts_the_failures_by_check_before_the_host_table() -> None:
    page = render_html(sample())
    assert page.index('<table id="checks">') < page.index('<table id="hosts">')


def test_html_failures_by_check_link_to_their_hosts() -> None:
    page = render_html(sample())
    summary = _section(page, '<table id="checks">', "</table>")
    assert '<a href="#check=SF101"' in summary and '<a href="#check=SF302"' in summary
    hosts = _section(page, '<table id="hosts">', "</table>")
    tagged = set(re.findall(r'data-host="([^"]*)"[^>]*data-checks="[^"]*SF101', hosts))
    assert tagged == {"sage-blocked", "&lt;script&gt;alert(1)&lt;/script&gt;"}


def test_html_counts_hosts_that_could_not_decide_a_check() -> None:
    summary = _section(render_html(sample()), '<table id="checks">', "</table>")
    row = _section(summary, '<tr data-check="SF401">', "</tr>")
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["0", "1"]  # failing, unknown


def test_html_has_filters_by_host_status_and_check() -> None:
    page = render_html(sample())
    filters = _section(page, '<div class="filters"', "</div>")
    for control in ('id="f-host"', 'id="f-status"', 'id="f-check"', 'id="f-quiet"'):
        assert control in filters
    assert '<option value="blocked">' in filters and '<option value="SF101">' in filters


def test_html_does_not_render_passed_checks_until_asked() -> None:
    page = render_html(sample())
    assert "fs-pass" not in _section(page, '<div id="findings">', '<script type="application/json"')
    strings = _quiet_data(page)["strings"]
    assert "observed for SF201" in strings and "observed for SF101" in strings


def test_html_passed_checks_travel_once_whatever_the_number_of_hosts() -> None:
    data = _quiet_data(render_html(big_fleet(500)))
    assert sum(len(ids) for ids in data["hosts"]) == 375  # three hosts out of four pass SF101
    assert len(data["rows"]) == 1


def test_html_quiet_data_cannot_end_its_element() -> None:
    report = FleetReport(
        title="t",
        generated_at="2025-01-02T03:04:05+00:00",
        hosts=(HostReport(host="h", reachable=True, findings=(
            Finding(check_id="SF101", status=Status.PASS, severity=Severity.ERROR,
                    title="t", message="</script><script>alert(1)</script>"),
        )),),
    )
    page = render_html(report)
    assert page.count("</script>") == 2
    assert "</script><script>alert(1)</script>" in _quiet_data(page)["strings"]


def test_html_classes_come_from_any_status_name() -> None:
    """The model gains statuses (deploy outcomes, not applicable checks): no closed list."""
    assert css_class("verify failed") == "verify-failed"
    assert css_class("rolled-back") == "rolled-back"
    assert css_class("not_applicable") == "not-applicable"


def test_html_hides_a_not_applicable_check_like_a_passed_one() -> None:
    finding = _finding("SF305", Status.UNKNOWN, Severity.INFO)
    object.__setattr__(finding, "status", "not_applicable")  # the value the model names it by
    page = render_html(FleetReport(
        title="t", generated_at="2025-01-02T03:04:05+00:00",
        hosts=(HostReport(host="spc", reachable=True, findings=(finding,)),),
    ))
    assert '<table id="checks">' not in page  # not a failure, not unknown
    assert "1 not applicable" in page
    data = _quiet_data(page)
    status_class, status_label = (data["strings"][i] for i in data["rows"][0][2:4])
    assert (status_class, status_label) == ("not-applicable", "not applicable")


def test_labels_fall_back_to_the_status_name() -> None:
    labels = LABELS["fr"]
    assert label(labels, "finding", "not-applicable") == "sans objet"
    assert label(labels, "finding", "not applicable") == "sans objet"
    assert label(labels, "status", "rolled_back-somehow") == "rolled back somehow"
    assert label({"status.rolled-back": "restauré"}, "status", "rolled-back") == "restauré"


def test_html_speaks_french_typography_and_dates() -> None:
    page = render_html(sample("fr"))
    stamp = '<time datetime="2025-01-02T03:04:05+00:00">2 janvier 2025 à 03:04 UTC</time>'
    assert f"Généré le\u00a0: {stamp}" in page
    assert "(expire le 1er janvier 2030)" in page
    assert "Version de sagefleet\u00a0: 0.1.0" in page
    assert "os\u00a0: Windows Server 2016\u202f; dotnet\u00a0: 4.7.2" in page


def test_french_typography_spaces_only_what_follows_a_space() -> None:
    assert typography("Erreur : voir C:\\Sage ; à 09:07 ? oui !", "fr") == (
        "Erreur\u00a0: voir C:\\Sage\u202f; à 09:07\u202f? oui\u202f!"
    )
    assert typography("Error : left as is", "en") == "Error : left as is"


def test_console_speaks_french_typography_and_dates() -> None:
    text = render_console(sample("fr"), colour=False)
    assert "Généré le\u00a0: 2 janvier 2025 à 03:04 UTC" in text
    assert "Totaux\u00a0: Serveurs 5" in text


def test_console_shows_the_time_in_english_to_the_minute() -> None:
    assert "Generated: 2025-01-02 03:04 UTC" in render_console(sample(), colour=False)


# ----------------------------------------------------------------------------- write_reports


def test_write_reports_writes_every_requested_format(tmp_path: Path) -> None:
    written = write_reports(sample(), tmp_path / "out", FORMATS)
    assert set(written) == set(FORMATS)
    assert all(path.read_text(encoding="utf-8") for path in written.values())
    assert {p.name for p in written.values()} == set(FILE_NAMES.values())


def test_write_reports_leaves_no_temporary_files(tmp_path: Path) -> None:
    write_reports(sample(), tmp_path, ["json", "html"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]


def test_write_reports_replaces_previous_report(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("old", encoding="utf-8")
    write_reports(sample(), tmp_path, ["json"])
    assert json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["title"]


def test_write_reports_console_file_has_no_colour(tmp_path: Path) -> None:
    path = write_reports(sample(), tmp_path, ["console"])["console"]
    assert "\x1b[" not in path.read_text(encoding="utf-8")


def test_write_reports_rejects_unknown_format_before_writing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pdf"):
        write_reports(sample(), tmp_path, ["json", "pdf"])
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ a command's run folder


def test_a_commands_run_folder_is_new_each_time_and_latest_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_run_reports(sample(), None, ["inventory/bijou"], ["json", "html"])
    write_run_reports(sample(), None, ["inventory/bijou"], ["json"])
    job_dir = Path("reports/bijou/preflight")
    runs = sorted(p for p in job_dir.iterdir() if p.name != "latest")
    assert [sorted(q.name for q in run.iterdir()) for run in runs] == [
        ["report.html", "report.json"],
        ["report.json"],
    ]
    assert (job_dir / "latest").resolve() == runs[1].resolve()
    printed = capsys.readouterr().out
    assert f"reports: {runs[1]}/report.json (also {job_dir}/latest/)" in printed


def test_a_commands_run_that_cannot_write_leaves_no_folder_and_latest_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_run_reports(sample(), None, ["inventory/bijou"], ["json"])
    job_dir = Path("reports/bijou/preflight")
    before = (job_dir / "latest").resolve()

    def full(*_: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("sagefleet.report.write_reports", full)
    with pytest.raises(OSError, match="No space"):
        write_run_reports(sample(), None, ["inventory/bijou"], ["json"])
    assert [p.name for p in job_dir.iterdir() if p.name != "latest"] == [before.name]
    assert (job_dir / "latest").resolve() == before
