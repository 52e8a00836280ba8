"""The progress callback's TERM handler, when the TERM comes while os.fork runs its
callbacks (ansible-core starting a worker process): Python only prints an exception raised
there, so the handler's SystemExit would end nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for ansible-playbook: a TaskQueueManager-like owner of the TERM handler the
# callback replaces, no workers, and a run that goes on for 10 s unless something ends it.
# The TERM comes inside an at-fork callback (as logging's, which os.fork runs in the
# parent), so the handler runs there.
SCRIPT = """
import os, signal, sys, time
sys.path[:0] = [{root!r}, {callbacks!r}]
import sagefleet_progress

class Manager:
    def get_workers(self):
        return []
    def on_term(self, signum, frame):
        raise AssertionError("ansible's own handler ran")

class Playbook:
    def get_plays(self):
        return []

manager = Manager()
signal.signal(signal.SIGTERM, manager.on_term)
callback = sagefleet_progress.CallbackModule()
callback.v2_playbook_on_start(Playbook())

def in_fork_callback():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.01)

os.register_at_fork(after_in_parent=in_fork_callback)
child = os.fork()
if child == 0:
    os._exit(0)
os.waitpid(child, 0)
time.sleep(10)
print("the run went on")
sys.exit(1)
"""


def test_a_term_during_a_fork_still_ends_the_run_with_143_and_no_traceback(
    tmp_path: Path,
) -> None:
    script = tmp_path / "playbook.py"
    script.write_text(
        SCRIPT.format(root=str(ROOT / "src"), callbacks=str(ROOT / "callback_plugins")),
        encoding="utf-8",
    )
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "at")}
    process = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env
    )
    output = process.stdout + process.stderr
    assert process.returncode == 143, output
    assert "the run went on" not in output
    assert "Traceback" not in output and "Exception ignored" not in output, output
    assert "[sagefleet] this run was terminated (SIGTERM)" in output, output
