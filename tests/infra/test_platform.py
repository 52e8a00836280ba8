"""The platform under the agent: .NET, outbound endpoints, edition, staging leftovers."""

from __future__ import annotations

import pytest

from sagefleet import catalog
from sagefleet.verify import Windows
from sagefleet.verify.expectations import Expectations
from sagefleet.verify.plugin import NOT_APPLICABLE

NDP = "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full"


@pytest.mark.sagefleet_check("SF509", ".NET Framework 4.8 or later")
def test_dotnet_48(windows: Windows) -> None:
    release = windows.registry_value(NDP, "Release")
    minimum = catalog.dotnet().minimum_release
    assert release.exists and int(release.value) >= minimum, (
        f"{windows.name} SF509: .NET Release {release.value}, expected >= {minimum}"
    )


@pytest.mark.sagefleet_check("SF510", "Required endpoints reachable from the host")
def test_endpoints_reachable(windows: Windows, expected: Expectations) -> None:
    required = [e for e in expected.endpoints if e.required]
    answers = windows.ask(
        *({"kind": "tcp", "host": e.name, "port": e.port, "timeout_ms": 3000} for e in required)
    )
    blocked = [
        f"{e.name}:{e.port} ({a.get('error')})"
        for e, a in zip(required, answers, strict=True)
        if not a.get("ok")
    ]
    assert not blocked, f"{windows.name} SF510: not reachable: {', '.join(blocked)}"


@pytest.mark.sagefleet_check("SF511", "No on-premise Objets Métiers on SPC hosts")
def test_no_onprem_objets_metiers_on_spc(windows: Windows, expected: Expectations) -> None:
    if expected.edition != "spc":
        pytest.skip(f"{NOT_APPLICABLE}{windows.name} is not an SPC host")
    found = windows.products(catalog.sage().objets_metiers_pattern)
    assert not found, f"{windows.name} SF511: on-premise Objets Métiers installed: " + ", ".join(
        e["display_name"] for e in found
    )


@pytest.mark.sagefleet_check("SF512", "No staging leftovers beyond the retention")
def test_no_leftover_staging(windows: Windows, expected: Expectations) -> None:
    entries = windows.listdir(expected.staging_dir) or []
    packages = [e["name"] for e in entries if e.get("is_dir")]
    partial = [e["name"] for e in entries if str(e["name"]).endswith(".part")]
    assert len(packages) <= expected.staging_keep and not partial, (
        f"{windows.name} SF512: {expected.staging_dir} holds {sorted(packages)} "
        f"(keep {expected.staging_keep}) and partial files {partial}"
    )
