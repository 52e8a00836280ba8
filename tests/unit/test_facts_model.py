"""The facts snippet's simulator model: the document of sagefleet.facts, for every profile."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.wire import run_snippet_wire

from sagefleet import snippets
from sagefleet.checks import Context, EntityView, run_checks
from sagefleet.facts import parse_facts
from sagefleet.findings import Status
from sagefleet.remote.contracts import load_schema
from sagefleet.sim import twin
from sagefleet.sim.host import (
    DEFAULT_ENDPOINTS,
    WindowsHost,
    host_from_profile,
    load_profile,
    profile_names,
)

# The key sets sagefleet/facts.py documents (schema 1): every key always present.
#: The document's members, as the facts snippet's output contract declares them.
TOP_KEYS = set(load_schema("facts")["properties"])
HOST_KEYS = {
    "hostname",
    "os_caption",
    "os_version",
    "os_build",
    "powershell_version",
    "language_mode",
    "utc_now",
    "domain",
    "part_of_domain",
}
DRIVE_KEYS = {"name", "drive_type", "free_bytes", "size_bytes", "provider"}
AGENT_KEYS = {
    "service_name",
    "installed",
    "state",
    "start_mode",
    "account",
    "version",
    "path",
    "matched_by",
    "candidates",
}
MAE_KEYS = {
    "path",
    "exists",
    "size",
    "drive_type",
    "unc",
    "mapped_drive",
    "serveur_sql",
    "type",
    "database",
    "verifiable",
}
PROBE_KEYS = {"name", "port", "tls", "dns", "tcp", "tls_result"}
TLS_RESULT_KEYS = {
    "ok",
    "protocol",
    "issuer",
    "subject",
    "not_after",
    "error",
    "policy_errors",
    "chain_status",
    "chain",
    "root_in_authroot",
    "root_in_root",
}
OM_KEYS = {"files", "uninstall", "classes"}
CLASS_KEYS = {"name", "clsid", "view", "server", "progid", "exists", "file_version"}


def facts_params(profile: dict[str, Any]) -> dict[str, Any]:
    """What the bastion sends: the agent's endpoints, SQL servers and MAE files."""
    endpoints = [
        {"name": name, "port": port, "tls": port == 443}
        for name in DEFAULT_ENDPOINTS
        for port in (443, 80)
    ]
    for mae in profile.get("mae") or []:
        if str(mae["server"]).endswith(".database.windows.net"):
            endpoints.append({"name": mae["server"], "port": 1433, "tls": False})
    return {
        "service_name": "SpendeskSageAgent",
        "endpoints": endpoints,
        "mae_files": [m["path"] for m in profile.get("mae") or []],
        "timeout_ms": 2000,
    }


def run_facts(host: WindowsHost, params: dict[str, Any]) -> dict[str, Any]:
    rc, out, err = run_snippet_wire(host, "facts", params)
    assert rc == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def host_for(name: str) -> tuple[WindowsHost, dict[str, Any]]:
    profile = load_profile(name)
    return host_from_profile("h1", "127.0.0.2", "u", "p", profile), facts_params(profile)


@pytest.mark.parametrize("name", profile_names())
def test_facts_document_of_every_profile_follows_the_contract(name: str) -> None:
    host, params = host_for(name)
    doc = run_facts(host, params)
    assert set(doc) == TOP_KEYS and doc["schema"] == 1
    assert twin.KNOWN_MEMBERS <= TOP_KEYS  # the twin reads members of this document only
    assert set(doc["host"]) == HOST_KEYS
    assert all(set(d) == DRIVE_KEYS for d in doc["drives"])
    assert set(doc["agent"]) == AGENT_KEYS
    assert [set(m) for m in doc["mae_files"]] == [MAE_KEYS] * len(params["mae_files"])
    assert all(set(p) == PROBE_KEYS for p in doc["probes"])
    assert all(set(p["tls_result"]) == TLS_RESULT_KEYS for p in doc["probes"] if p["tls_result"])
    assert set(doc["objets_metiers"]) == OM_KEYS
    assert all(set(c) == CLASS_KEYS for c in doc["objets_metiers"]["classes"])
    facts = parse_facts(doc)
    assert facts.identity.hostname == host.hostname
    assert len(facts.probes) == len(params["endpoints"])


def test_facts_script_is_ascii_so_no_code_page_can_alter_it() -> None:
    assert snippets.load("facts").body.isascii()


def test_workgroup_server_is_not_part_of_a_domain() -> None:
    host, params = host_for("clock-skew")
    facts = parse_facts(run_facts(host, params))
    assert (facts.identity.domain, facts.identity.part_of_domain) == ("WORKGROUP", False)


def test_mapped_drive_unseen_by_the_session_is_found_through_the_user_mapping() -> None:
    host, params = host_for("mae-network-drive-localsystem")
    host.winrm.delegation = True  # CredSSP: the session may read the share
    doc = run_facts(host, params)
    # Over WinRM the interactive user's S: is not a drive of the session...
    assert [d["name"] for d in doc["drives"]] == ["C:"]
    # ...but their persistent mapping (HKEY_USERS) names its share.
    (mae,) = parse_facts(doc).mae_files
    assert (mae.exists, mae.drive_type, mae.mapped_drive, mae.database) == (
        True,
        "network",
        True,
        "BIJOU",
    )


