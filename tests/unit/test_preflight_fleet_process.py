"""preflight.yml's fleet process (sagefleet.ansible.preflight_play.start) leaves nothing in
the temporary folder, whatever ends it: its hosts' results, its lock."""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from sagefleet import doctor
from sagefleet.ansible import preflight_play
from sagefleet.ansible.preflight_play import FleetHost


def _children() -> set[int]:
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        text = (task / "children").read_text()
        pids.update(int(pid) for pid in text.split())
    return pids


def _start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, run: Any
) -> tuple[int, preflight_play.Results]:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(doctor, "run", run)  # the forked process inherits it
    before = _children()
    host = FleetHost("sage01", inventory_host=object(), prepared=object())  # type: ignore[arg-type]
    results = preflight_play.start([host], forks=1, bastion=os.getpid())
    assert results is not None
    (pid,) = _children() - before  # listed until it is waited for, even once ended
    return pid, results


def _wait(pid: int) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"the fleet process {pid} did not end")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_fleet_process_ended_by_a_signal_removes_its_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, signum: int
) -> None:
    pid, results = _start(monkeypatch, tmp_path, lambda *a, **k: time.sleep(60))
    assert results.running()
    folder = results.folder
    os.kill(pid, signum)  # Ctrl-C or a TERM to ansible-playbook's process group
    assert _wait(pid) == 128 + signum
    assert not folder.exists() and list(tmp_path.iterdir()) == []


def test_a_fleet_process_whose_doctor_fails_removes_its_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def fails(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("doctor failed")

    # No running() here: the process may have failed and ended already.
    pid, results = _start(monkeypatch, tmp_path, fails)
    folder = results.folder
    assert _wait(pid) == 1
    assert not folder.exists() and list(tmp_path.iterdir()) == []
