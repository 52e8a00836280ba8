"""testinfra's winrm backend, unmodified, against the simulator."""

from __future__ import annotations

import json
import urllib.parse

import pytest
import testinfra

from sagefleet import snippets
from sagefleet.sim.fleet import Fleet
from tests.support.fleets import FleetFactory


def spec_url(fleet: Fleet, name: str, password: str | None = None, query: str = "") -> str:
    spec = fleet.spec(name)
    secret = urllib.parse.quote(password if password is not None else spec.password, safe="")
    return f"winrm://{spec.username}:{secret}@{spec.address}:{spec.port}{query}"


def encoded(script: str) -> str:
    import base64

    return "powershell -encodedcommand " + base64.b64encode(script.encode("utf-16-le")).decode()


def test_windows_detection_over_ntlm_http_with_encryption(make_fleet: FleetFactory) -> None:
    fleet = make_fleet(scheme="http")
    host = testinfra.get_host(spec_url(fleet, "sage01", query="?no_ssl=true"))
    info = host.system_info
    assert info.type == "windows"
    assert info.distribution == "Microsoft Windows Server 2019 Standard"
    assert info.arch == "AMD64"
    stats = fleet.listeners["sage01"].stats
    assert stats.encrypted > 0 and stats.unencrypted == 0


def test_host_run_of_a_powershell_snippet_over_https(
    make_fleet: FleetFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = make_fleet()
    # testinfra has no CA option: pywinrm reads the CA bundle from the environment.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fleet.ca_file))
    host = testinfra.get_host(spec_url(fleet, "sage01"))
    result = host.run(encoded(snippets.render("host_info", {})))
    assert result.rc == 0, result.stderr
    assert json.loads(result.stdout)["hostname"] == "SAGE-ONPREM"
    assert host.run('powershell -command "hostname"').stdout.strip() == "SAGE-ONPREM"


def test_unknown_command_through_testinfra_fails_loudly(make_fleet: FleetFactory) -> None:
    fleet = make_fleet(scheme="http")
    host = testinfra.get_host(spec_url(fleet, "sage01", query="?no_ssl=true"))
    result = host.run("netsh advfirewall show allprofiles")
    assert result.rc == 1
    assert "not understood: netsh advfirewall show allprofiles" in result.stderr


def test_wrong_password_gives_testinfra_the_normal_error(make_fleet: FleetFactory) -> None:
    from winrm.exceptions import InvalidCredentialsError

    fleet = make_fleet(scheme="http")
    host = testinfra.get_host(spec_url(fleet, "sage01", password="nope", query="?no_ssl=true"))
    with pytest.raises(InvalidCredentialsError):
        host.run("hostname")
