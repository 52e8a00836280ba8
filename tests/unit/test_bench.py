"""The fleet benchmark's model and writers, and the naive baseline's one-liners (no timing)."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from bench import (
    baseline_models,
    fleet_perf,
    harness,
    preflight_bench,
    publish,
    transfer_bench,
    upgrade_bench,
)
from tests.support.fleets import ROOT

from sagefleet.remote.command import decode_clixml
from sagefleet.sim.commands.dispatch import run_ps_line
from sagefleet.sim.host import WindowsHost, host_from_profile, load_profile

fp, hn, pb = fleet_perf, harness, preflight_bench
tp, up = transfer_bench, upgrade_bench


def run(wall: float, cpu: float = 1.0) -> dict[str, Any]:
    return {
        "rc": 0,
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_tree_rss_mib": 100.0,
        "max_process_rss_mib": 50.0,
        "simulator_cpu_s": 0.5,
    }


# -- the model --------------------------------------------------------------------


def test_rounds_are_waves_of_the_concurrency() -> None:
    assert pb.rounds(10, 25) == 1
    assert pb.rounds(100, 25) == 4
    assert pb.rounds(101, 25) == 5
    assert pb.rounds(500, 50) == 10
    with pytest.raises(ValueError):
        pb.rounds(0, 25)


def test_lower_bound_is_round_trips_times_latency_plus_startup_per_wave() -> None:
    # NTLM 2, Create, Command, Send (the script on stdin), Receive, Delete: 7 requests, of
    # which the Receive travels while PowerShell starts (it left after the last Send).
    assert pb.MIN_REQUESTS == up.min_requests(1, 1) == 7
    assert pb.MIN_ROUND_TRIPS == up.min_round_trips(1, 1) == 6
    per_host = pb.MIN_ROUND_TRIPS * 0.020 + 0.300
    assert pb.lower_bound_s(100, 25, 0.020, 0.300) == pytest.approx(4 * per_host)
    assert pb.lower_bound_s(500, 50, 0.020, 0.300) == pytest.approx(10 * per_host)
    assert pb.lower_bound_s(1, 50, 0.0, 0.0) == 0.0
    # Explicit round trips and PowerShell starts (the naive one-task-per-check shape).
    assert pb.lower_bound_s(25, 25, 0.01, 0.1, round_trips=3, powershell_starts=2) == (
        pytest.approx(0.23)
    )
    # A start-up shorter than the Receive's round trip: the round trip is what is waited.
    assert pb.lower_bound_s(25, 25, 0.05, 0.01) == pytest.approx(6 * 0.05 + 0.05)


def test_linear_fit_recovers_a_line() -> None:
    fit = pb.linear_fit([1, 4, 20], [1.5, 3.0, 11.0])
    assert fit == {"intercept_s": 1.0, "s_per_round": 0.5, "r2": 1.0}
    assert pb.linear_fit([4, 4], [1.0, 2.0]) is None


def test_summarise_takes_medians_and_keeps_errors() -> None:
    runs = [run(3.0), run(1.0), {**run(2.0), "error": "exit code 2"}]
    summary = pb.summarise(runs)
    assert summary["runs"] == 3
    assert summary["wall_s"] == 2.0
    assert summary["errors"] == ["exit code 2"]


# -- points, targets and writers ------------------------------------------------------


def results() -> dict[str, Any]:
    measured = {
        "naive": {10: [run(12.0, 9.0)], 100: [run(60.0, 80.0)]},
        "preflight": {10: [run(2.0), run(2.2), run(2.1)], 100: [run(8.0, 14.0)] * 3},
        "doctor": {10: [run(1.0)], 100: [run(2.0)], 500: [run(6.0, 8.0)]},
    }
    skipped = {"naive": {500: "projected 400 s from 100 hosts"}}
    points = pb.build_points(
        measured,
        hosts=[10, 100, 500],
        concurrency={"naive": 25, "preflight": 25, "doctor": 50},
        latency_s=0.02,
        startup_s=0.3,
        skipped=skipped,
    )
    return {
        "date": "2025-01-01",
        "duration_s": 60.0,
        "machine": {"cpus": 2, "cpu_model": None, "memory_gib": 4.0, "os": "Linux",
                    "python": "3.11", "ansible_core": "2.19", "pywinrm": "0.5"},
        "parameters": {"latency_s": 0.02, "startup_s": 0.3, "hosts": [10, 100, 500]},
        "points": points,
        "targets": pb.evaluate_targets(points),
        "linearity": pb.linearity(points),
        "transfer": transfer_results(),
        "transfer_reference": transfer_results(latency=0.0),
        "upgrade": upgrade_results(),
    }


def transfer_results(latency: float = 0.02) -> dict[str, Any]:
    size = 50 * 10**6

    def push(wall: float, sends: int, stdin: int, streams: int = 1) -> dict[str, Any]:
        return {"wall_s": wall, "cpu_s": 1.0, "simulator_cpu_s": 0.5, "sends": sends,
                "requests": sends + 8, "stdin_bytes": stdin, "streams": streams,
                "stdin_s": wall - 1.0, "to_last_send_s": wall - 0.5, "after_stdin_s": 0.5}

    ours = tp.stdin_bytes(size, tp.CHUNK_BYTES, "binary")
    theirs = tp.stdin_bytes(size, tp.ANSIBLE_CHUNK_BYTES, "base64")
    runs = {"sagefleet": [push(7.0, 191, ours, 4), push(7.2, 191, ours, 4),
                          push(8.0, 191, ours, 4)],
            "ansible": [push(10.0, 200, theirs)] * 3}
    present = {"wall_s": 0.05, "bytes_sent": 0, "stdin_bytes": 0, "skipped": True}
    return tp.summarise(runs, present, size=size, payload_bytes=size, bandwidth=10e6,
                        latency=latency)


def upgrade_results() -> dict[str, Any]:
    count = {"commands": 10, "sends": 3, "powershell_starts": 10, "requests": 35,
             "operations": {"Command": 10, "Receive": 10, "Signal": 10, "Send": 3}}
    runs = [run(45.0, 23.0)]
    return up.summarise(runs, count, hosts=100, forks=25, latency_s=0.02, startup_s=0.3)


def test_points_carry_the_lower_bound_at_each_approach_concurrency() -> None:
    points = {(p["approach"], p["hosts"]): p for p in results()["points"]}
    assert points[("preflight", 100)]["lower_bound_s"] == pytest.approx(4 * 0.42)
    assert points[("doctor", 500)]["lower_bound_s"] == pytest.approx(10 * 0.42)
    assert points[("preflight", 100)]["vs_lower_bound"] == pytest.approx(8.0 / 1.68, abs=0.01)
    assert points[("preflight", 100)]["cpu_per_host_s"] == pytest.approx(0.14)
    assert points[("naive", 500)]["skipped"].startswith("projected")
    assert ("preflight", 500) not in points  # neither measured nor skipped: no row


def test_targets_are_judged_from_the_points() -> None:
    targets = {t["target"]: t for t in results()["targets"]}
    assert targets["preflight_vs_naive_at_100"]["value"] == pytest.approx(7.5)
    assert targets["preflight_vs_naive_at_100"]["met"] is True
    assert targets["preflight_vs_lower_at_100"]["met"] is False  # 4.76x the bound
    assert targets["doctor_vs_lower_at_500"]["value"] == pytest.approx(1.43)  # 6.0 s / 4.2 s
    assert targets["doctor_vs_lower_at_500"]["met"] is False
    # Judged from 100 hosts: 14 CPU-seconds over 100 hosts, not the 10 hosts' start-up.
    assert targets["preflight_cpu_per_host_s"]["value"] == pytest.approx(0.14)
    assert targets["preflight_cpu_per_host_s"]["met"] is False
    assert targets["doctor_cpu_per_host_s"]["value"] == pytest.approx(0.016)
    assert targets["doctor_cpu_per_host_s"]["met"] is True
    assert targets["preflight_vs_doctor_at_500"]["met"] is None  # preflight.yml not at 500


def test_writers_produce_json_and_markdown(tmp_path: Path) -> None:
    data = results()
    written = publish.write_results(data, tmp_path)
    loaded = json.loads(written["json"].read_text(encoding="utf-8"))
    assert loaded["points"] == json.loads(json.dumps(data["points"]))
    text = written["markdown"].read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert any(
        re.match(r"\| playbooks/preflight.yml \(fleet mode\) \| 25 \| 100 \| 3 \| 8\.00 \| 1\.68 ",
                 r)
        for r in rows
    )
    assert any("| 500 | 0 | skipped |" in r for r in rows)
    assert "not yet measured" not in text
    transfer_row = "| sagefleet transfer.stage | binary | 4 | 3 | 7.20 | 6.94 | 69.4 % |"
    # The targets' run (20 ms per request), then the reference run without latency.
    assert [r for r in rows if r.startswith(transfer_row)] == [
        r for r in rows if r.startswith("| sagefleet transfer.stage |")
    ]
    assert len([r for r in rows if r.startswith(transfer_row)]) == 2
    assert "latency 20 ms per request), from a fresh" in text
    assert "without the targets' latency (latency 0 ms per request" in text
    assert any(r.startswith("| ansible-core winrm put_file | base64 | 1 | 3 |") for r in rows)
    assert "raw bytes: 100 %; base64 lines: 75 %" in text
    upgrade_row = "| agent upgrade (playbooks/deploy.yml) | 25 | 100 | 1 | 45.00 | 20.04 | 2.25 |"
    assert upgrade_row in text
    assert "sagefleet sent 0 bytes" in text
    assert "| **no** |" in text and "| yes |" in text


def test_publish_replaces_only_the_generated_block(tmp_path: Path) -> None:
    png = tmp_path / "plot.png"
    png.write_bytes(b"\x89PNG")
    docs = tmp_path / "docs"
    docs.mkdir()
    page = docs / "performance.md"
    page.write_text(
        "# Perf\n\nintro\n<!-- bench:begin -->\nstale block\n<!-- bench:end -->\noutro\n"
    )
    publish.publish(results(), png, docs)
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Perf\n\nintro\n<!-- bench:begin -->\nMeasured 2025-01-01 on 2 cores")
    assert "stale block" not in text and text.endswith("<!-- bench:end -->\noutro\n")
    assert (docs / "performance-fleet.png").read_bytes() == b"\x89PNG"


def test_the_header_says_how_much_other_work_shared_the_machine(tmp_path: Path) -> None:
    png = tmp_path / "plot.png"
    png.write_bytes(b"\x89PNG")
    data = {**results(), "max_other_cpu_share": 0.034}
    publish.publish(data, png, tmp_path)
    text = (tmp_path / "performance.md").read_text(encoding="utf-8")
    assert "processes outside the benchmark used at most 3 % of the cores during a run" in text
    publish.publish(results(), png, tmp_path)  # a result file from before it was measured
    assert "other work on the machine was not measured" in (
        tmp_path / "performance.md"
    ).read_text(encoding="utf-8")


def test_other_cpu_share_is_per_core_over_the_run() -> None:
    assert hn.other_cpu_share({"other_cpu_s": 1.0, "wall_s": 2.0}, 2) == pytest.approx(0.25)
    assert hn.other_cpu_share({"wall_s": 2.0}, 2) == 0.0


def test_machine_cpu_from_proc_stat_counts_this_process_burning() -> None:
    before = hn._machine_busy_s()
    end = time.process_time() + 0.5
    while time.process_time() < end:
        pass
    assert hn._machine_busy_s() - before >= 0.4  # ticks of 10 ms; other work only adds


def test_other_work_is_the_machine_cpu_less_the_run_and_the_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy = iter([100.0, 103.0])  # the machine: 3 CPU-seconds during the run
    simulator = iter([10.0, 10.25])  # the simulator: 0.25 of them
    monkeypatch.setattr(hn, "_machine_busy_s", lambda: next(busy))
    monkeypatch.setattr(hn, "_cpu_of", lambda pid: next(simulator))
    monkeypatch.setattr(hn, "_tree_rss", lambda pid: 0)
    burn = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"
    result = hn.measure(
        [sys.executable, "-c", burn],
        log=tmp_path / "log",
        simulator_pid=0,
        env=dict(os.environ),
    )
    assert result["rc"] == 0 and result["cpu_s"] >= 0.5
    assert result["simulator_cpu_s"] == pytest.approx(0.25)
    assert result["other_cpu_s"] == pytest.approx(3.0 - result["cpu_s"] - 0.25)


def test_the_bound_takes_the_counted_round_trips() -> None:
    measured = {"doctor": {500: [run(6.0)]}}
    points = pb.build_points(
        measured, hosts=[500], concurrency={"doctor": 50}, latency_s=0.02, startup_s=0.3,
        round_trips=9, powershell_starts=2,
    )
    assert points[0]["lower_bound_s"] == pytest.approx(10 * (9 * 0.02 + 2 * 0.3))


def test_a_run_re_rendered_from_its_json_takes_the_current_bound() -> None:
    """--from-json: the bounds, ratios and targets again from the raw runs and counts (a
    run recorded with an older model of the bound is published with the current one)."""
    measured = {"preflight": {100: [run(8.0)]}, "doctor": {500: [run(6.0)]}}
    concurrency = {"preflight": 25, "doctor": 50}
    points = pb.build_points(
        measured, hosts=[100, 500], concurrency=concurrency, latency_s=0.02, startup_s=0.3
    )
    for point in points:  # as the model before the Receive hid in the start-up had them
        point["lower_bound_s"] = point["rounds"] * 0.44
    upgrade = upgrade_results()
    stale = {**upgrade, "lower_bound_s": 26.4, "targets": []}
    recorded = json.loads(json.dumps({
        **results(), "points": points, "raw": measured, "upgrade": stale,
        "count": {"commands": 1, "sends": 1, "round_trips": 7, "powershell_starts": 1},
        "parameters": {**results()["parameters"], "hosts": [100, 500], "min_round_trips": 7},
    }))
    again = fp.rederive(recorded)
    rows = {(p["approach"], p["hosts"]): p for p in again["points"]}
    assert rows[("preflight", 100)]["lower_bound_s"] == pytest.approx(4 * 0.42)
    assert rows[("preflight", 100)]["vs_lower_bound"] == pytest.approx(8.0 / 1.68, abs=0.01)
    assert rows[("doctor", 500)]["lower_bound_s"] == pytest.approx(10 * 0.42)
    assert again["count"]["round_trips"] == again["parameters"]["min_round_trips"] == 6
    assert again["count"]["requests"] == 7
    assert again["upgrade"]["lower_bound_s"] == pytest.approx(upgrade["lower_bound_s"])
    targets = {t["target"]: t for t in again["targets"]}
    assert targets["preflight_vs_lower_at_100"]["value"] == pytest.approx(4.76, abs=0.01)
    assert targets["upgrade_vs_lower"]["met"] is False


def test_preflight_is_compared_with_doctor_at_each_size() -> None:
    measured = {
        "preflight": {100: [run(4.0)], 500: [run(12.0)]},
        "preflight_per_host": {100: [run(6.0)]},
        "doctor": {100: [run(2.0)], 500: [run(6.0)]},
        "doctor_same_forks": {500: [run(10.0)]},
    }
    concurrency = {"preflight": 25, "preflight_per_host": 25, "doctor": 50, "doctor_same_forks": 25}
    points = pb.build_points(
        measured, hosts=[100, 500], concurrency=concurrency, latency_s=0.02, startup_s=0.3,
    )
    rows = {(r["approach"], r["hosts"]): r for r in pb.against_doctor(points)}
    assert rows[("preflight", 100)]["wall_vs_doctor"] == 2.0
    assert rows[("preflight", 100)]["bounds_ratio"] == 2.0  # 4 rounds of 25 against 2 of 50
    assert rows[("preflight", 100)]["wall_vs_doctor_same_forks"] is None  # not measured
    assert rows[("preflight", 500)]["wall_vs_doctor"] == 2.0
    assert rows[("preflight", 500)]["wall_vs_doctor_same_forks"] == 1.2
    assert rows[("preflight_per_host", 100)]["wall_vs_doctor"] == 3.0
    assert ("preflight_per_host", 500) not in rows
    # The target compares the same work at the same forks: 12 s against 10 s.
    targets = {t["target"]: t for t in pb.evaluate_targets(points)}
    assert targets["preflight_vs_doctor_at_500"]["value"] == pytest.approx(1.2)
    assert targets["preflight_vs_doctor_at_500"]["met"] is True
    del measured["doctor_same_forks"]
    points = pb.build_points(
        measured, hosts=[100, 500], concurrency=concurrency, latency_s=0.02, startup_s=0.3,
    )
    targets = {t["target"]: t for t in pb.evaluate_targets(points)}
    assert targets["preflight_vs_doctor_at_500"]["met"] is None  # never doctor's own forks


def test_the_count_is_told_with_the_table() -> None:
    path = {"requests": 7, "powershell_starts": 1,
            "operations": {"Command": 1, "Create": 1, "Delete": 1, "Receive": 1, "Send": 1}}
    count = {"paths": {"doctor": path, "preflight": path,
                       "preflight_per_host": {**path, "requests": 8,
                                              "operations": {**path["operations"], "Signal": 1}}},
             "commands": 1, "sends": 1, "requests": 7, "round_trips": 6,
             "powershell_starts": 1}
    text = "\n".join(publish.counted_lines(count))
    assert "sagefleet doctor 7 HTTP requests" in text
    assert "per_host mode 8 HTTP requests (Command 1, Create 1, Delete 1, Receive 1, Send 1, " \
        "Signal 1)" in text
    assert "Lower bound per host: 6 round trips" in text
    data = {**results(), "count": count,
            "parameters": {**results()["parameters"], "min_round_trips": 6}}
    assert "lower bound = 6 round trips x latency" in publish.markdown_table(data)


def test_a_quick_run_goes_through_every_path(tmp_path: Path) -> None:
    """`--quick`: every approach, the count, the transfer and the upgrade at their smallest
    sizes, as `make bench` runs them (this measures nothing; it proves the benchmark runs)."""
    import socket

    from tests.support.fleets import next_first_address

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rc = fp.main([
        "--quick", "--output", str(tmp_path),
        "--first-address", next_first_address(), "--transfer-address", next_first_address(),
        "--port", str(port),
    ])
    assert rc == 0
    data = json.loads((tmp_path / "fleet_perf.json").read_text(encoding="utf-8"))
    paths = data["count"]["paths"]
    assert data["count"]["round_trips"] == data["parameters"]["min_round_trips"] == 6
    assert data["count"]["requests"] == 7
    assert paths["doctor"]["requests"] == paths["preflight"]["requests"] == 7
    assert paths["preflight_per_host"]["operations"].get("Signal") == 1  # ansible-core's winrm
    assert {p["approach"] for p in data["points"]} == set(pb.APPROACHES)
    assert all(p["runs"] == 1 and not p["errors"] for p in data["points"])
    assert set(data["transfer"]["clients"]) == {"sagefleet", "ansible"}
    assert data["upgrade"]["errors"] == [] and data["upgrade"]["wall_s"] > 0
    assert (tmp_path / "fleet_perf.png").stat().st_size > 0


def test_a_process_the_command_leaves_running_is_counted(tmp_path: Path) -> None:
    """preflight.yml's fleet task starts a process that outlives the task's worker:
    its CPU is the run's, though nothing of the command waits for it."""
    leave = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    end = time.process_time() + 0.6\n"
        "    while time.process_time() < end: pass\n"
        "    os._exit(0)\n"
    )
    result = hn.measure(
        [sys.executable, "-c", leave], log=tmp_path / "log", simulator_pid=os.getpid(),
        env=dict(os.environ),
    )
    assert result["rc"] == 0
    assert result["cpu_s"] >= 0.6


