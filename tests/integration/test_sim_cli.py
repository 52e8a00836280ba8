"""`sagefleet sim up/down` and `sagefleet demo`: processes start, serve and stop exactly."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sagefleet.agent import profile as agent_profile
from sagefleet.remote.winrm import WinRMSession, WinRMTarget
from tests.support.fleets import ROOT, next_first_address
from tests.support.processes import group_members

SAGEFLEET = [sys.executable, "-m", "sagefleet"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[-1].split()[0] != "Z"


def port_open(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address, port)) == 0


def test_sim_up_serves_the_inventory_it_writes_and_down_stops_it(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    up = subprocess.run(
        [
            *SAGEFLEET,
            "sim",
            "up",
            "--hosts",
            "3",
            "--out",
            str(out),
            "--port",
            "0",
            "--first-address",
            next_first_address(),
            "--profile",
            "healthy-spc",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert up.returncode == 0, up.stderr
    state = json.loads((out / ".sim" / "state.json").read_text())
    pid = state["pid"]
    try:
        assert alive(pid) and len(state["hosts"]) == 3
        assert "password" not in json.dumps(state)
        inventory = yaml.safe_load((out / "hosts.yml").read_text())
        hosts = inventory["all"]["children"]["sage_servers"]["hosts"]
        settings = inventory["all"]["vars"]
        assert settings["ansible_connection"] == "winrm"
        name, hv = sorted(hosts.items())[1]
        target = WinRMTarget(
            host=name,
            address=hv["ansible_host"],
            port=hv["ansible_port"],
            username=hv["ansible_user"],
            password=hv["ansible_password"],
            ca_trust_path=settings["ansible_winrm_ca_trust_path"],
        )
        with WinRMSession(target) as session:
            assert session.run_snippet("host_info")["hostname"] == "SPC-VM"
    finally:
        down = subprocess.run(
            [*SAGEFLEET, "sim", "down", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert not alive(pid)
    assert not (out / ".sim" / "state.json").exists()
    assert not port_open(hv["ansible_host"], hv["ansible_port"])


def test_sim_up_refuses_an_address_outside_loopback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *SAGEFLEET,
            "sim",
            "up",
            "--hosts",
            "1",
            "--out",
            str(tmp_path),
            "--first-address",
            "10.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "only listen on loopback" in result.stdout + result.stderr
    assert not (tmp_path / ".sim" / "state.json").exists()


def test_sim_down_without_a_fleet_says_so_and_exits_1(tmp_path: Path) -> None:
    """Nothing stopped (a mistyped --out): a script must not take it for done."""
    result = subprocess.run(
        [*SAGEFLEET, "sim", "down", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "no simulated fleet running" in result.stdout
    # Given where to look, it says only that; without, it names the other ways to look.
    assert "sim down -i <inventory>" not in result.stdout
    bare = subprocess.run(
        [*SAGEFLEET, "sim", "down"], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert bare.returncode == 1
    assert bare.stdout.startswith("no simulated fleet running from .sagefleet/sim/.sim;")
    assert "`sim down -i <inventory>`" in bare.stdout


def stale_state(folder: Path, pid: int) -> Path:
    """A state file as `sim up` leaves it, naming ``pid``: left behind when the simulator
    was killed, or the machine restarted."""
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "state.json"
    state.write_text(json.dumps({"pid": pid, "ready": True, "ca_file": "", "hosts": []}))
    return state


def test_sim_down_over_a_stale_state_file_says_the_simulator_was_not_running(
    tmp_path: Path,
) -> None:
    """The simulator it names is gone: 'stopped' said it stopped something; exit 1, as
    when no fleet runs from there, so that a script does not take it for done."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    state = stale_state(tmp_path / "state", gone.pid)
    down = sagefleet("sim", "down", "--state-dir", str(state.parent))
    assert down.returncode == 1, down.stdout + down.stderr
    assert "stopped" not in down.stdout
    assert down.stdout == (
        f"simulated fleet from {state.parent} was not running (pid {gone.pid} gone, or "
        "another program's): its stale state file removed\n"
    )
    assert not state.exists()


