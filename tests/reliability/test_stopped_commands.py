"""A deploy command sagefleet stops while it runs: its Receive failed (an HTTP 500, a
WS-Management fault, a lost connection: WinRMSession then sends the terminate Signal, as
ansible-core's winrm connection does after any error in its Receive loop). On Windows the
Signal kills the command's process where it is (docs/simulator.md, ledger row 43): the
host holds what it did so far, nothing more, and the deploy reads it again."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sagefleet.agent import profile as agent_profile
from sagefleet.agent import service as agent_service
from sagefleet.deploy import DeployResult, deploy_host
from sagefleet.inventory import load
from sagefleet.package import PackageInfo, build_test_package, inspect
from sagefleet.remote.retry import Backoff, RetryingSession, retry_from
from sagefleet.settings import build_host_settings
from sagefleet.settings.host import (
    SettingsWriteFailed,
    reading_agent,
    rollback_settings,
    settings_target,
    write_settings,
)
from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.host import WindowsHost
from sagefleet.sim.host.process import wait
from tests.support.fleets import next_first_address, session_for
from tests.support.reliability import (
    INSTALL_DIR,
    SERVICE,
    OnSnippet,
    assert_invariants,
    before,
    expected_settings,
    private,
    reset,
    staging_leaks,
)
from tests.support.scenarios import write_inventory
from tests.support.signals import at_entries, guarded_write, settings_read

HOSTS = {"old": "agent-old", "fresh": "healthy-onprem"}
EXTRA = {"sagefleet_agent_target_version": "3.2.0", "sagefleet_winrm_retries": 0}
LOCK = "C:\\ProgramData\\sagefleet\\deploy.lock"
SETTINGS = INSTALL_DIR + "\\settings.json"
BACKUPS = "C:\\ProgramData\\sagefleet\\backup"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> PackageInfo:
    path = tmp_path_factory.mktemp("pkg") / "Setup.zip"
    return inspect(build_test_package(path, agent_version="3.2.0"))


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("stopped")
    specs = generate_specs(
        len(HOSTS), profiles=list(HOSTS.values()), first_address=next_first_address(), port=0
    )
    for spec, name in zip(specs, HOSTS, strict=True):
        spec.name = name
    with Fleet(specs, tmp / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp / "inventory" / "hosts.yml", EXTRA)
        yield fleet, {h.name: dict(h.variables) for h in load([inventory])}


#: How a command's first Receive goes wrong: an HTTP 500 (a WS-Management fault); the
#: connection lost; an HTTP 500 and the terminate Signal's connection lost too, so that
#: only deleting the shell stops the command.
HOW = ("fault", "lost", "signal-lost")


def first_receive_fails(fleet: Fleet, host: WindowsHost, how: str = "fault") -> None:
    """The command's first Receive fails (``how``, one of HOW): sagefleet stops the
    command. Its requests come 0.3 s late, so that the script is under way by then."""
    faults = fleet.faults(host.name)
    if how == "lost":
        faults.set(latency=0.3, drop_at="Receive", drop_times=1)
        return
    faults.set(latency=0.3, fault_at="Receive", fault_times=1, fault_code="internal")
    if how == "signal-lost":  # every Signal from now on: this command's is one of them
        faults.set(drop_at="Signal", drop_times="always")


def stopped_at_its_first_receive(fleet: Fleet, host: WindowsHost, how: str = "fault") -> None:
    """The command's first Receive fails (``how``) while it is in the service stop (which
    would take 60 real seconds here)."""
    for service in host.services.values():
        service.stop_seconds = 600.0
    host.time_scale = 0.1
    first_receive_fails(fleet, host, how)


def ended_before_read(host: WindowsHost, snippet: str) -> None:
    """The (first) command of ``snippet`` was killed before any later snippet ran on the
    host: what it left is read only once it runs no more."""
    journal = list(host.journal)
    start = min(i for i, e in enumerate(journal) if e.get("name") == snippet)
    after = journal[start + 1 :]
    kinds = [e["kind"] if e["kind"] != "snippet" else e.get("name") for e in after]
    assert kinds and kinds[0] == "terminated", kinds


def stopped_while_it_writes(fleet: Fleet, host: WindowsHost) -> None:
    """Each file write takes a second (an antivirus scanning it), and the command's first
    Receive fails while it writes."""
    host.fs.write_delay_s = 1.0
    first_receive_fails(fleet, host)


@contextmanager
def faults_cleared(fleet: Fleet, host: WindowsHost) -> Iterator[None]:
    """The host's writes at full speed and its faults cleared after the block."""
    try:
        yield
    finally:
        host.fs.write_delay_s = 0.0
        fleet.faults(host.name).clear()