# -- transfer: throughput and share of the link ---------------------------------------


def test_throughput_is_payload_megabytes_per_second() -> None:
    assert tp.throughput_mb_s(50_000_000, 5.0) == pytest.approx(10.0)
    assert tp.throughput_mb_s(52_428_800, 10.0) == pytest.approx(5.24288)
    with pytest.raises(ValueError):
        tp.throughput_mb_s(1, 0.0)


def test_link_share_is_payload_rate_over_link_rate() -> None:
    assert tp.link_share(50_000_000, 10.0, 10e6) == pytest.approx(0.5)
    assert tp.link_share(70_000_000, 10.0, 10e6) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        tp.link_share(1, 1.0, 0.0)


def test_base64_lines_cap_the_payload_share_at_three_quarters() -> None:
    chunk = 196608
    assert tp.base64_line_bytes(chunk, chunk) == 262144 + 2
    assert tp.base64_line_bytes(2 * chunk + 1, chunk) == 2 * (262144 + 2) + 4 + 2
    assert tp.base64_line_bytes(0, chunk) == 0
    assert tp.best_share(chunk) == pytest.approx(chunk / 262146)
    assert 0.7499 < tp.best_share(chunk) < 0.75
    # ansible's lines of 250,000 bytes (not a multiple of 3): each line is padded
    assert tp.base64_line_bytes(250_000, 250_000) == 333_336 + 2
    assert tp.best_share(250_000) == pytest.approx(250_000 / 333_338)
    # the same arithmetic as sagefleet.transfer.wire_bytes
    from sagefleet import transfer

    for raw in (0, 1, chunk - 1, chunk, 5 * chunk + 7):
        assert tp.base64_line_bytes(raw, chunk) == transfer.wire_bytes(raw, chunk, "base64")


