"""The benchmarks' results written out: JSON, Markdown tables, the plot, and the
generated block of docs/performance.md."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import transfer_bench, upgrade_bench
from bench.preflight_bench import (
    APPROACHES,
    COUNTED,
    LABELS,
    MIN_POWERSHELL_STARTS,
    MIN_ROUND_TRIPS,
    against_doctor,
)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _other_work(share: float | None) -> str:
    if share is None:
        return "other work on the machine was not measured"
    return (
        f"processes outside the benchmark used at most {share * 100:.0f} % of the cores "
        "during a run (from /proc/stat, less the run's and the simulator's CPU)"
    )


def markdown_table(results: Mapping[str, Any]) -> str:
    """The results as Markdown: the measured table, targets, linearity, pending benchmarks."""
    params = results["parameters"]
    round_trips = params.get("min_round_trips", MIN_ROUND_TRIPS)
    starts = params.get("powershell_starts", MIN_POWERSHELL_STARTS)
    lines = [
        f"Latency {params['latency_s'] * 1000:.0f} ms per WinRM request, PowerShell start-up "
        f"{params['startup_s'] * 1000:.0f} ms, lower bound = {round_trips} round trips x "
        f"latency + {starts} start-up per host, x ceil(N / concurrency) (a command's Receive "
        "travels while its PowerShell starts: its round trip is in the start-up). Medians over "
        "the runs; "
        "CPU is the bastion's (the command and all its children); memory is the peak sum "
        "of resident sizes over the bastion's process tree (shared pages counted once "
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
            "preflight.yml against sagefleet doctor (wall time over doctor's at its own forks; "
            "bounds: preflight.yml's lower bound over doctor's, from their concurrencies; "
            "and wall time over doctor's at preflight.yml's forks, the same work at the same "
            "concurrency):",
            "",
            "| Approach | Hosts | Wall / doctor's | Bound / doctor's bound "
            "| Wall / doctor's at the same forks |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in ratios:
            lines.append(
                f"| {LABELS[r['approach']]} | {r['hosts']} | {_fmt(r['wall_vs_doctor'])} | "
                f"{_fmt(r['bounds_ratio'])} | {_fmt(r.get('wall_vs_doctor_same_forks'))} |"
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
        f"Delete, a Command per command, 1 per Send: {count['commands']} command(s), "
        f"{count['sends']} Send(s)) and {count['powershell_starts']} PowerShell start-up(s), "
        "each with its command's Receive, which travels while PowerShell starts (Windows "
        "starts the process when the last Send arrives).",
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
        f"{transfer_bench.best_share(transfer_bench.ANSIBLE_CHUNK_BYTES) * 100:.0f} %); "
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
        f"Upgrade: {u['hosts']} hosts (profile {upgrade_bench.PROFILE}, agent 2.3.0 to "
        f"{upgrade_bench.AGENT_VERSION}) with playbooks/deploy.yml, waves [{waves}] = "
        f"{sizes} hosts, forks {u['forks']}: {rounds} = {sum(u['wave_rounds'])} rounds. "
        f"One host's upgrade, counted by the simulator's listener in a one-host run: "
        f"{per['commands']} commands (each a PowerShell start-up), {per['sends']} Sends, "
        f"{per['operations'].get('Signal', 0)} Signals; lower bound per host = "
        f"{u['min_round_trips_per_host']} round trips (NTLM 2, Create, Delete, a Command per "
        f"command, 1 per Send) x latency + {per['commands']} start-ups (each command's Receive "
        f"travels while its PowerShell starts) = {u['per_host_bound_s']:.2f} s.",
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
        "doctor_same_forks": "tab:olive",
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
        link * transfer_bench.TARGETS["transfer_link_share"],
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


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
#: The results the page's generated block was written from, kept beside it (a test
#: renders the block again from them: the page cannot drift from its run).
RESULTS_NAME = "performance-fleet.json"
PLOT_NAME = "performance-fleet.png"


def generated_block(results: Mapping[str, Any]) -> str:
    """What docs/performance.md holds between its bench markers for ``results``."""
    m = results["machine"]
    header = (
        f"Measured {results['date']} on {m['cpus']} cores ({m['cpu_model'] or 'unknown CPU'}), "
        f"{m['memory_gib']} GiB memory, {m['os']}, Python {m['python']}, "
        f"ansible-core {m['ansible_core']}, pywinrm {m['pywinrm']}; "
        f"the benchmark took {results['duration_s'] / 60:.1f} min; "
        + _other_work(results.get("max_other_cpu_share"))
        + ".\n\n"
        f"![Wall time against hosts]({PLOT_NAME})\n\n"
    )
    return header + markdown_table(results)


def page_block(text: str) -> str:
    """The generated block of a page (between the markers)."""
    _, rest = text.split(BEGIN + "\n", 1)
    block, _ = rest.split(END, 1)
    return block


def publish(results: Mapping[str, Any], png: Path, docs: Path) -> None:
    """Copy the plot and the results under docs/ and replace the generated block of
    docs/performance.md."""
    shutil.copyfile(png, docs / PLOT_NAME)
    (docs / RESULTS_NAME).write_text(
        json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8"
    )
    page = docs / "performance.md"
    text = f"# Performance\n\n{BEGIN}\n{END}\n"
    if page.exists():
        text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(head + BEGIN + "\n" + generated_block(results) + END + tail, encoding="utf-8")