def deploy(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo, name: str, how: str
) -> DeployResult:
    fleet, variables = sim
    reset(fleet, name)
    host = fleet.host(name)
    was = before(host)
    with faults_cleared(fleet, host), session_for(fleet, name) as direct:
        session = OnSnippet(
            direct, "agent_install", lambda: stopped_at_its_first_receive(fleet, host, how)
        )
        result = deploy_host(session, name, variables[name], package)
    assert fleet.listeners[name].stats.operations.get("Signal", 0) >= 1
    ended_before_read(host, "agent_install")
    report = {"result": result.to_dict(), "report": result.report.to_dict()}  # type: ignore[union-attr]
    new = expected_settings(name, variables[name], was.settings)
    assert_invariants(host, was, new, report=report, names=[name])
    assert not host.fs.exists(LOCK), "the deploy lock was not released"
    return result


@pytest.mark.parametrize("how", HOW)
def test_an_upgrade_stopped_while_it_stops_the_agent_starts_the_previous_one_again(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo, how: str
) -> None:
    """Killed in the service stop (by the terminate Signal, or, that Signal lost too, by
    the deletion of its shell): the agent stopped (the SCM finished what it was asked), no
    backup taken, nothing installed. The deploy finds 2.3.0 stopped in place, starts it
    again, and says so; the staged copy of settings.json (secrets) is gone. A connection
    lost is said so, not taken for a host never reached."""
    result = deploy(sim, package, "old", how)
    host = sim[0].host("old")
    service = host.service(SERVICE)
    assert service is not None and (service.state, service.version) == ("Running", "2.3.0")
    assert host.installer_runs == []
    assert result.outcome == "rolled-back", result.reason
    reason = result.reason or ""
    assert reason.startswith("install stopped part way: "), reason
    assert f"{SERVICE} found Stopped at 2.3.0" in reason, reason
    assert "started again, running 2.3.0" in reason, reason
    steps = [s["step"] for s in result.steps]
    assert steps[-4:] == ["discard-staged", "settings-protect", "install-stopped", "restart"]
    if how == "lost":
        assert reason.startswith(
            "install stopped part way: old: connection lost before the answer: "
        ), reason


@contextmanager
def installer_held_after_its_settings_copy(host: WindowsHost) -> Iterator[None]:
    """Within the block, the installer (any writer) of the agent's settings.json is held
    right after that write, before it registers the service: a killed one stops there."""
    write = host.fs.write

    def held(path: str, *args: Any, **kwargs: Any) -> Any:
        entry = write(path, *args, **kwargs)
        if path.lower() == SETTINGS.lower():
            wait(60.0)  # ends at once when the command is killed
        return entry

    host.fs.write = held  # type: ignore[method-assign]
    try:
        yield
    finally:
        del host.fs.write


def stopped_after_the_settings_copy(
    sim: tuple[Fleet, dict[str, Any]],
    package: PackageInfo,
    name: str,
    snippet: str,
    how: str = "fault",
) -> DeployResult:
    """Host ``name``'s deploy (reset before), whose ``snippet`` command is held right after
    it writes the agent's settings.json and killed there: its first Receive fails (``how``)."""
    fleet, variables = sim
    host = fleet.host(name)
    with (
        faults_cleared(fleet, host),
        installer_held_after_its_settings_copy(host),
        session_for(fleet, name) as direct,
    ):
        session = OnSnippet(direct, snippet, lambda: first_receive_fails(fleet, host, how))
        return deploy_host(session, name, variables[name], package)