def test_binary_stdin_can_fill_the_whole_link() -> None:
    from sagefleet import transfer

    assert tp.ENCODING == transfer.DEFAULT_ENCODING == "binary"
    assert tp.CHUNK_BYTES == 256 * 1024
    assert tp.best_share(tp.CHUNK_BYTES, "binary") == 1.0
    for encoding in transfer.ENCODINGS:
        chunk = transfer.default_chunk_bytes(encoding)
        for raw in (0, 1, chunk - 1, chunk, 5 * chunk + 7):
            assert tp.stdin_bytes(raw, chunk, encoding) == transfer.wire_bytes(
                raw, chunk, encoding
            )
    with pytest.raises(ValueError):
        tp.stdin_bytes(1, 3, "gzip")


def test_each_client_is_reported_with_its_own_ceiling() -> None:
    clients = transfer_results()["clients"]
    assert clients["sagefleet"]["encoding"] == "binary"
    assert clients["sagefleet"]["ceiling"] == 1.0
    assert clients["ansible"]["encoding"] == "base64"
    assert 0.7499 < clients["ansible"]["ceiling"] < 0.75
    # the stdin the link carried: the payload itself for binary, a third more for base64
    assert clients["sagefleet"]["stdin_bytes"] == 50 * 10**6
    assert clients["ansible"]["wire_share"] == pytest.approx(
        clients["ansible"]["link_share"] * 4 / 3, abs=0.001
    )
    fallback = tp.client_ceiling("sagefleet", "base64")
    assert fallback["chunk_bytes"] == 196608 and 0.7499 < fallback["ceiling"] < 0.75


