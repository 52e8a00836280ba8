"""The HTML fleet report as a user sees it: rendered by headless Chromium."""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sagefleet.findings import FleetReport, HostReport, Status
from sagefleet.report import write_reports
from tests.support import reportfleet
from tests.support.browser import CHROMIUM_FLAGS, Browser, chromium
from tests.support.fleets import ROOT
from tests.support.reports import deploy_report, dotnet

ERROR_RED = (0xB4, 0x23, 0x18)  # --error in report.css: the blocked badge
OK_GREEN = (0x06, 0x76, 0x47)  # --ok: the ready badge


def report(tmp_path: Path) -> Path:
    blocked = HostReport(
        host="sage-blocked",
        reachable=True,
        findings=(
            dotnet(
                Status.FAIL,
                ".NET Framework 4.7.2",
                "Install .NET Framework 4.8 (ndp48-x86-x64-allos-enu.exe)",
            ),
        ),
        summary={"os": "Windows Server 2016"},
    )
    ready = HostReport(
        host="sage-ready",
        reachable=True,
        findings=(dotnet(Status.PASS, ".NET Framework 4.8"),),
    )
    written = write_reports(
        FleetReport(title="sagefleet preflight", hosts=(blocked, ready)), tmp_path, ["html"]
    )
    return written["html"]


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and unfiltered RGB(A) rows of an 8-bit PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, ihdr = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            chunks += body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", ihdr[:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(chunks)
    stride = width * bpp
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = previous[x]
            corner = previous[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3))
        previous = line
    return width, height, rows


def count_colour(rows: list[bytes], rgb: tuple[int, int, int], tolerance: int = 6) -> int:
    found = 0
    for row in rows:
        for i in range(0, len(row), 3):
            if all(abs(row[i + k] - rgb[k]) <= tolerance for k in range(3)):
                found += 1
    return found


def test_html_report_renders_with_severity_colours(tmp_path: Path) -> None:
    page = report(tmp_path)
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    width, height, rows = decode_png(shot.read_bytes())
    assert (width, height) == (1280, 900)
    assert count_colour(rows, ERROR_RED) > 50, "no red 'blocked' badge on the page"
    assert count_colour(rows, OK_GREEN) > 50, "no green 'ready' badge on the page"


def test_html_report_dom_holds_every_host_and_remediation(tmp_path: Path) -> None:
    page = report(tmp_path)
    dom = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "sage-blocked" in dom and "sage-ready" in dom
    assert "ndp48-x86-x64-allos-enu.exe" in dom
    assert dom.count("<tr") >= 4  # header, two hosts, at least one finding


# ----------------------------------------------------------------------------- 500 hosts
#
# A 500-host preflight report built as preflight builds one (tests/support/reportfleet.py), opened
# from file:// in headless Chromium and used through the DOM as a reader would: typing,
# keyboard, mouse clicks. The page and its screenshots stay in .sagefleet/artefacts/
# report-browser/ (git-ignored) for a person to look at after the run.

ARTEFACTS = Path(os.environ.get("SAGEFLEET_ARTEFACTS", ROOT / ".sagefleet" / "artefacts"))
ARTEFACT_DIR = ARTEFACTS / "report-browser"
HOSTS = 500
# 2 KB a host: 1 MB at 500 hosts opens at once from a mail or a share and renders in a
# second. The report this layout replaced was 4.7 MB for the same fleet (every passed
# check of every host as a table row); this one is about 0.7 MB.
SIZE_BUDGET = 1_000_000
MUTED = "rgb(102, 112, 133)"  # --muted in report.css


@pytest.fixture(scope="module")
def fleet_500() -> FleetReport:
    return reportfleet.fleet(HOSTS)


@pytest.fixture(scope="module")
def page_500(fleet_500: FleetReport) -> Path:
    written = write_reports(fleet_500, ARTEFACT_DIR, ["html"])
    return written["html"]


@pytest.fixture
def browser(tmp_path: Path, page_500: Path) -> Iterator[Browser]:
    with Browser(tmp_path / "profile") as opened:
        opened.open(page_500.as_uri())
        yield opened
        assert opened.problems() == []  # no script error, no CSP refusal


