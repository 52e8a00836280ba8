"""The simulator answers as Windows for what the corrected checks read.

Real certificate chains validated as X509Chain does, the Objets Métiers COM
classes in both registry views, and "Log on as a service" as secedit lists it:
the facts snippet's model, then the checks over its document.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import sagefleet.sim.commands.dispatch  # noqa: F401 - registers the snippet models first
from sagefleet.checks import Context, EntityView, run_checks
from sagefleet.facts import parse_facts
from sagefleet.findings import Finding, Status
from sagefleet.sim.commands.snippet_models import facts
from sagefleet.sim.host import ProfileError, WindowsHost, host_from_profile, load_profile
from sagefleet.sim.host.pki import PKI, PUBLIC_INTERMEDIATES
from sagefleet.sim.host.products import CLSID_ROOT, OM_CLASSES
from sagefleet.sim.host.x509 import CertStores, build_chain, callback_view

ENDPOINTS = [
    {"name": name, "port": port, "tls": port == 443}
    for name in ("s3.eu-west-3.amazonaws.com", "sqs.eu-west-3.amazonaws.com", "api.chift.eu")
    for port in (443, 80)
]
ENTITY = EntityView(
    name="BIJOU",
    edition="onpremise",
    mae_path="C:\\Sage\\Societes\\BIJOU.MAE",
    sql_instance="SAGE-ONPREM\\SAGE100",
    database="BIJOU",
)


def host(profile: str = "healthy-onprem", **changes: Any) -> WindowsHost:
    data = {**load_profile(profile), **changes}
    return host_from_profile("h1", "127.0.0.2", "u", "p", data)


def document(model: WindowsHost, **params: Any) -> dict[str, Any]:
    wanted = {"endpoints": ENDPOINTS, "mae_files": [ENTITY.mae_path], **params}
    return facts(model, wanted, b"")


def checks(model: WindowsHost, check_id: str, **params: Any) -> list[Finding]:
    doc = document(model, **params)
    context = Context(host="h1", facts=parse_facts(doc), entities=[ENTITY])
    return [f for f in run_checks(context) if f.check_id == check_id]


def tls_of(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in doc["probes"] if p["name"] == name and p["port"] == 443)["tls_result"]


# -- certificate chains (X509Chain in SslStream's callback) -------------------------------
def test_public_chains_validate_with_real_signatures() -> None:
    doc = document(host())
    for endpoint in ("s3.eu-west-3.amazonaws.com", "sqs.eu-west-3.amazonaws.com", "api.chift.eu"):
        result = tls_of(doc, endpoint)
        assert (result["policy_errors"], result["chain_status"]) == ("None", []), endpoint
        assert (result["root_in_authroot"], result["root_in_root"]) == (True, True)
        assert len(result["chain"]) == 3 and result["chain"][0]["subject"] == endpoint


@pytest.mark.parametrize(
    "issuer", [n for n in PUBLIC_INTERMEDIATES if n[0] in "ERW" and len(n) <= 3]
)
def test_lets_encrypt_and_google_chains_pass_sf303(issuer: str) -> None:
    model = host(network={"tls": {"api.chift.eu": {"issuer": issuer}}})
    found = [f for f in checks(model, "SF303") if "api.chift.eu" in f.message]
    assert [f.status for f in found] == [Status.PASS], found[0].message
    assert issuer in found[0].message


def test_an_installed_proxy_ca_validates_but_sits_in_root_only() -> None:
    result = tls_of(document(host("tls-intercepted")), "api.chift.eu")
    assert (result["policy_errors"], result["chain_status"]) == ("None", [])
    assert (result["root_in_authroot"], result["root_in_root"]) == (False, True)
    assert {f.status for f in checks(host("tls-intercepted"), "SF303")} == {Status.FAIL}


def test_an_untrusted_proxy_ca_fails_the_chain() -> None:
    model = host(
        network={"intercept_tls": {"issuer": "Untrusted Inspection CA", "installed": False}}
    )
    result = tls_of(document(model), "s3.eu-west-3.amazonaws.com")
    # The proxy sends its leaf alone; its CA is in no store: no chain to a root at all.
    assert result["policy_errors"] == "RemoteCertificateChainErrors"
    assert result["chain_status"] == ["PartialChain"]
    found = checks(model, "SF303")
    assert {f.status for f in found} == {Status.FAIL}
    assert all("does not validate" in f.message for f in found)


def test_a_wrong_intermediate_leaves_a_partial_chain() -> None:
    leaf, _ = PKI.public_chain("api.chift.eu", "E7")
    _, other = PKI.public_chain("api.chift.eu", "E8")
    stores = CertStores(authroot=PKI.public_roots())
    chain, status = build_chain([leaf, other], stores, dt.datetime.now(dt.UTC))
    assert status == ["PartialChain"] and chain == [leaf]


def test_a_root_missing_from_the_stores_is_untrusted() -> None:
    now = dt.datetime.now(dt.UTC)
    presented = PKI.public_chain("api.chift.eu", "E7")
    view = callback_view("api.chift.eu", presented, CertStores(), now)
    assert view["policy_errors"] == "RemoteCertificateChainErrors"
    assert view["chain_status"] == ["PartialChain"]  # the root is neither sent nor held
    root = next(r for r in PKI.public_roots() if r.subject == presented[1].issuer)
    sent = callback_view("api.chift.eu", [*presented, root], CertStores(), now)
    assert sent["chain_status"] == ["UntrustedRoot"]  # sent, but not in the host's stores
    assert (sent["root_in_authroot"], sent["root_in_root"]) == (False, False)


def test_an_expired_leaf_is_not_time_valid() -> None:
    model = host(
        network={"tls": {"api.chift.eu": {"issuer": "R11", "not_after": "2025-01-31T00:00:00Z"}}}
    )
    result = tls_of(document(model), "api.chift.eu")
    assert result["chain_status"] == ["NotTimeValid"]
    assert result["not_after"].startswith("2025-01-31")


def test_a_foreign_name_is_a_name_mismatch() -> None:
    model = host(network={"tls": {"api.chift.eu": {"issuer": "WE1", "subject": "www.other.test"}}})
    result = tls_of(document(model), "api.chift.eu")
    assert result["policy_errors"] == "RemoteCertificateNameMismatch"
    found = [f for f in checks(model, "SF303") if "api.chift.eu" in f.message]
    assert found[0].status is Status.FAIL and "www.other.test" in found[0].message


def test_an_issuer_without_a_simulated_chain_is_refused() -> None:
    with pytest.raises(ProfileError, match="not a simulated public intermediate"):
        host(network={"tls": {"api.chift.eu": {"issuer": "Fortinet CA"}}})


# -- Objets Métiers COM classes, both registry views ----------------------------------------
def test_the_two_paths_of_the_32_bit_classes_are_one_key() -> None:
    model = host()
    clsid = OM_CLASSES["Cpta"][0]
    via_view = model.registry.get(f"{CLSID_ROOT}\\{clsid}\\InprocServer32", "", view="32")
    via_node = model.registry.get(
        f"HKLM\\SOFTWARE\\Classes\\WOW6432Node\\CLSID\\{clsid}\\InprocServer32", ""
    )
    assert via_view == via_node and str(via_view).endswith("objets100c.dll")
    assert model.registry.get(f"{CLSID_ROOT}\\{clsid}\\InprocServer32", "", view="64") is None


def test_objets_metiers_are_found_in_the_64_bit_view_whatever_their_folder() -> None:
    folder = "C:\\Program Files\\Common Files\\Sage\\Objets métiers"  # a 64-bit deployment
    model = host(sage={"version": "11.02", "objets_metiers": {"folder": folder, "views": ["64"]}})
    classes = document(model)["objets_metiers"]["classes"]
    assert {(c["view"], c["server"]) for c in classes} == {("64", f"{folder}\\objets100c.dll")}
    found = checks(model, "SF204")
    assert [f.status for f in found] == [Status.PASS]


def test_unregistered_objets_metiers_leave_sf204_unknown() -> None:
    model = host(sage={"version": "11.02", "objets_metiers": {"registered": False}})
    assert document(model)["objets_metiers"]["classes"] == []
    assert [f.status for f in checks(model, "SF204")] == [Status.UNKNOWN]


def test_sage_11_02_with_objets_metiers_11_02_passes_sf204() -> None:
    model = host(sage={"version": "11.02", "objets_metiers": "11.02"})
    assert [f.status for f in checks(model, "SF204")] == [Status.PASS]


def test_an_i7_install_fails_sf202_and_leaves_sf204_unknown() -> None:
    model = host("sage-i7")
    entity = EntityView(name="BIJOU", edition="onpremise", mae_path=ENTITY.mae_path)
    context = Context(host="h1", facts=parse_facts(document(model)), entities=[entity])
    statuses = {f.check_id: f.status for f in run_checks(context)}
    assert (statuses["SF202"], statuses["SF204"]) == (Status.FAIL, Status.UNKNOWN)


# -- "Log on as a service" --------------------------------------------------------------------
def test_the_logon_right_of_the_service_account_is_read_as_secedit_lists_it() -> None:
    model = host()
    right = document(model, service_account="CORP\\svc-new")["service_logon_right"]
    assert (right["granted"], right["error"]) == (False, None)
    assert right["sid"].startswith("S-1-5-21-")
    model.grant_service_logon_right("CORP\\svc-new")
    assert document(model, service_account="CORP\\svc-new")["service_logon_right"]["granted"]
    system = document(model, service_account="LocalSystem")["service_logon_right"]
    assert (system["sid"], system["granted"]) == ("S-1-5-18", True)
    french = host("french-ui")
    unmapped = document(french, service_account="NT AUTHORITY\\NETWORK")["service_logon_right"]
    assert unmapped["granted"] is None and "could not be translated" in unmapped["error"]
    assert document(model)["service_logon_right"] is None  # no account to check