def test_sim_down_never_stops_a_process_that_took_the_simulators_pid(tmp_path: Path) -> None:
    """After a restart the state file's pid can be another program's: never signalled, and
    `sim up` does not take it for a fleet running there."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        state = stale_state(tmp_path / "state", other.pid)
        down = sagefleet("sim", "down", "--state-dir", str(state.parent))
        assert down.returncode == 1, down.stdout + down.stderr
        assert "was not running" in down.stdout
        assert other.poll() is None and not state.exists()
        stale_state(state.parent, other.pid)
        up = sagefleet(
            "sim", "up", "--hosts", "1", "--port", "0", "--first-address",
            next_first_address(), "--out", str(tmp_path / "fleet"),
            "--state-dir", str(state.parent),
        )  # fmt: skip
        try:
            assert up.returncode == 0, up.stderr
            assert json.loads(state.read_text())["pid"] != other.pid
        finally:
            assert sagefleet("sim", "down", "--state-dir", str(state.parent)).returncode == 0
        assert other.poll() is None
    finally:
        other.terminate()
        other.wait(10)


@pytest.mark.parametrize("where", ["--out", "--state-dir"])
def test_sim_up_over_a_running_fleet_names_the_command_that_stops_it(
    tmp_path: Path, where: str
) -> None:
    folder = tmp_path / "my fleet"  # a space: the command is quoted for the shell
    up = ["sim", "up", "--hosts", "1", "--port", "0", "--first-address", next_first_address()]
    up += ["--out", str(folder)]
    if where == "--state-dir":
        up += ["--state-dir", str(tmp_path / "state")]
    first = sagefleet(*up)
    assert first.returncode == 0, first.stderr
    state = tmp_path / "state" if where == "--state-dir" else folder / ".sim"
    try:
        again = sagefleet(*up)
        assert again.returncode == 2
        hint = again.stderr.split("run `", 1)[1].split("`", 1)[0]
        place = str(state if where == "--state-dir" else folder)
        assert hint == shlex.join(["sagefleet", "sim", "down", where, place])
        down = sagefleet(*shlex.split(hint)[1:])
        assert down.returncode == 0 and "stopped" in down.stdout, down.stdout + down.stderr
    finally:
        sagefleet("sim", "down", "--state-dir", str(state))


def test_sim_up_refuses_a_first_address_no_host_gets(tmp_path: Path) -> None:
    """Every .0 and .255 is skipped: 127.0.21.255 went on silently at 127.0.22.1."""
    for address, says in [
        ("127.0.21.255", "--first-address 127.0.21.255: no host gets a .0 or .255 address"),
        ("127.0.22.0", "--first-address 127.0.22.0: no host gets a .0 or .255 address"),
        ("abc", "--first-address abc: not an IPv4 address"),
    ]:
        out = str(tmp_path / "f")
        up = sagefleet(
            "sim", "up", "--hosts", "2", "--first-address", address, "--port", "0", "--out", out
        )
        if up.returncode == 0:
            sagefleet("sim", "down", "--out", out)
        assert up.returncode == 2
        assert up.stderr.startswith(f"sagefleet: error: {says}"), up.stderr
        assert "Traceback" not in up.stderr
        assert not (tmp_path / "f").exists()


def demo_inventory(tmp_path: Path) -> Path:
    """The demo inventory with addresses moved so the test cannot collide with a user's demo."""
    folder = tmp_path / "demo"
    shutil.copytree(ROOT / "inventory/demo", folder, ignore=shutil.ignore_patterns(".sim"))
    source = yaml.safe_load((folder / "hosts.yml").read_text())
    hosts = source["all"]["children"]["sage_servers"]["hosts"]
    first = next_first_address().rsplit(".", 1)[0]
    for index, hv in enumerate(hosts.values(), start=1):
        hv["ansible_host"] = f"{first}.{index}"
    (folder / "hosts.yml").write_text(yaml.safe_dump(source))
    return folder / "hosts.yml"