VISIBLE_HOSTS = (
    "Array.from(document.querySelectorAll('#hosts tbody tr'))"
    ".filter(function (r) { return r.checkVisibility(); })"
    ".map(function (r) { return r.getAttribute('data-host'); })"
)
VISIBLE_BLOCKS = (
    "Array.from(document.querySelectorAll('#findings > details'))"
    ".filter(function (d) { return d.checkVisibility(); }).length"
)


def attention(host: HostReport) -> set[str]:
    """Checks that failed, could not be decided or noted something on ``host`` (what the
    check filter finds it by)."""
    return {f.check_id for f in host.findings if str(f.status) in ("fail", "unknown")}


def hosts_with(fleet: FleetReport, check_id: str) -> set[str]:
    return {h.host for h in fleet.hosts if check_id in attention(h)}


def test_500_host_report_stays_under_its_size_budget(page_500: Path) -> None:
    assert page_500.stat().st_size < SIZE_BUDGET


def test_500_host_report_opens_on_its_summary(browser: Browser, fleet_500: FleetReport) -> None:
    shot = browser.screenshot(ARTEFACT_DIR / "report-500-summary.png")
    width, height, rows = decode_png(shot)
    assert (width, height) == (1280, 900)
    assert browser.evaluate("window.scrollY") == 0
    # The failures by check are on the first screen, above the host table.
    top = browser.evaluate("document.getElementById('checks').getBoundingClientRect().top")
    assert 0 < top < 900
    assert browser.evaluate(
        "document.getElementById('checks').compareDocumentPosition("
        "document.getElementById('hosts')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    listed = browser.evaluate(
        "Array.from(document.querySelectorAll('#checks tbody tr')).map("
        "function (r) { return r.getAttribute('data-check'); })"
    )
    notes = {cid for h in fleet_500.hosts for cid in h.noted_check_ids}
    assert notes  # the fleet has info checks that found something: listed apart
    assert set(listed) == {cid for h in fleet_500.hosts for cid in attention(h)} - notes
    noted = browser.evaluate(
        "Array.from(document.querySelectorAll('#notes-by-check tbody tr')).map("
        "function (r) { return r.getAttribute('data-check'); })"
    )
    assert set(noted) == notes
    assert count_colour(rows, ERROR_RED) > 50, "no red 'blocked' badge or error severity"
    assert browser.evaluate("document.getElementById('f-count').textContent") == (
        f"{HOSTS} of {HOSTS} hosts shown"
    )


def test_500_host_report_shows_no_passed_check_until_asked(browser: Browser) -> None:
    assert browser.evaluate("document.querySelectorAll('tr.fs-pass').length") == 0
    # Every host has a row and a findings block, and nothing else is a table row.
    assert browser.evaluate("document.querySelectorAll('tr').length") < 3 * HOSTS


def test_typing_a_host_name_shows_only_that_host(browser: Browser) -> None:
    name = reportfleet.host_name(42)
    browser.click("#f-host")
    browser.type_text(name.split(".")[0])
    assert browser.evaluate(VISIBLE_HOSTS) == [name]
    assert browser.evaluate(VISIBLE_BLOCKS) == 1
    assert browser.evaluate("location.hash") == "#host=sage-042"
    browser.click("#f-clear")
    assert len(browser.evaluate(VISIBLE_HOSTS)) == HOSTS


def test_choosing_a_status_shows_the_hosts_in_it(browser: Browser, fleet_500: FleetReport) -> None:
    browser.click("#f-host")
    browser.press("Tab", "Tab", 9)  # to the status list, as a keyboard user does
    assert browser.evaluate("document.activeElement.id") == "f-status"
    browser.type_text("unreachable")
    shown = browser.evaluate(VISIBLE_HOSTS)
    wanted = sorted(h.host for h in fleet_500.hosts if h.status == "unreachable")
    assert wanted and sorted(shown) == wanted
    assert browser.evaluate(VISIBLE_BLOCKS) == len(wanted)
    browser.screenshot(ARTEFACT_DIR / "report-500-unreachable.png")


