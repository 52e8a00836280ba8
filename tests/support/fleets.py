"""Simulated fleets on loopback for the tests: addresses, and sessions to their hosts."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable
from pathlib import Path

from sagefleet.remote.winrm import WinRMSession, WinRMTarget
from sagefleet.sim.fleet import Fleet

ROOT = Path(__file__).resolve().parent.parent.parent
#: The ansible-playbook of the Python running the tests (the project's virtualenv).
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")

# Each fleet of a test run gets its own /24 on loopback; ports are ephemeral. Parallel
# workers (pytest-xdist) take disjoint ranges (20-134, 135-249), away from the demo's fixed
# 127.0.1.x; a worker that has used its 115 starts over (ports keep fleets apart).
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_SUBNETS = itertools.cycle(range(20 + 115 * (_WORKER % 2), 135 + 115 * (_WORKER % 2)))


def next_first_address() -> str:
    return f"127.0.{next(_SUBNETS)}.1"


#: The ``make_fleet`` fixture: ``make_fleet(count, profiles=, scheme=, specs=, names=)``.
FleetFactory = Callable[..., Fleet]


def session_for(fleet: Fleet, name: str, **overrides: object) -> WinRMSession:
    spec = fleet.spec(name)
    settings: dict[str, object] = {
        "host": spec.name,
        "address": spec.address,
        "port": spec.port,
        "scheme": spec.scheme,
        "username": spec.username,
        "password": spec.password,
        "ca_trust_path": str(fleet.ca_file),
    }
    settings.update(overrides)
    return WinRMSession(WinRMTarget(**settings))  # type: ignore[arg-type]