@pytest.mark.parametrize("how", HOW)
def test_a_fresh_install_stopped_after_copying_the_settings_leaves_them_private(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo, how: str
) -> None:
    """A fresh install killed after the installer copied settings.json into the agent's
    folder, before it registered the service: that copy holds the passwords and inherits
    the folder's DACL (Users may read), and the snippet's own ACL step never ran. The deploy
    restricts it, says what the installer left and that no agent is installed, and the next
    deploy installs over it."""
    fleet, variables = sim
    reset(fleet, "fresh")
    host = fleet.host("fresh")
    result = stopped_after_the_settings_copy(sim, package, "fresh", "agent_install", how)
    ended_before_read(host, "agent_install")
    assert host.service(SERVICE) is None
    assert host.fs.is_file(SETTINGS) and private(host, SETTINGS)
    assert result.outcome == "failed", result.reason
    reason = result.reason or ""
    assert reason.startswith("install stopped part way: "), reason
    assert (
        f"; the installer left its copy of settings.json in {SETTINGS}: readable by "
        "administrators, SYSTEM and the service account only; no agent service: no agent "
        "installed (the installer may have left files in the agent's folder; the next "
        "deploy installs over them)"
    ) in reason, reason
    protect = [(s["path"], s["existed"]) for s in result.steps if s["step"] == "settings-protect"]
    assert protect == [(SETTINGS, True)], result.steps
    assert not host.fs.exists(LOCK), "the deploy lock was not released"
    assert staging_leaks(host) == []
    with session_for(fleet, "fresh") as direct:
        again = deploy_host(direct, "fresh", variables["fresh"], package)
    assert again.outcome == "installed", again.reason
    assert private(host, SETTINGS)


def test_an_install_whose_end_the_host_does_not_confirm_keeps_the_lock_and_does_no_more(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo
) -> None:
    """From the install's command on, the host answers every operation with a fault: its
    Signal and the deletion of its shell too, so the install may still run there. The
    deploy reads nothing and starts nothing more, keeps its lock on the host (no other
    deploy starts before it expires) and fails the host saying so and what to check."""
    fleet, variables = sim
    reset(fleet, "old")
    host = fleet.host("old")
    with faults_cleared(fleet, host), session_for(fleet, "old") as direct:
        session = OnSnippet(
            direct, "agent_install", lambda: fleet.faults("old").set(fault_next="always")
        )
        result = deploy_host(session, "old", variables["old"], package)
        operations = dict(fleet.listeners["old"].stats.operations)
    assert operations.get("Delete", 0) >= 1, operations
    assert result.outcome == "failed", result.reason
    reason = result.reason or ""
    assert reason.startswith("old: install stopped part way: "), reason
    assert "its end not confirmed (the host did not answer the deletion of its shell)" in reason
    assert (
        f"The deploy lock {LOCK} stays until it expires (3600 s, sagefleet_deploy_lock_ttl_s)"
        in (reason)
    ), reason
    assert f"check {SERVICE} and the installer's log on the host, delete the lock" in reason
    assert [s["step"] for s in result.steps][-1] == "lock-kept", result.steps
    assert host.fs.exists(LOCK), "the lock was released: another deploy could start"
    names = [e.get("name") for e in host.journal if e["kind"] == "snippet"]
    # The install's command was refused, and nothing ran after it: no read, no start.
    assert names[-1] == "settings_write" and "agent_install" not in names, names
    service = host.service(SERVICE)
    assert service is not None and (service.state, service.version) == ("Running", "2.3.0")
    assert host.fs.read(INSTALL_DIR + "\\settings.json")  # untouched, whole