def test_a_letter_mapped_in_another_session_alone_is_not_verifiable_not_missing() -> None:
    profile = load_profile("mae-network-drive-localsystem")
    for drive in profile["drives"]:
        if drive.get("type") == "network":
            drive["persistent"] = False  # mapped without "Reconnect at sign-in"
    host = host_from_profile("h1", "127.0.0.2", "u", "p", profile)
    params = facts_params(profile)
    facts = parse_facts(run_facts(host, params))
    (mae,) = facts.mae_files
    assert (mae.exists, mae.drive_type, mae.mapped_drive) == (False, None, False)
    entity = EntityView(name="BIJOU", edition="onpremise", mae_path=mae.path)
    (found,) = [
        f
        for f in run_checks(Context(host="h1", facts=facts, entities=[entity]))
        if f.check_id == "SF401"
    ]
    assert found.status is Status.UNKNOWN, found.message
    assert "not a drive of this server's session" in found.message
    assert "UNC" in found.remediation


def test_network_mae_is_not_verifiable_without_delegation() -> None:
    host, params = host_for("mae-network-drive-localsystem")
    params["mae_files"].append(r"\\fs01\sage\Societes\BIJOU.MAE")
    for mae in parse_facts(run_facts(host, params)).mae_files:
        assert (mae.exists, mae.verifiable, mae.drive_type) == (False, False, "network")


def test_missing_mae_file_is_reported_without_guessing() -> None:
    host, params = host_for("healthy-onprem")
    params["mae_files"] = [r"C:\Sage\Societes\ABSENT.MAE"]
    (mae,) = parse_facts(run_facts(host, params)).mae_files
    assert (mae.exists, mae.database, mae.serveur_sql, mae.drive_type) == (
        False,
        None,
        None,
        "fixed",
    )


def test_agent_not_installed_is_reported_under_the_asked_name() -> None:
    host, params = host_for("healthy-onprem")
    params["service_name"] = "OtherAgent"
    agent = parse_facts(run_facts(host, params)).agent
    assert (agent.service_name, agent.installed, agent.state) == ("OtherAgent", False, None)


def test_parameters_have_defaults_but_the_agent_is_the_profiles_to_name() -> None:
    host, _ = host_for("agent-old")
    doc = run_facts(host, {})
    # No guessed service name in the snippet: the bastion passes the agent profile's.
    assert (doc["agent"]["installed"], doc["agent"]["service_name"]) == (False, None)
    assert (doc["mae_files"], doc["probes"]) == ([], [])


def test_the_agent_is_found_by_an_image_path_pattern_when_no_name_matches() -> None:
    host, params = host_for("agent-old")
    params.update(service_name="NoSuchName", agent_image_path_pattern=r"\\SpendeskSageAgent\.exe")
    agent = parse_facts(run_facts(host, params)).agent
    assert (agent.installed, agent.service_name, agent.matched_by) == (
        True,
        "SpendeskSageAgent",
        "image_path",
    )


def test_a_pattern_matching_several_services_finds_none_and_names_them() -> None:
    host, params = host_for("agent-old")
    # Every simulated server runs Windows' own services, as a real one does.
    params.update(service_name=None, agent_display_name_pattern="^(Spendesk|Windows R)")
    agent = parse_facts(run_facts(host, params)).agent
    assert (agent.installed, agent.matched_by) == (False, None)
    assert agent.candidates == ("SpendeskSageAgent", "WinRM")


def test_a_loose_pattern_meets_the_servers_own_services() -> None:
    """The simulator held the agent's service alone: a pattern such as 'Agent' or '.*'
    found it, where on a real server it matches many and is refused."""
    host, params = host_for("healthy-onprem")
    for pattern in (".*", "Windows"):
        params.update(service_name=None, agent_display_name_pattern=pattern)
        agent = parse_facts(run_facts(host, params)).agent
        assert not agent.installed and len(agent.candidates) > 2, (pattern, agent)


def test_tls_probe_fails_when_schannel_disables_tls12() -> None:
    host, params = host_for("schannel-tls12-disabled")
    probe = parse_facts(run_facts(host, params)).probe("api.chift.eu", 443)
    assert probe is not None and probe.tcp.ok and probe.tls_result is not None
    assert probe.tls_result.ok is False
    assert "common algorithm" in (probe.tls_result.error or "")


def test_spc_marker_location_is_a_parameter() -> None:
    host, params = host_for("healthy-onprem")
    params["spc_marker_paths"] = [r"C:\Sage\Societes\BIJOU.MAE"]
    assert parse_facts(run_facts(host, params)).spc_marker is True


def test_a_parameter_the_snippet_does_not_read_is_refused() -> None:
    host, params = host_for("healthy-onprem")
    params["expected_issuers"] = ["^Amazon"]
    rc, _, err = run_snippet_wire(host, "facts", params)
    assert rc == 1 and b"not understood" in err and b"expected_issuers" in err