def test_transfer_summary_takes_medians_and_judges_the_targets() -> None:
    t = transfer_results()
    ours, theirs = t["clients"]["sagefleet"], t["clients"]["ansible"]
    assert ours["wall_s"] == 7.2 and ours["runs"] == 3
    assert ours["throughput_mb_s"] == pytest.approx(6.94, abs=0.01)
    assert ours["link_share"] == pytest.approx(0.694, abs=0.001)
    assert theirs["throughput_mb_s"] == pytest.approx(5.0)
    targets = {x["target"]: x for x in t["targets"]}
    assert targets["transfer_link_share"]["met"] is False  # 69.4 % < 70 %
    assert targets["transfer_vs_put_file"]["value"] == pytest.approx(1.39, abs=0.01)
    assert targets["transfer_vs_put_file"]["met"] is False
    assert targets["transfer_present_bytes"] == {**targets["transfer_present_bytes"],
                                                 "value": 0, "met": True}


def test_bytes_on_the_host_count_even_when_the_result_says_zero() -> None:
    clients = transfer_results()["clients"]
    verdict = tp.evaluate(clients, {"bytes_sent": 0, "stdin_bytes": 12})
    assert verdict[2]["value"] == 12 and verdict[2]["met"] is False
    # The stage_status script travels on stdin: only what follows it is data.
    present = {"bytes_sent": 0, "stdin_bytes": 4940, "script_bytes": 4940, "data_stdin_bytes": 0}
    assert tp.evaluate(clients, present)[2]["met"] is True
    present = {**present, "stdin_bytes": 4952, "data_stdin_bytes": 12}
    assert tp.evaluate(clients, present)[2]["value"] == 12
    assert [v["met"] for v in tp.evaluate({}, {})] == [None, None, None]


