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
