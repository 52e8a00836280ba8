"""Fault matrix: simulator faults during preflight, deploy and verify, then the invariants.

Each case deploys one simulated host (``fresh``: no agent; ``old``: agent 2.3.0
running) through ``deploy_host`` over real WinRM, with a fault injected at a
precise point, and then asserts: settings.json is the complete old or new file,
a running agent still runs, no secret is left under C:\\ProgramData\\sagefleet,
and the report names the host and the cause.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sagefleet import transfer
from sagefleet.deploy import DeployResult, deploy_host
from sagefleet.inventory import load
from sagefleet.package import PackageInfo, build_test_package, inspect
from sagefleet.remote.retry import Backoff, RetryingSession
from sagefleet.sim.commands import dispatch
from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.host import WindowsHost
from sagefleet.sim.session import SimSession, simulated
from tests.support.fleets import next_first_address, session_for
from tests.support.reliability import (
    INSTALL_DIR,
    SERVICE,
    OnSnippet,
    assert_invariants,
    before,
    expected_settings,
    playbook,
    reset,
)
from tests.support.scenarios import write_inventory

HOSTS = {"fresh": "healthy-onprem", "old": "agent-old"}
EXTRA = {
    "sagefleet_agent_target_version": "3.2.0",
    "sagefleet_winrm_retries": 2,
    "sagefleet_winrm_retry_backoff_s": 0.05,
}


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> PackageInfo:
    """A package of about 700 KB that does not compress: several stdin lines to cut."""
    path = build_test_package(tmp_path_factory.mktemp("pkg") / "Setup.zip", agent_version="3.2.0")
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("redist/filler.bin", os.urandom(600 * 1024))
    return inspect(path)


@pytest.fixture(scope="module")
def sim(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Fleet, dict[str, dict[str, Any]]]]:
    tmp = tmp_path_factory.mktemp("faults")
    specs = generate_specs(
        len(HOSTS), profiles=list(HOSTS.values()), first_address=next_first_address(), port=0
    )
    for spec, name in zip(specs, HOSTS, strict=True):
        spec.name = name
    fleet = Fleet(specs, tmp / "fleet").start()
    inventory = write_inventory(fleet, tmp / "inventory" / "hosts.yml", EXTRA)
    variables = {h.name: dict(h.variables) for h in load([inventory])}
    yield fleet, variables
    fleet.stop()


Case = tuple[Fleet, dict[str, dict[str, Any]]]


def run_case(
    sim: Case,
    package: PackageInfo,
    name: str,
    arrange: Callable[[Fleet, WindowsHost], None] | None = None,
    trigger: str | None = None,
    action: Callable[[Fleet, WindowsHost], None] | None = None,
    **overrides: Any,
) -> DeployResult:
    """Reset the host, arrange, deploy (``action`` fires before snippet ``trigger``)."""
    fleet, variables = sim
    reset(fleet, name)
    host = fleet.host(name)
    if arrange:
        arrange(fleet, host)
    hv = {**variables[name], **overrides}
    was = before(host)
    with session_for(fleet, name) as direct:
        session: Any = direct
        if trigger and action:
            session = OnSnippet(direct, trigger, lambda: action(fleet, host))
        result = deploy_host(session, name, hv, package)
    assert result.report is not None
    report = {"result": result.to_dict(), "report": result.report.to_dict()}
    assert_invariants(
        host, was, expected_settings(name, hv, was.settings), report=report, names=[name]
    )
    return result


def fault(**settings: Any) -> Callable[[Fleet, WindowsHost], None]:
    return lambda fleet, host: fleet.faults(host.name).set(**settings)


# -- transient WinRM failures: retried, bounded, with backoff -----------------------------


@pytest.mark.parametrize("name", list(HOSTS))
@pytest.mark.parametrize(
    ("trigger", "code"),
    [
        ("facts", "internal"),  # preflight: HTTP 500 with a WS-Management fault
        ("facts", "timeout"),  # preflight: OperationTimeout at Command
        ("deploy_lock", "internal"),
        ("settings_write", "timeout"),
        ("query", "internal"),  # the health gate
    ],
)
def test_transient_fault_is_retried_and_the_deploy_converges(
    sim: Case, package: PackageInfo, name: str, trigger: str, code: str
) -> None:
    # At the snippet's Command: the request before it may be the terminate Signal of
    # the previous command, which a session sends late, and best effort.
    result = run_case(
        sim,
        package,
        name,
        trigger=trigger,
        action=fault(fault_at="Command", fault_times=1, fault_code=code),
    )
    assert result.outcome in ("installed", "upgraded"), result.reason
    assert sim[0].faults(name).counters.faults == 1
    assert sim[0].host(name).service(SERVICE).version == "3.2.0"  # type: ignore[union-attr]


@pytest.mark.parametrize("trigger", ["facts", "settings_write", "query"])
def test_a_connection_lost_before_the_answer_is_retried_and_the_deploy_converges(
    sim: Case, package: PackageInfo, trigger: str
) -> None:
    """The connection of the snippet's Receive is closed without a reply (a proxy or a
    firewall cutting it): the host was reached, so the snippet, which a second run leaves
    the same, is run again on a new shell, as after an HTTP 500; not a host never
    reached."""
    result = run_case(
        sim,
        package,
        "old",
        trigger=trigger,
        action=fault(drop_at="Receive", drop_times=1),
    )
    assert result.outcome == "upgraded", result.reason
    assert sim[0].faults("old").counters.dropped == 1
    assert sim[0].host("old").service(SERVICE).version == "3.2.0"  # type: ignore[union-attr]


@pytest.mark.parametrize("code", ["internal", "timeout"])
def test_persistent_fault_is_retried_a_bounded_number_of_times_then_reported(
    sim: Case, package: PackageInfo, code: str
) -> None:
    result = run_case(sim, package, "old", arrange=fault(fault_next="always", fault_code=code))
    assert result.outcome in ("failed", "unreachable")
    assert sim[0].faults("old").counters.faults == 1 + EXTRA["sagefleet_winrm_retries"]
    assert "facts" in (result.report.error or "") or "WinRM" in (result.reason or "")


def failing(error: type[Exception]) -> SimSession:
    """A session whose every run fails with ``error``."""
    return simulated(name="stub", replies=[error("stub", "injected") for _ in range(8)])


def test_retries_are_configurable_bounded_and_back_off() -> None:
    from sagefleet.errors import InputError
    from sagefleet.remote import AuthenticationFailed, HostUnreachable, TransportError
    from sagefleet.remote.retry import retry_from

    waits: list[float] = []
    stub = failing(TransportError)
    with pytest.raises(TransportError):
        RetryingSession(stub, Backoff(retries=3, backoff_s=0.5), waits.append).run_snippet(
            "facts", {}
        )
    assert len(stub.calls) == 4 and waits == [0.5, 1.0, 2.0]
    for error, snippet in (
        (AuthenticationFailed, "facts"),
        (HostUnreachable, "facts"),
        (TransportError, "agent_install"),
    ):
        stub = failing(error)
        with pytest.raises(error):
            RetryingSession(stub, Backoff(retries=3), waits.append).run_snippet(snippet, {})
        assert len(stub.calls) == 1, (error, snippet)
    # settings.json's write guarded by the file it replaces, and its rollback: a second run
    # after a first that swapped the file refuses, or says unchanged (no restart follows).
    for params, calls in (
        ({"action": "write", "check": False, "expect_previous": {"sha256": None}}, 1),
        ({"action": "rollback", "check": False, "expect_previous": None}, 1),
        ({"action": "rollback", "check": True, "expect_previous": None}, 4),
        ({"action": "write", "check": True, "expect_previous": None}, 4),
        ({"action": "write", "check": False, "expect_previous": None}, 4),  # staged: no guard
        ({"action": "protect", "check": False, "expect_previous": None}, 4),  # the ACL again
    ):
        stub = failing(TransportError)
        with pytest.raises(TransportError):
            RetryingSession(stub, Backoff(retries=3), waits.append).run_snippet(
                "settings_write", params
            )
        assert len(stub.calls) == calls, params
    # The diagnose snippet asked to restart the agent would restart it again.
    for params, calls in (({"restart": True}, 1), ({"restart": False}, 4)):
        stub = failing(TransportError)
        with pytest.raises(TransportError):
            RetryingSession(stub, Backoff(retries=3), waits.append).run_snippet("diagnose", params)
        assert len(stub.calls) == calls, params
    assert retry_from("h", {"sagefleet_winrm_retries": 5}).retries == 5
    for bad in (
        {"sagefleet_winrm_retries": -1},
        {"sagefleet_winrm_retries": "three"},
        {"sagefleet_winrm_retry_backoff_s": 999},
    ):
        with pytest.raises(InputError, match="sagefleet_winrm_retr"):
            retry_from("h", bad)


# -- authentication: reported at once, never retried ---------------------------------------


@pytest.mark.parametrize("name", list(HOSTS))
def test_rejected_credentials_are_reported_at_once_and_never_retried(
    sim: Case, package: PackageInfo, name: str
) -> None:
    fleet = sim[0]
    stats = fleet.listeners[name].stats
    failures_before = stats.auth_failures
    result = run_case(sim, package, name, arrange=fault(auth_failures="always"))
    assert result.outcome == "unreachable"
    assert "credentials rejected" in (result.reason or "")
    assert stats.auth_failures - failures_before == 1  # one connection try, one failure
    assert fleet.faults(name).counters.auth_failures == 1
    assert fleet.host(name).journal == []


# -- transfer ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", transfer.ENCODINGS)
@pytest.mark.parametrize("name", list(HOSTS))
def test_connection_dropped_mid_transfer_is_resumed(
    sim: Case, package: PackageInfo, name: str, encoding: str
) -> None:
    drop = 300_000
    result = run_case(
        sim,
        package,
        name,
        trigger="stage_push",
        action=fault(drop_after_stdin_bytes=drop),
        sagefleet_agent_transfer_encoding=encoding,
    )
    assert result.outcome in ("installed", "upgraded"), result.reason
    stage = next(s for s in result.steps if s["step"] == "stage")
    assert stage["encoding"] == encoding
    # The Sends answered before the cut one reached the .part; the resume sent the rest.
    chunk = transfer.default_chunk_bytes(encoding)
    per_send = transfer.wire_bytes(chunk, chunk, encoding)
    assert stage["resumed_from"] == (drop - 1) // per_send * chunk > 0
    assert sim[0].faults(name).counters.dropped == 1


def _fill_disk(free: int) -> Callable[[Fleet, WindowsHost], None]:
    def apply(fleet: Fleet, host: WindowsHost) -> None:
        host.fs.volume("C:\\").free_bytes = free

    return apply


@pytest.mark.parametrize("name", list(HOSTS))
def test_disk_full_before_the_transfer_is_refused_before_a_byte_is_sent(
    sim: Case, package: PackageInfo, name: str
) -> None:
    result = run_case(
        sim,
        package,
        name,
        arrange=_fill_disk(10 * 1024 * 1024),
        sagefleet_preflight_min_free_mb=1,
    )
    assert result.outcome == "failed"
    assert (
        "free" in (result.reason or "")
        and "needed" in (result.reason or "").lower()
        or ("space" in (result.reason or "").lower())
    ), result.reason
    assert not [e for e in sim[0].host(name).journal if e.get("name") == "stage_push"]


@pytest.mark.parametrize("encoding", transfer.ENCODINGS)
@pytest.mark.parametrize("name", list(HOSTS))
def test_disk_full_during_the_transfer_fails_cleanly(
    sim: Case, package: PackageInfo, name: str, encoding: str
) -> None:
    # stage_status saw room; the volume fills up while the package travels.
    result = run_case(
        sim,
        package,
        name,
        trigger="stage_push",
        action=_fill_disk(package.size // 2),
        sagefleet_agent_transfer_encoding=encoding,
    )
    assert result.outcome == "failed"
    assert "stage_push" in (result.reason or "") or "disk" in (result.reason or "").lower()
    host = sim[0].host(name)
    assert not [k for k in host.fs.entries if k.endswith(".part")]  # space given back


@pytest.mark.parametrize("name", list(HOSTS))
def test_a_host_where_no_script_can_run_is_blocked_by_sf107_not_failed(
    sim: Case, package: PackageInfo, name: str
) -> None:
    """Constrained Language Mode (AppLocker/WDAC): preflight blocks the host with SF107,
    and the deploy says so, as it does for any blocked host, instead of a reasonless
    failure."""

    def constrained(fleet: Fleet, host: WindowsHost) -> None:
        host.language_mode = "ConstrainedLanguage"

    result = run_case(sim, package, name, arrange=constrained)
    assert result.outcome == "blocked"
    assert (result.reason or "").startswith("preflight: SF107"), result.reason
    assert not [e for e in sim[0].host(name).journal if e.get("name") == "stage_push"]


# -- installer and service -----------------------------------------------------------------


def test_a_backup_that_fails_leaves_the_agent_running_as_it_was(
    sim: Case, package: PackageInfo
) -> None:
    """The disk fills up once the package is staged: the backup of the running agent's
    folder fails, nothing is installed, and the agent the run stopped runs again (the
    invariants: a running agent kept, settings.json old or new, no secret left)."""
    result = run_case(sim, package, "old", trigger="agent_install", action=_fill_disk(0))
    assert result.outcome == "failed"
    assert (result.reason or "").startswith("backup failed: There is not enough space"), (
        result.reason
    )
    host = sim[0].host("old")
    assert host.installer_runs == []
    service = host.service("SpendeskSageAgent")
    assert service is not None and (service.state, service.version) == ("Running", "2.3.0")




@pytest.mark.parametrize("name", list(HOSTS))
def test_installer_exit_code_failure_is_rolled_back(
    sim: Case, package: PackageInfo, name: str
) -> None:
    def failing(fleet: Fleet, host: WindowsHost) -> None:
        host.installer_failure = 1603

    result = run_case(sim, package, name, arrange=failing)
    assert result.outcome == ("rolled-back" if name == "old" else "failed")
    assert "installer exit code 1603" in (result.reason or "")


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> PackageInfo:
    return inspect(
        build_test_package(
            tmp_path_factory.mktemp("broken") / "Setup.zip",
            agent_version="3.2.0",
            fail_service_start=True,
        )
    )


@pytest.mark.parametrize("name", list(HOSTS))
def test_service_that_will_not_start_is_rolled_back(
    sim: Case, broken: PackageInfo, name: str
) -> None:
    result = run_case(sim, broken, name)
    assert result.outcome == ("rolled-back" if name == "old" else "failed")
    assert "start" in (result.reason or "")


# -- the host restarts in the middle of the upgrade ----------------------------------------


def waiting_for_output(fleet: Fleet, name: str, timeout: float = 10.0) -> None:
    """Until a Receive waits for a command still running on host ``name`` (bounded)."""
    shells = fleet.listeners[name].shells.shells
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        commands = [c for shell in list(shells.values()) for c in list(shell.commands.values())]
        if any(c.awaited and not c.done.is_set() for c in commands):
            return
        time.sleep(0.01)


def test_host_restarted_mid_upgrade_then_a_rerun_converges(
    sim: Case, package: PackageInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host reboots while agent_install runs: after the installer stopped the
    service and backed it up, before it answered. The client sees the connection
    cut; after the reboot the old agent starts again (boot state: Auto); the staged
    settings.json was never deleted (the snippet never reached its cleanup). The
    lock of the cut run stays until it expires; a re-run then converges."""
    fleet, variables = sim
    name = "old"
    original = dispatch.SNIPPETS["agent_install"]

    def cut(host: WindowsHost, params: dict[str, Any], stdin: bytes) -> Any:
        host.stop_service(params["service_name"])
        # The installer takes a while on Windows: the client is waiting for its output (a
        # Receive), not still reading the answer to the Send that ended its stdin.
        waiting_for_output(fleet, name)
        fleet.host_down(name)  # Windows restarts: the listener and every shell are gone
        raise dispatch.SnippetAbort("never answered")

    monkeypatch.setitem(dispatch.SNIPPETS, "agent_install", cut)
    reset(fleet, name)
    host = fleet.host(name)
    was = before(host)
    hv = {**variables[name], "sagefleet_deploy_lock_ttl_s": 60}
    with session_for(fleet, name) as session:
        first = deploy_host(session, name, hv, package)
    assert first.outcome == "unreachable", first.reason
    # The package was staged and the installer started: the host changed, whatever ended it.
    assert first.changed is True
    assert name in json.dumps(first.to_dict())
    host.reboot()
    fleet.host_up(name)
    assert host.service(SERVICE).state == "Running"  # type: ignore[union-attr]
    monkeypatch.setitem(dispatch.SNIPPETS, "agent_install", original)
    host.clock_skew_s += 120  # two minutes later: the cut run's lock has expired
    with session_for(fleet, name) as session:
        second = deploy_host(session, name, hv, package)
    assert second.outcome == "upgraded", second.reason
    assert next(s for s in second.steps if s["step"] == "lock").get("recovered_from")
    assert_invariants(
        host,
        was,
        expected_settings(name, hv, was.settings),
        report=second.to_dict(),
        names=[name],
    )
    assert host.service(SERVICE).version == "3.2.0"  # type: ignore[union-attr]
    assert host.fs.is_file(INSTALL_DIR + "\\settings.json")


