"""Package transfer benchmark: sagefleet's stage vs ansible-core's put_file.

One simulated host runs in this process (so the benchmark reads its model
and its listener's counters directly); each transfer runs in its own client
process, so client and simulator do not share an interpreter. The host gets a
bandwidth fault (bytes of stdin per second, shared by all its connections):
the simulated link. Both clients push the same package, from a fresh
connection each time:

- sagefleet: ``transfer.stage(WinRMSession, package)`` (stage_status, then
  the package on the stdin of stage_push commands: raw bytes by default,
  ``--encoding base64`` for the base64 lines of the fallback; in pieces over
  up to 4 connections at once, its default ``streams``);
- ansible: ansible-core's winrm connection plugin ``put_file`` (its own
  script and base64 text lines on stdin), driven through its Python API.

The link is measured in stdin bytes, so each client's ceiling is the payload
share of its stdin: 100 % for raw bytes, about 75 % for base64 text.

Then sagefleet stages the same package again: it is already there, so the
bytes sent (StageResult.bytes_sent and the listener's stdin counter) must be 0.

    python bench/transfer_bench.py --payload-mib 50 --bandwidth-mb 20
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]  # run as a script (and as each client)

from bench import harness  # noqa: E402
from sagefleet.transfer import DEFAULT_ENCODING as ENCODING  # noqa: E402
from sagefleet.transfer import default_chunk_bytes  # noqa: E402

# sagefleet's raw bytes per Send in its default encoding.
CHUNK_BYTES = default_chunk_bytes(ENCODING)
# ansible-core's put_file: base64 lines of 250,000 raw bytes, one per Send.
ANSIBLE_CHUNK_BYTES = 250_000

MB = 1_000_000  # throughput is in MB/s (10^6 bytes), as link speeds are quoted
HOST = "xfer01"
ANSIBLE_FOLDER = "C:\\ProgramData\\sagefleet\\ansible-put"

_ACTION = re.compile(r"<a:Action[^>]*>([^<]+)</a:Action>")

TARGETS = {
    "transfer_link_share": 0.70,  # payload MB/s at least 70 % of the simulated link
    "transfer_vs_put_file": 2.0,  # at least 2x the throughput of ansible's put_file
    "transfer_present_bytes": 0,  # bytes sent when the package is already there
}


# -- the arithmetic ------------------------------------------------------------------


def throughput_mb_s(payload_bytes: int, seconds: float) -> float:
    """Payload MB (10^6 bytes) per second."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    return payload_bytes / MB / seconds


def link_share(payload_bytes: int, seconds: float, bandwidth_bytes_s: float) -> float:
    """Share of the simulated link the payload used: payload rate / link rate."""
    if bandwidth_bytes_s <= 0:
        raise ValueError("bandwidth must be positive")
    return payload_bytes / seconds / bandwidth_bytes_s


