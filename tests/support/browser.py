"""Headless Chromium driven over the DevTools protocol, through a pipe.

``--remote-debugging-pipe`` makes Chromium read protocol commands on fd 3 and
write replies and events on fd 4, NUL-separated JSON: no port, no network, no
WebSocket library. Enough of the protocol to open a page, type, press keys,
click where an element is, read the DOM and take screenshots, as a user would.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

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


VIEWPORT = (1280, 900)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "headless Chromium is needed: `make test` installs Debian's chromium"
    return found


class BrowserError(AssertionError):
    """The browser answered a command with an error, or did not answer in time."""


class Browser:
    """One Chromium process and one page of it, closed by ``close()`` (or ``with``)."""

    def __init__(self, profile_dir: Path, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        # Away from 3 and 4 first, or a redirection below could overwrite the other end.
        commands_read, replies_write = (
            self._above_four(commands_read), self._above_four(replies_write)
        )
        # bash puts the two pipe ends on fds 3 and 4, where Chromium expects them (dash
        # and Debian's /usr/bin/chromium wrapper read no fd number above 9).
        script = f'exec "$0" "$@" 3<&{commands_read} 4>&{replies_write}'
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", script, chromium(), *CHROMIUM_FLAGS,
             "--remote-debugging-pipe", f"--user-data-dir={profile_dir}", "about:blank"],
            pass_fds=(commands_read, replies_write),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None
        target = self.send("Target.createTarget", {"url": "about:blank"}, browser=True)
        attached = self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True},
            browser=True,
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        # The page's own viewport, whatever the headless window's frame takes.
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False},
        )

    @staticmethod
    def _above_four(fd: int) -> int:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
        os.close(fd)
        return moved

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.send("Browser.close", browser=True)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._commands, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- protocol

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("no answer from Chromium in time")
            ready, _, _ = select.select([self._replies], [], [], left)
            if ready:
                chunk = os.read(self._replies, 1 << 20)
                if not chunk:
                    raise BrowserError(f"Chromium exited (rc {self.process.poll()})")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False
    ) -> dict[str, Any]:
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if not browser and self.session:
            command["sessionId"] = self.session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method: str) -> dict[str, Any]:
        """The first event ``method`` not yet consumed (events seen earlier count)."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            for index, event in enumerate(self.events):
                if event["method"] == method:
                    return self.events.pop(index)
            message = self._read_message(deadline)
            if "method" in message:
                self.events.append(message)

    # -- what a user does

    def open(self, url: str) -> None:
        self.events.clear()
        navigated = self.send("Page.navigate", {"url": url})
        if navigated.get("loaderId"):  # a new document (not a fragment of this one)
            self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """Read the page (the DevTools console's evaluation: not the page's own script)."""
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def type_text(self, text: str) -> None:
        """Type into the focused element, one key at a time."""
        for char in text:
            self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": char, "key": char})
            self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": char})

    def press(self, key: str, code: str, key_code: int) -> None:
        params = {"key": key, "code": code, "windowsVirtualKeyCode": key_code}
        self.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", **params})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **params})

    def box(self, selector: str, *, page: bool = False) -> dict[str, float]:
        """Where ``selector`` is, once scrolled into view: in the viewport (for a click),
        or in the page (``page=True``, for a screenshot's clip)."""
        found = self.evaluate(
            f"(function () {{ var e = document.querySelector({json.dumps(selector)});"
            " if (!e || !e.checkVisibility()) { return null; }"
            " e.scrollIntoView({block: 'center'});"
            " var r = e.getBoundingClientRect();"
            f" var dx = {'window.scrollX' if page else 0}, dy = {'window.scrollY' if page else 0};"
            " return {x: r.x + dx, y: r.y + dy, width: r.width, height: r.height}; })()"
        )
        if not found or not found["width"]:
            raise BrowserError(f"{selector}: not on the page or not visible")
        return dict(found)

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = self.box(selector)
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def screenshot(self, path: Path, clip: dict[str, float] | None = None) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if clip:
            params["clip"] = {**clip, "scale": 1}
            params["captureBeyondViewport"] = True
        data = base64.b64decode(self.send("Page.captureScreenshot", params)["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def problems(self) -> list[str]:
        """Errors the page raised or logged (a script error, a CSP refusal...)."""
        found = []
        for event in self.events:
            method, params = event["method"], event["params"]
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
            elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(json.dumps(params["args"])[:500])
        return found
