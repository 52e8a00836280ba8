"""Plain-text fleet table for a terminal or a CI log.

Fixed-width columns so that 500 hosts stay scannable, most urgent hosts first,
and colour only when a human is watching a terminal.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence

from sagefleet.findings import FleetReport, HostReport
from sagefleet.outcomes import Outcome
from sagefleet.report.labels import colon, format_datetime, label, labels_for
from sagefleet.report.outcome_table import blocked_rule

MIN_WIDTH = 60

_ANSI: dict[str, str] = {
    Outcome.BLOCKED: "31",
    Outcome.UNREACHABLE: "35",
    Outcome.WARNINGS: "33",
    Outcome.READY: "32",
}
# Any other status: red when it fails a run, magenta when unreachable, green otherwise.
_ANSI_BY_RECAP = {"failed": "31", "unreachable": "35", "ok": "32"}


def colour_wanted(stream: object = None) -> bool:
    """Decide colour like most CLIs do: only on a TTY, and never when NO_COLOR is set."""
    if os.environ.get("NO_COLOR"):
        return False
    target = sys.stdout if stream is None else stream
    isatty = getattr(target, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


#: Control characters (C0, DEL, C1): a host name or message carrying an escape sequence
#: must not be able to drive the operator's terminal.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Runs of ASCII white space; the no-break spaces of French typography stay.
_SPACES = re.compile("[ \t\n\r\f\v]+")


def _fit(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, marking the cut so it is never mistaken."""
    # newlines or tabs would break the columns
    text = _SPACES.sub(" ", _CONTROL.sub("?", text)).strip()
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…"


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths: Sequence[int],
    right: Sequence[bool],
    colour_col: int | None = None,
    colours: Sequence[str | None] = (),
) -> list[str]:
    lines = []
    for index, row in enumerate([list(headers), *rows]):
        cells = []
        for col, value in enumerate(row):
            text = _fit(value, widths[col])
            text = text.rjust(widths[col]) if right[col] else text.ljust(widths[col])
            code = colours[index - 1] if index and col == colour_col and colours else None
            if code:
                text = f"\x1b[{code}m{text}\x1b[0m"
            cells.append(text)
        lines.append("  ".join(cells).rstrip())
    return lines


def _host_row(host: HostReport, status_label: str, label_unknown: str) -> list[str]:
    status = host.status_counts
    severity = host.severity_counts
    detail = " ".join(host.failed_check_ids)
    if host.undecided_check_ids:  # never a pass: a blocking one is why the host is blocked
        unknown = f"{label_unknown}: {' '.join(host.undecided_check_ids)}"
        detail = f"{detail}; {unknown}" if detail else unknown
    if host.error is not None or not host.reachable:
        reason = host.error or "unreachable"
        detail = f"{reason} {detail}".strip() if detail else reason
    return [
        host.host,
        status_label,
        str(severity["error"]),
        str(severity["warning"]),
        str(status["unknown"]),
        str(status["waived"]),
        detail,
    ]


def _outcome_row(host: HostReport, status_label: str) -> list[str]:
    outcome = host.outcome
    detail = outcome.detail if outcome else ""
    if host.error and host.error not in detail:
        detail = f"{detail}: {host.error}" if detail else host.error
    if not detail:
        detail = " ".join(host.failed_check_ids)
    return [
        host.host,
        status_label,
        (outcome.previous_version if outcome else None) or "-",
        (outcome.target_version if outcome else None) or "-",
        f"{host.duration_s:.1f}",
        detail,
    ]


