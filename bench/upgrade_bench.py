"""Fleet upgrade benchmark: playbooks/deploy.yml on hosts running an old agent.

The lower bound of an upgrade comes from what one host's deploy needs on the
wire: its PowerShell commands and stdin Sends, counted from the simulator's
listener in a one-host run of the same playbook (``count_per_host``). Each
command is a Command and a Receive round trip and one PowerShell start-up;
each Send is a round trip; one shell (Create, Delete) and the NTLM handshake
(2) per host. The waves run one after another (``serial``), each wave in
ceil(wave size / forks) rounds, so the bound sums the rounds over the waves.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import ROOT

DEPLOY_PLAYBOOK = ROOT / "playbooks" / "deploy.yml"
#: playbooks/deploy.yml's default waves (``sagefleet_deploy_waves``).
DEFAULT_WAVES: tuple[int | str, ...] = (1, "10%", "25%", "100%")
#: Round trips per host outside the commands: NTLM negotiate and authenticate,
#: Create shell, Delete shell.
SESSION_ROUND_TRIPS = 4
PROFILE = "agent-old"
AGENT_VERSION = "3.2.0"
#: The upgrade's wall time over its lower bound, at most (the performance issue's target).
TARGET_VS_BOUND = 1.3

# -- the model -------------------------------------------------------------------------


def _batch(value: int | str, total: int) -> int:
    """One serial entry as a host count, as Ansible reads it (a percentage rounds down, min 1)."""
    if isinstance(value, str) and value.endswith("%"):
        return int(int(value[:-1]) / 100.0 * total) or 1
    return int(value)


def wave_sizes(hosts: int, waves: Sequence[int | str] = DEFAULT_WAVES) -> list[int]:
    """Hosts per wave for ``serial: waves``; the last entry repeats until every host is done."""
    if hosts < 1:
        raise ValueError("hosts must be at least 1")
    if not waves:
        return [hosts]
    sizes: list[int] = []
    left, index = hosts, 0
    while left > 0:
        size = _batch(waves[min(index, len(waves) - 1)], hosts)
        if size <= 0:
            sizes.append(left)
            break
        sizes.append(min(size, left))
        left -= sizes[-1]
        index += 1
    return sizes


def wave_rounds(hosts: int, forks: int, waves: Sequence[int | str] = DEFAULT_WAVES) -> list[int]:
    """Rounds of ``forks`` hosts in each wave: ceil(wave size / forks)."""
    if forks < 1:
        raise ValueError("forks must be at least 1")
    return [math.ceil(size / forks) for size in wave_sizes(hosts, waves)]


def min_requests(commands: int, sends: int) -> int:
    """Fewest HTTP requests of one host's commands: the session's 4, a Command and a Receive
    per command, and 1 per Send (a counted run that took fewer means the model is wrong)."""
    return SESSION_ROUND_TRIPS + 2 * commands + sends


def min_round_trips(commands: int, sends: int) -> int:
    """Round trips one after the other in the fastest run: the session's 4, a Command per
    command and 1 per Send. Not the Receive: Windows starts the process when the last
    Send arrives (or at the Command, without stdin), so the Receive travels while
    PowerShell starts and its round trip hides in the start-up (ledger row 42 of
    docs/simulator.md); ``start_s`` counts whichever is longer."""
    return SESSION_ROUND_TRIPS + commands + sends


def start_s(latency_s: float, startup_s: float) -> float:
    """One command's process, from its start to its output at the bastion: the start-up, or
    the Receive's round trip when that is longer."""
    return max(startup_s, latency_s)


def per_host_bound_s(commands: int, sends: int, latency_s: float, startup_s: float) -> float:
    """One host's deploy in the cost model: round trips x latency + commands x start."""
    return min_round_trips(commands, sends) * latency_s + commands * start_s(latency_s, startup_s)


def lower_bound_s(
    hosts: int,
    forks: int,
    latency_s: float,
    startup_s: float,
    *,
    commands: int,
    sends: int,
    waves: Sequence[int | str] = DEFAULT_WAVES,
) -> float:
    """Fastest possible upgrade of the fleet: per-host bound x rounds, summed over the waves."""
    per_host = per_host_bound_s(commands, sends, latency_s, startup_s)
    return per_host * sum(wave_rounds(hosts, forks, waves))


# -- running it ----------------------------------------------------------------------------


def build_package(folder: Path) -> Path:
    from sagefleet.package import build_test_package

    return build_test_package(folder / f"Setup-{AGENT_VERSION}.zip", agent_version=AGENT_VERSION)


def _playbook(inventory: Path, package: Path, forks: int, out: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        str(inventory),
        str(DEPLOY_PLAYBOOK),
        "-f",
        str(forks),
        "-e",
        f"sagefleet_agent_package={package}",
        "-e",
        f"sagefleet_deploy_report_dir={out}",
    ]


def check_report(out: Path, hosts: int) -> str | None:
    """None when the deploy report lists every host as upgraded; else what is wrong."""
    path = out / "report.json"
    if not path.exists():
        return "no report.json written"
    found = json.loads(path.read_text(encoding="utf-8")).get("hosts", [])
    if len(found) != hosts:
        return f"report has {len(found)} hosts, expected {hosts}"
    bad = [h["host"] for h in found if (h.get("summary") or {}).get("deploy") != "upgraded"]
    if bad:
        return f"{len(bad)} host(s) not upgraded, e.g. {bad[0]}"
    return None