# -- upgrade: waves and the lower bound --------------------------------------------------


def test_waves_follow_ansible_serial() -> None:
    assert up.wave_sizes(100) == [1, 10, 25, 64]
    assert up.wave_sizes(10) == [1, 1, 2, 6]  # 10 % of 10 is 1, 25 % is 2 (rounded down)
    assert up.wave_sizes(3) == [1, 1, 1]  # a percentage under one host is one host
    assert up.wave_sizes(7, [2]) == [2, 2, 2, 1]  # the last entry repeats
    assert up.wave_sizes(5, []) == [5]
    assert up.wave_rounds(100, 25) == [1, 1, 1, 3]
    assert up.wave_rounds(500, 25) == [1, 2, 5, 13]  # 1, 50, 125, 324 hosts
    with pytest.raises(ValueError):
        up.wave_rounds(10, 0)


def test_upgrade_lower_bound_sums_rounds_of_the_per_host_bound() -> None:
    assert up.min_requests(10, 3) == 4 + 20 + 3
    assert up.min_round_trips(10, 3) == 4 + 10 + 3  # each Receive hides in its start-up
    assert up.per_host_bound_s(10, 3, 0.02, 0.3) == pytest.approx(17 * 0.02 + 10 * 0.3)
    bound = up.lower_bound_s(100, 25, 0.02, 0.3, commands=10, sends=3)
    assert bound == pytest.approx(6 * 3.34)
    # one wave of everything: rounds of the forks only
    assert up.lower_bound_s(100, 25, 0.02, 0.3, commands=10, sends=3, waves=["100%"]) == (
        pytest.approx(4 * 3.34)
    )
    assert up.lower_bound_s(1, 25, 0.0, 0.0, commands=10, sends=3) == 0.0