def _host_table(
    report: FleetReport, labels: Mapping[str, str], width: int, use_colour: bool
) -> list[str]:
    hosts = report.sorted_hosts()
    if any(h.outcome is not None for h in hosts):
        headers = [
            labels["host"].upper(),
            labels["status"].upper(),
            labels["outcome.from"].upper(),
            labels["outcome.to"].upper(),
            labels["duration"].upper(),
            labels["outcome.reason"].upper(),
        ]
        rows = [_outcome_row(h, label(labels, "status", h.status)) for h in hosts]
        right = [False, False, False, False, True, False]
        if not any(
            h.outcome and (h.outcome.previous_version or h.outcome.target_version) for h in hosts
        ):  # verify: no versions to show
            headers, right = headers[:2] + headers[4:], right[:2] + right[4:]
            rows = [r[:2] + r[4:] for r in rows]
        # The reason is what the operator acts on: never cut.
        cut_detail = False
    else:
        headers = [
            labels["host"].upper(),
            labels["status"].upper(),
            labels["col.errors"],
            labels["col.warnings"],
            labels["col.unknown"],
            labels["col.waived"],
            labels["failed_checks"].upper(),
        ]
        unknown = labels["finding.unknown"]
        rows = [_host_row(h, label(labels, "status", h.status), unknown) for h in hosts]
        right = [False, False, True, True, True, True, False]
        cut_detail = True
    widths = [max([len(headers[c])] + [len(r[c]) for r in rows]) for c in range(len(headers))]
    fixed = sum(widths[1:-1]) + 2 * (len(headers) - 1)
    # The host name gives way first, then the detail column; numbers never do.
    widths[0] = min(widths[0], max(8, width - fixed - 20))
    if cut_detail:
        widths[-1] = max(width - fixed - widths[0], 1)
    colours = [
        _ANSI.get(h.status, _ANSI_BY_RECAP.get(report.recap(h) or "")) if use_colour else None
        for h in hosts
    ]
    return _table(headers, rows, widths, right, colour_col=1, colours=colours)


def render_console(report: FleetReport, width: int = 100, *, colour: bool | None = None) -> str:
    """Render the fleet as a fixed-width text table, blocked hosts first.

    ``colour=None`` colours only when stdout is a terminal, so logs and files stay clean.
    """
    if width < MIN_WIDTH:
        raise ValueError(f"width must be at least {MIN_WIDTH} columns, got {width}")
    use_colour = colour_wanted() if colour is None else colour
    labels = labels_for(report.lang)
    sep = colon(report.lang)

    lines = [_fit(report.title, width)]
    lines.append(
        _fit(
            f"{labels['generated_at']}{sep}{format_datetime(report.generated_at, report.lang)} · "
            f"{labels['tool_version']}{sep}{report.tool_version}",
            width,
        )
    )
    counts = report.host_status_counts
    totals = ", ".join(f"{label(labels, 'status', s)} {n}" for s, n in counts.items())
    total_line = f"{labels['totals']}{sep}{labels['hosts']} {len(report.hosts)} ({totals})"
    lines.append(_fit(total_line, width))
    rule = blocked_rule(report, labels)
    if rule:  # a sentence: wrapped, never cut
        lines.extend(textwrap.wrap(rule, width=max(width, 20)))
    lines.append("")
    lines.extend(_host_table(report, labels, width, use_colour))

    lines.append("")
    lines.append(labels["by_check"])
    failures, unknown = report.failures_by_check, report.unknown_by_check
    if not failures and not unknown:
        lines.append(labels["no_failures"])
    else:
        titles = report.check_titles()
        check_headers = [
            labels["check"].upper(),
            labels["severity"].upper(),
            labels["hosts_failing"].upper(),
            labels["hosts_unknown"].upper(),
            labels["check_title"].upper(),
        ]
        ids = [*failures, *(cid for cid in unknown if cid not in failures)]
        check_rows = [
            [
                cid,
                labels[f"severity.{titles[cid][1]}"],
                str(failures.get(cid, 0)),
                str(unknown.get(cid, 0)),
                titles[cid][0],
            ]
            for cid in ids
        ]
        cw = [max([len(check_headers[c])] + [len(r[c]) for r in check_rows]) for c in range(4)]
        cw.append(max(width - sum(cw) - 8, 1))
        lines.extend(_table(check_headers, check_rows, cw, [False, False, True, True, False]))
    lines.extend(_notes_table(report, labels, width))
    return "\n".join(lines) + "\n"


def _notes_table(report: FleetReport, labels: Mapping[str, str], width: int) -> list[str]:
    """What the info checks found, by check: they inform and never fail a host, so they are
    not among the failures (none: no lines)."""
    notes = report.notes_by_check
    if not notes:
        return []
    titles = report.check_titles()
    headers = [labels[key].upper() for key in ("check", "hosts_noted", "check_title")]
    rows = [[cid, str(n), titles[cid][0]] for cid, n in notes.items()]
    widths = [max([len(headers[c])] + [len(r[c]) for r in rows]) for c in range(2)]
    widths.append(max(width - sum(widths) - 4, 1))
    return ["", labels["notes_by_check"], *_table(headers, rows, widths, [False, True, False])]