def count_per_host(work: Path, package: Path, *, first_address: str, forks: int) -> dict[str, Any]:
    """Operations one host's upgrade takes: a one-host run of the playbook, counted by its
    listener (``harness.one_host``)."""
    with harness.one_host(work, profile=PROFILE, first_address=first_address) as (
        fleet,
        name,
        inventory,
    ):
        out = work / "count-out"
        process = subprocess.run(
            _playbook(inventory, package, forks, out),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        )
        problem = check_report(out, 1)
        if process.returncode != 0 or problem:
            raise RuntimeError(f"one-host upgrade failed ({problem}):\n{process.stdout[-3000:]}")
        counted = harness.listener_counts(fleet, name)
        operations = counted["operations"]
        return {
            "operations": operations,
            "requests": fleet.listeners[name].stats.requests,
            "powershell_starts": counted["powershell_starts"],
            "commands": operations.get("Command", 0),
            "sends": operations.get("Send", 0),
        }


def run(
    *,
    hosts: int,
    forks: int,
    latency_s: float,
    startup_s: float,
    repeats: int,
    first_address: str,
    port: int,
    count_address: str,
    log: Any = print,
) -> dict[str, Any]:
    """The one-host count, then ``repeats`` upgrades of ``hosts`` hosts, a fresh fleet each."""
    from sagefleet.sim.fleet import down, up

    work = Path(tempfile.mkdtemp(prefix="upgrade-perf-"))
    runs: list[dict[str, Any]] = []
    try:
        package = build_package(work / "pkg")
        count = count_per_host(work, package, first_address=count_address, forks=forks)
        log(
            f"[upgrade] one host: {count['commands']} commands ({count['powershell_starts']} "
            f"PowerShell starts), {count['sends']} Sends, operations {count['operations']}"
        )
        for r in range(repeats):
            state_dir = work / f"sim-{r}"
            inventory = harness.write_inventory(
                work / f"inventory-{r}" / "hosts.yml",
                hosts,
                first_address=first_address,
                port=port,
                ca_file=state_dir / "ca.pem",
                latency_s=latency_s,
                startup_s=startup_s,
                profile=PROFILE,
            )
            state = up(["--inventory", str(inventory)], state_dir, timeout=180)
            try:
                out = work / f"out-{r}"
                out.mkdir()
                result = harness.measure(
                    _playbook(inventory, package, forks, out),
                    log=out / "run.log",
                    simulator_pid=int(state["pid"]),
                    env={**os.environ, "ANSIBLE_NOCOLOR": "1", "PYTHONUNBUFFERED": "1"},
                )
            finally:
                down(state_dir)
            problem = check_report(out, hosts)
            if result["rc"] != 0 or problem:
                tail = (out / "run.log").read_text(encoding="utf-8", errors="replace")[-1500:]
                result["error"] = problem or f"exit code {result['rc']}: {tail}"
            runs.append(result)
            log(
                f"[upgrade] {hosts} hosts: wall {result['wall_s']:.2f} s  cpu "
                f"{result['cpu_s']:.1f} s  sim cpu {result['simulator_cpu_s']:.1f} s"
                + (f"  ERROR {result['error'][:300]}" if result.get("error") else "")
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summarise(
        runs, count, hosts=hosts, forks=forks, latency_s=latency_s, startup_s=startup_s
    )


def summarise(
    runs: Sequence[Mapping[str, Any]],
    count: Mapping[str, Any],
    *,
    hosts: int,
    forks: int,
    latency_s: float,
    startup_s: float,
    waves: Sequence[int | str] = DEFAULT_WAVES,
) -> dict[str, Any]:
    """Medians of the runs against the lower bound built from the one-host count."""
    commands, sends = int(count["commands"]), int(count["sends"])
    bound = lower_bound_s(
        hosts, forks, latency_s, startup_s, commands=commands, sends=sends, waves=waves
    )
    good = [r for r in runs if not r.get("error")] or list(runs)

    def median(key: str) -> float | None:
        return harness.median(good, key)

    wall = median("wall_s")
    cpu = median("cpu_s")
    ratio = round(wall / bound, 2) if wall and bound else None
    return {
        "hosts": hosts,
        "forks": forks,
        "waves": list(waves),
        "wave_sizes": wave_sizes(hosts, waves),
        "wave_rounds": wave_rounds(hosts, forks, waves),
        "per_host": dict(count),
        "min_round_trips_per_host": min_round_trips(commands, sends),
        "per_host_bound_s": round(per_host_bound_s(commands, sends, latency_s, startup_s), 3),
        "lower_bound_s": round(bound, 3),
        "runs": len(runs),
        "wall_s": wall,
        "vs_lower_bound": ratio,
        "cpu_s": cpu,
        "cpu_per_host_s": round(cpu / hosts, 4) if cpu is not None else None,
        "simulator_cpu_s": median("simulator_cpu_s"),
        "peak_tree_rss_mib": median("peak_tree_rss_mib"),
        "max_process_rss_mib": median("max_process_rss_mib"),
        "errors": [r["error"] for r in runs if r.get("error")],
        "targets": [
            harness.verdict(
                "upgrade_vs_lower",
                f"upgrade of {hosts} hosts: wall time / lower bound (at most)",
                ratio,
                TARGET_VS_BOUND,
                at_least=False,
            )
        ],
        "raw": list(runs),
    }
