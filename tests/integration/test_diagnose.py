"""Support bundles end to end: playbooks/diagnose.yml against a simulated fleet."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.settings import host as settings_host
from sagefleet.sim.fleet import Fleet, generate_specs
from sagefleet.sim.host import SYSTEM, Acl
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT, next_first_address
from tests.support.reliability import find_secrets
from tests.support.scenarios import entities_for, write_inventory
from tests.support.signals import at_entries

CANARY = "Sql-Canary-Passw0rd!"
HOST_ONLY = b"Host-Only-Pw7"
AGENT_DIR = "C:\\Program Files\\Spendesk\\Sage Agent"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    folder = tmp_path_factory.mktemp("diagnose")
    specs = generate_specs(
        2, profiles=["agent-old", "healthy-onprem"], first_address=next_first_address(),
        port=0, prefix="dg",
    )
    specs[0].name, specs[1].name = "with-agent", "without-agent"
    fleet = Fleet(specs, folder / "fleet").start()
    host = fleet.host("with-agent")
    settings = settings_host.host_settings(
        "with-agent", {"sagefleet_entities": entities_for("agent-old")}
    ).text
    assert CANARY in settings
    host.fs.mkdir(AGENT_DIR + "\\logs")
    host.fs.write(AGENT_DIR + "\\settings.json", settings.encode("utf-8"))
    host.fs.write(
        AGENT_DIR + "\\logs\\agent.log",
        b"2025-03-01 10:00:00 INFO started\r\n"
        b"2025-03-01 10:00:01 ERROR login failed for sagefleet_sql with password "
        + CANARY.encode() + b"\r\n2025-03-01 10:00:02 WARN heartbeat lost\r\n"
        # Passwords the inventory does not hold: another login's, the agent's own settings.
        b"2025-03-01 10:00:03 ERROR Server=SQL01;User ID=sa;Password=" + HOST_ONLY + b";\r\n"
        b'2025-03-01 10:00:04 DEBUG {"SqlUser":"sa","SQLPASSWORD":"' + HOST_ONLY + b'"}\r\n',
    )
    host.fs.mkdir("C:\\Windows\\Temp")
    host.fs.write("C:\\Windows\\Temp\\Setup Log 2025-03-01 #001.txt",
                  b"Setup started\r\nSetup exit code: 0\r\n")
    yield fleet, write_inventory(fleet, folder / "inventory" / "hosts.yml")
    fleet.stop()


def run_playbook(
    inventory: Path, dest: Path, *extra: str, exit_code: int = 0
) -> subprocess.CompletedProcess[str]:
    process = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), "playbooks/diagnose.yml",
         "-e", f"sagefleet_diagnose_dest={dest}", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert process.returncode == exit_code, process.stdout[-4000:] + process.stderr[-2000:]
    return process


def bundles(dest: Path) -> dict[str, Path]:
    return {p.name.rsplit("-", 1)[0]: p for p in dest.glob("*.zip")}


@pytest.fixture(scope="module")
def first_run(
    fleet: tuple[Fleet, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Path], str]:
    _, inventory = fleet
    dest = tmp_path_factory.mktemp("bundles")
    process = run_playbook(inventory, dest)
    return bundles(dest), process.stdout


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_one_bundle_per_host(first_run: tuple[dict[str, Path], str]) -> None:
    found, _ = first_run
    assert set(found) == {"with-agent", "without-agent"}


def test_manifest_lists_every_file_with_size_and_sha256(
    first_run: tuple[dict[str, Path], str],
) -> None:
    found, _ = first_run
    for host, path in found.items():
        files = read_zip(path)
        manifest: dict[str, Any] = json.loads(files.pop("manifest.json"))
        assert manifest["host"] == host
        assert manifest["sagefleet_version"] and manifest["collected_at"]
        listed = {f["name"]: f for f in manifest["files"]}
        assert set(listed) == set(files)
        for name, data in files.items():
            assert listed[name]["size"] == len(data)
            assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest()


def test_bundle_holds_the_troubleshooting_material(
    first_run: tuple[dict[str, Path], str],
) -> None:
    found, _ = first_run
    files = read_zip(found["with-agent"])
    assert {"facts.json", "findings.json", "service.json", "events.json",
            "troubleshooting.json", "settings.redacted.json", "logs/agent/agent.log",
            "logs/installer/Setup_Log_2025-03-01_001.txt"} <= set(files)
    service = json.loads(files["service.json"])
    assert service["service"]["state"] == "Running" and service["restart"] is None
    diagnosis = json.loads(files["troubleshooting.json"])
    assert [s["step"] for s in diagnosis["steps"]] == [
        "service", "account_proxy", "reachability", "tls", "connections", "logs", "restart"
    ]
    # agent-old: running for an hour, holding its connections.
    assert diagnosis["outcome"] == "connected" and diagnosis["failed_step"] is None
    assert diagnosis["verdict"].startswith("The agent is connected (step 5")
    assert "SF513" in {f["check_id"] for f in json.loads(files["findings.json"])["findings"]}
    assert b"1. [ok] The agent's service runs" in files["troubleshooting.txt"]
    assert b"heartbeat lost" in files["logs/agent/agent.log"]
    plain = read_zip(found["without-agent"])
    assert json.loads(plain["service.json"])["service"]["installed"] is False


def test_canary_password_appears_in_no_byte_of_any_bundle(
    first_run: tuple[dict[str, Path], str],
) -> None:
    found, stdout = first_run
    for path in found.values():
        raw = path.read_bytes()
        assert CANARY.encode() not in raw
        for name, data in read_zip(path).items():
            assert CANARY.encode() not in data, name
            assert CANARY.encode("utf-16-le") not in data, name
    assert CANARY not in stdout
    settings = read_zip(found["with-agent"])["settings.redacted.json"].decode()
    assert "********" in settings


def test_a_password_the_inventory_does_not_hold_is_masked_in_the_agents_log(
    first_run: tuple[dict[str, Path], str],
) -> None:
    log = read_zip(first_run[0]["with-agent"])["logs/agent/agent.log"]
    assert HOST_ONLY not in log
    assert b"User ID=sa;Password=********;" in log and b'"SQLPASSWORD":"********"' in log
    assert b"heartbeat lost" in log


def test_a_password_of_one_character_still_gives_a_readable_bundle(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """It stopped the bundle ('a secret remains in manifest.json; bundle not written')."""
    _, inventory = fleet
    run_playbook(inventory, tmp_path, "-l", "with-agent", "-e", "ansible_become_password=a")
    files = read_zip(bundles(tmp_path)["with-agent"])
    assert b"The agent is connected" in files["troubleshooting.txt"]
    assert CANARY.encode() not in b"".join(files.values())


def test_a_diagnosis_that_failed_on_the_host_is_incomplete_everywhere_it_is_reported(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """The diagnose snippet failed on the host: the host ended ok and its summary read
    "The agent is connected ... | service not installed" (the service runs). The bundle is
    still written with what was gathered, and says what was not read and why; the host
    is incomplete on its line and in the bundle, failed in PLAY RECAP, and the run exits 2."""
    sim, inventory = fleet
    sim.host("with-agent").snippet_failures["diagnose"] = "Get-CimInstance : Access denied"
    try:
        process = run_playbook(inventory, tmp_path, "-l", "with-agent", exit_code=2)
    finally:
        del sim.host("with-agent").snippet_failures["diagnose"]
    shown = " ".join(process.stdout.split())
    assert "incomplete: [with-agent]" in shown
    assert "| incomplete: bundle " in shown
    assert "| service not read: snippet diagnose failed (rc 1): Get-CimInstance : Access denied"\
        in shown
    assert "not installed" not in shown
    recap = process.stdout[process.stdout.index("PLAY RECAP"):]
    assert [line.split()[0] for line in recap.splitlines()[1:] if "failed=1" in line] == [
        "with-agent"
    ]
    assert "[sagefleet] run complete: 1 host, 1 failed, 0 unreachable" in process.stdout
    files = read_zip(bundles(tmp_path)["with-agent"])
    manifest = json.loads(files["manifest.json"])
    assert manifest["status"] == "incomplete"
    assert manifest["not_read"] == [
        "service, logs, events, settings: snippet diagnose failed (rc 1): "
        "Get-CimInstance : Access denied"
    ]
    assert "service.json" not in files and "facts.json" in files
    diagnosis = json.loads(files["troubleshooting.json"])
    assert diagnosis["not_read"] == manifest["not_read"]
    service = next(s for s in diagnosis["steps"] if s["step"] == "service")
    assert service["ok"] is None
    assert service["detail"] == [
        "not read: snippet diagnose failed (rc 1): Get-CimInstance : Access denied"
    ]
    assert "Incomplete: not read: service, logs, events, settings" in diagnosis["verdict"]
    assert b"not installed" not in files["troubleshooting.txt"]


def test_a_log_folder_the_winrm_account_may_not_list_makes_the_host_incomplete(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """The agent's log folder opened to SYSTEM only: the snippet listed it with
    -ErrorAction SilentlyContinue, so the bundle came without the agent's log and the
    host ended ok, without a word. The folder, Windows' reason and what to do are now in
    the manifest, the verdict and the host's line, and the host is incomplete (exit 2)."""
    sim, inventory = fleet
    logs = AGENT_DIR + "\\logs"
    entry = sim.host("with-agent").fs.stat(logs)
    before = entry.acl
    sim.host("with-agent").fs.set_acl(logs, Acl.private(SYSTEM, [SYSTEM], folder=True))
    try:
        process = run_playbook(inventory, tmp_path, "-l", "with-agent", exit_code=2)
    finally:
        entry.acl = before
    said = (
        f"agent logs in {logs}: Access to the path '{logs}' is denied; grant the WinRM "
        "account read (List folder / read data) on the folder, or run the diagnosis as an "
        "account that has it"
    )
    files = read_zip(bundles(tmp_path)["with-agent"])
    manifest = json.loads(files["manifest.json"])
    assert (manifest["status"], manifest["not_read"]) == ("incomplete", [said])
    diagnosis = json.loads(files["troubleshooting.json"])
    assert diagnosis["not_read"] == [said]
    assert f"Incomplete: not read: {said}" in diagnosis["verdict"]
    assert "logs/agent/agent.log" not in files
    shown = " ".join(process.stdout.split())
    assert "incomplete: [with-agent]" in shown and "| incomplete: bundle " in shown
    assert "not read: agent logs in C:" in shown and "List folder / read data" in shown


