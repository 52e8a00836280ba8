"""fail_on_blocked set per host (host_vars, group_vars): every report ends each blocked
host as its own value makes PLAY RECAP end it, not as the first host's value does."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest
from tests.support.plugins import plugin
from tests.support.reports import deploy_report, dotnet

from sagefleet.errors import InputError
from sagefleet.findings import FleetReport, HostReport, Status
from sagefleet.outcomes import HostOutcome
from sagefleet.report import (
    LABELS,
    load_schema,
    render_console,
    render_html,
    render_json,
    render_junit,
)
from sagefleet.report.labels import typography


def mixed_report(lang: str = "en") -> FleetReport:
    """deploy_report's five hosts and a second blocked one, net48: the run fails net48,
    and lets net472 pass (its own value is false)."""
    report = deploy_report(lang)
    net48 = HostReport(
        host="net48",
        reachable=True,
        findings=(dotnet(Status.FAIL, "4.8"),),
        outcome=HostOutcome(status="blocked", reason="preflight: SF101 failed"),
    )
    return replace(report, hosts=(*report.hosts, net48), fail_on_blocked=frozenset({"net48"}))


def outcome_case(junit: str, host: str) -> ET.Element:
    root = ET.fromstring(junit)
    (case,) = [
        c for c in root.iter("testcase") if (c.get("classname"), c.get("name")) == (host, "outcome")
    ]
    return case


def test_each_blocked_host_ends_by_its_own_value_in_every_report() -> None:
    report = mixed_report()
    assert [report.fail_on_blocked_for(h) for h in ("net48", "net472")] == [True, False]
    document = json.loads(render_json(report))
    jsonschema.validate(document, load_schema())
    assert document["fail_on_blocked"] == ["net48"]
    recaps = {h["host"]: h["recap"] for h in document["hosts"]}
    assert (recaps["net48"], recaps["net472"]) == ("failed", "ok")
    assert FleetReport.from_dict(document) == report
    junit = render_junit(report)
    failed = outcome_case(junit, "net48")
    assert [e.tag for e in failed] == ["failure"] and failed[0].get("type") == "blocked"
    assert [e.tag for e in outcome_case(junit, "net472")] == ["skipped"]
    html = render_html(report)
    row = {h: html.split(f'data-host="{h}"', 1)[1].split("</tr>", 1)[0] for h in recaps}
    assert "st-blocked rc-failed" in row["net48"] and "st-blocked rc-ok" in row["net472"]
    # The blocked total counts hosts the run ends both ways: no one recap colour of its own.
    total = html.split('data-status="blocked"', 1)[1].split("</a>", 1)[0]
    assert 'class="badge st-blocked"' in total


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_sentence_under_the_totals_names_the_blocked_hosts_the_run_lets_pass(
    lang: str,
) -> None:
    """It said "Blocked hosts fail this run" (the first host's value) when net472 passed."""
    report = mixed_report(lang)
    said = LABELS[lang]["blocked.fails_except"].replace("{hosts}", "net472")
    assert "net472" in said and "net48" not in said
    text = render_console(report, colour=False)
    under_totals = " ".join(text.split("\n\n", 1)[0].splitlines()[3:])  # wrapped, not cut
    assert under_totals == said
    assert f'<p id="blocked-rule">{typography(said, lang)}</p>' in render_html(report)


@pytest.mark.parametrize("fails", [True, False])
def test_a_fleet_whose_blocked_hosts_agree_keeps_one_value_and_one_sentence(
    fails: bool,
) -> None:
    both = frozenset({"net48", "net472"})
    agreed = replace(mixed_report(), fail_on_blocked=both if fails else frozenset())
    assert agreed.fail_on_blocked is fails
    assert json.loads(render_json(agreed))["fail_on_blocked"] is fails
    rule = LABELS["en"]["blocked.fails" if fails else "blocked.passes"]
    assert rule in " ".join(render_console(agreed, colour=False).splitlines())


def test_a_report_naming_a_host_it_does_not_hold_blocked_is_refused() -> None:
    said = "fail_on_blocked names hosts that are not blocked: gone, old"
    with pytest.raises(ValueError, match=said):
        replace(mixed_report(), fail_on_blocked=frozenset({"net48", "old", "gone"}))
    document = json.loads(render_json(mixed_report()))
    with pytest.raises(InputError, match="gone"):
        FleetReport.from_dict({**document, "fail_on_blocked": ["net48", "gone"]})
    with pytest.raises(InputError, match="true, false or a list of blocked hosts' names"):
        FleetReport.from_dict({**document, "fail_on_blocked": "yes"})


def test_the_report_action_reads_each_blocked_hosts_own_value(tmp_path: Path) -> None:
    """The report task runs once, for the play's first host: it read that host's value
    for every host. It now reads each blocked host's own (its declared default when it
    sets none, a templated one templated, a text one as -e gives it), and refuses a value
    that is not a boolean, naming the host."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.utils.collection_loader import AnsibleCollectionConfig
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager

    if AnsibleCollectionConfig.collection_finder is None:
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader()
    name = "sagefleet_deploy_fail_on_blocked"
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n"
        f"    first: {{{name}: false}}\n"
        "    unset: {}\n"
        f"    templated: {{{name}: '{{{{ 1 > 2 }}}}'}}\n"
        f"    text: {{{name}: 'no'}}\n"
        f"    wrong: {{{name}: maybe}}\n"
    )
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(tmp_path / "hosts.yml")])
    hostvars = HostVars(
        inventory=manager,
        variable_manager=VariableManager(loader=loader, inventory=manager),
        loader=loader,
    )
    module = plugin("sagefleet_report")
    action = module.ActionModule.__new__(module.ActionModule)
    action.task_vars = {"hostvars": hostvars, name: False}
    action.host = "first"
    action._templar = Templar(loader=loader)
    action.args = {"fail_on_blocked": None, "fail_on_blocked_var": name, "ended_in_result": False}

    def fleet(*names: str) -> list[HostReport]:
        blocked = HostOutcome(status="blocked", reason="preflight: SF101 failed")
        return [HostReport(host=n, reachable=True, outcome=blocked) for n in names]

    assert action._fail_on_blocked(fleet("first", "unset", "templated", "text"), {}) == {"unset"}
    ready = [HostReport(host="wrong", reachable=True)]  # not blocked: not read
    assert action._fail_on_blocked(ready, {}) is False  # the value of the task's own host
    with pytest.raises(InputError) as refused:
        action._fail_on_blocked(fleet("unset", "wrong"), {})
    assert "host wrong" in str(refused.value) and name in str(refused.value)
    assert "'maybe'" in str(refused.value)
    # With ended_in_result, the blocked hosts whose registered result failed (preflight's
    # checks task ended them), whatever the inventory says.
    action.args = {**action.args, "ended_in_result": True, "result_var": "r"}
    results = {"first": {"r": {"failed": True}}, "unset": {"r": {"status": "blocked"}},
               "templated": {}}
    assert action._fail_on_blocked(fleet("first", "unset", "templated"), results) == {"first"}
    action.args = {"fail_on_blocked": True, "fail_on_blocked_var": name}
    with pytest.raises(InputError, match="fail_on_blocked or fail_on_blocked_var, not both"):
        action.prepare({})
    action.args = {"fail_on_blocked": None, "fail_on_blocked_var": "sagefleet_lang"}
    with pytest.raises(InputError, match="must name a declared boolean variable"):
        action.prepare({})
