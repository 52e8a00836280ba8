"""Self-contained HTML report: one file an integrator can mail to a client.

Layout, escaping, Content-Security-Policy, and how statuses and outcomes are shown:
docs/operations.md, "Reports".
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from sagefleet import outcomes
from sagefleet.findings import HOST_STATUSES, Finding, FleetReport, HostReport
from sagefleet.report.labels import (
    NNBSP,
    colon,
    format_date,
    format_datetime,
    label,
    labels_for,
    status_key,
    typography,
)
from sagefleet.report.outcome_table import blocked_rule

TEMPLATE = "report.html.j2"

#: Finding statuses hidden until the reader asks (neutral: nothing to do about them).
QUIET = frozenset({"pass", "not_applicable"})
#: Finding statuses that ask for someone's attention in the summary and the filters.
ATTENTION = ("fail", "unknown")

# Within a host, what needs action first; a status not listed here comes after unknown.
_FINDING_ORDER = {"fail": 0, "unknown": 1, "waived": 3}
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
_SLUG = re.compile(r"[^a-z0-9]+")


def _asset(name: str) -> str:
    return resources.files("sagefleet").joinpath(f"templates/{name}").read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def css_class(status: str) -> str:
    """A CSS class fragment from any status name: ``rolled back`` -> ``rolled-back``."""
    return _SLUG.sub("-", str(status).lower()).strip("-") or "none"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sagefleet", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _observed(item: Finding) -> str:
    return json.dumps(item.observed, ensure_ascii=False, sort_keys=True)


def _text_node(value: str) -> Markup:
    """Escape for an element's text (never an attribute): ``<``, ``>`` and ``&`` only.

    Quotes need no escaping there, and at 500 hosts the ``&#34;`` of every observed
    JSON value and the ``&#39;`` of every French apostrophe add up.
    """
    return Markup(html.escape(value, quote=False))


def recap_class(report: FleetReport, status: str) -> str:
    """``rc-failed``, ``rc-unreachable`` or ``rc-ok``: how this run ends its hosts in
    ``status`` (PLAY RECAP's words: FleetReport.recap); empty when it ends them
    differently (blocked hosts it fails only some of) or the status is not declared."""
    hosts = [host for host in report.hosts if host.status == status]
    kind = outcomes.BY_NAME.get(status)
    recaps = {report.recap(host) for host in hosts} if hosts else {kind and kind.recap}
    return _rc(recaps.pop() if len(recaps) == 1 else None)


def _rc(recap: str | None) -> str:
    return f"rc-{recap}" if recap else ""


def outcome_columns(report: FleetReport) -> dict[str, bool]:
    """Which outcome columns the host table has: none for a report of findings only
    (preflight), the reason for a deploy or verify, the versions when a host has one."""
    with_outcome = [h.outcome for h in report.hosts if h.outcome is not None]
    return {
        "reason": bool(with_outcome),
        "versions": any(o.previous_version or o.target_version for o in with_outcome),
    }


def _host_rank(status: str) -> int:
    return HOST_STATUSES.index(status) if status in HOST_STATUSES else len(HOST_STATUSES)


def _is_quiet(item: Finding) -> bool:
    return status_key(str(item.status)) in QUIET


def _shown_status(item: Finding) -> str:
    """The status a finding is shown with: an info check that found something is
    ``noted``, never ``fail`` (it only informs, docs/checks.md)."""
    return "noted" if item.is_note else str(item.status)


def _json_script(data: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` element: nothing in it can end
    the element or be read as markup (``<``, ``>`` and ``&`` travel escaped)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return Markup(text)


class _QuietRows:
    """Passed and not applicable findings, each distinct string and row stored once.

    At 500 hosts they are about 13,000 rows, most of them the same few dozen rows
    repeated host after host: interning keeps the page small (see docs/operations.md).
    """

    def __init__(self, labels: Mapping[str, str], text: Callable[[str], str]) -> None:
        self.labels = labels
        self.text = text
        self.strings: list[str] = []
        self.rows: list[list[int]] = []
        self.hosts: list[list[int]] = []
        self._string_ids: dict[str, int] = {}
        self._row_ids: dict[tuple[int, ...], int] = {}

    def _id(self, value: str) -> int:
        found = self._string_ids.get(value)
        if found is None:
            found = self._string_ids[value] = len(self.strings)
            self.strings.append(value)
        return found

    def add_host(self, findings: list[Finding]) -> None:
        ids: list[int] = []
        for item in findings:
            status = str(item.status)
            row = tuple(
                self._id(value)
                for value in (
                    item.check_id,
                    label(self.labels, "severity", str(item.severity)),
                    css_class(status),
                    label(self.labels, "finding", status),
                    self.text(item.title),
                    item.entity or "",
                    self.text(item.message),
                    "" if item.observed is None else _observed(item),
                )
            )
            found = self._row_ids.get(row)
            if found is None:
                found = self._row_ids[row] = len(self.rows)
                self.rows.append(list(row))
            ids.append(found)
        self.hosts.append(ids)

    def to_data(self) -> dict[str, Any]:
        return {"strings": self.strings, "rows": self.rows, "hosts": self.hosts}


def _checks_summary(report: FleetReport, labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Checks that failed or could not be decided, with how many hosts each: most first
    (an info check's note is not a failure: ``_notes_summary``)."""
    summary: dict[str, dict[str, Any]] = {}
    for host in report.hosts:
        seen: dict[str, set[str]] = {}
        for item in host.findings:
            status = str(item.status)
            if status in ATTENTION and not item.is_note:
                seen.setdefault(item.check_id, set()).add(status)
                entry = summary.setdefault(
                    item.check_id,
                    {"check_id": item.check_id, "title": item.title, "fail": 0, "unknown": 0,
                     "severity": str(item.severity)},
                )
                if status == "fail" and _SEVERITY_ORDER[str(item.severity)] < _SEVERITY_ORDER[
                    entry["severity"]
                ]:
                    entry["severity"] = str(item.severity)
        for check_id, statuses in seen.items():
            # A host counts once per check: as failing if any entity fails it.
            summary[check_id]["fail" if "fail" in statuses else "unknown"] += 1
    items = sorted(
        summary.values(),
        key=lambda e: (_SEVERITY_ORDER[e["severity"]], -e["fail"], -e["unknown"], e["check_id"]),
    )
    for entry in items:
        entry["severity_label"] = label(labels, "severity", entry["severity"])
    return items


def _notes_summary(report: FleetReport) -> list[dict[str, Any]]:
    """The info checks that found something, with how many hosts each: most first."""
    titles = report.check_titles()
    return [
        {"check_id": check_id, "title": titles[check_id][0], "hosts": n}
        for check_id, n in report.notes_by_check.items()
    ]


def _host_row(
    index: int, host: HostReport, labels: Mapping[str, str], quiet: _QuietRows, rc: str
) -> dict[str, Any]:
    """One host's row and block; ``rc``: its recap_class."""
    shown = sorted(
        (f for f in host.findings if not _is_quiet(f)),
        key=lambda f: (
            _FINDING_ORDER.get(str(f.status), 2),
            _SEVERITY_ORDER[str(f.severity)],
            f.check_id,
            f.entity or "",
        ),
    )
    hidden = sorted(
        (f for f in host.findings if _is_quiet(f)), key=lambda f: (f.check_id, f.entity or "")
    )
    quiet.add_host(hidden)
    hidden_counts: dict[str, int] = {}
    for item in hidden:
        name = label(labels, "finding", str(item.status))
        hidden_counts[name] = hidden_counts.get(name, 0) + 1
    # What the check filter finds the host by: its failures, unknowns and notes.
    checks = {f.check_id for f in host.findings if str(f.status) in ATTENTION}
    by_status: dict[str, int] = {}
    for item in host.findings:
        by_status[str(item.status)] = by_status.get(str(item.status), 0) + 1
    outcome = host.outcome
    # What the operator acts on for a deploy or verify: the outcome's reason (or plan),
    # and the host's error when the reason does not already say it.
    reason = outcome.detail if outcome else ""
    if outcome and host.error and host.error not in reason:
        reason = f"{reason}: {host.error}" if reason else host.error
    return {
        "index": index,
        "host": host,
        "status": host.status,
        "status_class": f"{css_class(host.status)} {rc}".strip(),
        "status_label": label(labels, "status", host.status),
        "outcome": outcome,
        "reason": reason,
        "rank": _host_rank(host.status),
        "findings": [
            {
                "item": f,
                "status_class": css_class(_shown_status(f)),
                "status_label": label(labels, "finding", _shown_status(f)),
                "severity_label": label(labels, "severity", str(f.severity)),
            }
            for f in shown
        ],
        "hidden": hidden_counts,
        "unknown": by_status.get("unknown", 0),
        "waived": by_status.get("waived", 0),
        "checks": sorted(checks),
        "open": bool(shown)
        or host.error is not None
        or not host.reachable
        or (outcome is not None and (bool(outcome.reason) or rc != "rc-ok")),
    }


def render_html(report: FleetReport) -> str:
    """Render the fleet as one standalone HTML page (summary, filters, hosts, findings)."""
    css = _asset("report.css")
    script = _asset("report.js")
    if "</" in script or "</" in css:
        raise ValueError("inline assets must not contain '</' (it would end the element)")
    labels = labels_for(report.lang)

    def text(value: str) -> str:
        return typography(value, report.lang)

    def text_node(value: str) -> Markup:
        return _text_node(typography(value, report.lang))

    quiet = _QuietRows(labels, text)
    rows = [
        _host_row(index, host, labels, quiet, _rc(report.recap(host)))
        for index, host in enumerate(report.sorted_hosts(), start=1)
    ]
    quiet.hosts.insert(0, [])  # host indexes start at 1, as the element ids do
    counts = report.host_status_counts
    for row in rows:  # a status the model's counts do not list yet still gets its total
        counts.setdefault(row["status"], 0)
    totals = [
        {
            "status": s,
            "class": f"{css_class(s)} {recap_class(report, s)}".strip(),
            "label": label(labels, "status", s),
            "count": n,
        }
        for s, n in counts.items()
    ]
    template = _environment().get_template(TEMPLATE)
    template_globals: dict[str, Any] = {
        "report": report,
        "L": labels,
        "C": colon(report.lang),
        "SEMI": f"{NNBSP}; " if report.lang == "fr" else "; ",
        "generated": format_datetime(report.generated_at, report.lang),
        "day": lambda value: format_date(value, report.lang),
        "text": text_node,
        "totals": totals,
        "blocked_rule": blocked_rule(report, labels),
        "rows": rows,
        "outcomes": outcome_columns(report),
        "by_check": _checks_summary(report, labels),
        "notes": _notes_summary(report),
        "observed": lambda item: _text_node(_observed(item)),
        "quiet_data": _json_script(quiet.to_data()),
        "css": Markup(css),
        "script": Markup(script),
        "style_hash": _csp_hash(css),
        "script_hash": _csp_hash(script),
    }
    return template.render(**template_globals)
