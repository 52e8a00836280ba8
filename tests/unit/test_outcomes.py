"""Outcomes: one vocabulary of host statuses, in every report format, and the glue
that turns them into Ansible's exit codes and PLAY RECAP."""

from __future__ import annotations

import json
import os
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.support.plugins import plugin
from tests.support.reports import deploy_report, dotnet

import sagefleet.report as report_package
from sagefleet import outcomes
from sagefleet.deploy import waves
from sagefleet.errors import InputError
from sagefleet.findings import Finding, FleetReport, HostReport, Severity, Status
from sagefleet.outcomes import HostOutcome
from sagefleet.remote.errors import HostUnreachable, short_cause
from sagefleet.report import (
    LABELS,
    load_schema,
    outcome_table,
    render_console,
    render_html,
    render_json,
    render_junit,
)
from sagefleet.report.runs import (
    check_for_play,
    check_writable,
    clear_stale,
    discard,
    inventory_name,
    link_latest,
    open_for_play,
    open_run,
    written,
)
from sagefleet.settings.host import SettingsOutcome

# ----------------------------------------------------------------------------- vocabulary


def test_every_status_is_declared_once_with_both_languages_labels() -> None:
    assert len(set(outcomes.STATUSES)) == len(outcomes.STATUSES)
    assert set(outcomes.PREFLIGHT_STATUSES) <= set(outcomes.STATUSES)
    for lang in ("en", "fr"):
        for status in outcomes.STATUSES:
            assert LABELS[lang][f"status.{status}"].strip(), (lang, status)
    labels = [LABELS["en"][f"status.{s}"] for s in outcomes.STATUSES]
    assert len(set(labels)) == len(labels)  # each outcome its own word


def test_the_report_schema_knows_exactly_the_declared_statuses() -> None:
    schema = load_schema()
    assert tuple(schema["$defs"]["status"]["enum"]) == outcomes.STATUSES


def test_only_failed_outcomes_and_unreachable_hosts_end_a_run_badly() -> None:
    assert set(outcomes.FAILED) == {
        "failed", "rolled-back", "verify-failed", "incomplete", "not-run"
    }
    assert outcomes.BY_NAME["unreachable"].recap == "unreachable"
    assert outcomes.BY_NAME["blocked"].recap == "ok"


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown host status 'skipped'"):
        HostOutcome(status="skipped")


# ----------------------------------------------------------------------------- reports


def test_a_host_with_an_outcome_has_the_outcome_as_its_status() -> None:
    report = deploy_report()
    status = {h.host: h.status for h in report.hosts}
    # A rolled-back host is not "blocked", a host not reached is not "unreachable".
    assert status == {
        "old": "rolled-back",
        "fresh": "installed",
        "later": "not-run",
        "down": "unreachable",
        "net472": "blocked",
    }
    assert [h.host for h in report.sorted_hosts()] == ["old", "net472", "down", "later", "fresh"]
    assert report.host_status_counts == {
        "rolled-back": 1,
        "blocked": 1,
        "unreachable": 1,
        "not-run": 1,
        "installed": 1,
    }


def test_the_json_report_carries_each_outcome_and_validates() -> None:
    document = json.loads(render_json(deploy_report()))
    jsonschema.validate(document, load_schema())
    old = next(h for h in document["hosts"] if h["host"] == "old")
    assert old["status"] == "rolled-back"
    assert old["outcome"] == {
        "status": "rolled-back",
        "reason": "installer failed: installer exit code 1603; previous version 2.3.0 "
        "restored, running",
        "plan": "upgrade 2.3.0 → 3.2.0 (v11.0)",
        "previous_version": "2.3.0",
        "target_version": "3.2.0",
        "version": "2.3.0",
        "reboot_required": False,
        "entities": [],
    }
    assert old["duration_s"] == 12.5
    assert FleetReport.from_dict(document) == deploy_report()