def test_a_settings_write_stopped_before_its_swap_leaves_no_copy_of_the_settings_behind(
    sim: tuple[Fleet, dict[str, Any]],
) -> None:
    """Each file write takes a second here (an antivirus scanning it): the write's first
    Receive fails while it fills its temporary file, and the Signal kills it before its
    swap. settings.json stays the old file, whole; the retry writes the new one and
    removes the temporary file the stopped write left (it holds the settings' secrets),
    and says so."""
    fleet, variables = sim
    reset(fleet, "old")
    host = fleet.host("old")
    old = host.fs.read(SETTINGS)
    variables = {**variables["old"], "sagefleet_winrm_retries": 1}
    text = build_host_settings("old", variables).text
    target = settings_target("old", path=SETTINGS)
    stopped_while_it_writes(fleet, host)
    with faults_cleared(fleet, host), session_for(fleet, "old") as direct:
        session = RetryingSession(direct, retry_from("old", variables), sleep=lambda _: None)
        outcome = write_settings(session, target, text)
    assert any(e["kind"] == "terminated" for e in host.journal), "the write ran to its end"
    assert old != text.encode() and host.fs.read(SETTINGS) == text.encode()
    left = [n for n in host.fs.listdir(INSTALL_DIR) if n.lower().startswith(".settings.json.")]
    assert left == [], left
    assert len(outcome.leftovers) == 1 and outcome.leftovers[0].endswith(".tmp")
    assert "removed 1 temporary file(s) a stopped write had left" in outcome.msg, outcome.msg


def test_a_rollback_stopped_while_it_copies_the_backup_back_says_what_it_left(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo
) -> None:
    """The installer fails (exit code 1603), so the deploy rolls back; each file write
    takes a second (an antivirus scanning it) and the rollback's first Receive fails while
    it copies the backup into the emptied agent folder: the Signal kills it there. The
    agent is stopped and half restored; the run fails the host with what it read again,
    where the backup is and how to restore it, not with the bare WinRM error."""
    fleet, variables = sim
    reset(fleet, "old")
    host = fleet.host("old")
    host.installer_failure = 1603
    with faults_cleared(fleet, host), session_for(fleet, "old") as direct:
        session = OnSnippet(direct, "agent_rollback", lambda: stopped_while_it_writes(fleet, host))
        result = deploy_host(session, "old", variables["old"], package)
    assert any(e["kind"] == "terminated" for e in host.journal), "the rollback ran to its end"
    service = host.service(SERVICE)
    assert service is not None and service.state == "Stopped"
    assert result.outcome == "failed", result.reason
    reason = result.reason or ""
    assert "installer exit code 1603" in reason and "; rollback stopped part way: " in reason
    (backup,) = [s["backup"] for s in result.steps if s["step"] == "rollback-stopped"]
    assert backup and host.fs.is_dir(backup)
    assert f"{SERVICE} found Stopped with no version readable" in reason, reason
    assert f"restore 2.3.0 by hand: stop {SERVICE}, copy the contents of the backup {backup}" in (
        reason
    ), reason
    assert not host.fs.exists(LOCK), "the deploy lock was not released"


def test_a_copy_of_the_settings_that_cannot_be_restricted_is_named_with_what_to_do(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo
) -> None:
    """The same stopped fresh install, and the command that would restrict the
    installer's copy is refused by the host (a WS-Management fault at its Command): the
    reason says the file may be readable by the host's users and what to do; the run
    still reads the agent and says what it found."""
    fleet = sim[0]
    reset(fleet, "fresh")
    host = fleet.host("fresh")

    def refuse_next_command() -> None:
        fleet.faults("fresh").set(fault_at="Command", fault_times=1, fault_code="internal")

    at_entries(fleet, "fresh", (lambda e: e.get("kind") == "stage_cleanup", refuse_next_command))
    result = stopped_after_the_settings_copy(sim, package, "fresh", "agent_install")
    assert host.fs.is_file(SETTINGS) and not private(host, SETTINGS)  # as the reason says
    assert result.outcome == "failed", result.reason
    reason = result.reason or ""
    assert (
        f"; {SETTINGS} (it holds passwords) may be readable by the host's users, its access "
        "not restricted ("
    ) in reason, reason
    assert (
        "): restrict it to administrators, SYSTEM and the service account; no agent service: "
        "no agent installed"
    ) in reason, reason
    (protect,) = [s for s in result.steps if s["step"] == "settings-protect"]
    assert "error" in protect and "existed" not in protect, protect


