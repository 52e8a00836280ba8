"""The corrected checks at their boundaries, each against the public fact it follows.

Sources (docs/checks.md): Chift help (Objets Métiers per Sage version), Microsoft
docs (.NET Framework 4.8 system requirements, TLS best practices), AWS (request
signing and clock skew), the vendor's procedure (SPC and Objets Métiers).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from tests.support.factsdoc import NOW, OM_DLL, ONPREM, SPC, chain, healthy, om_class

from sagefleet import offline, preflight
from sagefleet.checks import Context, EntityView, run_checks
from sagefleet.facts import parse_facts
from sagefleet.findings import Finding, HostReport, Severity, Status
from sagefleet.sim.session import simulated

AZURE_SQL = "xiyxu8z271.database.windows.net"


def run(
    doc: dict[str, Any], entities: Iterable[EntityView] = (ONPREM,), **kw: Any
) -> list[Finding]:
    kw.setdefault("bastion_utc", NOW)
    return run_checks(Context(host="h1", facts=parse_facts(doc), entities=list(entities), **kw))


def only(items: list[Finding], check_id: str) -> Finding:
    (found,) = [f for f in items if f.check_id == check_id]
    return found


def with_sage(version: str, om: str | None = None) -> dict[str, Any]:
    doc = healthy(NOW)
    doc["sage"]["executables"][0]["product_version"] = version
    doc["sage"]["uninstall"][0]["display_version"] = version
    if om is not None:  # as the snippet reports it: the classes, and the DLL they name
        doc["objets_metiers"]["classes"] = [
            om_class("Cpta", version=om),
            om_class("Cial", version=om),
        ]
        doc["objets_metiers"]["files"] = [{"path": OM_DLL, "file_version": om}]
    return doc


# SF204: same major as Sage, at least the table's version (Chift help) -----------------
@pytest.mark.parametrize(
    ("sage", "om", "status"),
    [
        ("11.02", "11.02", Status.PASS),  # the host: exact match with "11.0" failed it
        ("11.02", "11.0", Status.PASS),
        ("11.02", "11.0.0.1337", Status.PASS),
        ("11.00", "11.05", Status.PASS),  # table 11.0 <-> any 11.x
        ("11.02", "10.05", Status.FAIL),  # left from Sage 10
        ("12.00", "11.0", Status.FAIL),  # Sage 12 with the 11 library
        ("11.02", "12.0", Status.FAIL),  # newer major is not the same major
        ("10.05", "10.04", Status.FAIL),  # below the table's 10.05
        ("10.05", "10.05", Status.PASS),
        ("7.70", "7.20", Status.PASS),
        ("7.70", "7.10", Status.FAIL),
    ],
)
def test_sf204_same_major_and_at_least_the_tables_version(
    sage: str, om: str, status: Status
) -> None:
    found = [f for f in run(with_sage(sage, om)) if f.check_id == "SF204"]
    assert [f.status for f in found] == [status]  # one DLL, registered for Cpta and Cial


def test_sf204_finds_the_dll_in_the_64_bit_view_whatever_its_folder() -> None:
    doc = with_sage("11.02")
    other = "C:\\Program Files\\Common Files\\Sage\\Objets métiers\\objets100c.dll"
    doc["objets_metiers"]["classes"] = [{**om_class("Cpta", view="64"), "server": other}]
    found = only(run(doc), "SF204")
    assert found.status is Status.PASS and found.observed["path"] == other
    assert found.observed["classes"] == ["Cpta (64-bit)"]


def test_sf204_judges_each_registered_dll() -> None:
    doc = with_sage("11.02")
    stale = {**om_class("Cial", view="64", version="10.05"), "server": "D:\\old\\objets100c.dll"}
    doc["objets_metiers"]["classes"] = [om_class("Cpta"), stale]
    found = {f.observed["path"]: f.status for f in run(doc) if f.check_id == "SF204"}
    assert found == {
        om_class("Cpta")["server"]: Status.PASS,
        "D:\\old\\objets100c.dll": Status.FAIL,
    }


@pytest.mark.parametrize(
    ("classes", "words"),
    [
        ([], "0x80040154"),
        ([{**om_class("Cpta"), "exists": False, "file_version": None}], "missing"),
        ([om_class("Cpta", version="n/a")], "unreadable"),
        (None, "not reported"),
    ],
)
def test_sf204_says_unknown_when_unsure(classes: list[dict[str, Any]] | None, words: str) -> None:
    doc = with_sage("11.02")
    if classes is None:
        del doc["objets_metiers"]["classes"]
    else:
        doc["objets_metiers"]["classes"] = classes
    found = only(run(doc), "SF204")
    assert found.status is Status.UNKNOWN and words in found.message


# SF202: version 7 or later of the 100c generation (not the older i7) -------------------
def i7(version: str) -> dict[str, Any]:
    doc = with_sage(version)
    doc["sage"]["products"] = [{"product": "Comptabilité i7", "path": "C:\\Sage\\iCompta"}]
    doc["sage"]["uninstall"][0]["display_name"] = "Sage 100 Comptabilité i7"
    doc["objets_metiers"]["classes"] = []
    return doc


def test_sf202_an_i7_install_numbered_8_fails() -> None:
    found = only(run(i7("8.50")), "SF202")
    assert found.status is Status.FAIL and "i7 generation" in found.message


def test_sf202_version_7_without_a_sign_of_100c_is_unknown() -> None:
    doc = with_sage("7.70")
    doc["sage"]["products"] = [{"product": "Comptabilité", "path": "C:\\Sage\\iCompta"}]
    doc["objets_metiers"]["classes"] = []
    assert only(run(doc), "SF202").status is Status.UNKNOWN


@pytest.mark.parametrize("sign", ["registry key", "Objets100c class"])
def test_sf202_version_7_of_the_100c_generation_passes(sign: str) -> None:
    doc = with_sage("7.70")
    if sign == "registry key":
        doc["objets_metiers"]["classes"] = []
    else:
        doc["sage"]["products"] = [{"product": "Comptabilité", "path": "C:\\Sage\\iCompta"}]
    found = only(run(doc), "SF202")
    assert found.status is Status.PASS and found.observed["installer"] == "v7.0"


def test_sf202_version_9_and_later_cannot_be_i7() -> None:
    doc = with_sage("11.02")
    doc["sage"]["products"] = [{"product": "Comptabilité", "path": "C:\\Sage\\iCompta"}]
    doc["objets_metiers"]["classes"] = []
    assert only(run(doc), "SF202").status is Status.PASS


# Edition signals, SF203, SF205 ------------------------------------------------------------
def spc_host(
    *, mae_server: str | None = AZURE_SQL, azure_vm: bool = True, onprem_om: bool = True
) -> dict[str, Any]:
    doc = healthy(NOW)
    doc["mae_files"][0]["serveur_sql"] = mae_server
    doc["azure"].update(guest_agent_service=azure_vm, azure_registry_key=azure_vm)
    if onprem_om:
        doc["objets_metiers"]["uninstall"] = [
            {
                "display_name": "Sage 100 Objets Métiers 11.0",
                "display_version": "11.0",
                "view": "32",
            }
        ]
    return doc


@pytest.mark.parametrize(
    ("doc", "entities"),
    [
        (spc_host(), [SPC]),  # .MAE, inventory and VM agree
        (spc_host(azure_vm=False), [SPC]),  # .MAE and inventory
        (spc_host(mae_server="SQL01\\SAGE100"), [SPC]),  # inventory and VM
        (spc_host(mae_server="SQL01\\SAGE100", azure_vm=False), [SPC]),
        (spc_host(), [ONPREM]),  # the .MAE and the VM, against the inventory
        (spc_host(azure_vm=False), [ONPREM]),  # the .MAE alone
        (spc_host(), []),  # no entities: the Azure VM is a hint only
    ],
)
def test_sf203_is_a_warning_however_sure_the_server_is_spc(
    doc: dict[str, Any], entities: list[EntityView]
) -> None:
    # The signs tell the edition; that the package is the on-premise build rests on its
    # uninstall name alone, which no public source gives (domain facts).
    found = only(run(doc, entities), "SF203")
    assert (found.status, found.severity) == (Status.FAIL, Severity.WARNING)
    assert "waive SF203" in found.remediation and "cannot tell" in found.message


def test_sf203_never_passes_as_not_spc_without_entities() -> None:
    # The case: an SPC host with the on-premise package, an inventory without
    # entities. It used to say "pass: not an SPC server".
    found = only(run(spc_host(), []), "SF203")
    assert found.status is Status.FAIL and "not an SPC server" not in found.message
    unknown = only(run(spc_host(azure_vm=False), []), "SF203")
    assert unknown.status is Status.UNKNOWN and "SF903" in unknown.remediation


@pytest.mark.parametrize("azure_vm", [False, True])  # on-premise on an Azure VM too
def test_sf203_does_not_apply_to_an_on_premise_server(azure_vm: bool) -> None:
    found = only(run(spc_host(mae_server="SQL01\\SAGE100", azure_vm=azure_vm)), "SF203")
    assert found.status is Status.NOT_APPLICABLE


def test_the_unpublished_spc_marker_decides_nothing() -> None:
    doc = healthy(NOW)
    doc["azure"]["spc_marker"] = True
    items = run(doc)
    assert only(items, "SF205").status is Status.PASS
    assert only(items, "SF203").status is Status.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("entities", "mae_server", "azure_vm", "status"),
    [
        ([SPC], AZURE_SQL, True, Status.PASS),
        ([SPC], AZURE_SQL, False, Status.PASS),  # Azure SQL in the .MAE: the main sign
        ([SPC], "SQL01\\SAGE100", True, Status.FAIL),
        ([SPC], "SQL01\\SAGE100", False, Status.FAIL),
        ([ONPREM], AZURE_SQL, False, Status.FAIL),
        ([ONPREM], "SQL01\\SAGE100", True, Status.PASS),  # on-premise on an Azure VM
        ([ONPREM], "SQL01\\SAGE100", False, Status.PASS),
        ([], AZURE_SQL, True, Status.UNKNOWN),
    ],
)
def test_sf205_edition_from_the_azure_sql_server(
    entities: list[EntityView], mae_server: str, azure_vm: bool, status: Status
) -> None:
    doc = spc_host(mae_server=mae_server, azure_vm=azure_vm, onprem_om=False)
    assert only(run(doc, entities), "SF205").status is status


# SF404: never the file name against the database on SPC -------------------------------
def test_sf404_does_not_compare_the_file_name_with_the_database_on_spc() -> None:
    doc = spc_host(onprem_om=False)  # BIJOU.MAE -> xim9mokrk4q_AS274AY1ZH
    assert only(run(doc, [SPC]), "SF404").status is Status.PASS
    doc["mae_files"][0]["serveur_sql"] = "other.database.windows.net"
    found = only(run(doc, [SPC]), "SF404")
    assert found.status is Status.FAIL and "xim9mokrk4q" not in found.message


def test_sf404_does_not_compare_them_where_the_mae_points_at_azure_sql() -> None:
    # The inventory says on-premise, the .MAE says Azure SQL (the strongest sign of SPC):
    # the database is not compared with the file's name; the server still is.
    doc = spc_host(onprem_om=False)  # BIJOU.MAE -> xiyxu8z271.database.windows.net
    entity = EntityView(
        name="BIJOU",
        edition="onpremise",
        mae_path="C:\\Sage\\Societes\\BIJOU.MAE",
        database="xim9mokrk4q_AS274AY1ZH",
    )
    found = only(run(doc, [entity]), "SF404")
    assert found.status is Status.PASS and "file name" not in found.message


def test_sf404_still_compares_them_on_premise() -> None:
    doc = healthy(NOW)
    doc["mae_files"][0]["database"] = "OTHER"
    found = only(run(doc), "SF404")
    assert found.status is Status.FAIL and "file name OTHER" in found.message


# SF303: the chain against the host's root store, no issuer allowlist -----------------------
def tls_doc(issuer: str, root: str, **result: Any) -> dict[str, Any]:
    doc = healthy(NOW)
    for p in doc["probes"]:
        if p["tls_result"]:
            p["tls_result"].update(issuer=issuer, chain=chain(p["name"], issuer, root), **result)
    return doc


@pytest.mark.parametrize(
    ("issuer", "root"),
    [
        *[(f"E{n}", "ISRG Root X2") for n in range(5, 10)],
        *[(f"R{n}", "ISRG Root X1") for n in range(10, 15)],
        ("WE1", "GTS Root R4"),
        ("WR1", "GTS Root R1"),
        ("Some CA nobody listed", "Some public root"),
    ],
)
def test_sf303_public_chains_pass_whatever_the_issuer_name(issuer: str, root: str) -> None:
    found = [f for f in run(tls_doc(issuer, root)) if f.check_id == "SF303"]
    assert [f.status for f in found] == [Status.PASS] * 3


@pytest.mark.parametrize(
    ("result", "words"),
    [
        ({"root_in_authroot": False, "root_in_root": True}, "intercepted"),
        (
            {
                "policy_errors": "RemoteCertificateChainErrors",
                "chain_status": ["UntrustedRoot"],
                "root_in_authroot": False,
                "root_in_root": False,
            },
            "UntrustedRoot",
        ),
        (
            {"policy_errors": "RemoteCertificateChainErrors", "chain_status": ["PartialChain"]},
            "does not validate",
        ),
        (
            {"policy_errors": "RemoteCertificateNameMismatch", "subject": "proxy.corp.local"},
            "not to",
        ),
    ],
)
def test_sf303_flags_a_root_outside_authroot_or_a_failing_chain(
    result: dict[str, Any], words: str
) -> None:
    found = [
        f for f in run(tls_doc("Fortinet CA", "Fortinet CA", **result)) if f.check_id == "SF303"
    ]
    assert [f.status for f in found] == [Status.FAIL] * 3
    assert all(words in f.message for f in found), found[0].message


def test_sf303_without_the_chain_is_unknown() -> None:
    doc = tls_doc("E7", "ISRG Root X2", policy_errors=None, root_in_authroot=None)
    assert {f.status for f in run(doc) if f.check_id == "SF303"} == {Status.UNKNOWN}


def test_firewall_advice_names_bucket_and_queue_hosts() -> None:
    doc = healthy(NOW)
    for p in doc["probes"]:
        if p["name"].startswith(("s3.", "sqs.")) and p["port"] == 443:
            p["tcp"] = {"ok": False, "elapsed_ms": None, "error": "timeout"}
    failing = [f for f in run(doc) if f.check_id == "SF302" and f.status is Status.FAIL]
    fixes = " ".join(f.remediation for f in failing)
    assert "*.s3.eu-west-3.amazonaws.com" in fixes and "eu-west-3.queue.amazonaws.com" in fixes


# SF104: a warning from 5 minutes, an error from 15, both signs alike ---------------------
@pytest.mark.parametrize(
    ("seconds", "status", "severity"),
    [
        (299, Status.PASS, Severity.ERROR),
        (300, Status.FAIL, Severity.WARNING),
        (899, Status.FAIL, Severity.WARNING),
        (900, Status.FAIL, Severity.ERROR),
    ],
)
@pytest.mark.parametrize("sign", [1, -1])
def test_sf104_thresholds_judge_ahead_and_behind_alike(
    seconds: int, status: Status, severity: Severity, sign: int
) -> None:
    found = only(run(healthy(NOW + dt.timedelta(seconds=sign * seconds))), "SF104")
    assert (found.status, found.severity, found.observed) == (status, severity, sign * seconds)


def test_sf104_never_shows_a_negative_zero() -> None:
    found = only(run(healthy(NOW - dt.timedelta(seconds=0.2))), "SF104")
    assert found.message == "clock skew 0 s" and found.observed == 0


@pytest.mark.parametrize("skew", [300, -300])
def test_sf104_takes_the_bastion_time_at_the_midpoint_of_the_round_trip(skew: int) -> None:
    # The host reads its clock mid-way: judged against the end of the round trip, a host
    # 300 s ahead looked 299.x s off (pass) and one 300 s behind 300.x s (fail).
    prepared = preflight.prepare("h1", {})
    session = simulated("healthy-onprem", "h1", delay=0.4)
    session.sim.clock_skew_s = skew
    report, _ = preflight.run(session, prepared)
    found = only(list(report.findings), "SF104")
    assert (found.status, found.severity, found.observed) == (Status.FAIL, Severity.WARNING, skew)


def test_offline_facts_without_a_collection_time_leave_the_clock_unknown(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(healthy(NOW + dt.timedelta(minutes=20))), encoding="utf-8")
    prepared = offline.offline_prepared("h1")
    assert only(list(offline.evaluate_file(path, prepared).findings), "SF104").status is (
        Status.UNKNOWN
    )
    dated = offline.evaluate_file(path, prepared, bastion_utc=NOW)
    assert only(list(dated.findings), "SF104").severity is Severity.ERROR


# SF101: .NET 4.8 runs from build 7601 (Windows 7 SP1 / Server 2008 R2 SP1) ------------------
@pytest.mark.parametrize(
    ("build", "words", "never"),
    [
        (9200, "Install .NET Framework 4.8", "migrate"),  # Server 2012
        (9600, "Install .NET Framework 4.8", "migrate"),  # Server 2012 R2
        (7601, "Install .NET Framework 4.8", "migrate"),  # Server 2008 R2 SP1
        (7600, "Service Pack 1", "migrate"),  # Server 2008 R2 without SP1
        (6003, "move Sage 100", "Install .NET"),  # Server 2008
        (None, "The Windows build was not reported", "migrate"),  # facts without it
        (0, "The Windows build was not reported", "migrate"),
    ],
)
def test_sf101_remediation_never_tells_a_48_capable_server_to_migrate(
    build: int | None, words: str, never: str
) -> None:
    doc = healthy(NOW)
    doc["dotnet"]["release"] = 461814
    doc["host"]["os_build"] = build
    found = only(run(doc), "SF101")
    assert words in found.remediation and never not in found.remediation
    if not build:
        french = only(run(doc, lang="fr"), "SF101")
        assert "winver" in french.remediation and "migrez" not in french.remediation


# SF102 from the agent profile ------------------------------------------------------------
def test_sf102_reads_the_target_framework_of_the_agent_profile(tmp_path: Path) -> None:
    import yaml

    from sagefleet.agent import profile as agent_profile

    data = agent_profile.default().to_dict()
    data["agent"]["target_framework"] = "4.6.2"
    path = tmp_path / "agent-profile.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    prepared = preflight.prepare("h1", {"sagefleet_agent_profile": str(path)})
    assert prepared.agent_target_framework == "4.6.2"
    assert preflight.prepare("h1", {}).agent_target_framework == "4.8"


# SF402: why, and "Log on as a service" ----------------------------------------------------
def test_sf402_says_why_localsystem_cannot_reach_the_share() -> None:
    doc = healthy(NOW)
    doc["mae_files"][0].update(path="S:\\Sage\\BIJOU.MAE", drive_type="network", mapped_drive=True)
    entity = EntityView(name="BIJOU", edition="onpremise", mae_path="S:\\Sage\\BIJOU.MAE")
    found = only(run(doc, [entity], service_account="LocalSystem"), "SF402")
    assert found.status is Status.FAIL
    assert "computer account" in found.message and "logon session" in found.message
    assert "Log on as a service" in found.remediation


@pytest.mark.parametrize(
    ("hostname", "account", "status"),
    [
        ("SAGE-ONPREM", "BIJOU\\svc-sage", Status.PASS),
        ("SAGE-ONPREM", "svc-sage@bijou.lan", Status.PASS),
        # A local account named by the server's own name: no network identity.
        ("SAGE-ONPREM", "SAGE-ONPREM\\svc-sage", Status.FAIL),
        ("sage-onprem", "Sage-OnPrem\\svc-sage", Status.FAIL),
        # NetBIOS keeps 15 characters of a longer host name.
        ("SAGE-COMPTA-PARIS01", "SAGE-COMPTA-PAR\\svc-sage", Status.FAIL),
        ("SAGE-ONPREM", ".\\svc-sage", Status.FAIL),
        # A virtual account reaches the file server as the computer account.
        ("SAGE-ONPREM", "NT SERVICE\\SpendeskAgent", Status.FAIL),
    ],
)
def test_sf402_a_network_mae_needs_a_domain_account(
    hostname: str, account: str, status: Status
) -> None:
    doc = healthy(NOW)
    doc["host"]["hostname"] = hostname
    doc["mae_files"][0].update(path="S:\\Sage\\BIJOU.MAE", drive_type="network", mapped_drive=True)
    entity = EntityView(name="BIJOU", edition="onpremise", mae_path="S:\\Sage\\BIJOU.MAE")
    found = [
        f
        for f in run(doc, [entity], service_account=account)
        if f.check_id == "SF402" and f.entity == "BIJOU"
    ]
    assert [f.status for f in found] == [status], [f.message for f in found]


@pytest.mark.parametrize(
    ("right", "status", "severity"),
    [
        (
            {"account": "BIJOU\\svc", "sid": "S-1-5-21-1-2-3-1001", "granted": True, "error": None},
            Status.PASS,
            Severity.ERROR,
        ),
        (
            {
                "account": "BIJOU\\svc",
                "sid": "S-1-5-21-1-2-3-1001",
                "granted": False,
                "error": None,
            },
            Status.FAIL,
            Severity.WARNING,
        ),
        (
            {
                "account": "BIJOU\\svc",
                "sid": None,
                "granted": None,
                "error": "Some or all identity references could not be translated.",
            },
            Status.UNKNOWN,
            Severity.WARNING,
        ),
        (None, Status.UNKNOWN, Severity.WARNING),
    ],
)
def test_sf402_requires_log_on_as_a_service_for_the_service_account(
    right: dict[str, Any] | None, status: Status, severity: Severity
) -> None:
    doc = healthy(NOW)
    doc["service_logon_right"] = right
    found = only(run(doc, service_account="BIJOU\\svc"), "SF402")
    assert (found.status, found.severity) == (status, severity)


def test_sf402_built_in_accounts_need_no_right_check() -> None:
    assert [
        f for f in run(healthy(NOW), service_account="LocalSystem") if f.check_id == "SF402"
    ] == []


# A host without entities is never ready ------------------------------------------------------
def test_a_host_without_entities_is_blocked_by_sf903_naming_the_host() -> None:
    findings = run(healthy(NOW), [])
    found = only(findings, "SF903")
    assert (found.status, found.severity) == (Status.FAIL, Severity.ERROR)
    assert "h1" in found.message and "sagefleet_entities" in found.remediation
    assert HostReport(host="h1", reachable=True, findings=tuple(findings)).status == "blocked"


def test_deploy_refuses_a_host_without_entities_before_touching_it() -> None:
    from sagefleet.deploy import require_entities
    from sagefleet.errors import InputError

    with pytest.raises(InputError) as caught:
        require_entities("sage07", {"sagefleet_agent_target_version": "3.2.0"})
    assert caught.value.host == "sage07" and caught.value.field == "sagefleet_entities"


# SF305 and "not applicable" --------------------------------------------------------------------
def test_not_applicable_never_demotes_a_host_and_never_reads_as_unknown() -> None:
    findings = run(healthy(NOW))
    na = {f.check_id for f in findings if f.status is Status.NOT_APPLICABLE}
    assert {"SF203", "SF304", "SF305", "SF306"} <= na
    assert HostReport(host="h1", reachable=True, findings=tuple(findings)).status == "ready"


def test_not_applicable_is_its_own_word_in_every_report_format() -> None:
    import xml.etree.ElementTree as ET

    from jsonschema import Draft202012Validator

    from sagefleet.findings import FleetReport
    from sagefleet.report.html import render_html
    from sagefleet.report.json_report import load_schema, render_json
    from sagefleet.report.junit import render_junit

    host = HostReport(host="h1", reachable=True, findings=tuple(run(healthy(NOW))))
    report = FleetReport(title="t", hosts=(host,), lang="fr")
    document = json.loads(render_json(report))
    Draft202012Validator(load_schema()).validate(document)
    assert document["hosts"][0]["status_counts"]["not_applicable"] >= 4
    skipped = [
        case.find("skipped").get("message", "")  # type: ignore[union-attr]
        for case in ET.fromstring(render_junit(report)).iter("testcase")
        if case.find("skipped") is not None
    ]
    assert any(m.startswith("not applicable: ") for m in skipped)
    assert "sans objet" in render_html(report)


# Retired inputs and discovery ------------------------------------------------------------------
def test_an_issuer_allowlist_in_the_inventory_is_refused_with_what_to_do() -> None:
    from sagefleet.errors import InputError

    for name in ("sagefleet_expected_issuers", "sagefleet_preflight_expected_issuers"):
        with pytest.raises(InputError) as caught:
            preflight.prepare("h1", {name: ["^Amazon"]})
        assert caught.value.field == name and "root store" in str(caught.value)


def test_discovery_drafts_each_entitys_edition_from_its_own_mae() -> None:
    from sagefleet import discover

    document = {
        "hostname": "SRV",
        "spc_marker": True,  # decides nothing
        "mae_files": [
            {
                "path": "C:\\S\\BIJOU.MAE",
                "database": "BIJOU",
                "serveur_sql": AZURE_SQL,
                "type": "SQL",
            },
            {
                "path": "C:\\S\\CHOCO.MAE",
                "database": "CHOCO",
                "serveur_sql": "SRV\\SAGE100",
                "type": "SQL",
            },
        ],
    }
    entities = {e["name"]: e for e in discover.draft("srv", document).entities}
    assert (entities["BIJOU"]["edition"], entities["BIJOU"]["azure_sql_server"]) == (
        "spc",
        "xiyxu8z271",
    )
    assert (entities["CHOCO"]["edition"], entities["CHOCO"]["sql_instance"]) == (
        "onpremise",
        "SRV\\SAGE100",
    )


# SF405: an install of the vendor's agent the agent profile does not describe ------------
WIZARD = {
    "display_name": "Spendesk Sage 100 Agent version 3.1.0",
    "display_version": "3.1.0",
    "install_location": "C:\\Program Files (x86)\\Spendesk\\Sage 100 Agent\\",
    "publisher": "Spendesk",
    "view": "32",
}


@pytest.mark.parametrize(
    ("installs", "described", "status"),
    [
        ([], "^Spendesk Sage Agent", Status.PASS),
        ([{**WIZARD, "display_name": "Spendesk Sage Agent"}], "^Spendesk Sage Agent", Status.PASS),
        # The vendor's wizard names its install its own way: a second agent would follow.
        ([WIZARD], "^Spendesk Sage Agent", Status.FAIL),
        # A profile learned from that install describes it.
        ([WIZARD], r"^Spendesk Sage 100 Agent version \d", Status.PASS),
    ],
)
def test_sf405_an_install_the_profile_does_not_describe_blocks(
    installs: list[dict[str, Any]], described: str, status: Status
) -> None:
    doc = healthy(NOW)
    doc["agent"]["installs"] = installs
    found = only(
        run(doc, agent_vendor_pattern="Spendesk|Chift", agent_uninstall_pattern=described),
        "SF405",
    )
    assert found.status is status, found.message
    if status is Status.FAIL:
        assert found.severity is Severity.ERROR
        assert "a second agent" in found.message and "agent learn" in found.remediation


def test_sf405_cannot_tell_from_facts_without_the_installs() -> None:
    doc = healthy(NOW)  # a facts document from a collector older than the check
    found = only(run(doc, agent_vendor_pattern="Spendesk"), "SF405")
    assert (found.status, found.severity) == (Status.UNKNOWN, Severity.WARNING)
    assert only(run(doc), "SF405").status is Status.NOT_APPLICABLE  # no pattern in the profile


def test_sf405_patterns_come_from_the_agent_profile_and_are_checked(tmp_path: Path) -> None:
    import yaml

    from sagefleet.agent import profile as agent_profile
    from sagefleet.errors import InputError

    prepared = preflight.prepare("h1", {})
    assert prepared.agent_vendor_pattern == "Spendesk|Chift"
    assert prepared.facts_params()["agent_vendor_pattern"] == "Spendesk|Chift"
    assert prepared.agent_uninstall_pattern == "^Spendesk Sage Agent"
    data = agent_profile.default().to_dict()
    data["uninstall"]["vendor_pattern"] = "(Spendesk"
    path = tmp_path / "agent-profile.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(InputError, match="uninstall.vendor_pattern"):
        preflight.prepare("h1", {"sagefleet_agent_profile": str(path)})
