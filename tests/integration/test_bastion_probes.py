"""Bastion-side DNS probes in a real preflight, against a DNS server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagefleet import doctor
from sagefleet.inventory import load
from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.host import load_profile
from tests.support import netfixtures
from tests.support.fleets import next_first_address
from tests.support.netfixtures import DnsServer
from tests.support.scenarios import write_inventory

SQL = "xiyxu8z271.database.windows.net"


def test_preflight_reports_privatelink_and_dns_disagreement_from_the_bastion(
    tmp_path: Path,
    dns_server: DnsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_profile("healthy-spc")["edition"] == "spc"
    zone = {
        # What the simulated SPC host resolves, so the bastion agrees for S3 ...
        ("s3.eu-west-3.amazonaws.com", "A"): ["198.51.100.10"],
        # ... and disagrees (load balancing: information) for SQS.
        ("sqs.eu-west-3.amazonaws.com", "A"): ["198.51.100.99"],
        ("api.chift.eu", "A"): ["203.0.113.30"],
        (SQL, "CNAME"): ["xiyxu8z271.privatelink.database.windows.net."],
        ("xiyxu8z271.privatelink.database.windows.net", "A"): ["10.1.2.3"],
    }
    for key, value in zone.items():
        monkeypatch.setitem(netfixtures.ZONE, key, value)
    specs = generate_specs(1, profiles=("healthy-spc",), first_address=next_first_address(), port=0)
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(
            fleet,
            tmp_path / "inventory" / "hosts.yml",
            {
                "sagefleet_preflight_bastion_probes": True,
                "sagefleet_dns_servers": [dns_server.host],
                "sagefleet_dns_port": dns_server.port,
            },
        )
        report = doctor.run(load([inventory]), forks=1)
    (host,) = report.hosts
    by_check: dict[str, list[object]] = {}
    for finding in host.findings:
        by_check.setdefault(finding.check_id, []).append(finding)
    privatelink = by_check["SF306"][0]
    assert privatelink.status.value == "fail" and "private endpoint" in privatelink.message
    agreement = {f.observed: f for f in by_check["SF307"]}  # type: ignore[attr-defined]
    assert agreement["s3.eu-west-3.amazonaws.com"].status.value == "pass"
    sqs = agreement["sqs.eu-west-3.amazonaws.com"]
    assert sqs.status.value == "fail" and sqs.severity.value == "info"
    asked = {name for _transport, name, _type in dns_server.queries}
    assert {"s3.eu-west-3.amazonaws.com.", f"{SQL}."} <= asked | {n + "." for n in asked}