def test_a_rollback_stopped_after_copying_the_settings_back_leaves_them_private(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo
) -> None:
    """The rollback (after an installer exit code 1603) is killed right after Copy-Item
    put the backup's settings.json back into the agent's folder: that copy took the
    folder's DACL (Users may read the passwords) and the script's own ACL step never ran.
    The deploy restricts it before it reads the agent again, and says what it found."""
    fleet = sim[0]
    reset(fleet, "old")
    host = fleet.host("old")
    host.installer_failure = 1603
    result = stopped_after_the_settings_copy(sim, package, "old", "agent_rollback")
    ended_before_read(host, "agent_rollback")
    assert host.fs.is_file(SETTINGS) and private(host, SETTINGS)
    assert result.outcome == "failed", result.reason
    reason = result.reason or ""
    assert "; rollback stopped part way: " in reason, reason
    assert "may be readable by the host's users" not in reason, reason
    steps = [(s["step"], s.get("existed")) for s in result.steps]
    assert steps[-2:] == [("settings-protect", True), ("rollback-stopped", None)], steps
    assert not host.fs.exists(LOCK), "the deploy lock was not released"


@pytest.mark.parametrize("how", HOW)
def test_a_restart_stopped_while_it_stops_the_agent_starts_it_again(
    sim: tuple[Fleet, dict[str, Any]], how: str
) -> None:
    """The settings role's restart (its handler's code), killed in the service stop (by the
    Signal, or by the deletion of its shell): the SCM finishes the stop, the start never
    comes. Once it runs no more, the restart reads the service again, finds it stopped,
    starts it and says so; not the bare WinRM error, nor an agent left stopped after a
    settings change."""
    fleet, variables = sim
    reset(fleet, "old")
    host = fleet.host("old")
    options = agent_service.options_from("old", variables["old"])
    with faults_cleared(fleet, host), session_for(fleet, "old") as direct:
        session = OnSnippet(
            direct, "agent_restart", lambda: stopped_at_its_first_receive(fleet, host, how)
        )
        done = agent_service.restart(session, options)
    ended_before_read(host, "agent_restart")
    service = host.service(SERVICE)
    assert service is not None and service.state == "Running"
    assert done.ok and done.state == "Running", done
    assert done.message.startswith("agent restarted (Running → Running) (restart stopped part "), (
        done.message
    )
    assert f"; {SERVICE} found Stopped, started again): settings in effect" in done.message


def test_a_backup_copy_stopped_part_way_is_no_backup_and_goes_with_the_next_good_upgrade(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo
) -> None:
    """Each file write takes a second and the install's first Receive fails while it copies
    the agent to its backup: the Signal kills it there, the copy half done (its marker
    still in it). The deploy starts 2.3.0 again. The host lists the copy apart, as
    incomplete: check mode says the next upgrade would remove it; that upgrade, ending
    well, removes it (it may hold settings.json and its passwords) and says so, never
    counting it among the backups kept. A backup an earlier sagefleet took (no marker) is
    listed as a backup, and kept."""
    fleet, variables = sim
    reset(fleet, "old")
    host = fleet.host("old")
    with faults_cleared(fleet, host), session_for(fleet, "old") as direct:
        session = OnSnippet(direct, "agent_install", lambda: stopped_while_it_writes(fleet, host))
        stopped = deploy_host(session, "old", variables["old"], package)
    assert any(e["kind"] == "terminated" for e in host.journal), "the install ran to its end"
    assert stopped.outcome == "rolled-back", stopped.reason
    (partial,) = host.fs.listdir(BACKUPS)
    assert host.fs.listdir(f"{BACKUPS}\\{partial}"), "the copy had not begun"
    earlier = "2.2.0-20200101T000000Z"  # as an earlier sagefleet left it: no marker
    host.fs.mkdir(f"{BACKUPS}\\{earlier}")
    host.fs.write(f"{BACKUPS}\\{earlier}\\Agent.exe", b"MZ")
    with session_for(fleet, "old") as session:
        planned = deploy_host(session, "old", variables["old"], package, check_mode=True)
        result = deploy_host(session, "old", variables["old"], package)
        listing = session.run_snippet("agent_backup_prune", {"backup_dir": BACKUPS, "remove": []})
    assert planned.outcome == "planned", planned.reason
    assert planned.plan.endswith(
        f" — would remove incomplete agent backups (copies stopped part way): {partial}"
    ), planned.plan
    assert result.outcome == "upgraded", result.reason
    assert f"incomplete agent backups (copies stopped part way) removed: {partial}" in (
        result.plan
    ), result.plan
    assert not [w for w in result.warnings if partial in w], result.warnings
    assert listing["backup_incomplete"] == [], listing
    assert not host.fs.exists(f"{BACKUPS}\\{partial}"), "the incomplete copy is left"
    taken = [n for n in listing["backups"] if n != earlier]
    assert earlier in listing["backups"] and len(taken) == 1, listing
    assert taken[0].startswith("2.3.0-") and taken[0] != partial