def test_a_preflight_report_keeps_its_four_statuses_and_no_outcome() -> None:
    report = FleetReport(title="p", hosts=(HostReport(host="a", reachable=True),))
    document = report.to_dict()
    assert document["host_status_counts"] == {
        "blocked": 0,
        "unreachable": 0,
        "warnings": 0,
        "ready": 1,
    }
    assert document["hosts"][0]["outcome"] is None
    jsonschema.validate(document, load_schema())


def test_the_console_shows_status_versions_duration_and_reason() -> None:
    text = render_console(deploy_report(), colour=False)
    lines = {
        line.split()[0]: line
        for line in text.splitlines()
        if line.startswith(("old ", "fresh ", "later ", "down "))
    }
    assert "rolled back  2.3.0  3.2.0" in lines["old"]
    assert "12.5" in lines["old"]
    assert lines["old"].endswith("previous version 2.3.0 restored, running")  # never cut
    assert "installed" in lines["fresh"] and "install 3.2.0 (v11.0)" in lines["fresh"]
    assert "not run" in lines["later"] and "the rollout stopped" in lines["later"]
    assert "connection refused" in lines["down"]
    assert "Totals: Hosts 5 (rolled back 1, blocked 1, unreachable 1, not run 1, installed 1)" in (
        text
    )


def test_the_console_speaks_french_for_outcomes() -> None:
    text = render_console(deploy_report("fr"), colour=False)
    assert "retour arrière" in text and "non traité" in text and "installé" in text


def test_junit_has_one_outcome_case_per_host() -> None:
    root = ET.fromstring(render_junit(deploy_report()))
    cases = {c.get("classname"): c for c in root.iter("testcase") if c.get("name") == "outcome"}
    assert set(cases) == {"old", "fresh", "later", "down", "net472"}
    old_failure = cases["old"].find("failure")
    assert old_failure is not None and old_failure.get("type") == "rolled-back"
    assert "exit code 1603" in (old_failure.get("message") or "")
    later = cases["later"].find("failure")
    assert later is not None and later.get("type") == "not-run"
    down = cases["down"].find("error")
    assert down is not None and down.get("type") == "unreachable"
    assert cases["net472"].find("skipped") is not None
    assert not [e for e in cases["fresh"] if e.tag in ("failure", "error", "skipped")]
    # The unreachable host is one errored case, not a second "reachability" case too.
    assert not [c for c in root.iter("testcase") if c.get("name") == "reachability"]


@pytest.mark.parametrize("fails", [True, False])
def test_every_report_says_a_blocked_host_failed_the_run_when_the_run_fails_it(
    fails: bool,
) -> None:
    """deploy.yml fails its blocked hosts by default (sagefleet_deploy_fail_on_blocked):
    the JUnit file said <skipped>, and a CI reading it stayed green on a failed run."""
    report = replace(deploy_report(), fail_on_blocked=fails)
    root = ET.fromstring(render_junit(report))
    (case,) = [
        c
        for c in root.iter("testcase")
        if (c.get("classname"), c.get("name")) == ("net472", "outcome")
    ]
    failure, skipped = case.find("failure"), case.find("skipped")
    if fails:
        assert failure is not None and skipped is None
        assert failure.get("type") == "blocked"
        assert failure.get("message") == "blocked: preflight: SF101 failed"
    else:
        assert failure is None and skipped is not None
        assert skipped.get("message") == "blocked: preflight: SF101 failed"
    document = json.loads(render_json(report))
    jsonschema.validate(document, load_schema())
    assert document["fail_on_blocked"] is fails
    recaps = {h["host"]: h["recap"] for h in document["hosts"]}
    assert recaps == {
        "old": "failed",
        "fresh": "ok",
        "later": "failed",
        "down": "unreachable",
        "net472": "failed" if fails else "ok",
    }
    assert FleetReport.from_dict(document) == report
    html = render_html(report)
    row = html.split('data-host="net472"', 1)[1].split("</tr>", 1)[0]
    assert f"st-blocked rc-{'failed' if fails else 'ok'}" in row
    rule = "blocked.fails" if fails else "blocked.passes"
    assert f'<p id="blocked-rule">{LABELS["en"][rule]}</p>' in html
    text = render_console(report, colour=False)
    under_totals = " ".join(text.split("\n\n", 1)[0].splitlines()[3:])  # wrapped, not cut
    assert LABELS["en"][rule] == under_totals