def test_demo_runs_the_playbook_on_every_demo_host_and_leaves_nothing(tmp_path: Path) -> None:
    inventory = demo_inventory(tmp_path)
    reports = tmp_path / "reports"  # not the checkout's reports/, where a user's demo writes
    before = sorted((ROOT / "reports").rglob("*")) if (ROOT / "reports").exists() else []
    result = subprocess.run(
        [
            *SAGEFLEET,
            "demo",
            "--project",
            str(ROOT),
            "--inventory",
            str(inventory),
            "--report-dir",
            str(reports),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name, hostname in [
        ("bijou-onprem", "SAGE-ONPREM"),
        ("atelier-spc", "SPC-VM"),
        ("garage-skew", "SAGE-SKEW"),
        ("fromagerie-fr", "SAGE-FR"),
    ]:
        assert any(
            line.strip().startswith(f"- {name}") and " ok " in line and hostname in line
            for line in result.stdout.splitlines()
        ), result.stdout
    # The SPC VM: SF305 (Azure SQL redirect ports) is a warning on SPC.
    assert "Totals: Hosts 9 (blocked 4, unreachable 0, warnings 1, ready 4)" in result.stdout
    assert "Totals: Hosts 9 (blocked 4, installed 4, upgraded 1)" in result.stdout
    # Where its reports are (this run's, in their folder per inventory), and what next.
    epilogue = result.stdout.split("reports of this demo", 1)[-1]
    for job in ("preflight", "deploy"):
        assert f"{reports}/demo/{job}/latest/report.html" in epilogue
        assert (reports / "demo" / job / "latest" / "report.html").exists()
    assert f"{reports}/demo/host_info/latest/host_info.json" in epilogue
    summary = json.loads((reports / "demo" / "host_info" / "latest" / "host_info.json").read_text())
    assert len(summary) == 9 and {h["status"] for h in summary.values()} == {"ok"}
    after = sorted((ROOT / "reports").rglob("*")) if (ROOT / "reports").exists() else []
    assert after == before  # the checkout's own reports/ untouched
    assert "docs/operator-guide.md" in epilogue
    assert result.stdout.rstrip().endswith("simulated fleet stopped")
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
    assert not any(port_open(hv["ansible_host"], 5986) for hv in hosts.values())


def test_demo_interrupted_stops_the_fleet_and_the_playbook(tmp_path: Path) -> None:
    inventory = demo_inventory(tmp_path)
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
    address = next(iter(hosts.values()))["ansible_host"]
    process = subprocess.Popen(
        [*SAGEFLEET, "demo", "--project", str(ROOT), "--inventory", str(inventory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # As a job in a terminal's foreground, where Ctrl-C interrupts: a background job of
        # a script (a CI runner's) starts with SIGINT ignored, and its children inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not port_open(address, 5986):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does to the foreground group
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0, output[-3000:]
    assert "simulated fleet stopped" in output
    assert not port_open(address, 5986)
    assert group_members(process.pid) == []


def test_demo_interrupted_while_the_fleet_starts_stops_what_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sagefleet import cli
    from sagefleet.sim.fleet import Fleet

    inventory = demo_inventory(tmp_path)
    hosts = yaml.safe_load(inventory.read_text())["all"]["children"]["sage_servers"]["hosts"]
    listen = Fleet._listen
    opened: list[str] = []

    def listen_then_ctrl_c(self: Fleet, spec: object) -> object:
        if len(opened) == 2:
            raise KeyboardInterrupt  # Ctrl-C with two hosts listening
        listener = listen(self, spec)  # type: ignore[arg-type]
        opened.append(spec.name)  # type: ignore[attr-defined]
        return listener

    monkeypatch.setattr(Fleet, "_listen", listen_then_ctrl_c)
    rc = cli.main(["demo", "--project", str(ROOT), "--inventory", str(inventory)])
    assert rc == 130
    assert capsys.readouterr().out.rstrip().endswith("simulated fleet stopped")
    for name in opened:
        assert not port_open(hosts[name]["ansible_host"], 5986), name


# -- inventories, overrides, profile files, and the command line's own words -------------


def sagefleet(*args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SAGEFLEET, *args], capture_output=True, text=True, timeout=timeout)


def test_sim_up_writes_entities_and_vendor_files_that_match_each_profile(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    up = sagefleet(
        "sim", "up", "--hosts", "3", "--out", str(out), "--port", "0",
        "--first-address", next_first_address(),
        "--profile", "healthy-onprem,healthy-spc", "--profile", "two-entities",
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    try:
        inventory = yaml.safe_load((out / "hosts.yml").read_text())
        hosts = inventory["all"]["children"]["sage_servers"]["hosts"]
        profiles = [hv["sagefleet_sim_profile"] for hv in hosts.values()]
        assert profiles == ["healthy-onprem", "healthy-spc", "two-entities"]
        ca = inventory["all"]["vars"]["ansible_winrm_ca_trust_path"]
        for name, hv in hosts.items():
            entities = hv["sagefleet_entities"]
            assert entities, name
            target = WinRMTarget(
                host=name, address=hv["ansible_host"], port=hv["ansible_port"],
                username=hv["ansible_user"], password=hv["ansible_password"], ca_trust_path=ca,
            )  # fmt: skip
            with WinRMSession(target) as session:
                facts = session.run_snippet(
                    "facts", {"mae_files": [e["mae_path"] for e in entities], "endpoints": []}
                )
            for entity, mae in zip(entities, facts["mae_files"], strict=True):
                assert mae["exists"] and mae["database"] == entity["database"], (name, mae)
                server = mae["serveur_sql"]
                if entity["edition"] == "spc":
                    assert server == entity["azure_sql_server"] + ".database.windows.net"
                else:
                    assert server == entity["sql_instance"]
                vendor = Path(entity["vendor_settings"])
                assert vendor.is_file() and vendor.stat().st_mode & 0o077 == 0
                assert vendor.parent.parent.parent == out / "vendor"
                document = json.loads(vendor.read_text(encoding="utf-8-sig"))
                assert "connections" not in document and "schemaVersion" not in document
                (connection,) = document["Connections"]
                assert connection["CompanyName"] == entity["company_code"]
                assert connection["SqlPassword"] == entity["sql_password"]
        assert [e["edition"] for e in hosts["sage02"]["sagefleet_entities"]] == ["spc"]
        assert [e["name"] for e in hosts["sage03"]["sagefleet_entities"]] == ["BIJOU", "CHOCO"]
    finally:
        sagefleet("sim", "down", "--out", str(out))


def write_yaml(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def client_inventory(folder: Path, **host_vars: object) -> Path:
    """A one-host inventory for `sim up -i`, with these host_vars."""
    address = next_first_address()
    write_yaml(folder / "hosts.yml", {"all": {"children": {"sage_servers": {"hosts": {
        "srv1": {"ansible_host": address, "ansible_port": 0}}}}}})  # fmt: skip
    write_yaml(folder / "group_vars" / "all.yml", {
        "ansible_connection": "winrm", "ansible_user": "sfclient", "ansible_password": "Pw-x1"
    })  # fmt: skip
    write_yaml(folder / "host_vars" / "srv1.yml", host_vars)
    return folder / "hosts.yml"


def test_sim_up_from_an_inventory_applies_the_hosts_profile_file_and_overrides(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "client"
    profile = yaml.safe_load((ROOT / "src/sagefleet/sim/profiles/agent-old.yml").read_text())
    write_yaml(folder / "profiles" / "client-srv1.yml", {**profile, "hostname": "CLIENT-SRV1"})
    inventory = client_inventory(
        folder,
        sagefleet_sim_profile="profiles/client-srv1.yml",
        sagefleet_sim_overrides={"agent": {"version": "3.1.0"}, "ui_language": "fr-FR"},
    )
    up = sagefleet("sim", "up", "-i", str(inventory))
    assert up.returncode == 0, up.stderr
    try:
        state = json.loads((folder / ".sim" / "state.json").read_text())
        (host,) = state["hosts"]
        target = WinRMTarget(
            host="srv1", address=host["address"], port=host["port"], username="sfclient",
            password="Pw-x1", ca_trust_path=str(folder / ".sim" / "ca.pem"),
        )  # fmt: skip
        with WinRMSession(target) as session:
            # The facts snippet looks the agent up by the profile's name: it has no default.
            lookup = {"service_name": agent_profile.default().service_name, "endpoints": []}
            facts = session.run_snippet("facts", lookup)
        assert facts["host"]["hostname"] == "CLIENT-SRV1"
        assert facts["agent"]["version"] == "3.1.0"
        assert facts["agent"]["account"] == "CORP\\svc-spendesk"  # the rest of agent: kept
    finally:
        sagefleet("sim", "down", "-i", str(inventory))


def test_the_simulator_leaves_no_file_holding_the_winrm_password(tmp_path: Path) -> None:
    """Its NTLM account file held the served inventory's WinRM password in clear in the
    temporary folder, and stayed there after `sim down` (a real client's password, when
    `sim up -i` serves that client's inventory). A ':' in it, which Windows accepts, made
    the file's line unreadable and the logon fail."""
    folder, temp = tmp_path / "client", tmp_path / "tmp"
    temp.mkdir()
    password = "Pw:x1 é-NtlmFile"
    inventory = client_inventory(folder, sagefleet_sim_profile="healthy-onprem")
    write_yaml(folder / "group_vars" / "all.yml", {
        "ansible_connection": "winrm", "ansible_user": "sfclient", "ansible_password": password
    })  # fmt: skip
    env = {**os.environ, "TMPDIR": str(temp)}

    def sim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*SAGEFLEET, "sim", *args, "-i", str(inventory)], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    up = sim("up")
    assert up.returncode == 0, up.stderr
    try:
        (host,) = json.loads((folder / ".sim" / "state.json").read_text())["hosts"]
        target = WinRMTarget(
            host="srv1", address=host["address"], port=host["port"], username="sfclient",
            password=password, ca_trust_path=str(folder / ".sim" / "ca.pem"),
        )  # fmt: skip
        with WinRMSession(target) as session:
            assert session.run_snippet("host_info")["hostname"]
        held = b"".join(p.read_bytes() for p in temp.rglob("*") if p.is_file())
        assert b"Pw:x1" not in held and "Pw:x1".encode("utf-16-le") not in held
    finally:
        down = sim("down")
    assert down.returncode == 0, down.stderr
    assert not [p.name for p in temp.rglob("*")]


def test_a_bad_override_stops_sim_up_in_one_line_before_anything_starts(tmp_path: Path) -> None:
    inventory = client_inventory(
        tmp_path / "client",
        sagefleet_sim_profile="agent-old",
        sagefleet_sim_overrides={"agent": {"state": "Runing"}},
    )
    up = sagefleet("sim", "up", "-i", str(inventory))
    assert up.returncode == 2
    assert up.stderr == (
        "sagefleet: error: host srv1: sagefleet_sim_overrides (over profile 'agent-old'): "
        'field agent.state: "Runing" is not one of "Running", "Stopped", "StartPending", '
        '"StopPending"\n'
    )
    assert not (tmp_path / "client" / ".sim" / "sim.log").exists()  # no simulator started


def test_a_bad_profile_file_is_one_line_naming_the_file_field_and_value(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yml"
    bad.write_text("hostname: SAGE-MINE\nsage: {version: 11.02}\n")
    up = sagefleet("sim", "up", "--hosts", "1", "--profile-file", str(bad), "--out", str(tmp_path))
    assert up.returncode == 2
    assert up.stderr.startswith(
        f"sagefleet: error: profile file {bad}: field sage.version: 11.02 is not a string"
    )
    assert len(up.stderr.splitlines()) == 1 and "Traceback" not in up.stderr


def test_sim_without_a_command_names_the_commands_not_an_internal_name() -> None:
    result = sagefleet("sim")
    assert result.returncode == 2
    assert "sagefleet sim: choose a command: up, down, serve, profiles, twin" in result.stderr
    assert "sim_command" not in result.stderr and "required" not in result.stderr
    top = sagefleet()
    assert top.returncode == 2 and "sagefleet: choose a command: sim, demo," in top.stderr


def up_on_a_taken_port(out: Path) -> tuple[subprocess.CompletedProcess[str], str, int]:
    """``sim up`` of one host on an address and port something else listens on."""
    address = next_first_address()
    with socket.socket() as taken:
        taken.bind((address, 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = sagefleet(
            "sim", "up", "--hosts", "1", "--out", str(out), "--first-address", address,
            "--port", str(port),
        )  # fmt: skip
    return up, address, port


def test_an_error_of_the_background_simulator_is_reported_once(tmp_path: Path) -> None:
    up, address, port = up_on_a_taken_port(tmp_path)
    assert up.returncode == 2
    assert up.stderr.count("error") == 1 and "exited with code" not in up.stderr
    assert up.stderr.startswith(f"sagefleet: error: host sage01: cannot listen on {address}:{port}")
    # What it made for the fleet that never ran is gone: the key and CA it wrote, its folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failed_sim_up_takes_back_the_keys_it_wrote_into_an_existing_state_folder(
    tmp_path: Path,
) -> None:
    state = tmp_path / ".sim"
    state.mkdir()
    (state / "sim.log").write_text("an earlier fleet's log\n")
    up, _, _ = up_on_a_taken_port(tmp_path)
    assert up.returncode == 2
    assert sorted(p.name for p in state.iterdir()) == ["sim.log"]  # the folder was there


def test_options_for_generated_hosts_are_refused_with_an_inventory(tmp_path: Path) -> None:
    inventory = client_inventory(tmp_path / "client", sagefleet_sim_profile="agent-old")
    result = sagefleet("sim", "up", "-i", str(inventory), "--first-address", "127.0.9.1")
    assert result.returncode == 2
    assert result.stderr.startswith("sagefleet: error: --first-address is for --hosts only")
    assert not (tmp_path / "client" / ".sim").exists()


def test_every_option_of_sim_has_help() -> None:
    import argparse

    from sagefleet.cli import build_parser

    def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(action.choices)

    sim = commands(build_parser())["sim"]
    assert sorted(commands(sim)) == ["down", "profiles", "serve", "twin", "up"]
    missing = [
        f"sim {name} {action.dest}"
        for name, command in commands(sim).items()
        for action in command._actions
        if not action.help
    ]
    assert missing == []


def test_sim_up_refuses_a_profile_that_would_leave_a_host_without_entities(
    tmp_path: Path,
) -> None:
    bare = tmp_path / "no-sage-files.yml"
    bare.write_text("hostname: SAGE-BARE\n")
    up = sagefleet("sim", "up", "--hosts", "2", "--profile-file", str(bare), "--out", str(tmp_path))
    assert up.returncode == 2
    assert up.stderr.startswith(
        "sagefleet: error: host sage01: profile 'no-sage-files' has no .MAE file"
    )
    assert not (tmp_path / "hosts.yml").exists() and not (tmp_path / ".sim").exists()
