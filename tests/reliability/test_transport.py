"""Transport defaults: HTTPS with certificate validation is the documented default;
Basic over HTTP, message encryption off and certificate validation off are preflight
errors (SF902), or warnings in every report with sagefleet_allow_insecure_transport.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import ROOT, next_first_address
from tests.support.reliability import playbook
from tests.support.scenarios import write_inventory

# host -> (scheme, inventory connection variables)
HOSTS: dict[str, tuple[str, dict[str, Any]]] = {
    "secure": ("https", {}),
    "basic-http": ("http", {"ansible_winrm_transport": "basic"}),
    "noenc-http": ("http", {"ansible_winrm_message_encryption": "never"}),
    "novalidate": ("https", {"ansible_winrm_server_cert_validation": "ignore"}),
}


def test_https_with_certificate_validation_is_the_documented_default() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "HTTPS with certificate validation and NTLM is the default" in readme
    reliability = " ".join((ROOT / "docs" / "reliability.md").read_text().split())
    assert "HTTPS with certificate validation" in reliability


@pytest.fixture(scope="module")
def fleet_inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    tmp = tmp_path_factory.mktemp("transport")
    names = list(HOSTS)
    specs = generate_specs(len(names), first_address=next_first_address(), port=0)
    for spec, name in zip(specs, names, strict=True):
        spec.name = name
        spec.scheme = HOSTS[name][0]
        if spec.scheme == "http":  # as Windows' AllowUnencrypted (and Basic) on the listener
            spec.overrides = {"winrm": {"allow_unencrypted": True, "allow_basic": True}}
    with Fleet(specs, tmp / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp / "inv" / "hosts.yml")
        data = yaml.safe_load(inventory.read_text())
        hosts = data["all"]["children"]["sage_servers"]["hosts"]
        for name in names:
            hosts[name].update(HOSTS[name][1])
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        yield fleet, inventory


def sf902(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    found = {}
    for entry in report["hosts"]:
        for finding in entry["findings"]:
            if finding["check_id"] == "SF902":
                found[entry["host"]] = (finding["status"], finding["severity"])
    return found


@pytest.mark.parametrize("allow", [False, True])
def test_insecure_transport_is_an_error_unless_allowed_then_a_warning(
    fleet_inventory: tuple[Fleet, Path], tmp_path: Path, allow: bool
) -> None:
    fleet, inventory = fleet_inventory
    out = tmp_path / "out"
    process = playbook(
        "preflight.yml",
        inventory,
        "-e",
        f"sagefleet_preflight_report_dir={out}",
        "-e",
        json.dumps({"sagefleet_allow_insecure_transport": allow}),
    )
    report = json.loads((out / "report.json").read_text())
    found = sf902(report)
    assert found["secure"][0] == "pass", process.stdout[-3000:]
    for name in ("basic-http", "noenc-http", "novalidate"):
        assert found[name] == ("fail", "warning" if allow else "error"), (name, found)
        status = next(h["status"] for h in report["hosts"] if h["host"] == name)
        assert status != "unreachable"  # the simulated host accepted the insecure transport
    for fmt in ("report.txt", "report.html", "junit.xml"):
        text = next(iter(out.glob(f"*{fmt.split('.')[-1]}")), None)
        if text is not None:
            assert "SF902" in text.read_text(), fmt
    # The listeners saw what the inventory asked for: HTTP bodies without encryption.
    assert fleet.listeners["noenc-http"].stats.unencrypted > 0