def test_clicking_a_check_in_the_summary_shows_its_hosts(
    browser: Browser, fleet_500: FleetReport
) -> None:
    check_id = browser.evaluate(
        "document.querySelector('#checks tbody tr').getAttribute('data-check')"
    )
    browser.click(f"#checks a[href='#check={check_id}']")
    assert browser.evaluate("document.getElementById('f-check').value") == check_id
    shown = browser.evaluate(VISIBLE_HOSTS)
    assert sorted(shown) == sorted(hosts_with(fleet_500, check_id))
    assert len(shown) < HOSTS
    # The reader lands on the host table.
    heading = browser.evaluate("document.getElementById('hosts-title').getBoundingClientRect().top")
    assert 0 <= heading < 100
    browser.screenshot(ARTEFACT_DIR / f"report-500-{check_id}.png")


def test_passed_checks_show_when_asked_with_neutral_styling(
    browser: Browser, fleet_500: FleetReport
) -> None:
    ready = next(h for h in fleet_500.sorted_hosts() if h.status == "ready")
    passed = [f for f in ready.findings if str(f.status) == "pass"]
    assert any(str(f.severity) == "error" for f in passed)
    browser.click("#f-host")
    browser.type_text(ready.host)
    browser.click("#f-quiet")
    index = browser.evaluate(
        f"document.querySelector('#hosts tr[data-host=\"{ready.host}\"]').getAttribute('data-i')"
    )
    block = f"#findings > details[data-i='{index}']"
    rows = browser.evaluate(
        f"Array.from(document.querySelectorAll(\"{block} tr.fs-pass\"))"
        ".filter(function (r) { return r.checkVisibility(); })"
        ".map(function (r) { return [r.cells[0].textContent, r.cells[1].textContent,"
        " getComputedStyle(r.cells[1]).color]; })"
    )
    assert sorted(r[0] for r in rows) == sorted(f.check_id for f in passed)
    assert {r[2] for r in rows} == {MUTED}  # "error" on a passed check is not red
    assert "error" in {r[1] for r in rows}
    box = browser.box(f"{block} table.findings", page=True)
    shot = browser.screenshot(ARTEFACT_DIR / "report-500-passed.png", clip=box)
    _, _, pixels = decode_png(shot)
    assert count_colour(pixels, ERROR_RED, tolerance=20) == 0


# ----------------------------------------------------------------------------- deploy outcomes


def deploy_page(tmp_path: Path) -> Path:
    """A deploy report: the hosts' statuses are outcomes (rolled-back, not-run...); the
    unreachable host left out."""
    report = deploy_report()
    hosts = tuple(h for h in report.hosts if h.outcome and h.outcome.status != "unreachable")
    return write_reports(replace(report, hosts=hosts), tmp_path, ["html"])["html"]


def test_a_deploy_report_filters_by_its_outcome_statuses(tmp_path: Path) -> None:
    page = deploy_page(tmp_path)
    with Browser(tmp_path / "profile") as browser:
        browser.open(page.as_uri() + "#status=not-run")
        assert browser.evaluate(VISIBLE_HOSTS) == ["later"]
        assert browser.evaluate(VISIBLE_BLOCKS) == 1
        options = browser.evaluate(
            "Array.from(document.querySelectorAll('#f-status option'))"
            ".map(function (o) { return o.value; })"
        )
        assert options == ["", "rolled-back", "blocked", "not-run", "installed"]
        # Chosen from the list, as a reader does: the rolled-back host, red.
        browser.evaluate(
            "(function (s) { s.value = 'rolled-back';"
            " s.dispatchEvent(new Event('change')); })(document.getElementById('f-status'))"
        )
        assert browser.evaluate(VISIBLE_HOSTS) == ["old"]
        assert browser.evaluate("location.hash") == "#status=rolled-back"
        badge = "#hosts tr[data-host='old'] .badge"
        assert browser.evaluate(
            f"getComputedStyle(document.querySelector(\"{badge}\")).backgroundColor"
        ) == "rgb({}, {}, {})".format(*ERROR_RED)
        assert browser.evaluate(
            "document.querySelector(\"#hosts tr[data-host='fresh'] .badge\")"
            ".className"
        ) == "badge st-installed rc-ok"
        assert browser.problems() == []
