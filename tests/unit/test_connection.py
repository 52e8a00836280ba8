"""SF513 decided on the bastion from the agent_connections evidence of simulated hosts."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
import yaml

from sagefleet import snippets
from sagefleet.agent import connection
from sagefleet.errors import InputError
from sagefleet.findings import Status
from sagefleet.sim.commands import connection_models, dispatch
from sagefleet.sim.host import WindowsHost, agent_runtime, host_from_profile, load_profile

AGENT = "SpendeskSageAgent"
LOGS = connection.LogSpec(
    ("C:\\Program Files\\Spendesk\\Sage Agent\\logs",), "*.log", r"^(?<time>\S+) INFO connected to "
)


def host(profile: str | dict[str, Any], **changes: Any) -> WindowsHost:
    data = load_profile(profile) if isinstance(profile, str) else profile
    built = host_from_profile("h1", "127.0.0.2", "admin", "pw", copy.deepcopy(data))
    for key, value in changes.items():
        setattr(built, key, value)
    return built


def with_agent(profile: str, **network: Any) -> dict[str, Any]:
    """A shipped profile with the agent running for an hour as LocalSystem."""
    data = load_profile(profile)
    data["agent"] = {"version": "3.2.0", "account": "LocalSystem", "running_for_s": 3600}
    if network:
        data["network"] = {**(data.get("network") or {}), **network}
    return data


def runner(windows: WindowsHost) -> connection.Runner:
    """The snippet's model, run as the simulator's dispatcher runs the real script."""

    def run(params: dict[str, Any]) -> Mapping[str, Any]:
        rc, out, err = dispatch.run_snippet(windows, "agent_connections", params, b"")
        assert rc == 0, err.decode()
        document: Mapping[str, Any] = json.loads(out)
        return document

    return run


def options(**changes: Any) -> connection.ConnectionOptions:
    return dataclasses.replace(connection.options_from("h1", {}), **changes)


def look(windows: WindowsHost, **changes: Any) -> connection.Verdict:
    verdict, _ = connection.look(runner(windows), options(**changes))
    return verdict


def age(windows: WindowsHost, seconds: float) -> None:
    service = windows.service(AGENT)
    assert service is not None and service.process_started is not None
    service.process_started -= dt.timedelta(seconds=seconds)


# -- pass ------------------------------------------------------------------------------


def test_a_connected_agent_passes_naming_the_endpoints_it_holds() -> None:
    verdict = look(host("agent-old"))
    assert verdict.status is Status.PASS
    assert re.match(
        r"connected to api\.chift\.eu:443 \(203\.0\.113\.30\), sqs\.eu-west-3\.amazonaws\.com:443 "
        r"\(198\.51\.100\.20\); running for 36\d\d s",
        verdict.message,
    ), verdict.message


def test_an_agent_that_goes_through_its_proxy_passes_through_it() -> None:
    data = with_agent(
        "healthy-onprem",
        dns={"proxy.corp.local": ["10.20.0.8"]},
        tcp={"proxy.corp.local:8080": "ok"},
        machine_proxy={"server": "proxy.corp.local:8080", "bypass": "<local>"},
        accounts={
            "LocalSystem": {
                "default_tcp": "timeout",
                "tcp": {
                    "sqs.eu-west-3.amazonaws.com:443": "timeout",
                    "api.chift.eu:443": "timeout",
                },
            }
        },
    )
    verdict = look(host(data))
    assert verdict.status is Status.PASS
    assert "through its proxy proxy.corp.local:8080 (machine)" in verdict.message


def test_a_connected_line_since_start_and_within_the_window_passes_when_tcp_shows_none() -> None:
    windows = host("agent-sql-login-failed", time_scale=1.0)
    age(windows, -3570)  # started 30 s ago: connected 3 s after start, polls until 60 s
    document = dict(runner(windows)(connection.params(options(log=LOGS))))
    assert document["tcp"]["connections"] and document["log"]["time_utc"]
    document["tcp"] = {**document["tcp"], "connections": []}  # as an agent between two polls
    evidence = connection.parse(document)
    verdict = connection.evaluate(evidence, options(log=LOGS, window_s=60))
    assert verdict.status is Status.PASS
    assert verdict.message.startswith("its log says it connected at ")
    # 27 s old, a 20 s window: the line says nothing about now.
    assert connection.evaluate(evidence, options(log=LOGS, window_s=20)).status is Status.FAIL


def test_a_connected_line_from_an_hour_ago_does_not_pass() -> None:
    verdict = look(host("agent-sql-login-failed", time_scale=1.0), log=LOGS)
    assert (verdict.status, verdict.cause) == (Status.FAIL, "agent")


# -- unknown -----------------------------------------------------------------------------


def test_an_agent_younger_than_the_window_is_unknown_then_fails_past_it() -> None:
    windows = host("agent-proxy-admin-only")
    age(windows, -3590)  # started 10 s ago
    verdict = look(windows)
    assert (verdict.status, verdict.young) == (Status.UNKNOWN, True)
    assert re.match(r"no connection yet, running for 1\d s \(window 120 s\)", verdict.message)
    age(windows, 120)
    assert look(windows).status is Status.FAIL


def test_connections_to_addresses_the_names_no_longer_resolve_to_are_unknown() -> None:
    windows = host("agent-old")
    windows.network.dns["sqs.eu-west-3.amazonaws.com"] = windows.network.dns["api.chift.eu"] = type(
        windows.network.dns["api.chift.eu"]
    )("ok", ("192.0.2.99",))
    document = dict(runner(windows)(connection.params(options())))
    document["resolved"] = [
        {"name": n, "addresses": ["192.0.2.200"], "error": None}
        for n in ("s3.eu-west-3.amazonaws.com", "sqs.eu-west-3.amazonaws.com", "api.chift.eu")
    ]
    verdict = connection.evaluate(connection.parse(document), options())
    assert verdict.status is Status.UNKNOWN
    assert "addresses the endpoints do not resolve to on the host now" in verdict.message


# -- fail and its likely cause -------------------------------------------------------------


def test_a_proxy_set_for_the_admin_only_is_the_likely_cause() -> None:
    verdict = look(host("agent-proxy-admin-only"))
    assert (verdict.status, verdict.cause) == (Status.FAIL, "proxy-admin-only")
    assert verdict.missing == (
        "s3.eu-west-3.amazonaws.com:443",
        "sqs.eu-west-3.amazonaws.com:443",
        "api.chift.eu:443",
    )
    assert "a proxy is set for SAGE-PROXY\\admin (proxy.corp.local:8080" in verdict.message
    assert verdict.remediation.startswith("give the service its proxy: `netsh winhttp set proxy")


def test_the_same_in_french() -> None:
    verdict = look(host("agent-proxy-admin-only"), lang="fr")
    assert verdict.message.startswith("aucune connexion vers s3.eu-west-3.amazonaws.com:443")
    assert "cause probable : un proxy est défini pour SAGE-PROXY\\admin" in verdict.message
    assert verdict.finding("fr").title == "Agent connecté aux services de l'éditeur"


def test_an_agent_that_stopped_polling_on_an_open_network_is_the_agent_itself() -> None:
    verdict = look(host("agent-sql-login-failed"))
    assert (verdict.status, verdict.cause) == (Status.FAIL, "agent")
    assert "the host reaches the endpoints, yet the agent holds no connection" in verdict.message


def test_a_name_that_does_not_resolve_is_the_likely_cause() -> None:
    verdict = look(host(with_agent("dns-fail-one")))
    assert (verdict.status, verdict.cause) == (Status.PASS, None)  # SQS still held
    data = with_agent(
        "dns-fail-one", dns={"api.chift.eu": "nxdomain", "sqs.eu-west-3.amazonaws.com": "nxdomain"}
    )
    verdict = look(host(data))
    assert (verdict.status, verdict.cause) == (Status.FAIL, "dns")
    assert "DNS: sqs.eu-west-3.amazonaws.com does not resolve on the host" in verdict.message


def test_untrusted_tls_interception_is_the_likely_cause() -> None:
    data = with_agent("healthy-onprem", intercept_tls={"issuer": "Fortinet CA", "installed": False})
    verdict = look(host(data))
    assert (verdict.status, verdict.cause) == (Status.FAIL, "tls")
    assert "RemoteCertificateChainErrors" in verdict.message


def test_tls_1_2_disabled_in_schannel_is_the_likely_cause() -> None:
    verdict = look(host(with_agent("schannel-tls12-disabled")))
    assert (verdict.status, verdict.cause) == (Status.FAIL, "tls")
    assert "the TLS handshake with s3.eu-west-3.amazonaws.com:443 fails as the host makes it" in (
        verdict.message
    )


def test_a_firewall_that_drops_only_the_service_traffic_shows_syn_sent() -> None:
    data = with_agent(
        "healthy-onprem",
        accounts={
            "LocalSystem": {
                "tcp": {"sqs.eu-west-3.amazonaws.com:443": "timeout", "api.chift.eu:443": "timeout"}
            }
        },
    )
    verdict = look(host(data))
    assert (verdict.status, verdict.cause) == (Status.FAIL, "unreachable")
    assert "stay SYN_SENT: dropped on the way for LocalSystem" in verdict.message


def test_a_stopped_agent_fails_and_says_so() -> None:
    windows = host("agent-old")
    windows.stop_service(AGENT)
    verdict = look(windows)
    assert (verdict.status, verdict.cause) == (Status.FAIL, "service")
    assert "a stopped agent holds no connection (SF502)" in verdict.message


# -- the health gate's wait ----------------------------------------------------------------


def test_the_gate_polls_a_young_agent_until_it_connects() -> None:
    windows = host(with_agent("healthy-onprem"), time_scale=1.0)
    windows.agent_behaviour.connect_after_s = 20
    age(windows, -3600)  # just started
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # simulated time passes on the host
        slept.append(seconds)
        age(windows, seconds)

    verdict, _, looks = connection.wait_connected(
        runner(windows), options(), sleep=sleep, clock=lambda: sum(slept)
    )
    assert verdict.status is Status.PASS and looks == 5  # 0, 5, 10, 15, 20 s
    assert slept == [5.0] * 4


def test_the_gate_waits_out_the_window_then_fails() -> None:
    windows = host("agent-proxy-admin-only")
    age(windows, -3600)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        age(windows, seconds)

    verdict, _, looks = connection.wait_connected(
        runner(windows), options(window_s=12), sleep=sleep, clock=lambda: sum(slept)
    )
    assert verdict.status is Status.FAIL and verdict.cause == "proxy-admin-only"
    assert sum(slept) >= 12 and looks == len(slept) + 1


# -- inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 3601, "two minutes", "3601", True, 1.5])
def test_a_bad_window_is_refused_before_any_host_is_contacted(value: Any) -> None:
    with pytest.raises(InputError) as caught:
        connection.options_from("sage01", {"sagefleet_agent_connect_window_s": value})
    assert "sage01" in str(caught.value) and "sagefleet_agent_connect_window_s" in str(caught.value)


def test_a_connected_pattern_that_is_no_regex_is_refused(tmp_path: Any) -> None:
    from sagefleet.agent import profile as agent_profile

    profile = agent_profile.default().to_dict()
    profile["logs"] = {"dir": None, "file_pattern": None, "connected_pattern": "(?<time>\\S+"}
    path = tmp_path / "agent.yml"
    path.write_text(yaml.safe_dump(profile))
    with pytest.raises(InputError, match="logs.connected_pattern is not a regular expression"):
        connection.options_from("sage01", {"sagefleet_agent_profile": str(path)})


def test_params_resolve_exact_firewall_names_and_probe_only_when_asked() -> None:
    params = connection.params(options())
    assert params["names"] == [
        "s3.eu-west-3.amazonaws.com",
        "sqs.eu-west-3.amazonaws.com",
        "eu-west-3.queue.amazonaws.com",
        "api.chift.eu",
    ]
    assert params["probes"] == [] and params["log"] is None
    assert len(connection.params(options(), probe=True)["probes"]) == 3


# -- the proxy the account would use ---------------------------------------------------------


def test_the_route_takes_machine_policy_then_the_account_then_winhttp() -> None:
    windows = host(
        with_agent(
            "healthy-onprem",
            winhttp_proxy={"server": "wh:3128"},
            user_proxy={"LocalSystem": {"server": "user:8080"}},
        )
    )
    evidence = connection.parse(runner(windows)(connection.params(options())))
    assert connection.route(evidence) == connection.Route("user:8080", "user")
    windows.registry.delete_value(
        "HKU\\S-1-5-18\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings",
        "ProxyServer",
    )
    evidence = connection.parse(runner(windows)(connection.params(options())))
    assert connection.route(evidence) == connection.Route("wh:3128", "winhttp")
    assert agent_runtime.route(windows, "S-1-5-18") == agent_runtime.Route("wh:3128", "winhttp")


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("proxy:8080", ("proxy", 8080)),
        ("http=a:80;https=b:8443", ("b", 8443)),
        ("http://Proxy.Corp:3128/", ("proxy.corp", 3128)),
        ("proxy", ("proxy", 80)),
    ],
)
def test_a_proxy_setting_for_https(server: str, expected: tuple[str, int]) -> None:
    assert connection.proxy_for_https(server) == expected


# -- the simulator's side --------------------------------------------------------------------


def test_without_get_nettcpconnection_only_a_script_with_a_netstat_fallback_answers() -> None:
    windows = host("agent-old", nettcpip_module=False)
    document = runner(windows)(connection.params(options()))
    assert document["tcp"]["source"] == "netstat" and len(document["tcp"]["connections"]) == 2
    params = connection.params(options())
    script = snippets.render("agent_connections", params).replace("netstat", "nstat")
    rc, _, err = dispatch.run_snippet(windows, "agent_connections", params, b"", script=script)
    assert rc == 1 and b"Get-NetTCPConnection' is not recognized" in err


def test_the_agent_log_is_written_once_per_event_with_the_time_it_happened() -> None:
    windows = host("agent-sql-login-failed")
    connection_models.agent_connections(windows, connection.params(options(log=LOGS)), b"")
    connection_models.agent_connections(windows, connection.params(options(log=LOGS)), b"")
    text = windows.fs.read(
        "C:\\Program Files\\Spendesk\\Sage Agent\\logs\\SpendeskSageAgent.log"
    ).decode()
    lines = text.splitlines()
    assert [line.split(" ", 2)[1:] for line in lines] == [
        ["INFO", "service SpendeskSageAgent started"],
        ["INFO", "connected to sqs.eu-west-3.amazonaws.com"],
        ["INFO", "connected to api.chift.eu"],
        ["ERROR", "SQL login failed for the connection's SQL user"],
        ["WARN", "polling stopped"],
    ]
    started = windows.service(AGENT).process_started  # type: ignore[union-attr]
    assert lines[0].startswith(started.strftime("%Y-%m-%dT%H:%M:%S"))  # type: ignore[union-attr]