def answer_lost_after_the_install(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo, name: str
) -> DeployResult:
    """Host ``name``'s deploy, whose install runs to its end (the installer exits 0, 3.2.0
    runs) while its first Receive, 0.5 s late, fails: the exit code is lost with the
    answer. The host is failed."""
    fleet, variables = sim
    reset(fleet, name)
    host = fleet.host(name)

    def answer_lost() -> None:
        fleet.faults(name).set(latency=0.5, fault_at="Receive", fault_times=1)

    with faults_cleared(fleet, host), session_for(fleet, name) as direct:
        session = OnSnippet(direct, "agent_install", answer_lost)
        result = deploy_host(session, name, variables[name], package)
    assert [run["exit_code"] for run in host.installer_runs] == [0]
    assert not any(e["kind"] == "terminated" for e in host.journal), "killed before its end"
    assert result.outcome == "failed", result.reason
    return result


def test_an_install_whose_answer_is_lost_after_it_ended_says_the_target_runs_unconfirmed(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo
) -> None:
    """The install runs to its end (the installer exits 0, 3.2.0 runs), but its first
    Receive, 0.5 s late, fails: the exit code is lost with the answer. The deploy never
    takes that for an upgrade, nor tells the operator to go back without saying what runs:
    the host fails with the target found running, what to read and check, and where the
    backups are. A next deploy finds the target in place and leaves it."""
    fleet, variables = sim
    result = answer_lost_after_the_install(sim, package, "old")
    host = fleet.host("old")
    reason = result.reason or ""
    assert reason.startswith("install stopped part way: old: WinRM error: "), reason
    assert reason.endswith(
        f"; {SERVICE} found Running at 3.2.0, the target: the install may have ended, its "
        "exit code lost with its answer; read the installer's log (playbooks/diagnose.yml) "
        f"and check the agent (playbooks/verify.yml), or restore 2.3.0 from {BACKUPS}"
    ), reason
    steps = [s["step"] for s in result.steps]
    assert steps[-3:] == ["discard-staged", "settings-protect", "install-stopped"], steps
    assert not host.fs.exists(LOCK), "the deploy lock was not released"
    with session_for(fleet, "old") as direct:
        again = deploy_host(direct, "old", variables["old"], package)
    assert again.outcome == "unchanged", again.reason