def test_a_report_of_findings_only_says_nothing_of_blocked_hosts_failing_the_run() -> None:
    """The sentence is about a deploy's blocked outcomes: preflight's own table says it."""
    report = FleetReport(
        title="sagefleet preflight",
        generated_at="2025-01-02T03:04:05+00:00",
        fail_on_blocked=True,
        hosts=(
            HostReport(host="a", reachable=True, findings=(dotnet(Status.FAIL, "4.7.2"),)),
        ),
    )
    assert LABELS["en"]["blocked.fails"] not in render_console(report, colour=False)
    assert 'id="blocked-rule"' not in render_html(report)
    assert json.loads(render_json(report))["hosts"][0]["recap"] == "failed"


def test_html_shows_each_outcome_with_its_reason_and_versions() -> None:
    html = render_html(deploy_report())
    assert "rolled back" in html and "not run" in html
    assert "installer exit code 1603" in html
    assert "st-rolled-back rc-failed" in html and "st-installed rc-ok" in html
    # The host table: From, To and Reason columns, one row per host with its status.
    header = html.split('<table id="hosts">', 1)[1].split("</thead>", 1)[0]
    assert [c for c in (">From<", ">To<", ">Reason<") if c in header] == [
        ">From<",
        ">To<",
        ">Reason<",
    ]
    row = html.split('data-host="old"', 1)[1].split("</tr>", 1)[0]
    assert 'data-status="rolled-back"' in row
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[3:6] == [
        "2.3.0",
        "3.2.0",
        "installer failed: installer exit code 1603; previous version 2.3.0 restored, running",
    ]
    # The filter by status lists the outcome statuses, each with its count.
    select = html.split('id="f-status"', 1)[1].split("</select>", 1)[0]
    options = dict(re.findall(r'<option value="([^"]*)">([^<]*)</option>', select))
    assert options == {
        "": "all",
        "rolled-back": "rolled back (1)",
        "blocked": "blocked (1)",
        "unreachable": "unreachable (1)",
        "not-run": "not run (1)",
        "installed": "installed (1)",
    }
    # The host's block: status, versions, duration and reason; open when it needs a look.
    block = html.split('id="host-1"', 1)[1].split("</details>", 1)[0]
    assert block.startswith(' data-i="1" open>')
    assert (
        "rolled back · From 2.3.0 · To 3.2.0 · Running 2.3.0 · Duration (s): 12.5<br>Reason: "
        in block
    )
    # Installed, nothing to say: its block starts closed (500 hosts stay readable).
    assert 'data-i="5" data-host="fresh"' in html
    assert '<details class="host" id="host-5" data-i="5">' in html


def test_html_outcomes_follow_french_typography() -> None:
    html = render_html(deploy_report("fr"))
    assert "retour arrière · Depuis 2.3.0 · Vers 3.2.0" in html
    assert "Motif\u00a0: installer failed" in html
    select = html.split('id="f-status"', 1)[1].split("</select>", 1)[0]
    assert '<option value="not-run">non traité (1)</option>' in select


def test_a_preflight_html_report_has_no_outcome_column() -> None:
    html = render_html(
        FleetReport(
            title="sagefleet preflight",
            generated_at="2025-01-02T03:04:05+00:00",
            hosts=(HostReport(host="a", reachable=True),),
        )
    )
    header = html.split('<table id="hosts">', 1)[1].split("</thead>", 1)[0]
    assert ">From<" not in header and ">Reason<" not in header
    assert 'class="outcome"' not in html


# ----------------------------------------------------------------------------- report folders


