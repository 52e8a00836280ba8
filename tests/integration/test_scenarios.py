"""Every simulated scenario, diagnosed through the real pywinrm client with the facts snippet.

Each test starts the scenario's host, runs ``facts`` over WinRM and asserts the
facts that make the scenario what it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from sagefleet.facts import HostFacts, Probe, parse_facts
from sagefleet.sim.host import DEFAULT_ENDPOINTS, load_profile, profile_names
from tests.support.fleets import FleetFactory, session_for

pytestmark = pytest.mark.integration


def diagnose(make_fleet: FleetFactory, profile: str) -> HostFacts:
    """Start one host with ``profile`` and gather its facts as the bastion would."""
    data = load_profile(profile)
    endpoints: list[dict[str, Any]] = [
        {"name": name, "port": port, "tls": port == 443}
        for name in DEFAULT_ENDPOINTS
        for port in (443, 80)
    ]
    for mae in data.get("mae") or []:
        if str(mae["server"]).endswith(".database.windows.net"):
            endpoints.append({"name": mae["server"], "port": 1433, "tls": False})
    params = {
        "service_name": "SpendeskSageAgent",
        "endpoints": endpoints,
        "mae_files": [m["path"] for m in data.get("mae") or []],
        "timeout_ms": 2000,
    }
    fleet = make_fleet(1, profiles=(profile,))
    with session_for(fleet, "sage01") as session:
        return parse_facts(session.run_snippet("facts", params))


def probe(facts: HostFacts, name: str, port: int) -> Probe:
    found = facts.probe(name, port)
    assert found is not None, f"no probe for {name}:{port}"
    return found


def sage_version(facts: HostFacts) -> str | None:
    maestria = [e for e in facts.sage_executables if e.name == "Maestria.exe"]
    return maestria[0].product_version if maestria else None


def om_version(facts: HostFacts) -> str | None:
    return facts.objets_metiers_files[0].file_version if facts.objets_metiers_files else None


def all_endpoints_pass(facts: HostFacts) -> bool:
    return all(p.tcp.ok for p in facts.probes) and all(
        p.tls_result.ok for p in facts.probes if p.tls_result is not None
    )


def healthy_onprem(f: HostFacts) -> None:
    assert (f.identity.hostname, f.identity.os_build) == ("SAGE-ONPREM", 17763)
    assert (sage_version(f), om_version(f), f.dotnet_release) == ("11.02", "11.0", 528049)
    assert f.identity.part_of_domain is True
    assert not f.azure_guest_agent and not f.spc_marker
    assert [(m.exists, m.database, m.serveur_sql) for m in f.mae_files] == [
        (True, "BIJOU", "SAGE-ONPREM\\SAGE100")
    ]
    assert all_endpoints_pass(f) and not f.agent.installed
    s3_tls = probe(f, "s3.eu-west-3.amazonaws.com", 443).tls_result
    assert s3_tls is not None and s3_tls.issuer == "Amazon RSA 2048 M02"
    # The chain Windows built from what S3 sent, ending in a public root in AuthRoot.
    assert (s3_tls.policy_errors, s3_tls.chain_status) == ("None", ())
    assert [c.subject for c in s3_tls.chain] == [
        "s3.eu-west-3.amazonaws.com",
        "Amazon RSA 2048 M02",
        "Amazon Root CA 1",
    ]
    assert (s3_tls.root_in_authroot, s3_tls.root_in_root) == (True, True)
    # The Objets Métiers found through their COM classes, 32-bit view.
    assert f.objets_metiers_classes is not None
    assert {(c.name, c.view, c.progid) for c in f.objets_metiers_classes} == {
        ("Cpta", "32", "Objets100c.Cpta.Stream.1"),
        ("Cial", "32", "Objets100c.Cial.Stream.1"),
    }


def healthy_spc(f: HostFacts) -> None:
    assert f.identity.hostname == "SPC-VM"
    assert (f.azure_guest_agent, f.azure_registry_key, f.spc_marker) == (True, True, True)
    assert f.objets_metiers_uninstall == () and om_version(f) == "11.0"
    assert f.mae_files[0].serveur_sql == "xiyxu8z271.database.windows.net"
    assert probe(f, "xiyxu8z271.database.windows.net", 1433).tcp.ok
    assert all_endpoints_pass(f)


def sage_v6(f: HostFacts) -> None:
    assert sage_version(f) == "6.00"
    assert [u.display_name for u in f.sage_uninstall] == ["Sage 100cloud Comptabilité"]


def dotnet_472(f: HostFacts) -> None:
    assert f.dotnet_release == 461814


def spc_with_onprem_om(f: HostFacts) -> None:
    assert f.spc_marker is True
    assert [u.display_name for u in f.objets_metiers_uninstall] == ["Sage 100 Objets Métiers 11.0"]


def om_mismatch(f: HostFacts) -> None:
    assert (sage_version(f), om_version(f)) == ("11.02", "10.05")


def s3_blocked(f: HostFacts) -> None:
    for port in (443, 80):
        tcp = probe(f, "s3.eu-west-3.amazonaws.com", port).tcp
        assert tcp.ok is False and tcp.error in ("refused", "timeout")
    assert probe(f, "sqs.eu-west-3.amazonaws.com", 443).tcp.ok
    assert probe(f, "api.chift.eu", 443).tcp.ok


def tls_intercepted(f: HostFacts) -> None:
    results = [p.tls_result for p in f.probes if p.tls_result is not None]
    assert {r.issuer for r in results} == {"Fortinet CA"}
    # The proxy's CA was added to Root (not AuthRoot): the chain validates, its root shows.
    for result in results:
        assert (result.policy_errors, result.chain_status) == ("None", ())
        assert result.root is not None and result.root.subject == "Fortinet CA"
        assert (result.root_in_authroot, result.root_in_root) == (False, True)
    assert (f.winhttp_proxy, f.winhttp_bypass) == ("proxy.corp.local:8080", "<local>;*.corp.local")


def dns_fail_one(f: HostFacts) -> None:
    chift = probe(f, "api.chift.eu", 443)
    assert (chift.dns.status, chift.tcp.ok, chift.tcp.error) == ("nxdomain", False, "dns")
    assert probe(f, "s3.eu-west-3.amazonaws.com", 443).dns.status == "ok"


def schannel_tls12_disabled(f: HostFacts) -> None:
    assert (f.tls.schannel_tls12_enabled, f.tls.schannel_tls12_disabled_by_default) == (0, 1)
    results = [p.tls_result for p in f.probes if p.tls_result is not None]
    assert results and not any(r.ok for r in results)


def mae_network_drive_localsystem(f: HostFacts) -> None:
    # The interactive user's S: is not a drive of the WinRM session...
    assert f.drive("S:") is None
    # ...the facts find it through the user's persistent mapping.
    (mae,) = f.mae_files
    # Over WinRM the share answers access denied (the second hop): not verifiable, not missing.
    assert (mae.exists, mae.verifiable, mae.mapped_drive, mae.drive_type) == (
        False,
        False,
        True,
        "network",
    )
    assert (f.agent.installed, f.agent.account) == (True, "LocalSystem")


def clock_skew(f: HostFacts) -> None:
    assert f.identity.hostname == "SAGE-SKEW" and f.identity.utc_now is not None
    remote = dt.datetime.fromisoformat(f.identity.utc_now[:26] + "+00:00")
    assert 1100 < (remote - dt.datetime.now(dt.UTC)).total_seconds() < 1300


def disk_almost_full(f: HostFacts) -> None:
    c_drive = f.drive("C")
    assert c_drive is not None and c_drive.free_bytes is not None
    assert c_drive.free_bytes <= 50 * 1024**2
    assert f.mae_files[0].exists


def agent_old(f: HostFacts) -> None:
    assert (f.agent.installed, f.agent.version, f.agent.state) == (True, "2.3.0", "Running")
    assert f.agent.account == "CORP\\svc-spendesk"


def agent_proxy_admin_only(f: HostFacts) -> None:
    # The WinRM account's probes pass and no WinHTTP proxy is set: the facts look healthy;
    # only the agent's own connections tell (SF513).
    assert (f.identity.hostname, f.agent.state, f.agent.account) == (
        "SAGE-PROXY",
        "Running",
        "LocalSystem",
    )
    assert all_endpoints_pass(f) and f.winhttp_proxy is None


def agent_sql_login_failed(f: HostFacts) -> None:
    # Nothing in the facts shows the SQL login failure: the network is open, the agent runs.
    assert (f.identity.hostname, f.agent.version, f.agent.state) == (
        "SAGE-SQLFAIL",
        "3.1.0",
        "Running",
    )
    assert all_endpoints_pass(f)


def fips(f: HostFacts) -> None:
    # Nothing the facts snippet uses is refused under the FIPS policy.
    assert (f.identity.hostname, f.agent.version) == ("SAGE-FIPS", "3.1.0")
    assert f.mae_files[0].exists


def french_ui(f: HostFacts) -> None:
    assert f.identity.hostname == "SAGE-FR" and sage_version(f) == "11.02"
    assert [(m.database, m.exists) for m in f.mae_files] == [("FROMAGERIE", True)]
    assert all_endpoints_pass(f) and not f.agent.installed


def two_entities(f: HostFacts) -> None:
    assert [(m.database, m.exists) for m in f.mae_files] == [("BIJOU", True), ("CHOCO", True)]
    chift = probe(f, "api.chift.eu", 443).tls_result
    assert chift is not None and [c.subject for c in chift.chain] == [
        "api.chift.eu",
        "E7",
        "ISRG Root X2",
    ]
    assert (chift.policy_errors, chift.root_in_authroot) == ("None", True)


def sage_i7(f: HostFacts) -> None:
    assert sage_version(f) == "8.50"
    assert [p.product for p in f.sage_products] == ["Comptabilité i7"]
    # Objets100.dll registers no Objets100c class.
    assert f.objets_metiers_classes == () and f.objets_metiers_files == ()


def reference_install(f: HostFacts) -> None:
    # The wizard named its service otherwise: the shipped profile's name finds nothing
    # (sagefleet agent learn reads it, tests/integration/test_agent_learn.py).
    assert (f.identity.hostname, f.agent.installed, f.agent.candidates) == ("SAGE-REF01", False, ())
    assert [(m.database, m.exists) for m in f.mae_files] == [("BIJOU", True), ("CHOCO", True)]


SCENARIOS: dict[str, Callable[[HostFacts], None]] = {
    "healthy-onprem": healthy_onprem,
    "healthy-spc": healthy_spc,
    "sage-v6": sage_v6,
    "dotnet-472": dotnet_472,
    "spc-with-onprem-om": spc_with_onprem_om,
    "om-mismatch": om_mismatch,
    "s3-blocked": s3_blocked,
    "tls-intercepted": tls_intercepted,
    "dns-fail-one": dns_fail_one,
    "schannel-tls12-disabled": schannel_tls12_disabled,
    "mae-network-drive-localsystem": mae_network_drive_localsystem,
    "clock-skew": clock_skew,
    "disk-almost-full": disk_almost_full,
    "agent-old": agent_old,
    "agent-proxy-admin-only": agent_proxy_admin_only,
    "agent-sql-login-failed": agent_sql_login_failed,
    "two-entities": two_entities,
    "reference-install": reference_install,
    "fips": fips,
    "french-ui": french_ui,
    "sage-i7": sage_i7,
}


def test_every_shipped_profile_has_a_scenario_test() -> None:
    assert sorted(SCENARIOS) == profile_names()


@pytest.mark.parametrize("profile", sorted(SCENARIOS))
def test_scenario_shows_in_its_facts(make_fleet: FleetFactory, profile: str) -> None:
    SCENARIOS[profile](diagnose(make_fleet, profile))