def test_a_fresh_install_whose_answer_is_lost_after_it_ended_is_recorded_for_the_operator(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo
) -> None:
    """The same on a fresh host: 3.2.0 runs, its exit code lost. No version to restore, so
    the failed install is recorded (the next deploy fails the host while the agent is
    there), and the reason says both ways out: keep it once its log shows it ended well,
    or uninstall it; never "the installer left it" as if it surely failed."""
    fleet, variables = sim
    result = answer_lost_after_the_install(sim, package, "fresh")
    assert private(fleet.host("fresh"), SETTINGS)
    reason = result.reason or ""
    assert reason.startswith("install stopped part way: fresh: WinRM error: "), reason
    assert (
        f"; {SERVICE} found Running at 3.2.0, the target: the install may have ended, its "
        "exit code lost with its answer; read the installer's log (playbooks/diagnose.yml) "
        "and check the agent (playbooks/verify.yml); no earlier agent to restore: if the "
        "installer's log shows it ended well, keep it (deploy once with "
        "sagefleet_agent_accept_failed_install: true), else uninstall it (Programs and "
        "Features) before deploying again; recorded in "
    ) in reason, reason
    assert "the installer left " + SERVICE not in reason, reason
    with session_for(fleet, "fresh") as direct:
        again = deploy_host(direct, "fresh", variables["fresh"], package)
    assert again.outcome == "failed", again.reason
    assert "sagefleet_agent_accept_failed_install: true" in (again.reason or "")
    accepted = {**variables["fresh"], "sagefleet_agent_accept_failed_install": True}
    with session_for(fleet, "fresh") as direct:
        kept = deploy_host(direct, "fresh", accepted, package)
    assert kept.outcome == "unchanged", kept.reason


def changed_plan(variables: dict[str, Any]) -> dict[str, Any]:
    """The host's variables with its entity's analytic plan 2 in the vendor's settings.json
    of it (what the write merges): a write to make."""
    entities = copy.deepcopy(variables["sagefleet_entities"])
    entities[0]["vendor_settings"]["Connections"][0]["AnalyticPlan"] = 2
    return {**variables, "sagefleet_entities": entities}


def test_a_deploys_settings_write_whose_answer_is_lost_after_its_swap_updates_the_host(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo
) -> None:
    """The agent at the target, a setting changed: the deploy writes settings.json (guarded
    by the file it read) and restarts the agent. The write swaps the file, then its
    Receive, 0.5 s late, fails. A retry would find the file changed since it was read and
    fail the host; the deploy reads the file again instead, finds the one it sent, and
    goes on to the restart: settings-updated, the write run once."""
    fleet, variables = sim
    reset(fleet, "old")
    host = fleet.host("old")
    with session_for(fleet, "old") as direct:
        assert deploy_host(direct, "old", variables["old"], package).outcome == "upgraded"
    faults = fleet.faults("old")
    at_entries(
        fleet,
        "old",
        (guarded_write, lambda: faults.set(latency=0.5, fault_at="Receive", fault_times=1)),
        (lambda _entry: faults.counters.faults > 0, lambda: faults.set(latency=0.0)),
    )
    with faults_cleared(fleet, host), session_for(fleet, "old") as direct:
        result = deploy_host(direct, "old", changed_plan(variables["old"]), package)
    assert faults.counters.faults == 1, result.plan
    assert result.outcome == "settings-updated", result.reason
    assert sum(1 for e in host.journal if guarded_write(e)) == 1
    (step,) = [s for s in result.steps if s["step"] == "settings"]
    assert step["backup"], step
    assert b'"AnalyticPlan": 2' in host.fs.read(SETTINGS)
    service = host.service(SERVICE)
    assert service is not None and (service.state, service.version) == ("Running", "3.2.0")


def guarded_write_of_a_change(
    fleet: Fleet, variables: dict[str, Any], *steps: Any
) -> SettingsWriteFailed:
    """settings.json written with a changed plan, guarded, through a RetryingSession,
    ``steps`` arranged (``at_entries``): the SettingsWriteFailed it ends with."""
    guard = build_host_settings("old", changed_plan(variables))
    target = settings_target("old", path=SETTINGS)
    at_entries(fleet, "old", *steps)
    host = fleet.host("old")
    with faults_cleared(fleet, host), session_for(fleet, "old") as direct:
        session = RetryingSession(direct, retry_from("old", variables), sleep=lambda _: None)
        with pytest.raises(SettingsWriteFailed) as failed:
            write_settings(session, target, guard.text, guard=guard)
    return failed.value


