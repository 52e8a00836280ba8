"""The progress callback's TERM handler at the worst moments of ansible-core's worker
handling: while os.fork runs its callbacks (Python only prints an exception raised there,
so the handler's SystemExit would end nothing), and while a closed worker's Process is
still in the list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for ansible-playbook: a TaskQueueManager-like owner of the TERM handler the
# callback replaces, with its worker list, and a playbook start; each test's script then
# sends the TERM and goes on for 10 s unless something ends it.
STAND_IN = """
import atexit, multiprocessing, os, signal, sys, time
sys.path[:0] = [{root!r}, {callbacks!r}]
import sagefleet_progress

class Manager:
    def __init__(self, workers):
        self._workers = workers
    def get_workers(self):
        return self._workers[:]
    def on_term(self, signum, frame):
        raise AssertionError("ansible's own handler ran")
    def on_int(self, signum, frame):  # ansible-core's handler of SIGINT, as it does
        signal.signal(signum, signal.SIG_DFL)
        raise KeyboardInterrupt()

class Playbook:
    def get_plays(self):
        return []

def playbook_started(workers):
    manager = Manager(workers)
    signal.signal(signal.SIGTERM, manager.on_term)
    signal.signal(signal.SIGINT, manager.on_int)
    sagefleet_progress.CallbackModule().v2_playbook_on_start(Playbook())
    return manager
"""


def run(tmp_path: Path, script: str) -> tuple[int, str]:
    """``script`` after the stand-in, in its own Python: its exit code and output."""
    path = tmp_path / "playbook.py"
    stand_in = STAND_IN.format(root=str(ROOT / "src"), callbacks=str(ROOT / "callback_plugins"))
    path.write_text(stand_in + script, encoding="utf-8")
    process = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60
    )
    return process.returncode, process.stdout + process.stderr


# The signal comes inside an at-fork callback (as logging's, which os.fork runs in the
# parent while ansible-core starts a worker), so its handler runs there. A KeyboardInterrupt
# that reaches the top ends the run as ansible-playbook's CLI ends it.
IN_FORK = """
playbook_started([])

def in_fork_callback():
    os.kill(os.getpid(), signal.{signal})
    time.sleep(0.01)

os.register_at_fork(after_in_parent=in_fork_callback)
try:
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    time.sleep(10)
    print("the run went on")
    sys.exit(1)
except KeyboardInterrupt:
    print("User interrupted execution")
    sys.exit(99)
"""


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [
        ("SIGTERM", 143, "[sagefleet] this run was terminated (SIGTERM)"),
        ("SIGINT", 99, "User interrupted execution"),
    ],
)
def test_a_signal_during_a_fork_still_ends_the_run_and_prints_no_traceback(
    tmp_path: Path, signum: str, code: int, said: str
) -> None:
    """The TERM's SystemExit, or Ctrl-C's KeyboardInterrupt, raised where Python only
    prints it: the run still ends as the signal asks, with no traceback."""
    ended, output = run(tmp_path, IN_FORK.replace("{signal}", signum))
    assert ended == code, output
    assert "the run went on" not in output
    assert "Traceback" not in output and "Exception ignored" not in output, output
    assert said in output, output


# The TERM comes while ansible-core's worker list holds a Process it closed (between
# closing a finished worker and putting the next one in its place).
CLOSED = """
worker = multiprocessing.Process(target=int)
worker.start()
worker.join()
worker.close()
manager = playbook_started([worker, None])
atexit.register(lambda: print("workers left:", manager._workers))
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(10)
print("the run went on")
"""


def test_a_term_that_finds_a_closed_worker_still_ends_the_run_with_143(tmp_path: Path) -> None:
    """The closed Process is skipped and taken out of the list (ansible-core's cleanup on
    the way out would fail on it): exit 143, no traceback."""
    code, output = run(tmp_path, CLOSED)
    assert code == 143, output
    assert "Traceback" not in output and "the run went on" not in output, output
    assert "workers left: [None, None]" in output, output
