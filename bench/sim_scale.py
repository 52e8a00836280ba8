"""How far one simulator process scales: start time, memory, requests served.

Starts N simulated hosts (default 500) on 127.0.x.y in this process, then a
separate client process (so the simulator's memory and GIL are measured
alone) runs the host_info snippet over pywinrm (NTLM over HTTPS, one shell
per session) from many threads for a bounded time. Prints one JSON document
and writes it to --output.

Targets: 500 hosts under 1.5 GiB resident and under 15 s to start.

    python bench/sim_scale.py --hosts 500 --threads 50 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script
from bench import harness  # noqa: E402

RSS_TARGET_BYTES = int(1.5 * 1024**3)
START_TARGET_S = 15.0


def _status(field: str, pid: str = "self") -> int:
    """A memory figure of a process from /proc (kB there, bytes here)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def serve(args: argparse.Namespace) -> dict[str, Any]:
    from sagefleet.sim.fleet import Fleet, generate_specs

    rss_before = _status("VmRSS")
    specs = generate_specs(
        args.hosts, first_address=args.first_address, port=args.port, scheme="https"
    )
    with tempfile.TemporaryDirectory(prefix="sim-bench-") as state:
        started = time.monotonic()
        fleet = Fleet(specs, Path(state)).start()
        start_s = time.monotonic() - started
        try:
            rss_idle = _status("VmRSS")
            targets = [
                {
                    "name": s.name,
                    "address": s.address,
                    "port": s.port,
                    "username": s.username,
                    "password": s.password,
                    "ca_file": str(fleet.ca_file),
                }
                for s in fleet.specs
            ]
            target_file = Path(state) / "targets.json"
            target_file.write_text(json.dumps(targets), encoding="utf-8")
            process = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--client",
                    str(target_file),
                    "--threads",
                    str(args.threads),
                    "--seconds",
                    str(args.seconds),
                ],
                capture_output=True,
                text=True,
                timeout=args.seconds + 120,
            )
            if process.returncode != 0:
                raise SystemExit(f"load client failed:\n{process.stderr[-3000:]}")
            load = json.loads(process.stdout)
            served = sum(listener.stats.requests for listener in fleet.listeners.values())
            rss_loaded = _status("VmRSS")
            threads_peak = threading.active_count()
        finally:
            fleet.stop()
    return {
        "hosts": args.hosts,
        "start_s": round(start_s, 2),
        "start_target_s": START_TARGET_S,
        "rss_before_fleet_mib": round(rss_before / 2**20, 1),
        "rss_idle_mib": round(rss_idle / 2**20, 1),
        "rss_after_load_mib": round(rss_loaded / 2**20, 1),
        "rss_peak_mib": round(_status("VmHWM") / 2**20, 1),
        "rss_target_mib": RSS_TARGET_BYTES // 2**20,
        "client_threads": args.threads,
        "load_seconds": load["seconds"],
        "snippet_runs": load["runs"],
        "errors": load["errors"],
        "first_error": load["first_error"],
        "soap_requests_served": served,
        "requests_per_s": round(served / load["seconds"], 1),
        "snippet_runs_per_s": round(load["runs"] / load["seconds"], 1),
        "server_threads_at_end": threads_peak,
        "within_targets": start_s < START_TARGET_S and _status("VmHWM") < RSS_TARGET_BYTES,
    }


def client(target_file: str, threads: int, seconds: float) -> dict[str, Any]:
    """Many threads, each with its own session, spread over every host."""
    targets = json.loads(Path(target_file).read_text(encoding="utf-8"))
    lock = threading.Lock()
    totals: dict[str, Any] = {"runs": 0, "errors": 0, "first_error": None}
    deadline = time.monotonic() + seconds

    def work(index: int) -> None:
        position = index
        while time.monotonic() < deadline:
            t = targets[position % len(targets)]
            position += threads
            session = harness.winrm_session(t)
            try:
                # A few runs per shell, as a playbook or doctor run does.
                for _ in range(5):
                    if time.monotonic() >= deadline:
                        break
                    session.run_snippet("host_info")
                    with lock:
                        totals["runs"] += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    totals["errors"] += 1
                    totals["first_error"] = totals["first_error"] or f"{type(exc).__name__}: {exc}"
            finally:
                session.close()

    started = time.monotonic()
    pool = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=seconds + 60)
    totals["seconds"] = round(time.monotonic() - started, 2)
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=0, help="0: an ephemeral port per host")
    parser.add_argument("--first-address", default="127.0.100.1")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--client", metavar="TARGETS", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        json.dump(client(args.client, args.threads, args.seconds), sys.stdout)
        return 0
    result = serve(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0 if result["within_targets"] and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
