"""Fleet preflight benchmark: naive raw tasks vs preflight.yml (both modes) vs doctor.

The model (lower bound), the runs and the targets; docs/performance.md explains them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import baseline_models, harness, upgrade_bench
from bench.harness import ROOT, listener_counts, measure, median, write_inventory

NAIVE_PLAYBOOK = ROOT / "bench" / "naive_preflight.yml"
PREFLIGHT_PLAYBOOK = ROOT / "playbooks" / "preflight.yml"

#: One preflight of one host is one PowerShell command (all facts in one script)
#: whose script travels on stdin behind the fixed bootstrap (one Send): cmd.exe
#: refuses a command line over 8191 characters (remote/command.py).
MODEL_COMMANDS = 1
MODEL_SENDS = 1
#: Fewest HTTP requests of that preflight over WinRM with NTLM: the request that
#: draws the 401 and the NTLM negotiate (2; the authenticate leg carries the
#: Create), then Create shell, Command, Send, Receive (the output comes back in
#: one Receive when the command ends within the OperationTimeout) and Delete
#: shell. Signal (terminate the command) is skippable: deleting the shell ends
#: it. The benchmark checks this against a counted run (count_preflight).
MIN_REQUESTS = upgrade_bench.min_requests(MODEL_COMMANDS, MODEL_SENDS)
#: Of those, the round trips one after the other: all but the Receive, which
#: travels while PowerShell starts (``upgrade_bench.min_round_trips``).
MIN_ROUND_TRIPS = upgrade_bench.min_round_trips(MODEL_COMMANDS, MODEL_SENDS)
#: PowerShell processes one preflight must start: one (all facts in one script).
MIN_POWERSHELL_STARTS = 1

APPROACHES = ("naive", "preflight", "preflight_per_host", "doctor", "doctor_same_forks")
LABELS = {
    "lower_bound": "lower bound (model)",
    "naive": "naive raw tasks (bench/naive_preflight.yml)",
    "preflight": "playbooks/preflight.yml (fleet mode)",
    "preflight_per_host": "playbooks/preflight.yml (per_host mode)",
    "doctor": "sagefleet doctor",
    "doctor_same_forks": "sagefleet doctor at preflight.yml's forks",
}
#: How each approach appears in the one-host count.
COUNTED = {
    "doctor": "sagefleet doctor",
    "preflight": "preflight.yml, fleet mode",
    "preflight_per_host": "preflight.yml, per_host mode",
}

TARGETS = {
    "preflight_vs_naive_at_100": 5.0,  # preflight.yml at least 5x faster than naive
    "preflight_vs_lower_at_100": 1.5,  # within 1.5x of the lower bound at its forks
    "doctor_vs_lower_at_500": 1.3,  # within 1.3x of the lower bound
    # preflight.yml's wall time within 1.2x of doctor's, both at the same forks
    "preflight_vs_doctor_at_500": 1.2,
    "preflight_cpu_per_host_s": 0.05,  # bastion CPU per host, at most (100 hosts and more)
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
    start = upgrade_bench.start_s(latency_s, startup_s)
    per_host = round_trips * latency_s + powershell_starts * start
    return per_host * rounds(hosts, concurrency)


# -- running the approaches -----------------------------------------------------------


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
    if approach in ("doctor", "doctor_same_forks"):
        command = [
            str(bin_dir / "sagefleet"),
            "doctor",
            "-i",
            str(inventory),
            "--forks",
            str(doctor_forks if approach == "doctor" else forks),
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

    One healthy host in this process (``harness.one_host``): first
    through doctor's core (the direct path), then preflight.yml in its fleet mode, then
    in its per_host mode (ansible-core's winrm connection). The lower bound takes the
    direct path's commands and Sends: ``upgrade_bench.min_round_trips``. A direct path
    that took fewer round trips than that would mean the model is not a lower bound:
    the benchmark stops.
    """
    from sagefleet import doctor
    from sagefleet.inventory import load

    counts: dict[str, Any] = {}
    with harness.one_host(work, profile="healthy-onprem", first_address=first_address) as (
        fleet,
        name,
        inventory,
    ):
        before = listener_counts(fleet, name)
        report = doctor.run(load([inventory]), forks=1, processes=1)
        if report.hosts[0].status != "ready":
            raise RuntimeError(f"one-host count: doctor found the host {report.hosts[0].status}")
        counts["doctor"] = _delta(before, listener_counts(fleet, name))
        for approach, mode in (("preflight", "fleet"), ("preflight_per_host", "per_host")):
            before = listener_counts(fleet, name)
            out = work / f"count-{mode}"
            process = subprocess.run(
                [
                    str(Path(sys.executable).parent / "ansible-playbook"),
                    "-i",
                    str(inventory),
                    str(PREFLIGHT_PLAYBOOK),
                    "-e",
                    f"sagefleet_preflight_report_dir={out}",
                    "-e",
                    f"sagefleet_preflight_mode={mode}",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
            )
            problem = _check_report(out, 1)
            if process.returncode != 0 or problem:
                raise RuntimeError(
                    f"one-host count, preflight.yml {mode} mode ({problem}):\n"
                    + process.stdout[-3000:]
                )
            counts[approach] = _delta(before, listener_counts(fleet, name))
    direct = counts["doctor"]["operations"]
    commands, sends = direct.get("Command", 0), direct.get("Send", 0)
    fewest = upgrade_bench.min_requests(commands, sends)
    if counts["doctor"]["requests"] < fewest:
        raise RuntimeError(
            f"the direct path took {counts['doctor']['requests']} requests, fewer than the "
            f"model's {fewest}: the model of the lower bound is wrong"
        )
    return {
        "paths": counts,
        "commands": commands,
        "sends": sends,
        "requests": fewest,
        "round_trips": upgrade_bench.min_round_trips(commands, sends),
        "powershell_starts": counts["doctor"]["powershell_starts"],
    }


# -- summarising and the targets ----------------------------------------------------


def summarise(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians of the measured figures over the repetitions of one point."""
    keys = ("wall_s", "cpu_s", "peak_tree_rss_mib", "max_process_rss_mib", "simulator_cpu_s")
    summary: dict[str, Any] = {"runs": len(runs)}
    summary.update((key, median(runs, key)) for key in keys)
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
                n,
                c,
                latency_s,
                startup_s,
                round_trips=round_trips,
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
        verdicts.append(harness.verdict(name, text, value, limit, at_least=higher))

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
    # The same work at the same concurrency: at doctor's own --forks the ratio would
    # measure the two settings (against_doctor shows it too).
    pre500, same500 = _point(points, "preflight", 500), _point(points, "doctor_same_forks", 500)
    verdict(
        "preflight_vs_doctor_at_500",
        "preflight.yml at 500 hosts: wall time / sagefleet doctor's at the same forks (at most)",
        pre500["wall_s"] / same500["wall_s"] if pre500 and same500 else None,
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
            f"{label}: bastion CPU seconds per host, largest from "
            f"{CPU_TARGET_FROM_HOSTS} hosts (at most)",
            max(cpu) if cpu else None,
            TARGETS[f"{approach}_cpu_per_host_s"],
            False,
        )
    return verdicts


def against_doctor(points: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """preflight.yml's wall time (each mode) over doctor's at its own forks, with the ratio
    of their lower bounds, and over doctor's at preflight.yml's forks, at each size measured."""
    rows = []
    for n in sorted({p["hosts"] for p in points}):
        doc, same = _point(points, "doctor", n), _point(points, "doctor_same_forks", n)
        for approach in ("preflight", "preflight_per_host"):
            pre = _point(points, approach, n)
            if pre and doc:
                rows.append(
                    {
                        "approach": approach,
                        "hosts": n,
                        "wall_vs_doctor": round(pre["wall_s"] / doc["wall_s"], 2),
                        "bounds_ratio": round(pre["lower_bound_s"] / doc["lower_bound_s"], 2),
                        "wall_vs_doctor_same_forks": (
                            round(pre["wall_s"] / same["wall_s"], 2) if same else None
                        ),
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


def naive_skip(
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


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The one-host count, then every approach at every size, each size on a fresh
    simulator (``sagefleet sim serve``): the count, the points and the raw runs."""
    from sagefleet.sim.fleet import down, up

    concurrency = {
        "naive": args.forks,
        "preflight": args.forks,
        "preflight_per_host": args.forks,
        "doctor": args.doctor_forks,
        "doctor_same_forks": args.forks,
    }
    measured: dict[str, dict[int, list[dict[str, Any]]]] = {a: {} for a in APPROACHES}
    skipped: dict[str, dict[int, str]] = {a: {} for a in APPROACHES}
    wanted = [a for a in APPROACHES if a in args.approaches]
    work = Path(tempfile.mkdtemp(prefix="fleet-perf-"))
    count = None
    try:
        if "preflight" in args.benchmarks:
            count = count_preflight(work, first_address=args.transfer_address)
            print(
                f"[count] one host: {count['requests']} requests at least, "
                f"{count['round_trips']} of them one after the other, "
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
                        note = naive_skip(args, measured["naive"], n)
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
    return {"count": count, "points": points, "raw": measured}
