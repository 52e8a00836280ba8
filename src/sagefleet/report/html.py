"""Self-contained HTML report: one file an integrator can mail to a client.

No external assets (inline CSS and JS), every value HTML-escaped by jinja2's
autoescape, and a Content-Security-Policy that only allows the exact inline
style and script shipped here (by hash): even if a value slipped through
escaping, the browser would refuse to run it or to fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from sagefleet.findings import HOST_STATUSES, Finding, FleetReport, Status
from sagefleet.outcomes import KINDS
from sagefleet.report.labels import labels_for

TEMPLATE = "report.html.j2"

# Within a host, what needs action first.
_FINDING_ORDER = {Status.FAIL: 0, Status.UNKNOWN: 1, Status.WAIVED: 2, Status.PASS: 3}
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def _asset(name: str) -> str:
    return resources.files("sagefleet").joinpath(f"templates/{name}").read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


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


def render_html(report: FleetReport) -> str:
    """Render the fleet as one standalone HTML page (hosts table sortable by header click)."""
    css = _asset("report.css")
    script = _asset("report.js")
    if "</" in script or "</" in css:
        raise ValueError("inline assets must not contain '</' (it would end the element)")
    rows: list[dict[str, Any]] = []
    for host in report.sorted_hosts():
        findings = sorted(
            host.findings,
            key=lambda f: (_FINDING_ORDER[f.status], _SEVERITY_ORDER[f.severity], f.check_id),
        )
        rows.append({"host": host, "rank": HOST_STATUSES.index(host.status), "findings": findings})
    titles = report.check_titles()
    by_check = [
        {"check_id": cid, "count": n, "title": titles[cid][0], "severity": titles[cid][1]}
        for cid, n in report.failures_by_check.items()
    ]
    template = _environment().get_template(TEMPLATE)
    return template.render(
        report=report,
        L=labels_for(report.lang),
        counts=report.host_status_counts,
        recap={k.name: k.recap for k in KINDS},
        rows=rows,
        by_check=by_check,
        observed=_observed,
        css=Markup(css),
        script=Markup(script),
        style_hash=_csp_hash(css),
        script_hash=_csp_hash(script),
    )
