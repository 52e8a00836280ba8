"""Shared fixtures: simulated fleets on loopback, started and stopped by the tests.

The helpers behind them live in tests/support/ (test modules import from there).
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from sagefleet.sim.fleet import Fleet, HostSpec, generate_specs
from tests.support.fleets import FleetFactory, next_first_address
from tests.support.netfixtures import (  # noqa: F401 - fixtures of the network probe tests
    closed_port,
    dns_server,
    full_backlog_port,
    mute_port,
    pki,
    tls_servers,
)


@pytest.fixture
def make_fleet(tmp_path: Path) -> Iterator[FleetFactory]:
    """Start fleets for one test; every one is stopped when the test ends.

    ``make_fleet(count, profiles=, scheme=, specs=, names=)``: ``count`` defaults to one
    host per profile; ``names`` renames the hosts in order.
    """
    started: list[Fleet] = []

    def factory(
        count: int | None = None,
        profiles: Sequence[str] = ("healthy-onprem",),
        scheme: str = "https",
        specs: list[HostSpec] | None = None,
        names: Sequence[str] = (),
    ) -> Fleet:
        specs = specs or generate_specs(
            len(profiles) if count is None else count,
            profiles=list(profiles),
            first_address=next_first_address(),
            port=0,
            scheme=scheme,
        )
        for spec, name in zip(specs, names, strict=False):
            spec.name = name
        fleet = Fleet(specs, tmp_path / f"fleet{len(started)}").start()
        started.append(fleet)
        return fleet

    yield factory
    for fleet in started:
        fleet.stop()


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
