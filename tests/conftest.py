"""Shared fixtures: simulated fleets on loopback, started and stopped by the tests."""

from __future__ import annotations

import functools
import http.server
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sagefleet.remote.winrm import WinRMSession, WinRMTarget
from sagefleet.sim.fleet import Fleet, HostSpec, generate_specs

ROOT = Path(__file__).resolve().parent.parent

# Each fleet of a test run gets its own /24 on loopback; ports are ephemeral. Parallel
# workers (pytest-xdist) take disjoint ranges (20-134, 135-249), away from the demo's fixed
# 127.0.1.x; a worker that has used its 115 starts over (ports keep fleets apart).
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_SUBNETS = itertools.cycle(range(20 + 115 * (_WORKER % 2), 135 + 115 * (_WORKER % 2)))


def next_first_address() -> str:
    return f"127.0.{next(_SUBNETS)}.1"


FleetFactory = Callable[..., Fleet]


@pytest.fixture
def make_fleet(tmp_path: Path) -> Iterator[FleetFactory]:
    """Start fleets for one test; every one is stopped when the test ends."""
    started: list[Fleet] = []

    def factory(
        count: int = 1,
        profiles: tuple[str, ...] = ("healthy-onprem",),
        scheme: str = "https",
        specs: list[HostSpec] | None = None,
    ) -> Fleet:
        specs = specs or generate_specs(
            count, profiles=profiles, first_address=next_first_address(), port=0, scheme=scheme
        )
        fleet = Fleet(specs, tmp_path / f"fleet{len(started)}").start()
        started.append(fleet)
        return fleet

    yield factory
    for fleet in started:
        fleet.stop()


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


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server on loopback serving a fresh folder: (base URL, folder)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()
