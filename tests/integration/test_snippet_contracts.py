"""Every snippet's output, as the simulator gives it in the usual scenarios, follows its schema.

A recording session runs the bastion's own code paths (preflight, discover,
diagnose, verify questions, a fresh install, a settings change, an upgrade
rolled back, a transfer in pieces, a pull, a settings rollback) against
simulated hosts over real WinRM and keeps every document; each is then
validated against schemas/snippets/<name>.schema.json. Every shipped snippet
must have been seen, so a new snippet cannot go without its contract checked.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sagefleet import diagnose, discover, snippets, transfer
from sagefleet.agent import connection
from sagefleet.agent import learn as agent_learn
from sagefleet.agent import profile as agent_profile
from sagefleet.agent.learn import Lookup
from sagefleet.deploy import deploy_host, record
from sagefleet.inventory import load
from sagefleet.offline import offline_prepared
from sagefleet.package import build_test_package, inspect
from sagefleet.preflight import prepare
from sagefleet.preflight import run as preflight_run
from sagefleet.remote.contracts import _checker, validate_output
from sagefleet.remote.session import HostSession
from sagefleet.settings import host as settings_host
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import next_first_address, session_for
from tests.support.scenarios import write_inventory

Seen = list[tuple[str, str, Any]]


class Recording(HostSession):
    """A session that keeps (host, snippet, document) of every run that returned one."""

    def __init__(self, inner: HostSession, seen: Seen) -> None:
        super().__init__(inner.host)
        self.inner = inner
        self.seen = seen
        self.streams_stdin = inner.streams_stdin

    def run_snippet(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        stdin: Iterable[bytes] | None = None,
        *,
        sensitive: bool = False,
    ) -> Any:
        document = self.inner.run_snippet(name, params, stdin, sensitive=sensitive)
        self.seen.append((self.host, name, document))
        return document

    def execute(
        self, command: str, stdin: Iterable[bytes] | None = None
    ) -> tuple[int, bytes, bytes]:
        return self.inner.execute(command, stdin)

    def sibling(self) -> HostSession | None:
        other = self.inner.sibling()
        return None if other is None else Recording(other, self.seen)

    def close(self) -> None:
        self.inner.close()


def questions(service: str) -> list[dict[str, Any]]:
    """One question of every kind the query snippet answers, as verify asks them."""
    install = "C:\\Program Files\\Spendesk\\Sage Agent"
    return [
        {"kind": "service", "name": service},
        {"kind": "service", "name": "NoSuchService"},
        {
            "kind": "registry",
            "path": "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full",
            "name": "Release",
            "view": "64",
        },
        {"kind": "registry", "path": "HKLM\\SOFTWARE\\Nothing", "name": "x", "view": "32"},
        {"kind": "file", "path": install + "\\settings.json", "hash": True, "acl": True},
        {"kind": "file", "path": install + "\\SpendeskSageAgent.exe", "hash": True, "acl": True},
        {"kind": "file", "path": "C:\\nothing.txt", "hash": True, "acl": True},
        {"kind": "json_file", "path": install + "\\settings.json"},
        {"kind": "tcp", "host": "s3.eu-west-3.amazonaws.com", "port": 443, "timeout_ms": 2000},
        {"kind": "product", "pattern": "^Sage 100"},
        {"kind": "dir", "path": install},
        {"kind": "dir", "path": "C:\\Nothing"},
    ]


def test_every_snippet_output_follows_its_schema(
    tmp_path: Path, http_root: tuple[str, Path]
) -> None:
    base, www = http_root
    package = inspect(build_test_package(www / "Setup.zip", agent_version="3.2.0"))
    specs = generate_specs(
        4,
        profiles=("healthy-onprem", "agent-old", "agent-old", "mae-network-drive-localsystem"),
        first_address=next_first_address(),
        port=0,
    )
    seen: Seen = []
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet, tmp_path / "inventory" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
        )
        hosts = {h.name: h for h in load([inventory])}

        def session(name: str) -> Recording:
            return Recording(session_for(fleet, name), seen)

        for name, host in hosts.items():
            with session(name) as s:
                # First contact, preflight, discovery, support bundle (no restart).
                s.run_snippet("host_info")
                report, _ = preflight_run(s, prepare(name, host.variables))
                assert report.reachable, report.error
                preflight_run(s, offline_prepared(name, {}))  # no entity: no MAE file
                s.run_snippet("discover", discover.params(["C:\\Nothing"], max_files=1))
                options = diagnose.options_from(name, host.variables)
                s.run_snippet("diagnose", options.params(), sensitive=True)
                s.run_snippet("query", {"questions": questions(options.service_name)})
                # A reference install read (an agent on sage02/03, none on sage01).
                profile = agent_profile.default()
                s.run_snippet("agent_learn", agent_learn.params(profile, Lookup.of(profile)))
                s.run_snippet("stage_status", transfer.status_params("C:\\Staging\\x\\Setup.zip"))
                transfer.cleanup(s, keep=1)

        # The agent's connections as verify, the deploy's gate and diagnose read them: a
        # host without Get-NetTCPConnection (netstat), a WinHTTP proxy, direct probes, and
        # the log evidence of a profile that names a "connected" pattern.
        fleet.host("sage02").nettcpip_module = False
        fleet.host("sage03").network.winhttp_proxy = "proxy.corp.local:8080"
        logs = connection.LogSpec(
            ("C:\\Program Files\\Spendesk\\Sage Agent\\logs",),
            "*.log",
            r"^(?<time>\S+) INFO connected to ",
        )
        for name in ("sage02", "sage03"):
            options = replace(connection.options_from(name, hosts[name].variables), log=logs)
            with session(name) as s:
                s.run_snippet("agent_connections", connection.params(options, probe=True))

        # A fresh install and an upgrade, then verify's questions on the result.
        for name in ("sage01", "sage02"):
            with session(name) as s:
                result = deploy_host(s, name, hosts[name].variables, package)
                assert result.outcome in ("installed", "upgraded"), result.reason
                s.run_snippet("query", {"questions": questions("SpendeskSageAgent")})
                # A support bundle with the agent restarted.
                options = diagnose.options_from(
                    name, {**hosts[name].variables, "sagefleet_diagnose_restart": True}
                )
                s.run_snippet("diagnose", options.params(), sensitive=True)

        # A settings change on a running agent: settings_write, then agent_restart.
        changed = copy.deepcopy(dict(hosts["sage01"].variables))
        for entity in changed["sagefleet_entities"]:  # the vendor's file of the connection
            entity["vendor_settings"]["Connections"][0]["SqlPassword"] = "Another-Passw0rd!"
        with session("sage01") as s:
            assert deploy_host(s, "sage01", changed, package).outcome == "settings-updated"
            target = settings_host.settings_target("sage01")
            outcome = settings_host.rollback_settings(s, target, want_diff=True)
            assert outcome.restored
            # What a deploy runs on rarer paths: check mode's listing of the backups, the
            # failed-install record read in a command of its own.
            backup_dir = "C:\\ProgramData\\sagefleet\\backup"
            s.run_snippet("agent_backup_prune", {"backup_dir": backup_dir, "remove": []})
            assert record.read_record(s, record.record_path(backup_dir)) is None

        # An upgrade whose installer fails: agent_install reports it, agent_rollback runs.
        fleet.host("sage03").installer_failure = 1603
        with session("sage03") as s:
            result = deploy_host(s, "sage03", hosts["sage03"].variables, package)
            assert result.outcome == "rolled-back", result.reason

        # A transfer over several connections (pieces), and one pulled by the host.
        with session("sage03") as s:
            staged = transfer.stage(
                s, package, staging_dir="C:\\Stage2", streams=3, min_piece_bytes=1024
            )
            assert staged.streams > 1
            transfer.extract(s, staged.path, "C:\\Stage2\\x", check_mode=True)
            transfer.stage_pull(s, f"{base}/Setup.zip", package.sha256, staging_dir="C:\\Stage3")
            s.run_snippet(
                "deploy_lock",
                {"action": "release", "path": "C:\\Stage3\\lock", "owner": "me", "ttl_s": 60},
            )

    assert {name for _, name, _ in seen} == set(snippets.available())
    for host, name, document in seen:
        validate_output(host, name, document)
        # The compiled check accepts every real output by itself (a refusal would be
        # checked again by jsonschema: correct, but as slow as before).
        checker = _checker(name)
        assert checker is not None and checker.is_valid(document), (host, name)
    # Each contract was checked on documents of more than one shape.
    assert sum(1 for _, n, _ in seen if n == "query") >= 5
    assert any(n == "stage_push" and "sha256" not in d for _, n, d in seen)  # a piece
    assert any(n == "diagnose" and d["restart"] for _, n, d in seen)
    assert any(n == "agent_install" and d["failed_step"] for _, n, d in seen)
    looks = [d for _, n, d in seen if n == "agent_connections"]
    assert {d["tcp"]["source"] for d in looks if d["tcp"]} == {"Get-NetTCPConnection", "netstat"}
    assert any(d["log"] and d["log"]["time_utc"] for d in looks)
    assert any(d["probes"] and d["probes"][0]["tls"] for d in looks)
    assert any(d["proxy"]["addresses"] for d in looks)
