"""What the benchmarks share: measuring a command, the fleet's inventory, one-host counts,
medians and target verdicts, and the machine they ran on. docs/performance.md explains
the figures."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the test suite's scenario inventories
    sys.path.insert(0, str(ROOT))

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


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


def _machine_busy_s() -> float:
    """CPU seconds every process of the machine has used since boot (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # without guest time


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
    from tests.support.scenarios import entities_for

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


@contextlib.contextmanager
def one_host(work: Path, *, profile: str, first_address: str) -> Iterator[tuple[Any, str, Path]]:
    """One host of ``profile`` in this process, for counting what a run takes on the wire:
    (fleet, its name, its inventory). Its listener's counters are read directly; a
    PowerShell start-up of 0.1 ms makes its fault counter count every command starting
    PowerShell."""
    from tests.support.scenarios import write_inventory as scenario_inventory

    from sagefleet.sim.fleet import Fleet, generate_specs

    specs = generate_specs(
        1, profiles=[profile], first_address=first_address, port=0, prefix="count"
    )
    fleet = Fleet(specs, work / "count-sim").start()
    try:
        name = specs[0].name
        fleet.faults(name).set(powershell_startup=0.0001)
        inventory = scenario_inventory(
            fleet,
            work / "count-inventory" / "hosts.yml",
            {"sagefleet_agent_target_version": "3.2.0"},
        )
        yield fleet, name, inventory
    finally:
        fleet.stop()


def winrm_session(target: Mapping[str, Any]) -> Any:
    """A WinRM session to a simulated host described as the benchmarks hand it to a
    client process (name, address, port, username, password, ca_file)."""
    from sagefleet.remote.winrm import WinRMSession, WinRMTarget

    return WinRMSession(
        WinRMTarget(
            host=target["name"],
            address=target["address"],
            port=target["port"],
            username=target["username"],
            password=target["password"],
            ca_trust_path=target["ca_file"],
        )
    )


def listener_counts(fleet: Any, name: str) -> dict[str, Any]:
    """What the host's listener has counted so far: requests, operations, PowerShell starts."""
    stats = fleet.listeners[name].stats
    return {
        "requests": stats.http_requests,
        "operations": dict(stats.operations),
        "powershell_starts": fleet.faults(name).counters.delayed_commands,
    }


# -- summarising ----------------------------------------------------------------------


def median(runs: Sequence[Mapping[str, Any]], key: str, digits: int = 3) -> float | None:
    """The median of ``key`` over the runs that have it (None: none has)."""
    values = [float(r[key]) for r in runs if r.get(key) is not None]
    return round(statistics.median(values), digits) if values else None


def verdict(
    target: str, text: str, value: float | None, limit: float, *, at_least: bool, digits: int = 3
) -> dict[str, Any]:
    """One target: the measured value, its limit, met or not (None: not measured)."""
    met = None if value is None else (value >= limit if at_least else value <= limit)
    return {
        "target": target,
        "text": text,
        "value": None if value is None else round(value, digits),
        "limit": limit,
        "met": met,
    }


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