def test_upgrade_summary_reports_the_ratio_to_the_bound() -> None:
    u = upgrade_results()
    assert u["wave_sizes"] == [1, 10, 25, 64] and sum(u["wave_rounds"]) == 6
    assert u["lower_bound_s"] == pytest.approx(20.04)
    assert u["vs_lower_bound"] == pytest.approx(45.0 / 20.04, abs=0.01)
    (target,) = u["targets"]
    assert (target["limit"], target["met"]) == (1.3, False)
    assert u["cpu_per_host_s"] == pytest.approx(0.23)
    assert u["errors"] == []


def test_a_failed_upgrade_run_is_kept_apart() -> None:
    count = {"commands": 10, "sends": 3, "operations": {}}
    runs = [{**run(40.0), "error": "3 host(s) not upgraded"}, run(50.0)]
    u = up.summarise(runs, count, hosts=100, forks=25, latency_s=0.02, startup_s=0.3)
    assert u["wall_s"] == 50.0 and u["errors"] == ["3 host(s) not upgraded"]


# -- the naive baseline's PowerShell, answered by the simulator ---------------------


@pytest.fixture(autouse=True)
def baseline() -> Iterator[None]:
    """The bench's models answer its one-liners, as in the simulator the bench starts."""
    baseline_models.register()
    yield
    baseline_models.unregister()