def test_a_guarded_write_whose_answer_is_lost_and_its_file_then_changed_fails_saying_so(
    sim: tuple[Fleet, dict[str, Any]],
) -> None:
    """The write swaps the file and its answer is lost; before it is read again, another
    writer changes the file. Neither the file read before nor the one sent: the write
    fails, saying so, and writes nothing more."""
    fleet, variables = sim
    reset(fleet, "old")
    host = fleet.host("old")
    faults = fleet.faults("old")
    other = host.fs.read(SETTINGS) + b"\r\n"
    error = guarded_write_of_a_change(
        fleet,
        variables["old"],
        (guarded_write, lambda: faults.set(latency=0.5, fault_at="Receive", fault_times=1)),
        (settings_read, lambda: host.fs.write(SETTINGS, other)),
    )
    assert str(error).endswith(
        "; read again, the file is neither the one read before the write nor the one sent: "
        "something else changed it meanwhile; run again"
    ), error
    assert host.fs.read(SETTINGS) == other
    assert sum(1 for e in host.journal if guarded_write(e)) == 1


def test_a_guarded_write_whose_end_the_host_does_not_confirm_reads_nothing_more(
    sim: tuple[Fleet, dict[str, Any]],
) -> None:
    """From the write's command on, the host answers every operation with a fault, the
    deletion of its shell too: the write may still run. Nothing more is read or written,
    and the error says the file may be either."""
    fleet, variables = sim
    reset(fleet, "old")
    host = fleet.host("old")
    faults = fleet.faults("old")
    error = guarded_write_of_a_change(
        fleet, variables["old"], (guarded_write, lambda: faults.set(fault_next="always"))
    )
    assert "its end not confirmed (the host did not answer the deletion of its shell): the " in (
        str(error)
    ), error
    assert "read it on the host before running again" in str(error)
    journal = list(host.journal)
    start = max(i for i, e in enumerate(journal) if guarded_write(e))
    assert not any(settings_read(e) for e in journal[start:]), journal[start:]


def test_a_settings_rollback_whose_answer_is_lost_fails_saying_what_the_file_may_be(
    sim: tuple[Fleet, dict[str, Any]],
) -> None:
    """A write (its backup kept), then a rollback whose Receive, 0.5 s late, fails once it
    restored the backup. It is not run again blind (it would call the file up to date):
    the rollback fails saying what the file may be and what a rollback run again does,
    which then reports the file up to date and restarts the agent, which has not read it."""
    fleet, variables = sim
    reset(fleet, "old")
    host = fleet.host("old")
    target = settings_target("old", path=SETTINGS)
    target = reading_agent(target, agent_profile.default())
    guard = build_host_settings("old", changed_plan(variables["old"]))
    faults = fleet.faults("old")
    rollbacks = lambda e: (e.get("params") or {}).get("action") == "rollback"  # noqa: E731
    with faults_cleared(fleet, host), session_for(fleet, "old") as direct:
        session = RetryingSession(direct, Backoff(retries=2), sleep=lambda _: None)
        old = host.fs.read(SETTINGS)
        assert write_settings(session, target, guard.text, guard=guard).changed
        at_entries(
            fleet,
            "old",
            (rollbacks, lambda: faults.set(latency=0.5, fault_at="Receive", fault_times=1)),
            (lambda _entry: faults.counters.faults > 0, lambda: faults.set(latency=0.0)),
        )
        with pytest.raises(SettingsWriteFailed) as failed:
            rollback_settings(session, target)
        assert host.fs.read(SETTINGS) == old  # restored before the answer was lost
        assert sum(1 for e in host.journal if rollbacks(e)) == 1  # never run again blind
        assert str(failed.value).endswith(
            "; its answer lost: the file may be the one it replaced or the restored backup; "
            "run the rollback again (a file already restored is reported up to date, and an "
            "agent that has not read it restarted)"
        ), failed.value
        again = rollback_settings(session, target)
    assert not again.changed and again.restart_pending, again
