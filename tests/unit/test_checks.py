"""The check catalog: pass, fail and missing data for every check, and the engine's rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.support.factsdoc import NOW, ONPREM, SPC, chain, healthy, om_class, probe

from sagefleet.checks import (
    REGISTRY,
    Check,
    Context,
    EntityView,
    all_checks,
    parse_waivers,
    run_checks,
)
from sagefleet.errors import InputError
from sagefleet.facts import parse_facts
from sagefleet.findings import Finding, Severity, Status


def findings(doc: dict[str, Any], lang: str = "en", **kw: Any) -> list[Finding]:
    waivers = kw.pop("waivers", [])
    kw.setdefault("entities", [ONPREM])
    ctx = Context(host="h1", facts=parse_facts(doc), lang=lang, bastion_utc=NOW, **kw)
    return run_checks(ctx, parse_waivers("h1", waivers))


def of(items: list[Finding], check_id: str) -> list[Finding]:
    return [f for f in items if f.check_id == check_id]


def one(items: list[Finding], check_id: str) -> Finding:
    (found,) = of(items, check_id)
    return found


def test_healthy_server_passes_every_error_check() -> None:
    items = findings(healthy(NOW))
    failing = [
        (f.check_id, f.message)
        for f in items
        if f.status not in (Status.PASS, Status.NOT_APPLICABLE) and f.severity is Severity.ERROR
    ]
    assert failing == []


def test_every_check_has_a_unique_id_and_both_titles() -> None:
    checks = all_checks()
    assert len({c.check_id for c in checks}) == len(checks) >= 20
    for c in checks:
        assert c.title_en and c.title_fr and c.title_en != c.title_fr or c.check_id == "SF106"


def test_every_declared_check_has_one_function_and_every_function_a_declaration() -> None:
    from sagefleet import catalog
    from sagefleet.checks.base import check

    assert [c.check_id for c in all_checks()] == sorted(catalog.load("checks"))
    with pytest.raises(ValueError, match="SF999 is not declared"):
        check("SF999")


# SF101 .NET ---------------------------------------------------------------------
def test_sf101_dotnet_472_fails_with_what_to_install() -> None:
    doc = healthy(NOW)
    doc["dotnet"]["release"] = 461814
    found = one(findings(doc), "SF101")
    assert found.status is Status.FAIL and "4.7.2" in found.message
    assert "ndp48" in found.remediation


def test_sf101_dotnet_48_passes() -> None:
    assert one(findings(healthy(NOW)), "SF101").status is Status.PASS


def test_sf101_missing_release_is_unknown() -> None:
    doc = healthy(NOW)
    doc["dotnet"]["release"] = None
    assert one(findings(doc), "SF101").status is Status.UNKNOWN


def test_sf101_remediation_in_french() -> None:
    doc = healthy(NOW)
    doc["dotnet"]["release"] = 461814
    assert "Installez .NET Framework 4.8" in one(findings(doc, lang="fr"), "SF101").remediation


# SF102/SF103 TLS ---------------------------------------------------------------------
def test_sf102_explicitly_disabled_strong_crypto_is_an_error() -> None:
    doc = healthy(NOW)
    doc["tls"]["netfx_x86"]["SchUseStrongCrypto"] = 0
    found = one(findings(doc), "SF102")
    assert found.status is Status.FAIL and found.severity is Severity.ERROR


@pytest.mark.parametrize(
    ("framework", "status"),
    [
        ("4.8", Status.PASS),
        ("4.7", Status.PASS),
        (None, Status.PASS),
        ("4.6.2", Status.FAIL),
    ],
)
def test_sf102_missing_values_warn_only_for_an_agent_older_than_47(
    framework: str | None, status: Status
) -> None:
    """Absent, as on most servers: an agent of 4.7 or later follows the OS default (a
    pass that says so, not a note on every host of a fleet); an older one, a warning."""
    doc = healthy(NOW)
    doc["tls"]["netfx_x64"] = {"SchUseStrongCrypto": None, "SystemDefaultTlsVersions": None}
    found = one(findings(doc, agent_target_framework=framework), "SF102")
    assert found.status is status
    if status is Status.PASS:
        assert "not set (the OS default applies)" in found.message
    else:
        assert found.severity is Severity.WARNING


def test_sf102_passes_when_set() -> None:
    assert one(findings(healthy(NOW)), "SF102").status is Status.PASS


@pytest.mark.parametrize(
    ("enabled", "disabled", "status"),
    [
        (0, None, Status.FAIL),
        (None, 1, Status.FAIL),
        (1, 0, Status.PASS),
        (None, None, Status.PASS),
    ],
)
def test_sf103_schannel(enabled: Any, disabled: Any, status: Status) -> None:
    doc = healthy(NOW)
    doc["tls"]["schannel_tls12_client"] = {"Enabled": enabled, "DisabledByDefault": disabled}
    assert one(findings(doc), "SF103").status is status


# SF104 clock, SF105 space, SF106 PowerShell -------------------------------------------
def test_sf104_clock_twenty_minutes_ahead_fails() -> None:
    doc = healthy(NOW + dt.timedelta(minutes=20))
    found = one(findings(doc), "SF104")
    assert found.status is Status.FAIL and found.observed == 1200.0


def test_sf104_small_skew_passes() -> None:
    assert one(findings(healthy(NOW + dt.timedelta(seconds=90))), "SF104").status is Status.PASS


def test_sf104_missing_time_is_unknown() -> None:
    doc = healthy(NOW)
    doc["host"]["utc_now"] = None
    assert one(findings(doc), "SF104").status is Status.UNKNOWN


def test_sf105_almost_full_disk_fails() -> None:
    doc = healthy(NOW)
    doc["drives"][0]["free_bytes"] = 50 * 2**20
    found = one(findings(doc), "SF105")
    assert found.status is Status.FAIL and "50 MiB" in found.message


def test_sf105_threshold_is_configurable() -> None:
    doc = healthy(NOW)
    doc["drives"][0]["free_bytes"] = 50 * 2**20
    assert one(findings(doc, min_free_mb=40), "SF105").status is Status.PASS


def test_sf105_missing_drive_is_unknown() -> None:
    doc = healthy(NOW)
    doc["drives"] = []
    assert one(findings(doc), "SF105").status is Status.UNKNOWN


def test_sf106_old_powershell_fails() -> None:
    doc = healthy(NOW)
    doc["host"]["powershell_version"] = "4.0"
    assert one(findings(doc), "SF106").status is Status.FAIL


# SF2xx Sage -----------------------------------------------------------------------------
def test_sf201_no_sage_fails_and_sf202_is_unknown() -> None:
    doc = healthy(NOW)
    doc["sage"] = {"uninstall": [], "products": [], "executables": []}
    items = findings(doc)
    assert one(items, "SF201").status is Status.FAIL
    assert one(items, "SF202").status is Status.UNKNOWN


def test_sf202_picks_the_installer_for_11_02() -> None:
    found = one(findings(healthy(NOW)), "SF202")
    assert found.status is Status.PASS
    assert found.observed == {"sage": "11.02", "installer": "v11.0"}


def test_sf202_version_6_is_unsupported() -> None:
    doc = healthy(NOW)
    doc["sage"]["executables"][0]["product_version"] = "6.00"
    found = one(findings(doc), "SF202")
    assert found.status is Status.FAIL and "older than version 7" in found.message


def test_sf202_unknown_major_is_explained() -> None:
    doc = healthy(NOW)
    doc["sage"]["executables"][0]["product_version"] = "14.00"
    found = one(findings(doc), "SF202")
    assert found.status is Status.FAIL and "no agent installer is known" in found.message


def test_sf202_falls_back_to_the_uninstall_entry() -> None:
    doc = healthy(NOW)
    doc["sage"]["executables"] = []
    assert one(findings(doc), "SF202").observed == {"sage": "11.02", "installer": "v11.0"}


def test_sf202_unreadable_version_is_unknown() -> None:
    doc = healthy(NOW)
    doc["sage"]["executables"][0]["product_version"] = None
    doc["sage"]["uninstall"][0]["display_version"] = "n/a"
    assert one(findings(doc), "SF202").status is Status.UNKNOWN


def test_sf203_onprem_objets_metiers_on_spc_fails() -> None:
    doc = healthy(NOW)
    doc["objets_metiers"]["uninstall"] = [
        {"display_name": "Sage 100 Objets métiers 11.0", "display_version": "11.0", "view": "32"}
    ]
    found = one(findings(doc, entities=[SPC]), "SF203")
    assert found.status is Status.FAIL and "uninstall" in found.remediation


def test_sf203_passes_on_spc_without_it_and_does_not_apply_on_premise() -> None:
    assert one(findings(healthy(NOW), entities=[SPC]), "SF203").status is Status.PASS
    doc = healthy(NOW)
    doc["objets_metiers"]["uninstall"] = [{"display_name": "Objets métiers", "view": "32"}]
    assert one(findings(doc), "SF203").status is Status.NOT_APPLICABLE


def test_sf204_objets_metiers_mismatch_fails() -> None:
    doc = healthy(NOW)
    doc["objets_metiers"]["classes"] = [om_class("Cpta", version="10.05.0.1")]
    found = one(findings(doc), "SF204")
    assert found.status is Status.FAIL and "expected 11.x, 11.0 or later" in found.message


def test_sf204_without_registered_classes_is_unknown_not_an_error() -> None:
    doc = healthy(NOW)
    doc["objets_metiers"]["classes"] = []
    found = one(findings(doc), "SF204")
    assert found.status is Status.UNKNOWN and "0x80040154" in found.message


def test_sf204_no_sage_is_unknown() -> None:
    doc = healthy(NOW)
    doc["sage"] = {"uninstall": [], "products": [], "executables": []}
    assert one(findings(doc), "SF204").status is Status.UNKNOWN


def test_sf205_spc_entities_on_a_non_azure_server_warn() -> None:
    found = one(findings(healthy(NOW), entities=[SPC]), "SF205")
    assert found.status is Status.FAIL and found.severity is Severity.WARNING


def test_sf205_without_entities_is_unknown() -> None:
    assert one(findings(healthy(NOW), entities=[]), "SF205").status is Status.UNKNOWN


# SF3xx network --------------------------------------------------------------------------
def test_sf301_dns_failure_for_one_endpoint() -> None:
    doc = healthy(NOW)
    for p in doc["probes"]:
        if p["name"] == "api.chift.eu":
            p["dns"] = {"status": "nxdomain", "addresses": [], "error": "no such name"}
    failing = [f for f in of(findings(doc), "SF301") if f.status is Status.FAIL]
    assert [f.observed["name"] for f in failing] == ["api.chift.eu"]


def test_sf302_blocked_s3_fails_on_443_error_and_80_warning() -> None:
    doc = healthy(NOW)
    for p in doc["probes"]:
        if p["name"].startswith("s3."):
            p["tcp"] = {"ok": False, "elapsed_ms": None, "error": "timeout"}
    failing = [f for f in of(findings(doc), "SF302") if f.status is Status.FAIL]
    assert {(f.observed["endpoint"], f.severity) for f in failing} == {
        ("s3.eu-west-3.amazonaws.com:443", Severity.ERROR),
        ("s3.eu-west-3.amazonaws.com:80", Severity.WARNING),
    }
    assert "Test-NetConnection s3.eu-west-3.amazonaws.com -Port 443" in failing[0].remediation


def test_sf302_missing_probe_is_unknown() -> None:
    doc = healthy(NOW)
    doc["probes"] = [p for p in doc["probes"] if p["name"] != "api.chift.eu"]
    assert any(f.status is Status.UNKNOWN for f in of(findings(doc), "SF302"))


def test_sf303_interception_is_flagged_by_a_root_outside_authroot() -> None:
    doc = healthy(NOW)
    for p in doc["probes"]:
        if p["tls_result"]:
            p["tls_result"].update(
                issuer="Fortinet CA",
                chain=chain(p["name"], "Fortinet CA"),
                root_in_authroot=False,
                root_in_root=True,
            )
    failing = [f for f in of(findings(doc), "SF303") if f.status is Status.FAIL]
    assert len(failing) == 3 and all("intercepted" in f.message for f in failing)
    assert all("Fortinet CA" in f.message for f in failing)


def test_sf303_old_protocol_fails() -> None:
    doc = healthy(NOW)
    doc["probes"][0]["tls_result"]["protocol"] = "Tls"
    assert any("TLS 1.2 or later" in f.message for f in of(findings(doc), "SF303"))


def test_sf303_blocked_tcp_is_unknown_not_a_second_failure() -> None:
    doc = healthy(NOW)
    doc["probes"][0]["tcp"] = {"ok": False, "elapsed_ms": None, "error": "refused"}
    statuses = [f.status for f in of(findings(doc), "SF303")]
    assert Status.UNKNOWN in statuses and Status.FAIL not in statuses


def test_sf304_azure_sql_blocked_fails_for_the_entity() -> None:
    doc = healthy(NOW)
    sql = probe("xiyxu8z271.database.windows.net", 1433, False)
    sql["tcp"] = {"ok": False, "elapsed_ms": None, "error": "refused"}
    doc["probes"].append(sql)
    found = one(findings(doc, entities=[SPC]), "SF304")
    assert found.status is Status.FAIL and found.entity == "ATELIER"


def test_sf304_reachable_passes_and_does_not_apply_on_premise() -> None:
    doc = healthy(NOW)
    doc["probes"].append(probe("xiyxu8z271.database.windows.net", 1433, False))
    assert one(findings(doc, entities=[SPC]), "SF304").status is Status.PASS
    assert one(findings(healthy(NOW)), "SF304").status is Status.NOT_APPLICABLE


def test_sf305_redirect_ports_are_a_warning_on_spc_and_do_not_apply_on_premise() -> None:
    found = one(findings(healthy(NOW), entities=[SPC]), "SF305")
    assert (found.status, found.severity) == (Status.FAIL, Severity.WARNING)
    assert "11000-11999" in found.message and "waive" in found.remediation
    onprem = one(findings(healthy(NOW)), "SF305")
    assert (onprem.status, onprem.severity) == (Status.NOT_APPLICABLE, Severity.WARNING)


@pytest.mark.parametrize(
    "address", ["10.1.2.3", "172.20.0.4", "192.168.8.9", "100.64.1.2", "fd00::5"]
)
def test_sf306_private_address_is_noticed(address: str) -> None:
    doc = healthy(NOW)
    doc["probes"].append(probe("xiyxu8z271.database.windows.net", 1433, False, address=address))
    found = one(findings(doc, entities=[SPC]), "SF306")
    assert found.status is Status.FAIL and found.severity is Severity.INFO


@pytest.mark.parametrize("address", ["20.38.146.1", "198.51.100.140", "203.0.113.7", "2001:db8::1"])
def test_sf306_public_or_documentation_address_is_a_public_endpoint(address: str) -> None:
    # ipaddress's is_private holds the documentation ranges: not a virtual network's space.
    doc = healthy(NOW)
    doc["probes"].append(probe("xiyxu8z271.database.windows.net", 1433, False, address=address))
    found = one(findings(doc, entities=[SPC]), "SF306")
    assert found.status is Status.PASS, found.message


def test_sf308_winhttp_proxy_is_reported() -> None:
    doc = healthy(NOW)
    doc["proxy"]["winhttp_proxy"] = "proxy.bijou.lan:3128"
    assert one(findings(doc), "SF308").status is Status.FAIL


# SF4xx agent ------------------------------------------------------------------------------
def test_sf401_missing_mae_fails_for_its_entity() -> None:
    doc = healthy(NOW)
    doc["mae_files"][0]["exists"] = False
    found = one(findings(doc), "SF401")
    assert found.status is Status.FAIL and found.entity == "BIJOU"


def test_sf401_network_mae_unreadable_from_winrm_is_unknown_not_missing() -> None:
    doc = healthy(NOW)
    doc["mae_files"][0].update(
        path="\\\\fs01\\sage\\BIJOU.MAE",
        exists=False,
        drive_type="network",
        unc=True,
        verifiable=False,
    )
    entity = EntityView(name="BIJOU", edition="onpremise", mae_path="\\\\fs01\\sage\\BIJOU.MAE")
    found = one(findings(doc, entities=[entity]), "SF401")
    assert found.status is Status.UNKNOWN and found.entity == "BIJOU"
    assert "not verifiable from a remote session" in found.message
    assert "facts-script" in found.remediation


def test_sf401_not_examined_is_unknown() -> None:
    doc = healthy(NOW)
    doc["mae_files"] = []
    assert one(findings(doc), "SF401").status is Status.UNKNOWN


@pytest.mark.parametrize(
    ("account", "status"),
    [
        ("LocalSystem", Status.FAIL),
        ("NT AUTHORITY\\SYSTEM", Status.FAIL),
        ("AUTORITE NT\\SERVICE RÉSEAU", Status.FAIL),
        (".\\sage", Status.FAIL),
        (None, Status.FAIL),
        ("BIJOU\\svc-spendesk", Status.PASS),
        ("svc@bijou.lan", Status.PASS),
    ],
)
def test_sf402_network_mae_needs_a_domain_account(account: str | None, status: Status) -> None:
    doc = healthy(NOW)
    doc["mae_files"][0].update(path="S:\\Sage\\BIJOU.MAE", drive_type="network", mapped_drive=True)
    entity = EntityView(name="BIJOU", edition="onpremise", mae_path="S:\\Sage\\BIJOU.MAE")
    items = findings(doc, entities=[entity], service_account=account)
    found = [f for f in of(items, "SF402") if f.entity == "BIJOU"]
    assert [f.status for f in found] == [status]


def test_sf402_local_mae_has_no_finding() -> None:
    assert of(findings(healthy(NOW)), "SF402") == []


def test_sf403_agent_states() -> None:
    doc = healthy(NOW)
    assert "not installed" in one(findings(doc), "SF403").message
    doc["agent"].update(installed=True, state="Stopped", version="2.3.0", account="LocalSystem")
    stopped = one(findings(doc), "SF403")
    assert stopped.status is Status.FAIL and stopped.severity is Severity.WARNING
    doc["agent"]["state"] = "Running"
    upgrade = one(findings(doc, target_version="3.1.0"), "SF403")
    assert upgrade.status is Status.PASS and "upgraded to 3.1.0" in upgrade.message


def test_sf404_mae_pointing_elsewhere_warns() -> None:
    doc = healthy(NOW)
    doc["mae_files"][0]["database"] = "OTHER"
    found = one(findings(doc), "SF404")
    assert found.status is Status.FAIL and "OTHER" in found.message


# SF9xx ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("transport", "allow", "status", "severity"),
    [
        (
            {"scheme": "https", "transport": "ntlm", "server_cert_validation": "validate"},
            False,
            Status.PASS,
            Severity.ERROR,
        ),
        ({"scheme": "http", "transport": "basic"}, False, Status.FAIL, Severity.ERROR),
        (
            {"scheme": "https", "transport": "ntlm", "server_cert_validation": "ignore"},
            False,
            Status.FAIL,
            Severity.ERROR,
        ),
        (
            {"scheme": "http", "transport": "ntlm", "message_encryption": "never"},
            True,
            Status.FAIL,
            Severity.WARNING,
        ),
    ],
)
def test_sf902_transport(
    transport: dict[str, str], allow: bool, status: Status, severity: Severity
) -> None:
    found = one(
        findings(healthy(NOW), transport=transport, allow_insecure_transport=allow), "SF902"
    )
    assert (found.status, found.severity) == (status, severity)


# waivers and engine -----------------------------------------------------------------------------
def test_waiver_turns_a_failure_into_waived_with_its_reason() -> None:
    doc = healthy(NOW)
    doc["dotnet"]["release"] = 461814
    items = findings(
        doc,
        waivers=[{"id": "SF101", "reason": "upgrade booked for December", "expires": "2026-12-31"}],
    )
    found = one(items, "SF101")
    assert found.status is Status.WAIVED and found.waiver_reason == "upgrade booked for December"
    assert of(items, "SF901") == []


def test_expired_waiver_does_not_apply_and_is_an_error() -> None:
    doc = healthy(NOW)
    doc["dotnet"]["release"] = 461814
    items = findings(doc, waivers=[{"id": "SF101", "reason": "old", "expires": "2026-01-01"}])
    assert one(items, "SF101").status is Status.FAIL
    assert one(items, "SF901").severity is Severity.ERROR


def test_waiver_for_one_entity_does_not_cover_another() -> None:
    doc = healthy(NOW)
    doc["mae_files"][0]["exists"] = False
    items = findings(doc, waivers=[{"id": "SF401", "reason": "moved", "entity": "OTHER"}])
    assert one(items, "SF401").status is Status.FAIL


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([{"id": "SF101"}], "sagefleet_waivers[0].reason"),
        ([{"id": "SF999", "reason": "x y z"}], "sagefleet_waivers[0].id"),
        (
            [{"id": "SF101", "reason": "why not", "expires": "31/12/2026"}],
            "sagefleet_waivers[0].expires",
        ),
        ([{"id": "SF101", "reason": "why not", "colour": 1}], "sagefleet_waivers[0]"),
        ("SF101", "sagefleet_waivers"),
    ],
)
def test_malformed_waivers_are_input_errors(raw: Any, field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_waivers("h1", raw)
    assert caught.value.host == "h1" and caught.value.field == field


def test_a_crashing_check_becomes_unknown_without_hiding_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    all_checks()  # load the catalog before adding to it

    def broken(ctx: Context) -> list[Any]:
        raise ZeroDivisionError("boom")

    monkeypatch.setitem(REGISTRY, "SF199", Check("SF199", Severity.ERROR, "t", "t", broken))
    items = findings(healthy(NOW))
    crashed = one(items, "SF199")
    assert crashed.status is Status.UNKNOWN and "ZeroDivisionError: boom" in crashed.message
    assert one(items, "SF101").status is Status.PASS


def test_every_finding_message_is_in_french_when_asked() -> None:
    doc = healthy(NOW)
    doc["dotnet"]["release"] = 461814
    doc["drives"][0]["free_bytes"] = 1
    fr = {f.check_id: f for f in findings(doc, lang="fr")}
    assert fr["SF101"].title == ".NET Framework 4.8 ou plus récent"
    assert "seulement" in fr["SF105"].message and "libérez" in fr["SF105"].remediation


@pytest.mark.parametrize("check_id", ["SF999", "SF505"])
def test_a_waiver_of_no_preflight_check_says_where_the_ids_are(check_id: str) -> None:
    # SF505 is a verify check: a waiver applies to preflight's checks only.
    with pytest.raises(InputError) as caught:
        parse_waivers("h1", [{"id": check_id, "reason": "x y z"}])
    assert "sagefleet checks list" in caught.value.render()