@pytest.mark.parametrize(
    ("sources", "name"),
    [
        (["inventory/bijou"], "bijou"),
        (["/srv/sagefleet/inventory/bijou/"], "bijou"),
        (["inventory/demo/hosts.yml"], "demo"),
        (["clients/acme.yml"], "acme"),
        (["inventory/bijou", ".sagefleet/jump/hosts.yml"], "bijou"),
        ([], "default"),
        (["inventory/a b;c"], "a_b_c"),
    ],
)
def test_the_inventory_names_its_reports_folder(sources: list[str], name: str) -> None:
    assert inventory_name(sources) == name


def test_each_run_gets_its_folder_and_latest_follows_the_runs_that_wrote(tmp_path: Path) -> None:
    stamp = datetime(2025, 3, 1, 10, 15, 0, tzinfo=UTC)
    first = open_run("deploy", reports_root=tmp_path, inventory="bijou", now=stamp)
    second = open_run("deploy", reports_root=tmp_path, inventory="bijou", now=stamp)
    assert first.path == tmp_path / "bijou" / "deploy" / "20250301T101500Z"
    assert second.path.name == "20250301T101500Z-2"  # same second, another folder
    (first.path / "report.json").write_text("{}")
    link = link_latest(first)
    assert link == tmp_path / "bijou" / "deploy" / "latest"
    assert os.readlink(link) == "20250301T101500Z"  # relative: the tree can move
    assert not written(second)
    assert discard(second) and not second.path.exists()
    assert os.readlink(link) == "20250301T101500Z"


