"""Fleet preflight benchmark: naive Ansible vs preflight.yml vs `sagefleet doctor`.

Starts a simulated fleet in its own process (`sagefleet sim serve`), every
host with the same per-request latency (default 20 ms) and PowerShell
start-up delay (default 300 ms), and measures, side by side in one run, for
each fleet size (default 10, 100 and 500 hosts):

- the lower bound of the model: the fewest WinRM round trips of one preflight
  per host x latency + one PowerShell start-up, times ceil(hosts /
  concurrency), at the concurrency of each approach. The round trips and
  start-ups are counted by the simulator's listener in a one-host run first
  (``count_preflight``): the commands and stdin Sends of the direct path give
  the fewest round trips (``upgrade_perf.min_round_trips``: 7, MIN_ROUND_TRIPS
  being the model's expectation, checked against the count);
- naive: bench/naive_preflight.yml, one ansible.builtin.raw task per check;
- preflight: playbooks/preflight.yml (its default, fleet mode);
- preflight_per_host: playbooks/preflight.yml with sagefleet_preflight_mode=per_host;
- doctor: `sagefleet doctor`.

Two more benchmarks run in the same invocation (bench/transfer_perf.py,
bench/upgrade_perf.py): a 50 MiB package pushed over a simulated bandwidth
limit with the same per-request latency, sagefleet's transfer against
ansible-core's put_file, then again with the package already there (and the
same pushes without latency, for reference); and an upgrade of 100 hosts running an old agent
with playbooks/deploy.yml in its default waves, against its lower bound.

For every run: wall time, controller CPU seconds (the command and all its
children, from wait4), the simulator's own CPU seconds (its process, to show
it is not the bottleneck), the controller's peak memory (sum of the resident
sizes of its process tree, sampled; and the largest single process). Each
point is repeated and the medians are reported. Results go to JSON, a
Markdown table and a PNG plot; --docs also refreshes docs/performance.md.

    python bench/fleet_perf.py --output .sagefleet/bench --docs docs
    python bench/fleet_perf.py --hosts 10 --repeats 1      # a quick look
    python bench/fleet_perf.py --quick --output /tmp/bench # every path once, tiny sizes

The naive baseline is slow by design: at the largest size it runs once, and
is skipped (with a note in the report) when its projected time, from the
previous size, exceeds --naive-budget.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import baseline_models  # noqa: E402 - a sibling module of this script
import transfer_perf  # noqa: E402
import upgrade_perf  # noqa: E402

NAIVE_PLAYBOOK = ROOT / "bench" / "naive_preflight.yml"
PREFLIGHT_PLAYBOOK = ROOT / "playbooks" / "preflight.yml"

#: One preflight of one host is one PowerShell command (all facts in one script)
#: whose script travels on stdin behind the fixed bootstrap (one Send): cmd.exe
#: refuses a command line over 8191 characters (remote/command.py).
MODEL_COMMANDS = 1
MODEL_SENDS = 1
#: Fewest HTTP round trips of that preflight over WinRM with NTLM: the request
#: that draws the 401 and the NTLM negotiate (2; the authenticate leg carries the
#: Create), then Create shell, Command, Send, Receive (the output comes back in
#: one Receive when the command ends within the OperationTimeout) and Delete
#: shell. Signal (terminate the command) is skippable: deleting the shell ends
#: it. The benchmark checks this against a counted run (count_preflight).
MIN_ROUND_TRIPS = upgrade_perf.min_round_trips(MODEL_COMMANDS, MODEL_SENDS)
#: PowerShell processes one preflight must start: one (all facts in one script).
MIN_POWERSHELL_STARTS = 1

APPROACHES = ("naive", "preflight", "preflight_per_host", "doctor")
LABELS = {
    "lower_bound": "lower bound (model)",
    "naive": "naive raw tasks (bench/naive_preflight.yml)",
    "preflight": "playbooks/preflight.yml (fleet mode)",
    "preflight_per_host": "playbooks/preflight.yml (per_host mode)",
    "doctor": "sagefleet doctor",
}
#: How each approach appears in the one-host count.
COUNTED = {"doctor": "sagefleet doctor", "preflight": "preflight.yml, fleet mode",
           "preflight_per_host": "preflight.yml, per_host mode"}

BENCHMARKS = ("preflight", "transfer", "upgrade")

TARGETS = {
    "preflight_vs_naive_at_100": 5.0,  # preflight.yml at least 5x faster than naive
    "preflight_vs_lower_at_100": 1.5,  # within 1.5x of the lower bound at its forks
    "doctor_vs_lower_at_500": 1.3,  # within 1.3x of the lower bound
    "preflight_vs_doctor_at_500": 1.2,  # preflight.yml's wall time within 1.2x of doctor's
    "preflight_cpu_per_host_s": 0.05,  # controller CPU per host, at most (100 hosts and more)
    "doctor_cpu_per_host_s": 0.05,
}
#: Sizes from which the CPU per host is judged: below, the start-up (imports, the
#: inventory, the reports) is most of a run's CPU.
CPU_TARGET_FROM_HOSTS = 100


# -- the model ------------------------------------------------------------------


def rounds(hosts: int, concurrency: int) -> int:
    """How many waves of ``concurrency`` hosts a fleet of ``hosts`` takes."""
    if hosts < 1 or concurrency < 1:
        raise ValueError("hosts and concurrency must be at least 1")
    return math.ceil(hosts / concurrency)


def lower_bound_s(
    hosts: int,
    concurrency: int,
    latency_s: float,
    startup_s: float,
    round_trips: int = MIN_ROUND_TRIPS,
    powershell_starts: int = MIN_POWERSHELL_STARTS,
) -> float:
    """Fastest possible preflight of the fleet in the simulator's cost model."""
    per_host = round_trips * latency_s + powershell_starts * startup_s
    return per_host * rounds(hosts, concurrency)