def base64_line_bytes(raw: int, chunk_bytes: int) -> int:
    """Stdin bytes of ``raw`` bytes sent as base64 lines of ``chunk_bytes`` raw bytes + CRLF."""
    full, rest = divmod(raw, chunk_bytes)
    size = full * (4 * ((chunk_bytes + 2) // 3) + 2)
    if rest:
        size += 4 * ((rest + 2) // 3) + 2
    return size


def stdin_bytes(raw: int, chunk_bytes: int, encoding: str) -> int:
    """Stdin bytes of ``raw`` payload bytes: the same bytes in binary, base64 lines else."""
    if encoding == "binary":
        return raw
    if encoding != "base64":
        raise ValueError(f"unknown encoding {encoding!r}")
    return base64_line_bytes(raw, chunk_bytes)


def best_share(chunk_bytes: int, encoding: str = "base64") -> float:
    """The most payload a link measured in stdin bytes can deliver with ``encoding``:
    all of it for raw bytes, 3/4 less padding and line ends for base64 lines."""
    return chunk_bytes / stdin_bytes(chunk_bytes, chunk_bytes, encoding)


def client_ceiling(kind: str, encoding: str = ENCODING) -> dict[str, Any]:
    """How a client puts the payload on stdin and the share of the link it can reach."""
    if kind == "sagefleet":
        chunk = default_chunk_bytes(encoding)
        return {"encoding": encoding, "chunk_bytes": chunk, "ceiling": best_share(chunk, encoding)}
    return {
        "encoding": "base64",
        "chunk_bytes": ANSIBLE_CHUNK_BYTES,
        "ceiling": best_share(ANSIBLE_CHUNK_BYTES, "base64"),
    }


# -- the package ---------------------------------------------------------------------


def build_package(folder: Path, payload_bytes: int, agent_version: str = "3.2.0") -> Path:
    """A test package with an incompressible payload entry: ``payload_bytes`` + a few KB."""
    from sagefleet.package import build_test_package

    return build_test_package(
        folder / f"Setup-{agent_version}.zip",
        agent_version=agent_version,
        labels=("v11.0", "v12.0"),
        installer_bytes=64 * 1024,
        payload_bytes=payload_bytes,
    )


# -- the client side (a separate process) --------------------------------------------


def _client_sagefleet(target: Mapping[str, Any]) -> dict[str, Any]:
    """sagefleet's push, in the default encoding unless the target names one."""
    from sagefleet import transfer
    from sagefleet.package import inspect

    package = inspect(target["package"])  # once per run on the bastion, not timed
    session = harness.winrm_session(target)
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        result = transfer.stage(
            session,
            package,
            version=target.get("version"),
            encoding=target.get("encoding") or transfer.DEFAULT_ENCODING,
        )
    finally:
        session.close()
    t1 = time.perf_counter()
    return {
        "t0": t0,
        "t1": t1,
        "wall_s": t1 - t0,
        "cpu_s": time.process_time() - cpu0,
        "bytes_sent": result.bytes_sent,
        "skipped": result.skipped,
        "stage_duration_s": result.duration_s,
        "path": result.path,
        "size": result.size,
        "encoding": result.encoding,
        "streams": result.streams,
    }


def _client_ansible(target: Mapping[str, Any]) -> dict[str, Any]:
    from tests.support.ansible_leg import connect  # as the test suite connects

    connection = connect(dict(target))
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        connection.put_file(target["package"], target["remote"])
    finally:
        connection.close()
    t1 = time.perf_counter()
    return {"t0": t0, "t1": t1, "wall_s": t1 - t0, "cpu_s": time.process_time() - cpu0}


class Timeline:
    """When each WinRM request of the client started and ended, by shell operation.

    Both clients send every request through pywinrm's ``Protocol.send_message``;
    wrapping it (in the client process only) splits a transfer into the time
    the stdin took to cross (first Send to last Send answered) and what came
    after it (the command's output, i.e. the host's work once the input ended).
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, float, float]] = []

    def install(self) -> None:
        from winrm.protocol import Protocol

        original = Protocol.send_message
        timeline = self

        def send_message(protocol: Any, message: Any) -> Any:
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            found = _ACTION.search(text[:4000])
            kind = found.group(1).rsplit("/", 1)[-1] if found else "other"
            started = time.perf_counter()
            try:
                return original(protocol, message)
            finally:
                timeline.events.append((kind, started, time.perf_counter()))

        Protocol.send_message = send_message  # type: ignore[method-assign]

    def phases(self, t0: float, t1: float) -> dict[str, Any]:
        sends = [e for e in self.events if e[0] == "Send"]
        counts: dict[str, int] = {}
        for kind, _, _ in self.events:
            counts[kind] = counts.get(kind, 0) + 1
        if not sends:
            return {"requests_by_kind": counts}
        first, last = sends[0][1], sends[-1][2]
        return {
            "requests_by_kind": counts,
            "to_last_send_s": last - t0,
            "before_stdin_s": first - t0,
            "stdin_s": last - first,
            "in_send_requests_s": sum(e[2] - e[1] for e in sends),
            "after_stdin_s": t1 - last,
        }


def client_main(kind: str, target_file: Path, result_file: Path) -> int:
    target = json.loads(target_file.read_text(encoding="utf-8"))
    run = _client_sagefleet if kind == "sagefleet" else _client_ansible
    timeline = Timeline()
    timeline.install()
    result = run(target)
    result.update(timeline.phases(result.pop("t0"), result.pop("t1")))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["process_cpu_s"] = usage.ru_utime + usage.ru_stime
    # A file, not stdout: ansible's display may write to stdout.
    result_file.write_text(json.dumps(result), encoding="utf-8")
    return 0


# -- the simulator side (this process) -----------------------------------------------


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def run_client(
    kind: str, target: Mapping[str, Any], work: Path, fleet: Any, profile: str | None = None
) -> dict[str, Any]:
    """One transfer in a fresh client process; with the host's stdin bytes and our CPU."""
    target_file = work / "target.json"
    result_file = work / "result.json"
    result_file.unlink(missing_ok=True)
    target_file.write_text(json.dumps(target), encoding="utf-8")
    stats = fleet.listeners[HOST].stats
    model = fleet.host(HOST)
    stdin0, requests0, sends0 = stats.stdin_bytes, stats.requests, stats.operations.get("Send", 0)
    scripts0 = model.script_bytes
    sim_cpu0 = _own_cpu()
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--client",
        kind,
        str(target_file),
        str(result_file),
    ]
    if profile:
        command[1:1] = ["-m", "pyinstrument", "-o", profile, "-r", "text"]
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if process.returncode != 0 or not result_file.exists():
        raise RuntimeError(
            f"{kind} transfer failed:\n{process.stdout[-2000:]}{process.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    result["simulator_cpu_s"] = _own_cpu() - sim_cpu0
    result["stdin_bytes"] = stats.stdin_bytes - stdin0
    # sagefleet's scripts travel on stdin too (cmd.exe's 8191-character limit): the bytes
    # of data are what follows them.
    result["script_bytes"] = model.script_bytes - scripts0
    result["data_stdin_bytes"] = result["stdin_bytes"] - result["script_bytes"]
    result["requests"] = stats.requests - requests0
    result["sends"] = stats.operations.get("Send", 0) - sends0
    return result


def measure(
    *,
    payload_bytes: int,
    bandwidth: float,
    latency: float,
    repeats: int,
    first_address: str,
    port: int,
    clients: Sequence[str] = ("sagefleet", "ansible"),
    profile_dir: Path | None = None,
    log: Any = print,
    encoding: str = ENCODING,
) -> dict[str, Any]:
    """Push the package ``repeats`` times with each client, interleaved; then once more present.

    ``encoding``: sagefleet's stdin encoding (its default unless told otherwise).
    """
    from sagefleet.sim.fleet import Fleet, generate_specs

    work = Path(tempfile.mkdtemp(prefix="transfer-perf-"))
    package = build_package(work / "pkg", payload_bytes)
    size = package.stat().st_size
    specs = generate_specs(1, first_address=first_address, port=port, prefix="xfer")
    fleet = Fleet(specs, work / "sim").start()
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    present: dict[str, Any] = {}
    try:
        spec = fleet.spec(HOST)
        model = fleet.host(HOST)
        model.fs.mkdir(ANSIBLE_FOLDER)  # put_file needs the folder, as on Windows
        fleet.faults(HOST).set(bandwidth=bandwidth, latency=latency)
        base = {
            "encoding": encoding,
            "name": HOST,
            "address": spec.address,
            "port": spec.port,
            "username": spec.username,
            "password": spec.password,
            "ca_file": str(fleet.ca_file),
            "package": str(package),
        }
        for r in range(repeats):
            for kind in clients:
                target = dict(base)
                if kind == "sagefleet":
                    target["version"] = f"bench-{r}"  # a fresh folder: a full transfer
                else:
                    target["remote"] = f"{ANSIBLE_FOLDER}\\Setup-{r}.zip"
                prof = None
                if profile_dir is not None and r == 0:
                    prof = str(profile_dir / f"transfer-{kind}.txt")
                result = run_client(kind, target, work, fleet, profile=prof)
                remote = result.get("path") or target["remote"]
                if model.fs.read(remote) != package.read_bytes():
                    raise RuntimeError(f"{kind}: the file on the host differs from the package")
                result["throughput_mb_s"] = throughput_mb_s(size, result["wall_s"])
                result["link_share"] = link_share(size, result["wall_s"], bandwidth)
                runs[kind].append(result)
                log(
                    f"[transfer] {kind:<9} {result['wall_s']:6.2f} s  "
                    f"{result['throughput_mb_s']:5.2f} MB/s  "
                    f"{result['link_share'] * 100:5.1f} % of the link  "
                    f"client cpu {result['cpu_s']:5.2f} s  "
                    f"sim cpu {result['simulator_cpu_s']:5.2f} s"
                )
                model.fs.delete(remote)  # keep the model's memory flat
        if "sagefleet" in clients:
            target = {**base, "version": "present"}
            first = run_client("sagefleet", target, work, fleet)
            again = run_client("sagefleet", target, work, fleet)
            present = {
                "wall_s": again["wall_s"],
                "bytes_sent": again["bytes_sent"],
                "stdin_bytes": again["stdin_bytes"],
                "script_bytes": again["script_bytes"],
                "data_stdin_bytes": again["data_stdin_bytes"],
                "skipped": again["skipped"],
                "requests": again["requests"],
                "first_bytes_sent": first["bytes_sent"],
            }
            if again["bytes_sent"] != 0 or again["data_stdin_bytes"] != 0 or not again["skipped"]:
                raise RuntimeError(f"package already present, yet bytes were sent: {present}")
            log(
                f"[transfer] already present: {again['wall_s']:.2f} s, bytes_sent "
                f"{again['bytes_sent']}, host stdin bytes {again['stdin_bytes']} "
                f"(scripts {again['script_bytes']}, data {again['data_stdin_bytes']})"
            )
    finally:
        fleet.stop()
    try:
        cost = model_cost(package, encoding)
        log(
            f"[transfer] stage_push model alone: {cost['stage_push_s']:.2f} s "
            f"(decode and hash: {cost['linear_s']:.2f} s)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = summarise(
        runs,
        present,
        size=size,
        payload_bytes=payload_bytes,
        bandwidth=bandwidth,
        latency=latency,
        encoding=encoding,
    )
    result["model_cost"] = cost
    return result


def summarise(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    present: Mapping[str, Any],
    *,
    size: int,
    payload_bytes: int,
    bandwidth: float,
    latency: float,
    encoding: str = ENCODING,
) -> dict[str, Any]:
    """Medians per client (with the encoding and ceiling of each), the targets, the raw runs."""
    clients: dict[str, Any] = {}
    for kind, rs in runs.items():
        if not rs:
            continue
        wall = statistics.median(r["wall_s"] for r in rs)
        clients[kind] = {
            **client_ceiling(kind, encoding),
            "runs": len(rs),
            "wall_s": round(wall, 3),
            "throughput_mb_s": round(throughput_mb_s(size, wall), 2),
            "link_share": round(link_share(size, wall, bandwidth), 3),
            "wire_share": round(
                link_share(int(statistics.median(r["stdin_bytes"] for r in rs)), wall, bandwidth), 3
            ),
            "stdin_bytes": int(statistics.median(r["stdin_bytes"] for r in rs)),
            "connections": int(statistics.median(r.get("streams", 1) for r in rs)),
            "sends": int(statistics.median(r["sends"] for r in rs)),
            "requests": int(statistics.median(r["requests"] for r in rs)),
            "stdin_phase_s": harness.median(rs, "stdin_s"),
            "to_last_send_s": harness.median(rs, "to_last_send_s"),
            "after_stdin_s": harness.median(rs, "after_stdin_s"),
            "client_cpu_s": round(statistics.median(r["cpu_s"] for r in rs), 2),
            "simulator_cpu_s": round(statistics.median(r["simulator_cpu_s"] for r in rs), 2),
        }
    return {
        "package_bytes": size,
        "payload_bytes": payload_bytes,
        "bandwidth_bytes_s": bandwidth,
        "latency_s": latency,
        "clients": clients,
        "present": dict(present),
        "targets": evaluate(clients, present),
        "raw": {k: list(v) for k, v in runs.items()},
    }


def model_cost(package: Path, encoding: str = ENCODING) -> dict[str, float]:
    """Seconds the simulator's stage_push model takes on a whole package's stdin, alone.

    No network: the model is called as the simulated host calls it once the
    input has ended; beside it, the linear part of that work (decode every
    line in base64, then hash the whole) for comparison.
    """
    import base64
    import hashlib

    from sagefleet import transfer
    from sagefleet.package import inspect
    from sagefleet.sim.commands import stage_models
    from sagefleet.sim.commands.stdin import Stdin
    from sagefleet.sim.host import host_from_profile, load_profile

    info = inspect(package)
    with package.open("rb") as stream:
        stdin = b"".join(transfer.encode(stream, encoding))
    host = host_from_profile("m1", "127.0.0.2", "admin", "pw", load_profile("healthy-onprem"))
    path = transfer.staged_path(info.sha256, "model")
    params = transfer.push_params(path, info, 0, encoding)
    t0 = time.perf_counter()
    stage_models.stage_push(host, params, Stdin(stdin))
    model_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = bytearray()
    if encoding == "binary":
        data.extend(stdin)
    else:
        for line in stdin.split(b"\n"):
            if line.strip():
                data.extend(base64.b64decode(line.strip(), validate=True))
    hashlib.sha256(bytes(data)).hexdigest()
    linear_s = time.perf_counter() - t0
    return {"stage_push_s": round(model_s, 3), "linear_s": round(linear_s, 3)}


def evaluate(clients: Mapping[str, Any], present: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The three transfer targets of the issue: value, limit, met (None: not measured)."""
    ours, theirs = clients.get("sagefleet"), clients.get("ansible")
    share = ours["link_share"] if ours else None
    ratio = ours["throughput_mb_s"] / theirs["throughput_mb_s"] if ours and theirs else None
    sent = None
    if present:
        data = present.get("data_stdin_bytes", present["stdin_bytes"])  # past the scripts
        sent = max(int(present["bytes_sent"]), int(data))
    return [
        harness.verdict(
            "transfer_link_share",
            "transfer: payload throughput / simulated link (at least)",
            share,
            TARGETS["transfer_link_share"],
            at_least=True,
        ),
        harness.verdict(
            "transfer_vs_put_file",
            "transfer: throughput / ansible put_file throughput (at least)",
            ratio,
            TARGETS["transfer_vs_put_file"],
            at_least=True,
            digits=2,
        ),
        harness.verdict(
            "transfer_present_bytes",
            "transfer with the package already present: bytes sent (at most)",
            sent,
            TARGETS["transfer_present_bytes"],
            at_least=False,
        ),
    ]


def main(argv: Iterable[str] | None = None) -> int:
    args_list = list(argv) if argv is not None else sys.argv[1:]
    if args_list[:1] == ["--client"]:
        return client_main(args_list[1], Path(args_list[2]), Path(args_list[3]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payload-mib", type=float, default=50.0)
    parser.add_argument("--bandwidth-mb", type=float, default=20.0, help="MB/s of the link")
    parser.add_argument(
        "--latency", type=float, default=0.02, help="s per WinRM request (default 0.02)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", default="sagefleet,ansible")
    parser.add_argument(
        "--encoding",
        choices=("binary", "base64"),
        default=ENCODING,
        help="sagefleet's stdin encoding (default: %(default)s)",
    )
    parser.add_argument("--first-address", default="127.0.241.1")
    parser.add_argument("--port", type=int, default=45987)
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="pyinstrument text profile of the first run of each client",
    )
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(args_list)
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    result = measure(
        payload_bytes=int(args.payload_mib * 2**20),
        bandwidth=args.bandwidth_mb * MB,
        latency=args.latency,
        repeats=args.repeats,
        first_address=args.first_address,
        port=args.port,
        clients=args.clients.split(","),
        profile_dir=args.profile_dir,
        encoding=args.encoding,
    )
    text = json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2)
    print(text)
    if args.output:
        args.output.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