@pytest.fixture
def host() -> WindowsHost:
    return host_from_profile("h1", "127.0.0.2", "admin", "pw", load_profile("healthy-onprem"))


@pytest.fixture
def agent_host() -> WindowsHost:
    return host_from_profile("h2", "127.0.0.3", "admin", "pw", load_profile("agent-old"))


def naive_lines() -> list[tuple[str, str]]:
    """(task name, PowerShell line) of every raw task, its few variables filled in."""
    play = yaml.safe_load((ROOT / "bench" / "naive_preflight.yml").read_text(encoding="utf-8"))[0]
    values = {
        **play["vars"],
        "item": play["vars"]["naive_endpoints"][0],
        "item.mae_path": "C:\\Sage\\Societes\\BIJOU.MAE",
    }
    lines = []
    for task in play["tasks"]:
        text = task.get("ansible.builtin.raw")
        if text is None:
            continue
        lines.append(
            (task["name"], re.sub(r"\{\{ ([\w.]+) \}\}", lambda m: str(values[m.group(1)]), text))
        )
    return lines


def test_every_raw_task_of_the_naive_baseline_is_understood(host: WindowsHost) -> None:
    lines = naive_lines()
    assert len(lines) >= 10
    for name, line in lines:
        rc, out, err = run_ps_line(host, line)
        if name.startswith("SF403"):  # no agent on this profile: Get-Service fails
            assert rc == 1 and "Cannot find any service" in decode_clixml(err), err
            continue
        assert rc == 0, f"{name}: {decode_clixml(err)}"
        # Unset registry values print nothing (the keys are absent on a default server).
        assert out.strip() or name.startswith(("SF102", "SF103")), name