# -- measuring one command ------------------------------------------------------


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def _cpu_of(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def other_cpu_share(run: Mapping[str, Any], cpus: int) -> float:
    """The share of the machine's cores that processes outside the run used during it
    (0 when the run does not say: a result file from before this was measured)."""
    if "other_cpu_s" not in run or not run.get("wall_s"):
        return 0.0
    return float(run["other_cpu_s"]) / (float(run["wall_s"]) * max(1, cpus))


def _other_work(share: float | None) -> str:
    if share is None:
        return "other work on the machine was not measured"
    return (
        f"processes outside the benchmark used at most {share * 100:.0f} % of the cores "
        "during a run (from /proc/stat, less the run's and the simulator's CPU)"
    )


def _machine_busy_s() -> float:
    """CPU seconds every process of the machine has used since boot (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # without guest time


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def _adopt_orphans(on: bool = True) -> None:
    """Become (or stop being) the parent of the command's orphaned descendants: a process
    it started and left running past its own end (preflight.yml's fleet task starts one
    that outlives the task's worker). Adopted, they are waited for here and their CPU
    counted."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0)


def _adopted(exclude: set[int]) -> list[int]:
    """This process's children that the command left behind."""
    import psutil

    return [c.pid for c in psutil.Process().children() if c.pid not in exclude]


def _reap(pid: int, deadline: float) -> Any:
    """Wait for an adopted process to end (it ends with its work), its resource usage."""
    while time.monotonic() < deadline:
        done, _, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return usage
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return os.wait4(pid, 0)[2]


def measure(
    command: Sequence[str], *, log: Path, simulator_pid: int, env: Mapping[str, str]
) -> dict[str, Any]:
    """Run ``command`` to the end; wall, CPU (it and its children, those it left running
    included), memory, simulator CPU, and the CPU every other process of the machine used
    meanwhile."""
    _adopt_orphans()
    sim_cpu_before = _cpu_of(simulator_pid)
    busy_before = _machine_busy_s()
    with open(log, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=dict(env)
        )
        known = {simulator_pid, process.pid}
        peak_tree = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            rss = _tree_rss(process.pid) + sum(_tree_rss(p) for p in _adopted(known))
            peak_tree = max(peak_tree, rss)
            time.sleep(0.2)
        wall = time.perf_counter() - started
        # What the command left running ends with its work, or with the command (it
        # watches it): wait for it, its CPU is the command's.
        left = [_reap(p, time.monotonic() + 30) for p in _adopted(known)]
    _adopt_orphans(False)
    busy = _machine_busy_s() - busy_before
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime + sum(u.ru_utime + u.ru_stime for u in left)
    simulator_cpu = _cpu_of(simulator_pid) - sim_cpu_before
    return {
        "rc": process.returncode,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_tree_rss_mib": peak_tree / 2**20,
        "max_process_rss_mib": max([usage.ru_maxrss, *(u.ru_maxrss for u in left)]) / 1024,
        "simulator_cpu_s": simulator_cpu,
        # Other work on the machine skews every figure: kept to judge a run. The
        # benchmark's own sampling (every 0.2 s) counts as other work, a little.
        "other_cpu_s": max(0.0, busy - cpu - simulator_cpu),
    }


# -- the fleet --------------------------------------------------------------------


def write_inventory(
    path: Path,
    hosts: int,
    *,
    first_address: str,
    port: int,
    ca_file: Path,
    latency_s: float,
    startup_s: float,
    profile: str = "healthy-onprem",
) -> Path:
    """An inventory of ``hosts`` servers of one profile with their entities and faults."""
    import yaml

    sys.path.insert(0, str(ROOT))
    from tests.scenarios import entities_for

    from sagefleet.sim.fleet import generate_specs

    specs = generate_specs(
        hosts, profiles=[profile], first_address=first_address, port=port, prefix="bench"
    )
    entities = entities_for(profile)
    inventory = {
        "all": {
            "vars": {
                "ansible_connection": "winrm",
                "ansible_winrm_transport": "ntlm",
                "ansible_winrm_server_cert_validation": "validate",
                "ansible_winrm_ca_trust_path": str(ca_file),
                "sagefleet_agent_target_version": "3.2.0",
                "sagefleet_entities": entities,
                "sagefleet_sim_faults": {
                    "latency": latency_s,
                    "powershell_startup": startup_s,
                },
            },
            "children": {
                "sage_servers": {
                    "hosts": {
                        s.name: {
                            "ansible_host": s.address,
                            "ansible_port": s.port,
                            "ansible_winrm_scheme": s.scheme,
                            "ansible_user": s.username,
                            "ansible_password": s.password,
                            "sagefleet_sim_profile": s.profile,
                        }
                        for s in specs
                    }
                }
            },
        }
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
    return path


def _check_report(folder: Path, hosts: int) -> str | None:
    """None when the JSON report covers every host, reachable; else what is wrong."""
    reports = sorted(folder.glob("*.json"))
    if not reports:
        return "no JSON report written"
    data = json.loads(reports[0].read_text(encoding="utf-8"))
    found = data.get("hosts", [])
    if len(found) != hosts:
        return f"report has {len(found)} hosts, expected {hosts}"
    bad = [h.get("host") for h in found if not h.get("reachable", False) or h.get("error")]
    if bad:
        return f"{len(bad)} host(s) unreachable or without facts, e.g. {bad[0]}"
    return None


def _check_recap(log: Path, hosts: int) -> str | None:
    """None when the PLAY RECAP lists every host with no failure or unreachable."""
    text = log.read_text(encoding="utf-8", errors="replace")
    recap = text.split("PLAY RECAP", 1)[-1]
    lines = [line for line in recap.splitlines() if "ok=" in line]
    if len(lines) != hosts:
        return f"recap lists {len(lines)} hosts, expected {hosts}"
    bad = [
        line.split()[0] for line in lines if "unreachable=0" not in line or "failed=0" not in line
    ]
    if bad:
        return f"{len(bad)} host(s) failed or unreachable, e.g. {bad[0]}"
    return None


def run_approach(
    approach: str,
    *,
    inventory: Path,
    hosts: int,
    forks: int,
    doctor_forks: int,
    work: Path,
    simulator_pid: int,
) -> dict[str, Any]:
    bin_dir = Path(sys.executable).parent
    out = Path(tempfile.mkdtemp(prefix=f"{approach}-", dir=work))
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "PYTHONUNBUFFERED": "1"}
    if approach == "doctor":
        command = [
            str(bin_dir / "sagefleet"),
            "doctor",
            "-i",
            str(inventory),
            "--forks",
            str(doctor_forks),
            "--out",
            str(out),
        ]
    else:
        playbook = NAIVE_PLAYBOOK if approach == "naive" else PREFLIGHT_PLAYBOOK
        command = [
            str(bin_dir / "ansible-playbook"),
            "-i",
            str(inventory),
            str(playbook),
            "-f",
            str(forks),
            "-e",
            f"sagefleet_preflight_report_dir={out}",
        ]
        if approach == "preflight_per_host":
            command += ["-e", "sagefleet_preflight_mode=per_host"]
    log = out / "run.log"
    result = measure(command, log=log, simulator_pid=simulator_pid, env=env)
    if result["rc"] != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
        result["error"] = f"exit code {result['rc']}: {tail}"
    else:
        check = _check_recap(log, hosts) if approach == "naive" else _check_report(out, hosts)
        if check:
            result["error"] = check
    if "error" not in result:
        shutil.rmtree(out, ignore_errors=True)
    return result


# -- what one host's preflight takes on the wire --------------------------------------


def _listener_counts(fleet: Any, name: str) -> dict[str, Any]:
    stats = fleet.listeners[name].stats
    return {
        "requests": stats.http_requests,
        "operations": dict(stats.operations),
        "powershell_starts": fleet.faults(name).counters.delayed_commands,
    }


def _delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    operations = {
        op: after["operations"].get(op, 0) - before["operations"].get(op, 0)
        for op in after["operations"]
    }
    return {
        "requests": after["requests"] - before["requests"],
        "operations": {op: n for op, n in sorted(operations.items()) if n},
        "powershell_starts": after["powershell_starts"] - before["powershell_starts"],
    }


def count_preflight(work: Path, *, first_address: str) -> dict[str, Any]:
    """Round trips and PowerShell starts of one host's preflight, counted by its listener.

    One healthy host in this process (its counters read directly), with a PowerShell
    start-up of 0.1 ms so that every command starting PowerShell is counted: first
    through doctor's core (the direct path), then preflight.yml in its fleet mode, then
    in its per_host mode (ansible-core's winrm connection). The lower bound takes the
    direct path's commands and Sends: ``upgrade_perf.min_round_trips``. A direct path
    that took fewer round trips than that would mean the model is not a lower bound:
    the benchmark stops.
    """
    sys.path.insert(0, str(ROOT))
    from tests.scenarios import write_inventory as scenario_inventory

    from sagefleet import doctor
    from sagefleet.inventory import load
    from sagefleet.sim.fleet import Fleet, generate_specs

    specs = generate_specs(
        1, profiles=["healthy-onprem"], first_address=first_address, port=0, prefix="count"
    )
    fleet = Fleet(specs, work / "count-sim").start()
    counts: dict[str, Any] = {}
    try:
        name = specs[0].name
        fleet.faults(name).set(powershell_startup=0.0001)
        inventory = scenario_inventory(
            fleet,
            work / "count-inventory" / "hosts.yml",
            {"sagefleet_agent_target_version": "3.2.0"},
        )
        before = _listener_counts(fleet, name)
        report = doctor.run(load([inventory]), forks=1, processes=1)
        if report.hosts[0].status != "ready":
            raise RuntimeError(f"one-host count: doctor found the host {report.hosts[0].status}")
        counts["doctor"] = _delta(before, _listener_counts(fleet, name))
        for approach, mode in (("preflight", "fleet"), ("preflight_per_host", "per_host")):
            before = _listener_counts(fleet, name)
            out = work / f"count-{mode}"
            process = subprocess.run(
                [
                    str(Path(sys.executable).parent / "ansible-playbook"),
                    "-i", str(inventory), str(PREFLIGHT_PLAYBOOK),
                    "-e", f"sagefleet_preflight_report_dir={out}",
                    "-e", f"sagefleet_preflight_mode={mode}",
                ],
                cwd=ROOT, capture_output=True, text=True, timeout=300,
                env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
            )
            problem = _check_report(out, 1)
            if process.returncode != 0 or problem:
                raise RuntimeError(
                    f"one-host count, preflight.yml {mode} mode ({problem}):\n"
                    + process.stdout[-3000:]
                )
            counts[approach] = _delta(before, _listener_counts(fleet, name))
    finally:
        fleet.stop()
    direct = counts["doctor"]["operations"]
    commands, sends = direct.get("Command", 0), direct.get("Send", 0)
    fewest = upgrade_perf.min_round_trips(commands, sends)
    if counts["doctor"]["requests"] < fewest:
        raise RuntimeError(
            f"the direct path took {counts['doctor']['requests']} round trips, fewer than the "
            f"model's {fewest}: the model of the lower bound is wrong"
        )
    return {
        "paths": counts,
        "commands": commands,
        "sends": sends,
        "round_trips": fewest,
        "powershell_starts": counts["doctor"]["powershell_starts"],
    }


# -- summarising and writing --------------------------------------------------------


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians of the measured figures over the repetitions of one point."""
    keys = ("wall_s", "cpu_s", "peak_tree_rss_mib", "max_process_rss_mib", "simulator_cpu_s")
    summary: dict[str, Any] = {"runs": len(runs)}
    for key in keys:
        values = [float(r[key]) for r in runs if key in r]
        summary[key] = round(statistics.median(values), 3) if values else None
    summary["errors"] = [r["error"] for r in runs if r.get("error")]
    return summary


def build_points(
    measured: Mapping[str, Mapping[int, Sequence[Mapping[str, Any]]]],
    *,
    hosts: Sequence[int],
    concurrency: Mapping[str, int],
    latency_s: float,
    startup_s: float,
    skipped: Mapping[str, Mapping[int, str]] | None = None,
    round_trips: int = MIN_ROUND_TRIPS,
    powershell_starts: int = MIN_POWERSHELL_STARTS,
) -> list[dict[str, Any]]:
    """One row per (approach, hosts): medians, the lower bound at its concurrency, ratios."""
    points: list[dict[str, Any]] = []
    for approach in APPROACHES:
        if approach not in concurrency:
            continue
        c = concurrency[approach]
        for n in hosts:
            bound = lower_bound_s(
                n, c, latency_s, startup_s, round_trips=round_trips,
                powershell_starts=powershell_starts,
            )
            point: dict[str, Any] = {
                "approach": approach,
                "hosts": n,
                "concurrency": c,
                "rounds": rounds(n, c),
                "lower_bound_s": round(bound, 3),
            }
            runs = measured.get(approach, {}).get(n)
            note = (skipped or {}).get(approach, {}).get(n)
            if runs:
                point.update(summarise(runs))
                wall = point["wall_s"]
                point["vs_lower_bound"] = round(wall / bound, 2) if bound else None
                point["cpu_per_host_s"] = (
                    round(point["cpu_s"] / n, 4) if point["cpu_s"] is not None else None
                )
                point["s_per_round"] = round(wall / rounds(n, c), 3)
            elif note:
                point["skipped"] = note
            else:
                continue
            points.append(point)
    return points


def _point(points: Sequence[Mapping[str, Any]], approach: str, hosts: int) -> Mapping[str, Any]:
    for p in points:
        if p["approach"] == approach and p["hosts"] == hosts and p.get("wall_s") is not None:
            return p
    return {}


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float] | None:
    """Least squares y = a + b x, with R^2 (None with fewer than 2 distinct x)."""
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1.0 - ss_res / ss_tot if ss_tot else 1.0
    return {"intercept_s": round(a, 3), "s_per_round": round(b, 3), "r2": round(r2, 4)}


def evaluate_targets(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each target of the issue: the measured ratio, the limit, met or not (None: no data)."""
    verdicts: list[dict[str, Any]] = []
    pre100, naive100 = _point(points, "preflight", 100), _point(points, "naive", 100)
    doc500 = _point(points, "doctor", 500)

    def verdict(name: str, text: str, value: float | None, limit: float, higher: bool) -> None:
        met = None if value is None else (value >= limit if higher else value <= limit)
        verdicts.append(
            {
                "target": name,
                "text": text,
                "value": None if value is None else round(value, 3),
                "limit": limit,
                "met": met,
            }
        )

    speedup = naive100["wall_s"] / pre100["wall_s"] if pre100 and naive100 else None
    verdict(
        "preflight_vs_naive_at_100",
        "preflight.yml at 100 hosts: speed-up over the naive baseline (at least)",
        speedup,
        TARGETS["preflight_vs_naive_at_100"],
        True,
    )
    verdict(
        "preflight_vs_lower_at_100",
        "preflight.yml at 100 hosts: wall time / lower bound (at most)",
        pre100.get("vs_lower_bound") if pre100 else None,
        TARGETS["preflight_vs_lower_at_100"],
        False,
    )
    verdict(
        "doctor_vs_lower_at_500",
        "sagefleet doctor at 500 hosts: wall time / lower bound (at most)",
        doc500.get("vs_lower_bound") if doc500 else None,
        TARGETS["doctor_vs_lower_at_500"],
        False,
    )
    pre500 = _point(points, "preflight", 500)
    verdict(
        "preflight_vs_doctor_at_500",
        "preflight.yml at 500 hosts: wall time / sagefleet doctor's (at most)",
        pre500["wall_s"] / doc500["wall_s"] if pre500 and doc500 else None,
        TARGETS["preflight_vs_doctor_at_500"],
        False,
    )
    for approach, label in (("preflight", "preflight.yml"), ("doctor", "sagefleet doctor")):
        cpu = [
            p["cpu_per_host_s"]
            for p in points
            if p["approach"] == approach and p.get("cpu_s") and p["hosts"] >= CPU_TARGET_FROM_HOSTS
        ]
        verdict(
            f"{approach}_cpu_per_host_s",
            f"{label}: controller CPU seconds per host, largest from "
            f"{CPU_TARGET_FROM_HOSTS} hosts (at most)",
            max(cpu) if cpu else None,
            TARGETS[f"{approach}_cpu_per_host_s"],
            False,
        )
    return verdicts


def against_doctor(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """preflight.yml's wall time (each mode) over doctor's, and over its own lower bound,
    at each size measured for both."""
    rows = []
    for n in sorted({p["hosts"] for p in points}):
        doc = _point(points, "doctor", n)
        for approach in ("preflight", "preflight_per_host"):
            pre = _point(points, approach, n)
            if pre and doc:
                rows.append(
                    {
                        "approach": approach,
                        "hosts": n,
                        "wall_vs_doctor": round(pre["wall_s"] / doc["wall_s"], 2),
                        "bounds_ratio": round(pre["lower_bound_s"] / doc["lower_bound_s"], 2),
                    }
                )
    return rows


def linearity(points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per approach: wall time fitted against the number of rounds ceil(N / concurrency)."""
    fits: dict[str, Any] = {}
    for approach in APPROACHES:
        rows = [p for p in points if p["approach"] == approach and p.get("wall_s") is not None]
        fit = linear_fit([p["rounds"] for p in rows], [p["wall_s"] for p in rows])
        if fit is not None:
            fits[approach] = fit
    return fits


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(results: Mapping[str, Any]) -> str:
    """The results as Markdown: the measured table, targets, linearity, pending benchmarks."""
    params = results["parameters"]
    round_trips = params.get("min_round_trips", MIN_ROUND_TRIPS)
    starts = params.get("powershell_starts", MIN_POWERSHELL_STARTS)
    lines = [
        f"Latency {params['latency_s'] * 1000:.0f} ms per WinRM request, PowerShell start-up "
        f"{params['startup_s'] * 1000:.0f} ms, lower bound = {round_trips} round trips x "
        f"latency + {starts} start-up per host, x ceil(N / concurrency). Medians over the runs; "
        "CPU is the controller's (the command and all its children); memory is the peak sum "
        "of resident sizes over the controller's process tree (shared pages counted once "
        "per process) and, in brackets, its largest single process.",
        "",
        "| Approach | Forks | Hosts | Runs | Wall s | Lower bound s | x bound | "
        "CPU s | CPU s/host | Simulator CPU s | Peak memory MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in results["points"]:
        label = LABELS[p["approach"]]
        if p.get("skipped"):
            lines.append(
                f"| {label} | {p['concurrency']} | {p['hosts']} | 0 | skipped | "
                f"{_fmt(p['lower_bound_s'])} | - | - | - | - | - |"
            )
            continue
        memory = f"{p['peak_tree_rss_mib']:.0f} ({p['max_process_rss_mib']:.0f})"
        flag = " (errors)" if p.get("errors") else ""
        lines.append(
            f"| {label} | {p['concurrency']} | {p['hosts']} | {p['runs']}{flag} | "
            f"{_fmt(p['wall_s'])} | {_fmt(p['lower_bound_s'])} | {_fmt(p['vs_lower_bound'])} | "
            f"{_fmt(p['cpu_s'], 1)} | {_fmt(p['cpu_per_host_s'], 3)} | "
            f"{_fmt(p['simulator_cpu_s'], 1)} | {memory} |"
        )
    skipped = [p for p in results["points"] if p.get("skipped")]
    for p in skipped:
        lines += ["", f"Skipped: {LABELS[p['approach']]} at {p['hosts']} hosts: {p['skipped']}"]
    lines += counted_lines(results.get("count"))
    ratios = against_doctor(results["points"])
    if ratios:
        lines += [
            "",
            "preflight.yml against sagefleet doctor (wall time over doctor's; bounds: "
            "preflight.yml's lower bound over doctor's, from their concurrencies):",
            "",
            "| Approach | Hosts | Wall / doctor's | Bound / doctor's bound |",
            "|---|---:|---:|---:|",
        ]
        for r in ratios:
            lines.append(
                f"| {LABELS[r['approach']]} | {r['hosts']} | {_fmt(r['wall_vs_doctor'])} | "
                f"{_fmt(r['bounds_ratio'])} |"
            )
    lines += ["", "| Target | Measured | Limit | Met |", "|---|---:|---:|---|"]
    for t in results["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['text']} | {_fmt(t['value'])} | {_fmt(t['limit'])} | {met} |")
    if results.get("linearity"):
        lines += [
            "",
            "Linearity: wall time fitted as a + b x ceil(N / forks).",
            "",
            "| Approach | a (s) | b (s per round) | R² |",
            "|---|---:|---:|---:|",
        ]
        for approach, fit in results["linearity"].items():
            lines.append(
                f"| {LABELS[approach]} | {_fmt(fit['intercept_s'])} | "
                f"{_fmt(fit['s_per_round'])} | {_fmt(fit['r2'], 3)} |"
            )
    lines += transfer_table(results.get("transfer"))
    lines += transfer_table(results.get("transfer_reference"), reference=True)
    lines += upgrade_table(results.get("upgrade"))
    return "\n".join(lines) + "\n"


def counted_lines(count: Mapping[str, Any] | None) -> list[str]:
    """What the one-host count found on the wire, one sentence."""
    if not count:
        return []
    paths = count["paths"]
    described = []
    for approach, label in COUNTED.items():
        path = paths.get(approach)
        if path:
            ops = ", ".join(f"{op} {n}" for op, n in path["operations"].items())
            described.append(f"{label} {path['requests']} HTTP requests ({ops})")
    return [
        "",
        "One host's preflight, counted by the simulator's listener in a one-host run: "
        + "; ".join(described)
        + f". Lower bound per host: {count['round_trips']} round trips (NTLM 2, Create, "
        f"Delete, Command and Receive per command, 1 per Send: {count['commands']} "
        f"command(s), {count['sends']} Send(s)) and {count['powershell_starts']} PowerShell "
        "start-up(s).",
    ]


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f}"


def transfer_table(t: Mapping[str, Any] | None, reference: bool = False) -> list[str]:
    """Markdown lines for the transfer benchmark (none when it did not run).

    ``reference``: the same push at another latency, shown beside the targets' run.
    """
    if not t or not t.get("clients"):
        return []
    if reference:
        return [
            "",
            f"For reference, the same push without the targets' latency (latency "
            f"{t['latency_s'] * 1000:.0f} ms per request; not used for the targets):",
            "",
            *_transfer_rows(t),
        ]
    lines = [
        "",
        f"Transfer: a {t['package_bytes'] / 2**20:.1f} MiB package (incompressible) to one "
        f"host whose link carries {_mb(t['bandwidth_bytes_s'])} MB/s of stdin "
        f"(bandwidth fault; latency {t['latency_s'] * 1000:.0f} ms per request), from a fresh "
        "connection each time; medians. Share of the link = payload MB/s / link MB/s, at most "
        "the ceiling of the client's stdin encoding (raw bytes: 100 %; base64 lines: "
        f"{transfer_perf.best_share(transfer_perf.ANSIBLE_CHUNK_BYTES) * 100:.0f} %); "
        "stdin phase = first Send to last Send answered; payload MB/s to the last Send = the "
        "package over the time from the start to the last Send answered; after stdin = the "
        "rest (the host's work on the complete input, then closing); connections = how many "
        "carried the package at once.",
        "",
        *_transfer_rows(t),
    ]
    present = t.get("present") or {}
    if present:
        lines += [
            "",
            f"Package already present: sagefleet sent {present['bytes_sent']} bytes "
            f"(StageResult.bytes_sent), the host's listener counted {present['stdin_bytes']} "
            f"bytes of stdin: {present.get('script_bytes', 0)} of the stage_status script "
            f"(scripts travel on stdin), {present.get('data_stdin_bytes', present['stdin_bytes'])}"
            f" of data, in {present['wall_s']:.2f} s.",
        ]
    model = t.get("model_cost") or {}
    if model:
        lines += [
            "",
            f"The simulator's stage_push model alone, on the same stdin in one process: "
            f"{model['stage_push_s']:.2f} s; decoding and hashing that input takes "
            f"{model['linear_s']:.2f} s.",
        ]
    return lines


def _transfer_rows(t: Mapping[str, Any]) -> list[str]:
    lines = [
        "| Client | Stdin | Connections | Runs | Wall s | Payload MB/s | Share of link | "
        "Stdin phase s | Stdin MB/s in it | Payload MB/s to the last Send | After stdin s | "
        "Sends | Client CPU s | Simulator CPU s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {
        "sagefleet": "sagefleet transfer.stage",
        "ansible": "ansible-core winrm put_file",
    }
    for kind, c in t["clients"].items():
        rate = (
            f"{c['stdin_bytes'] / c['stdin_phase_s'] / 1e6:.1f}" if c.get("stdin_phase_s") else "-"
        )
        early = (
            f"{t['package_bytes'] / c['to_last_send_s'] / 1e6:.2f}"
            if c.get("to_last_send_s")
            else "-"
        )
        lines.append(
            f"| {labels.get(kind, kind)} | {c.get('encoding', 'base64')} | "
            f"{c.get('connections', 1)} | {c['runs']} | {_fmt(c['wall_s'])} | "
            f"{_fmt(c['throughput_mb_s'])} | {c['link_share'] * 100:.1f} % | "
            f"{_fmt(c.get('stdin_phase_s'))} | {rate} | {early} | "
            f"{_fmt(c.get('after_stdin_s'))} | "
            f"{c['sends']} | {_fmt(c['client_cpu_s'])} | {_fmt(c['simulator_cpu_s'])} |"
        )
    return lines


def upgrade_table(u: Mapping[str, Any] | None) -> list[str]:
    """Markdown lines for the upgrade benchmark (none when it did not run)."""
    if not u:
        return []
    per = u["per_host"]
    waves = ", ".join(str(w) for w in u["waves"])
    sizes = " + ".join(str(w) for w in u["wave_sizes"])
    rounds = " + ".join(str(w) for w in u["wave_rounds"])
    lines = [
        "",
        f"Upgrade: {u['hosts']} hosts (profile {upgrade_perf.PROFILE}, agent 2.3.0 to "
        f"{upgrade_perf.AGENT_VERSION}) with playbooks/deploy.yml, waves [{waves}] = "
        f"{sizes} hosts, forks {u['forks']}: {rounds} = {sum(u['wave_rounds'])} rounds. "
        f"One host's upgrade, counted by the simulator's listener in a one-host run: "
        f"{per['commands']} commands (each a PowerShell start-up), {per['sends']} Sends, "
        f"{per['operations'].get('Signal', 0)} Signals; lower bound per host = "
        f"{u['min_round_trips_per_host']} round trips (NTLM 2, Create, Delete, 2 per command, "
        f"1 per Send) x latency + {per['commands']} start-ups = {u['per_host_bound_s']:.2f} s.",
        "",
        "| Benchmark | Forks | Hosts | Runs | Wall s | Lower bound s | x bound | CPU s | "
        "CPU s/host | Simulator CPU s | Peak memory MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    memory = (
        f"{u['peak_tree_rss_mib']:.0f} ({u['max_process_rss_mib']:.0f})"
        if u.get("peak_tree_rss_mib") is not None
        else "-"
    )
    flag = " (errors)" if u.get("errors") else ""
    lines.append(
        f"| agent upgrade (playbooks/deploy.yml) | {u['forks']} | {u['hosts']} | "
        f"{u['runs']}{flag} | {_fmt(u['wall_s'])} | {_fmt(u['lower_bound_s'])} | "
        f"{_fmt(u['vs_lower_bound'])} | {_fmt(u['cpu_s'], 1)} | "
        f"{_fmt(u['cpu_per_host_s'], 3)} | {_fmt(u['simulator_cpu_s'], 1)} | {memory} |"
    )
    return lines


def write_results(results: Mapping[str, Any], folder: Path) -> dict[str, Path]:
    """fleet_perf.json and fleet_perf.md in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "fleet_perf.json"
    md_path = folder / "fleet_perf.md"
    json_path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md_path.write_text(markdown_table(results), encoding="utf-8")
    return {"json": json_path, "markdown": md_path}


def plot(results: Mapping[str, Any], path: Path) -> Path:
    """Wall time against hosts (log-log, lower bounds dashed); below it, when measured,
    the transfer's throughput against the link and the upgrade's wall time against its bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    transfer, upgrade = results.get("transfer"), results.get("upgrade")
    extra = bool(transfer and transfer.get("clients")) or bool(upgrade)
    if extra:
        figure = plt.figure(figsize=(9.5, 8.4), dpi=110)
        grid = figure.add_gridspec(2, 2, height_ratios=[1.5, 1])
        axes = figure.add_subplot(grid[0, :])
        bottom = [figure.add_subplot(grid[1, 0]), figure.add_subplot(grid[1, 1])]
    else:
        figure, axes = plt.subplots(figsize=(7.5, 4.8), dpi=110)
        bottom = []
    colours = {
        "naive": "tab:red",
        "preflight": "tab:blue",
        "preflight_per_host": "tab:purple",
        "doctor": "tab:green",
    }
    for approach in APPROACHES:
        rows = [
            p
            for p in results["points"]
            if p["approach"] == approach and p.get("wall_s") is not None
        ]
        if not rows:
            continue
        c = rows[0]["concurrency"]
        xs = [p["hosts"] for p in rows]
        axes.plot(
            xs,
            [p["wall_s"] for p in rows],
            "o-",
            color=colours[approach],
            label=f"{LABELS[approach]} (forks {c})",
        )
        every = [p["hosts"] for p in results["points"] if p["approach"] == approach]
        bounds = [p["lower_bound_s"] for p in results["points"] if p["approach"] == approach]
        axes.plot(
            every,
            bounds,
            "--",
            color=colours[approach],
            alpha=0.6,
            label=f"lower bound at forks {c}",
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("hosts")
    axes.set_ylabel("wall time (s), median")
    params = results["parameters"]
    axes.set_title(
        f"Fleet preflight: {params['latency_s'] * 1000:.0f} ms per request, "
        f"{params['startup_s'] * 1000:.0f} ms PowerShell start-up"
    )
    axes.grid(True, which="both", alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=7, loc="upper left")
    if bottom:
        _plot_transfer(bottom[0], transfer)
        _plot_upgrade(bottom[1], upgrade)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _plot_transfer(axes: Any, transfer: Mapping[str, Any] | None) -> None:
    if not transfer or not transfer.get("clients"):
        axes.set_axis_off()
        return
    link = transfer["bandwidth_bytes_s"] / 1e6
    names = {"sagefleet": "sagefleet\ntransfer.stage", "ansible": "ansible-core\nput_file"}
    kinds = list(transfer["clients"])
    connections = [transfer["clients"][k].get("connections", 1) for k in kinds]
    values = [transfer["clients"][k]["throughput_mb_s"] for k in kinds]
    bars = axes.bar(
        [
            f"{names.get(k, k)}\n({n} connection{'s' if n > 1 else ''})"
            for k, n in zip(kinds, connections, strict=True)
        ],
        values,
        color=["tab:green" if k == "sagefleet" else "tab:gray" for k in kinds],
    )
    _label_bars(axes, bars, values, "{:.1f}")
    axes.axhline(link, color="black", linestyle="--", linewidth=1, label=f"link {link:.0f} MB/s")
    axes.axhline(
        link * transfer_perf.TARGETS["transfer_link_share"],
        color="tab:orange",
        linestyle=":",
        linewidth=1,
        label="target: 70 % of the link",
    )
    axes.set_ylabel("payload MB/s, median")
    axes.set_ylim(0, link * 1.15)
    axes.set_title(
        f"Push of {transfer['package_bytes'] / 2**20:.0f} MiB, "
        f"{transfer['latency_s'] * 1000:.0f} ms per request",
        fontsize=10,
    )
    axes.legend(fontsize=7, loc="upper right")


def _label_bars(axes: Any, bars: Any, values: Sequence[float], fmt: str) -> None:
    """Each bar's value written above it."""
    for bar, value in zip(bars, values, strict=True):
        axes.annotate(
            fmt.format(value),
            (bar.get_x() + bar.get_width() / 2, value),
            ha="center",
            va="bottom",
            fontsize=8,
        )


def _plot_upgrade(axes: Any, upgrade: Mapping[str, Any] | None) -> None:
    if not upgrade or upgrade.get("wall_s") is None:
        axes.set_axis_off()
        return
    labels = ["lower bound", "deploy.yml"]
    values = [upgrade["lower_bound_s"], upgrade["wall_s"]]
    bars = axes.bar(labels, values, color=["tab:gray", "tab:blue"])
    _label_bars(axes, bars, values, "{:.1f} s")
    axes.set_ylabel("wall time (s)")
    axes.set_ylim(0, max(values) * 1.2)
    axes.set_title(
        f"Upgrade of {upgrade['hosts']} hosts, waves "
        f"{'+'.join(str(w) for w in upgrade['wave_sizes'])}, forks {upgrade['forks']}",
        fontsize=10,
    )


def machine() -> dict[str, Any]:
    """What the benchmark ran on (no paths, no host names)."""
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from ansible.release import __version__ as ansible_version
    except ImportError:
        ansible_version = None
    try:
        from importlib.metadata import version

        pywinrm = version("pywinrm")
    except Exception:  # noqa: BLE001 - informative only
        pywinrm = None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "ansible_core": ansible_version,
        "pywinrm": pywinrm,
    }


def publish(results: Mapping[str, Any], png: Path, docs: Path) -> None:
    """Copy the plot under docs/ and replace the generated block of docs/performance.md."""
    target_png = docs / "performance-fleet.png"
    shutil.copyfile(png, target_png)
    page = docs / "performance.md"
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    text = f"# Performance\n\n{begin}\n{end}\n"
    if page.exists():
        text = page.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    m = results["machine"]
    header = (
        f"Measured {results['date']} on {m['cpus']} cores ({m['cpu_model'] or 'unknown CPU'}), "
        f"{m['memory_gib']} GiB memory, {m['os']}, Python {m['python']}, "
        f"ansible-core {m['ansible_core']}, pywinrm {m['pywinrm']}; "
        f"the benchmark took {results['duration_s'] / 60:.1f} min; "
        + _other_work(results.get("max_other_cpu_share"))
        + ".\n\n"
        f"![Wall time against hosts]({target_png.name})\n\n"
    )
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    page.write_text(
        head + begin + "\n" + header + markdown_table(results) + end + tail, encoding="utf-8"
    )


# -- main -------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(s) for s in text.split(",") if s.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("host counts must be positive integers")
    return sizes


def run(args: argparse.Namespace) -> dict[str, Any]:
    from sagefleet.sim.fleet import down, up

    concurrency = {
        "naive": args.forks,
        "preflight": args.forks,
        "preflight_per_host": args.forks,
        "doctor": args.doctor_forks,
    }
    measured: dict[str, dict[int, list[dict[str, Any]]]] = {a: {} for a in APPROACHES}
    skipped: dict[str, dict[int, str]] = {a: {} for a in APPROACHES}
    wanted = [a for a in APPROACHES if a in args.approaches]
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="fleet-perf-"))
    count = None
    try:
        if "preflight" in args.benchmarks:
            count = count_preflight(work, first_address=args.transfer_address)
            print(
                f"[count] one host: {count['round_trips']} round trips at best, "
                + ", ".join(f"{a} {p['requests']} requests" for a, p in count["paths"].items()),
                flush=True,
            )
        for n in args.hosts if "preflight" in args.benchmarks else []:
            state_dir = work / f"sim-{n}"
            inventory = write_inventory(
                work / f"inventory-{n}" / "hosts.yml",
                n,
                first_address=args.first_address,
                port=args.port,
                ca_file=state_dir / "ca.pem",
                latency_s=args.latency,
                startup_s=args.startup,
            )
            t0 = time.monotonic()
            # The naive baseline's one-liners are answered by the bench's own models.
            state = up(
                ["--inventory", str(inventory)],
                state_dir,
                timeout=180,
                launcher=baseline_models.LAUNCHER,
            )
            print(
                f"[{n} hosts] simulator pid {state['pid']} up in {time.monotonic() - t0:.1f} s",
                flush=True,
            )
            try:
                plan: list[tuple[int, str]] = []
                for approach in wanted:
                    repeats = args.repeats
                    if approach == "naive":
                        note = _naive_skip(args, measured["naive"], n)
                        if note:
                            skipped["naive"][n] = note
                            print(f"[{n} hosts] naive skipped: {note}", flush=True)
                            continue
                        if n >= args.naive_single_from:
                            repeats = 1
                    plan += [(r, approach) for r in range(repeats)]
                # Interleave the repetitions so a slow minute hits every approach alike.
                for _, approach in sorted(plan, key=lambda item: item[0]):
                    result = run_approach(
                        approach,
                        inventory=inventory,
                        hosts=n,
                        forks=args.forks,
                        doctor_forks=args.doctor_forks,
                        work=work,
                        simulator_pid=int(state["pid"]),
                    )
                    measured[approach].setdefault(n, []).append(result)
                    print(
                        f"[{n} hosts] {approach:<9} wall {result['wall_s']:7.2f} s  "
                        f"cpu {result['cpu_s']:7.1f} s  sim cpu {result['simulator_cpu_s']:6.1f} s"
                        f"  mem {result['peak_tree_rss_mib']:6.0f} MiB"
                        + (f"  ERROR {result['error'][:300]}" if result.get("error") else ""),
                        flush=True,
                    )
            finally:
                down(state_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    transfer = transfer_reference = None
    transfer_latency = args.latency if args.transfer_latency is None else args.transfer_latency
    if "transfer" in args.benchmarks:

        def push(latency: float) -> dict[str, Any]:
            return transfer_perf.measure(
                payload_bytes=int(args.transfer_payload_mib * 2**20),
                bandwidth=args.transfer_bandwidth_mb * transfer_perf.MB,
                latency=latency,
                repeats=args.transfer_repeats,
                first_address=args.transfer_address,
                port=args.port + 1,
                log=lambda text: print(text, flush=True),
            )

        transfer = push(transfer_latency)
        reference = args.transfer_reference_latency
        if reference is not None and reference != transfer_latency:
            transfer_reference = push(reference)
    upgrade = None
    if "upgrade" in args.benchmarks:
        upgrade = upgrade_perf.run(
            hosts=args.upgrade_hosts,
            forks=args.forks,
            latency_s=args.latency,
            startup_s=args.startup,
            repeats=args.upgrade_repeats,
            first_address=args.first_address,
            port=args.port,
            count_address=args.transfer_address,
            write_inventory=write_inventory,
            measure=measure,
            log=lambda text: print(text, flush=True),
        )
    points = build_points(
        measured,
        hosts=args.hosts,
        concurrency=concurrency,
        latency_s=args.latency,
        startup_s=args.startup,
        skipped=skipped,
        round_trips=count["round_trips"] if count else MIN_ROUND_TRIPS,
        powershell_starts=count["powershell_starts"] if count else MIN_POWERSHELL_STARTS,
    )
    cpus = os.cpu_count() or 1
    return {
        "date": dt.date.today().isoformat(),
        "duration_s": round(time.monotonic() - started, 1),
        "machine": machine(),
        "parameters": {
            "hosts": args.hosts,
            "latency_s": args.latency,
            "startup_s": args.startup,
            "repeats": args.repeats,
            "ansible_forks": args.forks,
            "doctor_forks": args.doctor_forks,
            "min_round_trips": count["round_trips"] if count else MIN_ROUND_TRIPS,
            "powershell_starts": count["powershell_starts"] if count else MIN_POWERSHELL_STARTS,
            "profile": "healthy-onprem",
            "benchmarks": list(args.benchmarks),
            "transfer_payload_mib": args.transfer_payload_mib,
            "transfer_bandwidth_mb_s": args.transfer_bandwidth_mb,
            "transfer_latency_s": transfer_latency,
            "transfer_reference_latency_s": args.transfer_reference_latency,
            "transfer_repeats": args.transfer_repeats,
            "upgrade_hosts": args.upgrade_hosts,
            "upgrade_repeats": args.upgrade_repeats,
        },
        "count": count,
        "points": points,
        "targets": evaluate_targets(points)
        + (transfer["targets"] if transfer else [])
        + (upgrade["targets"] if upgrade and upgrade.get("targets") else []),
        "linearity": linearity(points),
        "transfer": transfer,
        "transfer_reference": transfer_reference,
        "upgrade": upgrade,
        "max_other_cpu_share": max(
            [
                other_cpu_share(r, cpus)
                for runs in measured.values()
                for rs in runs.values()
                for r in rs
            ]
            + [other_cpu_share(r, cpus) for r in (upgrade or {}).get("raw", [])],
            default=None,
        ),
        "raw": measured,
    }


def _naive_skip(
    args: argparse.Namespace, naive: Mapping[int, Sequence[Mapping[str, Any]]], n: int
) -> str | None:
    """Why the naive baseline is not run at ``n`` hosts (None: run it)."""
    if n > args.naive_max_hosts:
        return f"above --naive-max-hosts {args.naive_max_hosts}"
    smaller = [m for m in naive if m < n and naive[m]]
    if not smaller:
        return None
    m = max(smaller)
    wall = statistics.median(r["wall_s"] for r in naive[m])
    projected = wall * rounds(n, args.forks) / rounds(m, args.forks)
    if projected > args.naive_budget:
        return (
            f"projected {projected:.0f} s from {m} hosts ({wall:.0f} s), over the "
            f"{args.naive_budget:.0f} s budget of one run"
        )
    return None


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=_sizes, default=[10, 100, 500], help="e.g. 10,100,500")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every approach and benchmark once at the smallest sizes (2 hosts, a 1 MiB "
        "transfer, a 2-host upgrade): checks that the benchmark runs, measures nothing useful",
    )
    parser.add_argument("--latency", type=float, default=0.020, help="s per WinRM request")
    parser.add_argument("--startup", type=float, default=0.300, help="s per PowerShell start")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--forks", type=int, default=25, help="ansible-playbook -f (default 25)")
    parser.add_argument("--doctor-forks", type=int, default=50, help="doctor --forks (default 50)")
    parser.add_argument(
        "--approaches",
        type=lambda s: s.split(","),
        default=list(APPROACHES),
        help="comma-separated subset of " + ",".join(APPROACHES),
    )
    parser.add_argument("--naive-max-hosts", type=int, default=500)
    parser.add_argument(
        "--naive-single-from", type=int, default=500, help="run naive once from this size on"
    )
    parser.add_argument(
        "--naive-budget",
        type=float,
        default=420.0,
        help="skip naive at a size when its projected time exceeds this many seconds",
    )
    parser.add_argument(
        "--benchmarks",
        type=lambda s: s.split(","),
        default=list(BENCHMARKS),
        help="comma-separated subset of preflight,transfer,upgrade",
    )
    parser.add_argument("--transfer-payload-mib", type=float, default=50.0)
    parser.add_argument(
        "--transfer-bandwidth-mb",
        type=float,
        default=10.0,
        help="the simulated link, MB/s of stdin (default 10)",
    )
    parser.add_argument(
        "--transfer-latency",
        type=float,
        default=None,
        help="s per request on the transfer's link (default: --latency); the targets' run",
    )
    parser.add_argument(
        "--transfer-reference-latency",
        type=lambda v: None if v == "none" else float(v),
        default=0.0,
        help="the same push again at this latency, for reference ('none': skip; default 0)",
    )
    parser.add_argument("--transfer-repeats", type=int, default=3)
    parser.add_argument("--upgrade-hosts", type=int, default=100)
    parser.add_argument(
        "--upgrade-repeats",
        type=int,
        default=1,
        help="upgrades of the fleet, each on a fresh simulator (default 1: the slowest point)",
    )
    parser.add_argument("--transfer-address", default="127.0.241.1")
    parser.add_argument("--first-address", default="127.0.240.1")
    parser.add_argument("--port", type=int, default=45986)
    parser.add_argument("--output", type=Path, default=ROOT / ".sagefleet" / "bench")
    parser.add_argument("--docs", type=Path, default=None, help="refresh <docs>/performance.md")
    parser.add_argument(
        "--from-json", type=Path, default=None, help="re-render a previous fleet_perf.json"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.quick:
        args.hosts, args.repeats, args.upgrade_hosts, args.upgrade_repeats = [2], 1, 2, 1
        args.transfer_payload_mib, args.transfer_repeats = 1.0, 1
        args.transfer_reference_latency = None
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        results = run(args)
    written = write_results(results, args.output)
    png = plot(results, args.output / "fleet_perf.png")
    if args.docs is not None:
        publish(results, png, args.docs)
    print(markdown_table(results))
    print("written: " + ", ".join(str(p) for p in [*written.values(), png]))
    errors = [p for p in results["points"] if p.get("errors")]
    if (results.get("upgrade") or {}).get("errors"):
        errors.append(results["upgrade"])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