def test_logs_past_max_log_files_are_named_in_the_manifest_with_size_time_and_why(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """The newest sagefleet_diagnose_max_log_files logs of a folder were taken and the
    older ones dropped without a word; the manifest now lists each (path, size, time,
    why), and the logs step says how many."""
    sim, inventory = fleet
    fs = sim.host("with-agent").fs
    older = {f"{AGENT_DIR}\\logs\\agent-2025-02-0{day}.log": day for day in (1, 2, 3)}
    for path, day in older.items():
        fs.write(path, b"x" * (100 * day))
        fs.stat(path).modified = dt.datetime(2025, 2, day, 12, tzinfo=dt.UTC)
    try:
        run_playbook(inventory, tmp_path, "-l", "with-agent",
                     "-e", "sagefleet_diagnose_max_log_files=2")
    finally:
        for path in older:
            fs.delete(path)
    files = read_zip(bundles(tmp_path)["with-agent"])
    assert "logs/agent/agent.log" in files and "logs/agent/agent-2025-02-03.log" in files
    why = (
        f"older than the 2 newest *.log in {AGENT_DIR}\\logs "
        "(sagefleet_diagnose_max_log_files: 2)"
    )
    assert json.loads(files["manifest.json"])["left_out"] == [
        {"kind": "agent", "path": f"{AGENT_DIR}\\logs\\agent-2025-02-0{day}.log",
         "size": 100 * day, "modified": f"2025-02-0{day}T12:00:00.0000000Z", "why": why}
        for day in (2, 1)
    ]
    steps = json.loads(files["troubleshooting.json"])["steps"]
    logs = next(s for s in steps if s["step"] == "logs")
    assert any(
        "2 older log(s) left out (sagefleet_diagnose_max_log_files): listed in manifest.json"
        in line for line in logs["detail"]
    )


SAGE_CANARY = "Sage-Canary-Kx93pL!"


def inventory_secrets(data: Any) -> list[str]:
    """Every password value the inventory holds, by any key naming one."""
    if isinstance(data, dict):
        found = [v for k, v in data.items() if "password" in str(k).lower() and isinstance(v, str)]
        return found + [s for v in data.values() for s in inventory_secrets(v)]
    if isinstance(data, list):
        return [s for v in data for s in inventory_secrets(v)]
    return []


def test_the_bundle_holds_the_agent_profile_and_the_entities_and_no_secret(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """The agent profile used and the entities were not in the bundle: a support ticket
    could not say which service, folders and switches, or which company files, were
    meant. They are now (profile.json, entities.json), their secrets redacted, and no
    password of the inventory is in any byte of the unzipped bundle."""
    _, inventory = fleet
    data = yaml.safe_load(inventory.read_text())
    host_vars = data["all"]["children"]["sage_servers"]["hosts"]["with-agent"]
    (entity,) = host_vars["sagefleet_entities"]
    entity["sage_password"] = SAGE_CANARY
    entity["vendor_settings"]["Connections"][0]["SagePassword"] = SAGE_CANARY
    changed = tmp_path / "inventory" / "hosts.yml"
    changed.parent.mkdir()
    changed.write_text(yaml.safe_dump(data, sort_keys=False))
    secrets = inventory_secrets(data)
    assert {CANARY, SAGE_CANARY, host_vars["ansible_password"]} <= set(secrets)
    dest = tmp_path / "bundles"
    run_playbook(changed, dest, "-l", "with-agent",
                 "-e", "sagefleet_agent_service_display_name='Spendesk Sage Agent'")
    files = read_zip(bundles(dest)["with-agent"])

    profile = json.loads(files["profile.json"])
    shipped = yaml.safe_load(
        (ROOT / "src" / "sagefleet" / "catalog" / "agent-profile.yml").read_text()
    )
    assert profile == {"origin": "the shipped agent profile",
                       "overrides": ["sagefleet_agent_service_display_name"],
                       "profile": shipped}
    entities = json.loads(files["entities.json"])
    assert entities["errors"] == []
    (written,) = entities["entities"]
    assert written["sage_password"] == written["sql_password"] == "********"
    assert written["vendor_source"] == "inline document" and "vendor_settings" not in written
    for key, value in entity.items():
        if key not in ("sage_password", "sql_password", "vendor_settings"):
            assert written[key] == value, key
    listed = {f["name"] for f in json.loads(files["manifest.json"])["files"]}
    assert {"profile.json", "entities.json"} <= listed
    for name, member in files.items():
        assert find_secrets(member, secrets) == [], name


def test_a_password_in_a_hosts_error_is_masked_on_the_console(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """What the host said when the diagnosis failed reaches the console (the host's line,
    its task result at -v): a password in it, the inventory's or one written by name, is
    masked there as in the bundle."""
    sim, inventory = fleet
    said = f"login failed with {CANARY}; Server=SQL01;Password={HOST_ONLY.decode()};"
    sim.host("with-agent").snippet_failures["diagnose"] = said
    try:
        process = run_playbook(inventory, tmp_path, "-l", "with-agent", "-vvv", exit_code=2)
    finally:
        del sim.host("with-agent").snippet_failures["diagnose"]
    shown = process.stdout + process.stderr
    assert "login failed with ********; Server=SQL01;Password=********;" in " ".join(
        shown.split()
    )
    assert CANARY not in shown and HOST_ONLY.decode() not in shown
    files = read_zip(bundles(tmp_path)["with-agent"])
    for name, data in files.items():  # the manifest and troubleshooting.* quote it too
        assert CANARY.encode() not in data and HOST_ONLY not in data, name


def test_two_agent_logs_of_the_same_name_are_both_in_the_bundle(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """agent.log in <install>\\logs and in <install>: the bundle kept one and dropped the
    other without a word; each is now under a name that says where it was."""
    sim, inventory = fleet
    beside = AGENT_DIR + "\\agent.log"
    sim.host("with-agent").fs.write(beside, b"2025-03-01 09:00:00 INFO the other log\r\n")
    try:
        run_playbook(inventory, tmp_path, "-l", "with-agent")
    finally:
        sim.host("with-agent").fs.delete(beside)
    files = read_zip(bundles(tmp_path)["with-agent"])
    folder = "logs/agent/C/Program_Files/Spendesk/Sage_Agent/"
    assert b"heartbeat lost" in files[folder + "logs/agent.log"]
    assert b"the other log" in files[folder + "agent.log"]
    listed = {f["name"]: f.get("source") for f in json.loads(files["manifest.json"])["files"]}
    assert listed[folder + "agent.log"] == beside


def test_service_is_not_restarted_unless_asked(
    fleet: tuple[Fleet, Path], first_run: tuple[dict[str, Path], str]
) -> None:
    sim, _ = fleet
    runs = [e for e in sim.host("with-agent").journal
            if e["kind"] == "snippet" and e["name"] == "diagnose"]
    assert runs and all(r["params"]["restart"] is False for r in runs)


def test_restart_when_asked(
    fleet: tuple[Fleet, Path], first_run: tuple[dict[str, Path], str], tmp_path: Path
) -> None:
    sim, inventory = fleet
    process = run_playbook(inventory, tmp_path, "-e", "sagefleet_diagnose_restart=true",
                           "-l", "with-agent")
    assert "[sagefleet] run complete: 1 host, 0 failed, 0 unreachable" in process.stdout
    # The summary names the bundle where it is, the operator's path to it.
    shown = " ".join(process.stdout.split())  # the summary's YAML folds long lines
    assert f"bundle {bundles(tmp_path)['with-agent']}, service restarted" in shown
    files = read_zip(bundles(tmp_path)["with-agent"])
    restart = json.loads(files["service.json"])["restart"]
    assert restart["requested"] and restart["done"]
    assert restart["state_before"] == "Running" and restart["state_after"] == "Running"
    last = [e for e in sim.host("with-agent").journal
            if e["kind"] == "snippet" and e["name"] == "diagnose"][-1]
    assert last["params"]["restart"] is True


def diagnose_read(entry: dict[str, Any]) -> bool:
    return entry.get("kind") == "snippet" and entry.get("name") == "diagnose"


@pytest.mark.parametrize("restart", [False, True], ids=["read", "restart"])
def test_a_fault_at_the_diagnose_snippet_is_retried_unless_it_restarts_the_agent(
    fleet: tuple[Fleet, Path], first_run: tuple[dict[str, Path], str], tmp_path: Path,
    restart: bool,
) -> None:
    """The diagnose snippet's first Receive (0.3 s late) answers an HTTP 500. A read is run
    again (sagefleet_winrm_retries) and the bundle is complete; asked to restart the agent,
    it is not (a second run would restart it again): the bundle says what was not read."""
    sim, inventory = fleet
    host, faults = sim.host("with-agent"), sim.faults("with-agent")
    before = (faults.counters.faults, sum(1 for e in host.journal if diagnose_read(e)))
    at_entries(
        sim,
        "with-agent",
        (diagnose_read, lambda: faults.set(latency=0.3, fault_at="Receive", fault_times=1)),
        (lambda _entry: faults.counters.faults > before[0], lambda: faults.set(latency=0.0)),
    )
    asked = ("-e", "sagefleet_diagnose_restart=true") if restart else ()
    try:
        run_playbook(inventory, tmp_path, "-l", "with-agent", *asked, exit_code=2 * restart)
    finally:
        host.on_record.clear()
        faults.set(latency=0.0, fault_at=None)
    runs = sum(1 for e in host.journal if diagnose_read(e)) - before[1]
    assert (faults.counters.faults - before[0], runs) == (1, 1 if restart else 2)
    manifest = json.loads(read_zip(bundles(tmp_path)["with-agent"])["manifest.json"])
    if restart:
        assert manifest["status"] == "incomplete"
        (said,) = manifest["not_read"]
        assert said.startswith("service, logs, events, settings: WinRM error: "), said
    else:
        assert manifest["not_read"] == [] and manifest["status"] != "incomplete", manifest


# The simulator's stand-in agent log (sim/host/agent_runtime.py), described as an agent profile
# describes a real agent's log.
LOGS = {
    "dir": "{install_dir}\\logs",
    "file_pattern": "*.log",
    "connected_pattern": r"^(?<time>\S+) INFO connected to ",
}


def test_a_role_variable_its_spec_refuses_stops_the_play_in_one_line_a_host(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """The role's argument spec is checked for every host at once by its first task:
    one line a host naming the field, no host contacted, not Ansible's own check, which
    printed the whole argument spec with each host's error (a worker a host)."""
    servers, inventory = fleet
    before = {name: len(servers.host(name).journal) for name in servers.hosts}
    process = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(inventory), "playbooks/diagnose.yml",
         "-e", f"sagefleet_diagnose_dest={tmp_path}", "-e", "sagefleet_diagnose_restart=maybe"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert process.returncode == 2, process.stdout[-4000:]
    lines = [ln for ln in process.stdout.splitlines() if ln.startswith("- host ")]
    assert sorted(ln.split(",")[0] for ln in lines) == [
        "- host with-agent", "- host without-agent"
    ]
    assert all(
        "field sagefleet_diagnose_restart: refused by the argument spec of role "
        "sagefleet_diagnose" in ln and "(value: 'maybe')" in ln
        for ln in lines
    )
    assert "no host was contacted" in process.stdout
    assert "argument_spec_data" not in process.stdout
    assert {name: len(servers.host(name).journal) for name in servers.hosts} == before
    assert not any(tmp_path.iterdir())


def test_diagnose_names_the_step_that_failed_for_a_disconnected_agent(tmp_path: Path) -> None:
    """Two agents that run but hold no connection, for two reasons: a proxy set for the
    admin only (step 2, in French here), and a SQL login failure after which the agent
    stopped polling (step 5, the host reaching the endpoints; the log's last "connected"
    line is an hour old)."""
    specs = generate_specs(
        2, profiles=["agent-proxy-admin-only", "agent-sql-login-failed"],
        first_address=next_first_address(), port=0, prefix="dc",
    )
    specs[0].name, specs[1].name = "proxied", "sql-failed"
    with Fleet(specs, tmp_path / "fleet") as fleet:
        inventory = write_inventory(fleet, tmp_path / "inventory" / "hosts.yml")
        profile = yaml.safe_load(
            (ROOT / "src" / "sagefleet" / "catalog" / "agent-profile.yml").read_text()
        )
        profile["logs"] = LOGS
        (inventory.parent / "agent-profile.yml").write_text(yaml.safe_dump(profile))
        data = yaml.safe_load(inventory.read_text())
        hosts = data["all"]["children"]["sage_servers"]["hosts"]
        hosts["proxied"]["sagefleet_lang"] = "fr"
        hosts["sql-failed"]["sagefleet_agent_profile"] = "agent-profile.yml"
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        dest = tmp_path / "bundles"
        process = run_playbook(inventory, dest)
    found = bundles(dest)

    proxied = json.loads(read_zip(found["proxied"])["troubleshooting.json"])
    steps = {s["step"]: s for s in proxied["steps"]}
    assert (proxied["outcome"], proxied["failed_step"]) == ("failed", "account_proxy")
    assert steps["service"]["ok"] is True and steps["connections"]["ok"] is False
    assert steps["reachability"]["ok"] is True  # the admin's own probes pass
    assert proxied["verdict"].startswith(
        "Étape 2 en échec (Son compte, et le proxy qu'utilise ce compte)\u00a0: un proxy est "
        "défini pour SAGE-PROXY\\"
    )
    assert "ni pour WinHTTP ni pour le compte du service LocalSystem" in proxied["verdict"]
    text = read_zip(found["proxied"])["troubleshooting.txt"].decode()
    assert "2. [ÉCHEC] Son compte, et le proxy qu'utilise ce compte" in text

    failed = json.loads(read_zip(found["sql-failed"])["troubleshooting.json"])
    steps = {s["step"]: s for s in failed["steps"]}
    assert (failed["outcome"], failed["failed_step"]) == ("failed", "connections")
    assert [steps[n]["ok"] for n in ("service", "reachability", "tls")] == [True] * 3
    assert steps["account_proxy"]["ok"] is None  # direct, as every account here
    assert failed["verdict"].startswith(
        "Step 5 failed (The agent's own connections): the host reaches the endpoints, yet "
        "the agent holds no connection"
    )
    assert steps["logs"]["ok"] is False
    assert "last \"connected\" line at " in " ".join(steps["logs"]["detail"])
    # Each host's verdict is in the playbook's summary of the host.
    assert "Step 5 failed (The agent" in process.stdout
    assert "Étape 2 en échec (Son compte" in process.stdout


def test_a_host_that_cannot_be_reached_ends_unreachable_with_its_bundle(
    fleet: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """Nothing could be collected from it: PLAY RECAP marks it unreachable and the run
    exits 4, as every playbook does for such a host; its bundle still says why."""
    _, inventory = fleet
    data = yaml.safe_load(inventory.read_text())
    hosts = data["all"]["children"]["sage_servers"]["hosts"]
    hosts["refused"] = {**hosts["without-agent"], "ansible_password": "not-the-password"}
    refused = tmp_path / "inventory" / "hosts.yml"
    refused.parent.mkdir()
    refused.write_text(yaml.safe_dump(data, sort_keys=False))
    dest = tmp_path / "bundles"
    process = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(refused), "playbooks/diagnose.yml",
         "-e", f"sagefleet_diagnose_dest={dest}", "-l", "refused,without-agent"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert process.returncode == 4, process.stdout[-4000:] + process.stderr[-2000:]
    recap = process.stdout[process.stdout.index("PLAY RECAP"):]
    assert [line.split()[0] for line in recap.splitlines()[1:] if "unreachable=1" in line] == [
        "refused"
    ]
    assert "[sagefleet] run complete: 2 hosts, 0 failed, 1 unreachable" in process.stdout
    files = read_zip(bundles(dest)["refused"])
    assert json.loads(files["findings.json"])["reachable"] is False
    assert "facts: not gathered (" in files["manifest.json"].decode()
    troubleshooting = json.loads(files["troubleshooting.json"])
    assert troubleshooting["outcome"] == "unreachable"
    assert troubleshooting["verdict"].startswith(
        "The host could not be reached, so nothing on it was diagnosed: credentials rejected"
    )
    assert "unreachable: [refused] The host could not be reached" in process.stdout
    assert "without-agent" in bundles(dest)
