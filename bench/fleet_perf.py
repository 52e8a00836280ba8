"""Fleet benchmarks: preflight (naive raw tasks, preflight.yml, doctor), package transfer,
and upgrade, side by side in one run on a simulated fleet; docs/performance.md explains
the model, the figures and the targets.

    python bench/fleet_perf.py --output .sagefleet/bench --docs docs
    python bench/fleet_perf.py --hosts 10 --repeats 1      # a quick look
    python bench/fleet_perf.py --quick --output /tmp/bench # every path once, tiny sizes

The harness (measuring, inventories, medians) is bench/harness.py; each benchmark its
own module (preflight_bench, transfer_bench, upgrade_bench); the writers bench/publish.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: the bench package sits in the project
    sys.path.insert(0, str(ROOT))

from bench import harness, publish, transfer_bench, upgrade_bench  # noqa: E402
from bench import preflight_bench as pb  # noqa: E402

BENCHMARKS = ("preflight", "transfer", "upgrade")


# -- main -------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(s) for s in text.split(",") if s.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("host counts must be positive integers")
    return sizes


def _targets(
    points: list[dict[str, Any]], transfer: dict[str, Any] | None, upgrade: dict[str, Any] | None
) -> list[dict[str, Any]]:
    return (
        pb.evaluate_targets(points)
        + (transfer["targets"] if transfer else [])
        + (upgrade["targets"] if upgrade and upgrade.get("targets") else [])
    )


def rederive(results: dict[str, Any]) -> dict[str, Any]:
    """A run's measurements (``--from-json``) against the current cost model: the lower
    bounds, the ratios and the targets again, from its raw runs and one-host counts."""
    params = results["parameters"]
    latency, startup = params["latency_s"], params["startup_s"]
    count = results.get("count")
    if count:
        commands, sends = count["commands"], count["sends"]
        count = {
            **count,
            "requests": upgrade_bench.min_requests(commands, sends),
            "round_trips": upgrade_bench.min_round_trips(commands, sends),
        }
    round_trips = count["round_trips"] if count else pb.MIN_ROUND_TRIPS
    skipped: dict[str, dict[int, str]] = {}
    for p in results["points"]:
        if p.get("skipped"):
            skipped.setdefault(p["approach"], {})[p["hosts"]] = p["skipped"]
    points = pb.build_points(
        {a: {int(n): runs for n, runs in by.items()} for a, by in results["raw"].items()},
        hosts=params["hosts"],
        concurrency={p["approach"]: p["concurrency"] for p in results["points"]},
        latency_s=latency,
        startup_s=startup,
        skipped=skipped,
        round_trips=round_trips,
        powershell_starts=params.get("powershell_starts", pb.MIN_POWERSHELL_STARTS),
    )
    upgrade = results.get("upgrade")
    if upgrade:
        upgrade = upgrade_bench.summarise(
            upgrade["raw"],
            upgrade["per_host"],
            hosts=upgrade["hosts"],
            forks=upgrade["forks"],
            latency_s=latency,
            startup_s=startup,
            waves=upgrade["waves"],
        )
    return {
        **results,
        "parameters": {**params, "min_round_trips": round_trips},
        "count": count,
        "points": points,
        "targets": _targets(points, results.get("transfer"), upgrade),
        "linearity": pb.linearity(points),
        "upgrade": upgrade,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every benchmark asked for, then the results in one document."""
    started = time.monotonic()
    preflight = pb.run(args)
    count, points, measured = preflight["count"], preflight["points"], preflight["raw"]
    transfer = transfer_reference = None
    transfer_latency = args.latency if args.transfer_latency is None else args.transfer_latency
    if "transfer" in args.benchmarks:

        def push(latency: float) -> dict[str, Any]:
            return transfer_bench.measure(
                payload_bytes=int(args.transfer_payload_mib * 2**20),
                bandwidth=args.transfer_bandwidth_mb * transfer_bench.MB,
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
        upgrade = upgrade_bench.run(
            hosts=args.upgrade_hosts,
            forks=args.forks,
            latency_s=args.latency,
            startup_s=args.startup,
            repeats=args.upgrade_repeats,
            first_address=args.first_address,
            port=args.port,
            count_address=args.transfer_address,
            log=lambda text: print(text, flush=True),
        )
    cpus = os.cpu_count() or 1
    return {
        "date": dt.date.today().isoformat(),
        "duration_s": round(time.monotonic() - started, 1),
        "machine": harness.machine(),
        "parameters": {
            "hosts": args.hosts,
            "latency_s": args.latency,
            "startup_s": args.startup,
            "repeats": args.repeats,
            "ansible_forks": args.forks,
            "doctor_forks": args.doctor_forks,
            "min_round_trips": count["round_trips"] if count else pb.MIN_ROUND_TRIPS,
            "powershell_starts": count["powershell_starts"] if count else pb.MIN_POWERSHELL_STARTS,
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
        "targets": _targets(points, transfer, upgrade),
        "linearity": pb.linearity(points),
        "transfer": transfer,
        "transfer_reference": transfer_reference,
        "upgrade": upgrade,
        "max_other_cpu_share": max(
            [
                harness.other_cpu_share(r, cpus)
                for runs in measured.values()
                for rs in runs.values()
                for r in rs
            ]
            + [harness.other_cpu_share(r, cpus) for r in (upgrade or {}).get("raw", [])],
            default=None,
        ),
        "raw": measured,
    }


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=_sizes, default=[10, 100, 500], help="e.g. 10,100,500")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every approach and benchmark once at the smallest sizes (2 hosts, a 1 MiB "
        "transfer, a 2-host upgrade) and a faster link (5 ms per request, 30 ms per PowerShell "
        "start, unless given): checks that the benchmark runs, measures nothing useful",
    )
    parser.add_argument(
        "--latency", type=float, default=None, help="s per WinRM request (default 0.020)"
    )
    parser.add_argument(
        "--startup", type=float, default=None, help="s per PowerShell start (default 0.300)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--forks", type=int, default=25, help="ansible-playbook -f (default 25)")
    parser.add_argument("--doctor-forks", type=int, default=50, help="doctor --forks (default 50)")
    parser.add_argument(
        "--approaches",
        type=lambda s: s.split(","),
        default=list(pb.APPROACHES),
        help="comma-separated subset of " + ",".join(pb.APPROACHES),
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
        "--from-json",
        type=Path,
        default=None,
        help="re-render a previous fleet_perf.json (bounds and targets from its raw runs)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.quick:
        args.hosts, args.repeats, args.upgrade_hosts, args.upgrade_repeats = [2], 1, 2, 1
        args.transfer_payload_mib, args.transfer_repeats = 1.0, 1
        args.transfer_reference_latency = None
    # --quick keeps both faults, smaller: the waits are most of a 2-host run, not its paths.
    if args.latency is None:
        args.latency = 0.005 if args.quick else 0.020
    if args.startup is None:
        args.startup = 0.030 if args.quick else 0.300
    if args.from_json is not None:
        results = rederive(json.loads(args.from_json.read_text(encoding="utf-8")))
    else:
        results = run(args)
    written = publish.write_results(results, args.output)
    png = publish.plot(results, args.output / "fleet_perf.png")
    if args.docs is not None:
        publish.publish(results, png, args.docs)
    print(publish.markdown_table(results))
    print("written: " + ", ".join(str(p) for p in [*written.values(), png]))
    errors = [p for p in results["points"] if p.get("errors")]
    if (results.get("upgrade") or {}).get("errors"):
        errors.append(results["upgrade"])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