@pytest.mark.parametrize("name", list(HOSTS))
@pytest.mark.parametrize("code", ["internal", "timeout"])
def test_fault_when_the_installer_is_sent_is_not_retried_and_leaves_no_secret(
    sim: Case, package: PackageInfo, name: str, code: str
) -> None:
    """agent_install is never retried (a second install is not the same as one); the
    command never ran, so the staged settings.json (it holds secrets) must still go."""
    result = run_case(
        sim,
        package,
        name,
        trigger="agent_install",
        action=fault(fault_at="Command", fault_times=1, fault_code=code),
    )
    assert result.outcome in ("failed", "unreachable")
    assert sim[0].faults(name).counters.faults == 1
    assert sim[0].host(name).installer_runs == []


# -- through the front door: waves, a host going down between them, verify ----------------


def test_host_down_between_waves_then_verify_then_a_rerun_converges(
    tmp_path: Path, package: PackageInfo
) -> None:
    """deploy.yml in waves [1, 100%]: after the canary (a) installed, host c goes down;
    host b meets one WinRM fault at its first command (retried). Verify then names c
    as unreachable; c comes back and a re-run converges with nothing else changed."""
    from tests.support.deploy import outcomes

    names = ["a", "b", "c"]
    specs = generate_specs(3, first_address=next_first_address(), port=0)
    for spec, name in zip(specs, names, strict=True):
        spec.name = name
    specs[1].faults = {"fault_at": "Command", "fault_times": 1}
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inv" / "hosts.yml", EXTRA)
        variables = {h.name: dict(h.variables) for h in load([inventory])}
        was = {n: before(fleet.host(n)) for n in names}
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.05):
                if fleet.host("a").installer_runs:
                    fleet.host_down("c")
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        out = tmp_path / "out"
        args = (
            "-e",
            f"sagefleet_agent_package={package.path}",
            "-e",
            f"sagefleet_deploy_report_dir={out}",
            "-e",
            '{"sagefleet_deploy_waves": [1, "100%"]}',
            "-e",
            "sagefleet_deploy_max_fail_percentage=50",
        )
        first = playbook("deploy.yml", inventory, *args)
        stop.set()
        assert outcomes(first) == {"a": "installed", "b": "installed", "c": "unreachable"}, (
            first.stdout[-3000:]
        )
        assert fleet.faults("b").counters.faults == 1
        report = json.loads((out / "report.json").read_text())
        c_entry = next(h for h in report["hosts"] if h["host"] == "c")
        assert c_entry["host"] == "c" and (c_entry.get("error") or c_entry.get("summary"))
        for name in names:
            assert_invariants(
                fleet.host(name),
                was[name],
                expected_settings(name, variables[name], was[name].settings),
            )
        verify_out = tmp_path / "verify"
        verify = playbook(
            "verify.yml",
            inventory,
            "-e",
            f"sagefleet_verify_report_dir={verify_out}",
            "-e",
            "sagefleet_verify_workers=1",
        )
        assert verify.returncode != 0
        verify_report = (verify_out / "report.json").read_text()
        assert '"c"' in verify_report
        fleet.host_up("c")
        second = playbook("deploy.yml", inventory, *args)
        assert second.returncode == 0, second.stdout[-3000:]
        assert outcomes(second) == {"a": "unchanged", "b": "unchanged", "c": "installed"}
        for name in names:
            assert_invariants(
                fleet.host(name),
                was[name],
                expected_settings(name, variables[name], was[name].settings),
            )
