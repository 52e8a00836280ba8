"""How doctor shares a fleet between processes."""

from __future__ import annotations

import pytest

from sagefleet import doctor
from sagefleet.errors import SagefleetError


@pytest.mark.parametrize(
    ("hosts", "cores", "expected"),
    [(1, 8, 1), (49, 8, 1), (100, 8, 2), (500, 2, 4), (500, 8, 10), (5000, 4, 8), (100, 1, 2)],
)
def test_one_process_per_50_hosts_at_most_two_per_core(
    monkeypatch: pytest.MonkeyPatch, hosts: int, cores: int, expected: int
) -> None:
    monkeypatch.setattr(doctor.os, "cpu_count", lambda: cores)
    assert doctor.default_processes(hosts) == expected


def test_zero_processes_is_refused_before_any_host_is_contacted() -> None:
    with pytest.raises(SagefleetError, match="processes must be at least 1"):
        doctor.run([], processes=0)


@pytest.mark.parametrize(("total", "parts"), [(50, 4), (50, 2), (4, 4), (7, 3), (1, 1)])
def test_the_forks_are_dealt_over_the_processes_without_exceeding_them(
    total: int, parts: int
) -> None:
    shares = doctor.deal(total, parts)
    assert sum(shares) == total and len(shares) == parts
    assert max(shares) - min(shares) <= 1 and min(shares) >= 1


def test_a_ca_bundle_missing_on_the_bastion_is_an_input_error(tmp_path: object) -> None:
    """It failed every connection, and the host was reported unreachable (exit code 4)."""
    from pathlib import Path

    from tests.support.scenarios import entities_for

    from sagefleet import preflight
    from sagefleet.errors import InputError

    entity = entities_for("healthy-onprem")[0]
    missing = Path(str(tmp_path)) / "no-such-ca.pem"
    variables = {
        "ansible_connection": "winrm",
        "ansible_winrm_ca_trust_path": str(missing),
        "sagefleet_entities": [entity],
    }
    with pytest.raises(InputError) as refused:
        preflight.prepare("sage01", variables)
    error = refused.value
    assert (error.host, error.field, error.value) == (
        "sage01",
        "ansible_winrm_ca_trust_path",
        str(missing),
    )
    assert "no such file or folder on the bastion" in str(error)
    missing.write_text("-----BEGIN CERTIFICATE-----\n")
    assert preflight.prepare("sage01", variables).host == "sage01"
    missing.unlink()
    ignored = {**variables, "ansible_winrm_server_cert_validation": "ignore"}
    assert preflight.prepare("sage01", ignored).host == "sage01"
    over_http = {**variables, "ansible_winrm_scheme": "http"}  # the bundle is not read
    assert preflight.prepare("sage01", over_http).host == "sage01"
