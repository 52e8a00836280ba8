"""Shared helpers of the reliability suite: invariants, secret scans, playbook runs."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagefleet.remote import HostSession
from sagefleet.settings import OverwriteRefused, build_host_settings
from sagefleet.sim.fleet import Fleet
from sagefleet.sim.host import ADMINISTRATORS, SYSTEM, USERS, WindowsHost
from tests.support.deploy import CANARY, INSTALL_DIR, SERVICE
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT

SAGEFLEET = str(Path(sys.executable).parent / "sagefleet")
SETTINGS = INSTALL_DIR + "\\settings.json"
WORK_ROOT = "c:\\programdata\\sagefleet\\"


def encodings(secret: str) -> list[bytes]:
    """Every form a secret may take in bytes we scan: raw, UTF-16, base64 of both, JSON."""
    forms = {secret.encode(), secret.encode("utf-16-le"), json.dumps(secret)[1:-1].encode()}
    for raw in (secret.encode(), secret.encode("utf-16-le")):
        encoded = base64.b64encode(raw)
        forms.add(encoded.rstrip(b"="))
        # base64 of the secret at any alignment inside a longer text: the stable middle
        for shift in (1, 2):
            inner = base64.b64encode(b"\0" * shift + raw)[4:-4]
            forms.add(inner)
    return sorted(f for f in forms if len(f) >= 8)


def find_secrets(data: bytes, secrets: Iterable[str]) -> list[str]:
    """Which secrets (in any encoding of ``encodings``) appear in ``data``."""
    return [s for s in secrets if any(form in data for form in encodings(s))]


def staging_leaks(host: WindowsHost, secrets: Iterable[str] = (CANARY,)) -> list[str]:
    """Files under C:\\ProgramData\\sagefleet on the host that hold a secret."""
    wanted = list(secrets)
    with host.lock:
        entries = [(k, e) for k, e in host.fs.entries.items() if k.startswith(WORK_ROOT)]
        return [e.path for _, e in entries if e.data and find_secrets(e.data, wanted)]


def private(host: WindowsHost, path: str) -> bool:
    """Nobody but SYSTEM and Administrators (and a service account) may open it; Users not."""
    acl = host.fs.acl_of(path)
    return (
        acl.protected
        and acl.owner in (ADMINISTRATORS, SYSTEM)
        and not acl.may_read(USERS)
        and not acl.may_write(USERS)
    )


def expected_settings(
    name: str, variables: dict[str, Any], current: bytes | None = None
) -> bytes:
    """What a deploy writes: the host's document laid over its settings.json before the
    case (``current``), which keeps what only that file held (docs/settings.md)."""
    built = build_host_settings(name, variables)
    if current is None:
        return built.text.encode("utf-8")
    try:
        return built.over(current.decode("utf-8")).text.encode("utf-8")
    except OverwriteRefused:
        return built.text.encode("utf-8")  # refused: the file stays as it was


@dataclass
class Before:
    """What a host looked like before a case: the invariants compare against it."""

    settings: bytes | None
    running: bool
    version: str | None


def before(host: WindowsHost) -> Before:
    with host.lock:
        settings = host.fs.read(SETTINGS) if host.fs.is_file(SETTINGS) else None
        service = host.service(SERVICE)
        version = service.version if service else None
        return Before(settings, bool(service and service.state == "Running"), version)


def assert_invariants(
    host: WindowsHost,
    was: Before,
    new_settings: bytes,
    *,
    report: Any = None,
    names: Iterable[str] = (),
) -> None:
    """After any case: settings.json old or new (never partial), a running agent kept,
    no secret left under C:\\ProgramData\\sagefleet, and the report naming host and cause."""
    with host.lock:
        now = host.fs.read(SETTINGS) if host.fs.is_file(SETTINGS) else None
        service = host.service(SERVICE)
    assert now in (was.settings, new_settings), f"settings.json is partial: {now!r}"[:300]
    if was.running:
        assert service is not None and service.state == "Running", (
            f"{host.name}: the agent was running before and is {service and service.state} now"
        )
        assert service.version in (was.version, "3.2.0")
    assert staging_leaks(host) == [], "a secret was left in staging"
    if report is not None:
        text = report if isinstance(report, str) else json.dumps(report, default=str)
        for name in names:
            assert name in text, f"the report does not name {name!r}: {text[:2000]}"


class OnSnippet(HostSession):
    """Runs ``action`` once, just before the first run of snippet ``trigger``."""

    def __init__(self, inner: HostSession, trigger: str, action: Callable[[], None]) -> None:
        super().__init__(inner.host)
        self.inner, self.trigger, self.action = inner, trigger, action
        self.fired = False

    def run_snippet(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        stdin: Iterable[bytes] | None = None,
        *,
        sensitive: bool = False,
    ) -> Any:
        if name == self.trigger and not self.fired:
            self.fired = True
            self.action()
        return self.inner.run_snippet(name, params, stdin, sensitive=sensitive)

    def execute(
        self, command: str, stdin: Iterable[bytes] | None = None
    ) -> tuple[int, bytes, bytes]:
        return self.inner.execute(command, stdin)

    def end_commands(self) -> bool:
        return self.inner.end_commands()

    def close(self) -> None:
        self.inner.close()


def reset(fleet: Fleet, *names: str) -> None:
    """Hosts back to their profile: state, faults, listener up."""
    for name in names:
        fleet.host_up(name)
        fleet.faults(name).reset()
        fleet.host(name).reset()


def playbook(
    playbook_name: str,
    inventory: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    timeout: int = 300,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), f"playbooks/{playbook_name}", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", **(env or {})},
    )


def untouched(fleet: Fleet) -> dict[str, Any]:
    """Every host's journal and file system, to prove a refused run wrote nothing."""
    state = {}
    for name in fleet.hosts:
        host = fleet.host(name)
        with host.lock:
            files = {k: (e.size, e.data, e.modified) for k, e in host.fs.entries.items()}
            state[name] = (list(host.journal), files)
    return state
