"""The HTML fleet report as a user sees it: rendered by headless Chromium."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from sagefleet.findings import Finding, FleetReport, HostReport, Severity, Status
from sagefleet.report import write_reports

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,900",
]
ERROR_RED = (0xB4, 0x23, 0x18)  # --error in report.css: the blocked badge
OK_GREEN = (0x06, 0x76, 0x47)  # --ok: the ready badge


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "headless Chromium is needed: `make test` installs Debian's chromium"
    return found


def report(tmp_path: Path) -> Path:
    blocked = HostReport(
        host="sage-blocked",
        reachable=True,
        findings=(
            Finding(
                check_id="SF101",
                status=Status.FAIL,
                severity=Severity.ERROR,
                title=".NET Framework 4.8 or later",
                message=".NET Framework 4.7.2",
                remediation="Install .NET Framework 4.8 (ndp48-x86-x64-allos-enu.exe)",
            ),
        ),
        summary={"os": "Windows Server 2016"},
    )
    ready = HostReport(
        host="sage-ready",
        reachable=True,
        findings=(
            Finding(
                check_id="SF101",
                status=Status.PASS,
                severity=Severity.ERROR,
                title=".NET Framework 4.8 or later",
                message=".NET Framework 4.8",
            ),
        ),
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