def test_a_report_folder_the_bastion_cannot_write_is_refused_leaving_nothing(
    tmp_path: Path,
) -> None:
    """Checked before any host is contacted, where the run would find it out at its
    report; the check leaves nothing behind."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(InputError) as refused:
        check_writable(a_file / "reports", "sagefleet_preflight_report_dir")
    assert refused.value.field == "sagefleet_preflight_report_dir"
    assert f"{a_file} is not a folder" in str(refused.value)
    assert f"(value: {a_file / 'reports'})" in str(refused.value)
    check_writable(tmp_path / "new" / "deeper", "sagefleet_preflight_report_dir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]  # nothing made
    play = {"sagefleet_report_dir": str(a_file), "sagefleet_inventory_name": "bijou"}
    with pytest.raises(InputError) as refused:
        check_for_play("preflight", "", "sagefleet_preflight_report_dir", play)
    assert refused.value.field == "sagefleet_report_dir"
    assert str(a_file / "bijou" / "preflight") in str(refused.value)
    check_for_play("preflight", str(tmp_path / "mine"), "sagefleet_preflight_report_dir", play)


def test_a_report_left_by_an_earlier_run_is_not_this_runs(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("{}")
    old = time.time() - 3600
    os.utime(tmp_path / "report.json", (old, old))
    run = open_run("verify", explicit=tmp_path)
    assert run.job_dir is None and run.path == tmp_path
    assert not written(run)
    assert not discard(run)  # a folder named explicitly stays
    assert link_latest(run) is None
    (tmp_path / "report.json").write_text("{}")
    assert written(run)
    # A folder named explicitly is made by what writes into it, not by opening it.
    assert not open_run("verify", explicit=tmp_path / "not-yet").path.exists()


def test_a_folder_named_explicitly_keeps_only_this_runs_results_and_every_other_file(
    tmp_path: Path,
) -> None:
    """The second run into the same folder kept the first one's verify-<host> folders: a
    host missing from it looked verified. What sagefleet wrote there before goes; a file of
    anyone else's (or a wave folder holding one) stays."""
    old = time.time() - 3600

    def write(path: Path, text: str = "{}", when: float | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if when:
            os.utime(path, (when, when))

    for name in ("verify-a/report.json", "verify-a/pytest.junit.xml", "report.html"):
        write(tmp_path / name, when=old)
    write(tmp_path / "report.json", when=old)
    write(tmp_path / "notes.txt", when=old)
    write(tmp_path / "verify-mine" / "report.json", when=old)
    write(tmp_path / "verify-mine" / "notes.txt", when=old)
    run = open_run("deploy", explicit=tmp_path)
    write(tmp_path / "verify-b" / "report.json")  # this run's first wave
    removed = clear_stale(run)
    assert sorted(p.name for p in removed) == ["report.html", "report.json", "verify-a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "verify-b", "verify-mine"]
    assert sorted(p.name for p in (tmp_path / "verify-mine").iterdir()) == [
        "notes.txt",
        "report.json",
    ]
    assert clear_stale(run) == []


def test_a_run_that_wrote_no_report_takes_back_its_waves_from_a_folder_named_explicitly(
    tmp_path: Path,
) -> None:
    """An interrupted deploy: its first wave's verification is not a report of the run, the
    earlier run's report and the operator's file stay as they were."""
    old = time.time() - 3600
    for name in ("report.json", "notes.txt"):
        (tmp_path / name).write_text("earlier")
        os.utime(tmp_path / name, (old, old))
    run = open_run("deploy", explicit=tmp_path)
    (tmp_path / "verify-a").mkdir()
    (tmp_path / "verify-a" / "pytest.junit.xml").write_text("<testsuites/>")
    assert not written(run)
    assert not discard(run)  # the folder itself stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "report.json"]


def test_the_json_report_is_written_last_as_it_marks_a_run_that_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped while writing never leaves a report.json without the other files."""
    order: list[str] = []
    monkeypatch.setattr(
        report_package, "write_atomic", lambda path, *a, **k: order.append(path.name)
    )
    formats = ["json", "html", "console"]
    written_files = report_package.write_reports(deploy_report(), tmp_path, formats)
    assert order == ["report.html", "report.txt", "report.json"]
    assert list(written_files) == formats


def test_a_play_puts_reports_under_the_project_or_sagefleet_report_dir(tmp_path: Path) -> None:
    play = {"playbook_dir": str(tmp_path / "project" / "playbooks")}
    play["ansible_inventory_sources"] = [str(tmp_path / "inventory" / "bijou")]
    run = open_for_play("preflight", None, play)
    assert run.path.parent == tmp_path / "project" / "reports" / "bijou" / "preflight"
    run = open_for_play("preflight", None, {**play, "sagefleet_report_dir": str(tmp_path / "r")})
    assert run.path.parent == tmp_path / "r" / "bijou" / "preflight"
    run = open_for_play("preflight", None, {**play, "sagefleet_inventory_name": "acme"})
    assert run.path.parent == tmp_path / "project" / "reports" / "acme" / "preflight"


def test_closing_a_run_reads_only_what_it_wrote(tmp_path: Path) -> None:
    folder = plugin("sagefleet_report_folder")
    run = open_run("verify", reports_root=tmp_path, inventory="bijou")
    assert folder.close(run)["written"] is False
    assert not run.path.exists()
    run = open_run("verify", reports_root=tmp_path, inventory="bijou")
    report = deploy_report()
    (run.path / "report.json").write_text(render_json(report))
    (run.path / "report.txt").write_text("the table")
    closed = folder.close(run)
    assert closed["written"] and closed["text"] == "the table"
    assert closed["statuses"]["old"] == "rolled-back"
    assert "exit code 1603" in closed["reasons"]["old"]
    assert (tmp_path / "bijou" / "verify" / "latest").resolve() == run.path.resolve()


# ----------------------------------------------------------------------------- glue


def test_a_host_ends_failed_unreachable_or_ok_by_its_status() -> None:
    default_fail = list(outcomes.FAILED)
    assert outcomes.end_host("rolled-back", "exit code 1603", default_fail, ["unreachable"]) == {
        "changed": False,
        "status": "rolled-back",
        "msg": "rolled-back: exit code 1603",
        "failed": True,
    }
    assert outcomes.end_host("unreachable", "refused", default_fail, ["unreachable"])["unreachable"]
    assert "failed" not in outcomes.end_host("blocked", "SF101", default_fail, ["unreachable"])
    assert outcomes.end_host("blocked", "SF101 failed", ["blocked"], ["unreachable"])["failed"]
    assert "failed" not in outcomes.end_host("installed", "", default_fail, ["unreachable"])


def test_a_deploy_result_becomes_the_hosts_report_and_a_missing_one_is_not_run() -> None:
    registered: dict[str, Any] = {
        "outcome": "upgraded",
        "plan": "upgrade 2.3.0 → 3.2.0 (v11.0)",
        "previous_version": "2.3.0",
        "target_version": "3.2.0",
        "version": "3.2.0",
        "host_report": HostReport(host="a", reachable=True).to_dict(),
    }
    wave = {
        "verify": {
            "a": {
                "status": "verify-failed",
                "reason": "verification failed: SF502 the agent is Stopped",
                "findings": [
                    Finding(
                        check_id="SF502",
                        status=Status.FAIL,
                        severity=Severity.ERROR,
                        title="Agent running",
                        message="the agent is Stopped",
                    ).to_dict()
                ],
            }
        }
    }
    host = outcome_table.host_report("a", registered, wave, "missing", "not-run")
    assert host.status == "verify-failed"
    assert host.outcome.reason == "verification failed: SF502 the agent is Stopped"
    assert (host.outcome.previous_version, host.outcome.target_version) == ("2.3.0", "3.2.0")
    assert host.failed_check_ids == ("SF502",)
    lost = {"status": "unreachable", "reason": "the wave's verification could not reach it"}
    host = outcome_table.host_report("a", registered, {"verify": {"a": lost}}, "", "not-run")
    assert (host.status, host.outcome.reason) == ("unreachable", lost["reason"])
    assert host.outcome.previous_version == "2.3.0"  # what the deploy did is kept
    later = outcome_table.host_report("b", None, None, "the rollout stopped", "not-run")
    assert (later.status, later.outcome.reason) == ("not-run", "the rollout stopped")
    down = outcome_table.host_report(
        "c", {"msg": "refused", "unreachable": True}, None, "x", "unreachable"
    )
    assert (down.status, down.error) == ("unreachable", "refused")
    # A deploy task that ended in its own error ran: the host failed, it is not "not run".
    crashed = {"failed": True, "msg": "Unexpected failure during module execution"}
    broken = outcome_table.host_report("d", crashed, None, "the rollout stopped", "not-run")
    assert (broken.status, broken.outcome.reason) == ("failed", crashed["msg"])
    skipped = outcome_table.host_report(
        "e", {"skipped": True, "changed": False}, None, "stop", "not-run"
    )
    assert skipped.status == "not-run"


def _written(**fields: Any) -> SettingsOutcome:
    given: dict[str, Any] = {"host": "a", "path": "C:\\Agent\\settings.json", "action": "write"}
    given |= {"changed": True, "sha256": "1", "previous_sha256": None, "existed": False}
    return SettingsOutcome(**given | fields)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, "settings-updated"),
        ({"check": True}, "planned"),
        ({"changed": False}, "unchanged"),
        ({"changed": False, "agent_unread": True}, "restarted"),
        ({"changed": False, "agent_unread": True, "check": True}, "planned"),
        ({"changed": False, "check": True}, "unchanged"),
    ],
)
def test_a_settings_write_ends_its_host_in_a_declared_word_naming_its_entities(
    fields: dict[str, Any], status: str
) -> None:
    ended = _written(**fields).host_outcome(["BIJOU", "CHOCO"])
    assert (ended["outcome"], ended["entities"]) == (status, ["BIJOU", "CHOCO"])
    assert ended["plan"].endswith("; entities: BIJOU, CHOCO")
    host = outcome_table.host_report("a", ended, None, "missing", "unreachable")
    assert host.outcome is not None and host.outcome.entities == ("BIJOU", "CHOCO")


def test_the_restart_after_a_settings_write_may_fail_the_host() -> None:
    ended = _written().host_outcome(["BIJOU"])
    restarted = {"changed": True, "msg": "agent restarted (Running → Running)"}
    host = outcome_table.host_report("a", ended, None, "", "unreachable", restarted)
    assert host.status == "settings-updated"
    assert host.outcome is not None and host.outcome.plan.endswith("; " + restarted["msg"])
    stopped = {"failed": True, "msg": "the agent does not run after the settings change"}
    host = outcome_table.host_report("a", ended, None, "", "unreachable", stopped)
    assert (host.status, host.outcome and host.outcome.reason) == ("failed", stopped["msg"])
    lost = {"unreachable": True, "msg": "cannot connect"}
    host = outcome_table.host_report("a", ended, None, "", "unreachable", lost)
    assert (host.status, host.outcome and host.outcome.reason) == ("unreachable", "cannot connect")
    # A host whose write failed keeps its own reason; a skipped restart changes nothing.
    failed = {"failed": True, "msg": "disk full", "outcome": "failed", "reason": "disk full"}
    host = outcome_table.host_report("a", failed, None, "", "unreachable", stopped)
    assert host.outcome is not None and host.outcome.reason == "disk full"
    host = outcome_table.host_report("a", ended, None, "", "unreachable", {"skipped": True})
    assert host.outcome is not None and host.outcome.plan == ended["plan"]


def test_the_wave_gate_counts_verify_failures_and_stops(tmp_path: Path) -> None:
    verdict = waves.wave_verdict({"a": "installed", "b": "verify-failed"}, 20)
    assert verdict.stop and "1 failed (50%" in verdict.message and "b" in verdict.message
    started = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    run = {"rc": 4, "start": started, "stdout": "", "stderr": "ERROR: no such file"}
    verdicts = waves.verification({"a": "installed", "x": "blocked"}, run, tmp_path / "none")
    assert list(verdicts) == ["a"]  # a blocked host was not deployed, nothing to verify
    assert verdicts["a"]["status"] == "verify-failed"
    assert "wrote no report (pytest rc 4): ERROR: no such file" in verdicts["a"]["reason"]


def test_a_connection_error_is_one_line_with_its_cause() -> None:
    raw = (
        "ntlm: HTTPSConnectionPool(host='10.0.0.5', port=5986): Max retries exceeded with "
        "url: /wsman (Caused by NewConnectionError(\"HTTPSConnection(host='10.0.0.5', "
        'port=5986): Failed to establish a new connection: [Errno 111] Connection refused"))'
    )
    assert short_cause(raw) == "ntlm: cannot connect to 10.0.0.5:5986: connection refused"
    assert HostUnreachable("h", raw).message == short_cause(raw)
    tls = (
        "HTTPSConnectionPool(host='h.lan', port=5986): Max retries exceeded with url: /wsman "
        "(Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] "
        "certificate verify failed: self-signed certificate (_ssl.c:1000)')))"
    )
    assert short_cause(tls) == (
        "cannot connect to h.lan:5986: TLS certificate verify failed: self-signed certificate"
    )
    timeout = (
        "HTTPSConnectionPool(host='h', port=5986): Max retries exceeded (Caused by "
        "ConnectTimeoutError(<x>, 'Connection to h timed out. (connect timeout=30)'))"
    )
    assert short_cause(timeout) == "cannot connect to h:5986: connection timed out"
    assert (
        short_cause("snippet facts failed (rc 1):\nline 2")
        == "snippet facts failed (rc 1):\nline 2"
    )


@pytest.mark.parametrize("status", outcomes.STATUSES)
def test_marked_lists_exactly_the_statuses_sagefleet_outcome_marks_by_default(status: str) -> None:
    """deploy.yml ends the hosts outside MARKED before sagefleet_outcome: it must be the
    statuses that task, with its defaults, would fail or mark unreachable."""
    ended = outcomes.end_host(status, "", outcomes.FAILED, outcomes.UNREACHABLE)
    assert (status in outcomes.MARKED) == bool(ended.get("failed") or ended.get("unreachable"))
