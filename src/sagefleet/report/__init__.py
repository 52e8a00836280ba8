"""Fleet results rendered for people and machines: console, JSON, JUnit XML, HTML.

Renderers only format what is in the ``FleetReport``: secrets never reach the
model, so nothing here needs (or has) a redaction layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from sagefleet.errors import InputError
from sagefleet.files import write_atomic
from sagefleet.findings import FleetReport
from sagefleet.report.console import render_console
from sagefleet.report.html import render_html
from sagefleet.report.json_report import load_schema, render_json
from sagefleet.report.junit import render_junit
from sagefleet.report.labels import LABELS, labels_for

__all__ = [
    "FILE_NAMES",
    "FORMATS",
    "LABELS",
    "labels_for",
    "load_schema",
    "render_console",
    "render_html",
    "render_json",
    "render_junit",
    "render_report",
    "write_reports",
]

#: File written for each format, inside the output directory.
FILE_NAMES: dict[str, str] = {
    "console": "report.txt",
    "json": "report.json",
    "junit": "report.junit.xml",
    "html": "report.html",
}


def _console_plain(report: FleetReport) -> str:
    return render_console(report, colour=False)


_RENDERERS: dict[str, Callable[[FleetReport], str]] = {
    "console": _console_plain,
    "json": render_json,
    "junit": render_junit,
    "html": render_html,
}

FORMATS: tuple[str, ...] = tuple(_RENDERERS)


def _check_formats(names: Iterable[str]) -> None:
    unknown = [name for name in names if name not in _RENDERERS]
    if unknown:
        raise InputError(
            "unknown report format",
            field="formats",
            value=", ".join(unknown),
            fix=f"choose among {', '.join(FORMATS)}",
        )


def render_report(report: FleetReport, name: str) -> str:
    """``report`` in one format, exactly as `write_reports` writes its file."""
    _check_formats([name])
    return _RENDERERS[name](report)


#: Reports hold host names and findings, no secrets: readable by the team on the bastion.
REPORT_MODE = 0o644


def write_reports(report: FleetReport, out_dir: Path, formats: Iterable[str]) -> dict[str, Path]:
    """Render ``report`` in each requested format and write the files into ``out_dir``.

    All formats are checked before anything is written, so a typo does not leave a
    partial set of reports behind. Returns the path written for each format.
    """
    wanted = list(dict.fromkeys(formats))
    _check_formats(wanted)
    if not wanted:
        raise InputError(
            "no report format requested", field="formats", fix=f"choose among {', '.join(FORMATS)}"
        )
    rendered = {name: _RENDERERS[name](report) for name in wanted}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    # report.json last: it makes the folder a run's report (runs.written), so a run stopped
    # while writing never leaves a report.json without the other files.
    for name, text in sorted(rendered.items(), key=lambda item: item[0] == "json"):
        path = out_dir / FILE_NAMES[name]
        write_atomic(path, text, mode=REPORT_MODE, skip_unchanged=False)
        written[name] = path
    return {name: written[name] for name in wanted}