def test_baseline_answers_come_from_the_model(host: WindowsHost, agent_host: WindowsHost) -> None:
    answers = {
        name[:5]: run_ps_line(host, line)[1].decode().strip() for name, line in naive_lines()
    }
    assert answers["SF101"] == "528049"
    assert answers["SF201"] == "True"
    assert answers["SF202"] == "11.02"
    assert answers["SF203"] == "False"
    assert answers["SF302"] == "True"
    assert answers["SF401"] == "True"
    assert "Direct access" in answers["SF308"]
    rc, out, _ = run_ps_line(agent_host, "Get-Service SpendeskSageAgent")
    assert rc == 0 and "SpendeskSageAgent" in out.decode()
    rc, out, _ = run_ps_line(
        agent_host, "(Get-Service SpendeskSageAgent -ErrorAction SilentlyContinue).Status"
    )
    assert (rc, out) == (0, b"Running\r\n")
    rc, out, _ = run_ps_line(host, "(Get-Service Nope -ErrorAction SilentlyContinue).Status")
    assert (rc, out) == (0, b"")


def test_missing_key_fails_like_powershell_unless_silenced(host: WindowsHost) -> None:
    line = "(Get-ItemProperty 'HKLM:\\SOFTWARE\\Nope').Release"
    rc, _, err = run_ps_line(host, line)
    assert rc == 1 and "does not exist" in decode_clixml(err)
    rc, out, _ = run_ps_line(host, line.replace(")", " -ErrorAction SilentlyContinue)", 1))
    assert (rc, out) == (0, b"")


def test_anything_else_stays_not_understood(host: WindowsHost) -> None:
    assert baseline_models.run_line(host, "Get-ChildItem C:\\") is None
    assert baseline_models.run_line(host, "Test-NetConnection x -Port 443") is None
    rc, _, err = run_ps_line(host, "Remove-Item C:\\Sage -Recurse")
    assert rc == 1 and "not understood" in decode_clixml(err)


def test_the_published_page_is_its_run(tmp_path: Path) -> None:
    """docs/performance.md's generated block is what its kept results render (no drift)."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    kept = json.loads((docs / publish.RESULTS_NAME).read_text(encoding="utf-8"))
    page = (docs / "performance.md").read_text(encoding="utf-8")
    assert publish.page_block(page) == publish.generated_block(kept)
    assert (docs / publish.PLOT_NAME).read_bytes().startswith(b"\x89PNG")
    png = tmp_path / "plot.png"
    png.write_bytes(b"\x89PNG")
    publish.publish(kept, png, tmp_path)
    assert json.loads((tmp_path / publish.RESULTS_NAME).read_text(encoding="utf-8")) == kept
