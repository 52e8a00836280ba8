"""Callback plugin: one progress line per update, readable at hundreds of hosts."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

from sagefleet.ansible import action_name, ending_meta
from sagefleet.cli.common import DOCTOR_EXIT_CODES, EXIT_TERMINATED
from sagefleet.outcomes import BY_NAME
from sagefleet.report.runs import RunFolder, discard, written

DOCUMENTATION = r"""
name: sagefleet_progress
type: aggregate
short_description: Fleet progress, one line per update
description:
  - Prints, for each task of a play, how many hosts of the current batch are done
    (and how many it was skipped for, apart), and how many hosts failed or were
    unreachable so far in the play. A task that has run on no host yet (skipped for
    every host so far) prints no line.
  - Lines are throttled so a task over 500 hosts prints a bounded number of lines
    (at most one per O(sagefleet_progress_step) percent, plus the last one),
    whatever the stdout callback prints.
  - At the end, names the folder of each report the run wrote, or says that the run
    wrote none when it stopped before its report (an earlier run's report is never
    this run's).
  - A run interrupted (Ctrl-C) or terminated (SIGTERM) says so as ansible-playbook exits,
    and whether it wrote its report; the folder a run opened for a report it never wrote
    is removed (a folder named explicitly keeps what was there before the run), so that
    no empty or partial run folder is left and C(latest) stays on the last run that
    reported. It names the hosts whose deploy was under way, whose deploy lock stays
    until it expires.
  - A TERM ends ansible-playbook as Ctrl-C does (its worker processes told first),
    with exit code 143 instead of being killed by the signal before any of this (and
    before ansible's own temporary files are removed), also when it comes while a worker
    process is being started. A second TERM kills it at once. A Ctrl-C that comes while
    a worker process is being started ends the run too, as any other Ctrl-C does.
  - Enabled in the project's ansible.cfg (callbacks_enabled). To see only the
    progress and the failures on a large fleet, also set
    C(ANSIBLE_DISPLAY_OK_HOSTS=false) and C(ANSIBLE_DISPLAY_SKIPPED_HOSTS=false).
requirements:
  - enabled in callbacks_enabled
options:
  step:
    description: Percentage of the batch between two progress lines of a task.
    type: int
    default: 10
    env:
      - name: SAGEFLEET_PROGRESS_STEP
    ini:
      - section: sagefleet_progress
        key: step
"""


def _soon(call: Any, *args: Any) -> None:
    """``call(*args)`` in 50 ms, from a thread of its own: once os.fork has returned."""
    timer = threading.Timer(0.05, call, args)
    timer.daemon = True
    timer.start()


def _stop_workers(manager: Any, signum: int) -> None:
    """Send ``signum`` to each worker process of ansible-core's TaskQueueManager (each ends
    its commands' processes). ansible-core closes a finished worker's Process before it
    puts the next one in its place: a signal between the two finds a closed Process, which
    raises ValueError on any use. It is taken out of the list, where ansible-core's own
    cleanup, on the way out, would fail on it the same way ("Unexpected Exception")."""
    workers = getattr(manager, "_workers", None)
    for index, worker in enumerate(manager.get_workers()):
        if worker is None:
            continue
        try:
            alive, pid = worker.is_alive(), worker.pid
        except ValueError:  # closed
            if isinstance(workers, list) and index < len(workers) and workers[index] is worker:
                workers[index] = None
            continue
        if alive and pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signum)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "sagefleet_progress"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._play_name = ""
        self._play_key: tuple[str, str] | None = None
        self._batch = 0
        self._batch_total = 0
        self._task_total = 0
        self._task_name = ""
        # The last meta task that ended hosts (end_host, end_role), the role it ends
        # (None: end_host), and the hosts it did not end, until the next task starts.
        self._ending_uuid = ""
        self._ending_role: Any = None
        self._going_on: set[str] | None = None
        self._done: set[str] = set()
        self._skipped: set[str] = set()  # hosts the current task was skipped for
        self._failed: set[str] = set()
        self._unreachable: set[str] = set()
        self._last_bucket = -1
        self._started = time.monotonic()
        self._reports: list[str] = []
        # The report folders this run opened (sagefleet_report_folder), and whether the
        # run reached its end (PLAY RECAP): an interrupted run does not.
        self._opened: list[RunFolder] = []
        self._ended = False
        self._pid = os.getpid()
        self._expects_report = False
        self._report_skipped = False  # a report task was skipped: nothing ran to report
        self._stopped_by = "interrupted"  # what ended a run that did not reach its end
        self._deploying: set[str] = set()  # hosts whose deploy task started, no result yet
        self._ansible_term: Any = None  # ansible-playbook's own TERM handler, replaced
        self._terminating = False  # a TERM is ending the run
        self._term_resent = False  # the TERM sent again by this callback (_on_unraisable)
        self._unraisable_before: Any = None  # sys.unraisablehook, replaced with the handler
        # A refused input (sagefleet_validate, run once for the fleet): the host PLAY
        # RECAP counts it on, the hosts it concerns, and how many hosts were checked.
        self._refusal: tuple[str, list[str], int] | None = None
        self._package_refused: str | None = None  # the host PLAY RECAP counts it on

    # -- bookkeeping -----------------------------------------------------------

    def _step(self) -> int:
        try:
            step = int(self.get_option("step"))
        except (KeyError, TypeError, ValueError):
            step = 10
        return min(max(step, 1), 100)

    def _finished(self) -> int:
        """The hosts the task is over for: done, skipped, or failed earlier in the play (a
        host that failed no longer runs tasks)."""
        return len(self._done | self._skipped | self._failed | self._unreachable)

    def _line(self) -> str:
        total = self._task_total or self._finished()
        # A skipped host is not done by the task: it is said apart.
        done = len((self._done | self._failed | self._unreachable) - self._skipped)
        skipped = f", {len(self._skipped)} skipped" if self._skipped else ""
        return (
            f"[sagefleet] {self._play_name}{self._batch_label()} | {self._task_name}: "
            f"{min(done, total)}/{total} hosts done{skipped}, {len(self._failed)} failed, "
            f"{len(self._unreachable)} unreachable so far, "
            f"{time.monotonic() - self._started:.0f} s"
        )

    def _record(self, result: Any, outcome: str) -> None:
        host = result._host.get_name()
        if action_name(result._task.action) == DEPLOY_ACTION:
            self._deploying.discard(host)
        if outcome == "skipped":
            self._skipped.add(host)
        else:
            self._done.add(host)
        if outcome == "failed":
            self._failed.add(host)
        elif outcome == "unreachable":
            self._unreachable.add(host)
        total = self._task_total
        # No line for a task that has run on no host yet: a task skipped for every host
        # (a meta task Ansible reports skipped once, for the first) did nothing.
        if total <= 1 or not self._done:
            return
        finished = self._finished()
        bucket = finished * 100 // total // self._step()
        if finished >= total or bucket > self._last_bucket:
            self._last_bucket = bucket
            self._display.display(self._line())

    # -- events ----------------------------------------------------------------

    def _batch_label(self) -> str:
        return f" (batch {self._batch})" if self._batch > 1 else ""

    def v2_playbook_on_play_start(self, play: Any) -> None:
        # With `serial`, ansible-playbook starts the play once per batch, the inventory
        # restricted to that batch: the hosts matched now are the batch.
        key = (play.get_name(), str(play.hosts))
        if key == self._play_key:
            self._batch += 1
        else:
            self._play_key = key
            self._batch = 1
            self._failed = set()
            self._unreachable = set()
            self._started = time.monotonic()
        self._play_name = play.get_name().strip() or "play"
        self._batch_total = 0
        manager = play.get_variable_manager()
        inventory = getattr(manager, "_inventory", None)
        if inventory is not None:
            try:
                self._batch_total = len(inventory.get_hosts(play.hosts, order=play.order))
            except Exception:  # noqa: BLE001 - progress must never break a run
                self._batch_total = 0

    def _start_task(self, task: Any) -> None:
        self._task_name = task.get_name().strip() or task.action
        self._done = set()
        self._skipped = set()
        self._last_bucket = 0
        self._task_total = 1 if task.run_once else self._batch_total
        if self._going_on is not None:  # the task after a meta task that ended hosts
            if self._ending_role is None or task._role is self._ending_role:
                self._task_total = min(self._task_total, len(self._going_on))
            self._going_on = None

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        if ending_meta(task):
            # Started once per host: the hosts it does not end (skipped) are the ones
            # the next task of the role, or of the play for end_host, runs on.
            if task._uuid != self._ending_uuid:
                role = task._role if task.args.get("_raw_params") == "end_role" else None
                self._ending_uuid, self._ending_role, self._going_on = task._uuid, role, set()
            return
        self._start_task(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._start_task(task)

    def v2_playbook_on_start(self, playbook: Any) -> None:
        # Ctrl-C ends ansible-playbook without PLAY RECAP (and without this callback's
        # stats): what the run leaves is said on its way out.
        atexit.register(self._on_exit)
        if os.getpid() == self._pid and self._ansible_term is None:
            self._ansible_term = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, self._on_term)
            self._unraisable_before = sys.unraisablehook
            sys.unraisablehook = self._on_unraisable
        try:
            plays = playbook.get_plays()
            self._expects_report = any(_writes_report(play) for play in plays)
        except Exception:  # noqa: BLE001 - progress must never break a run
            self._expects_report = False

    def _on_term(self, signum: int, frame: Any) -> None:
        """A TERM ends the run as Ctrl-C does. ansible-playbook's own handler tells its
        worker processes, then kills itself with the signal: no atexit, so no word of the
        run, its empty report folder and ansible's temporary files left behind."""
        if os.getpid() != self._pid:  # a worker process before its own handler: die
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self._terminating and not self._term_resent:
            signal.signal(signum, signal.SIG_DFL)  # a second TERM kills at once
            os.kill(os.getpid(), signum)
            return
        if self._ended:  # sent again as the run ended anyway
            return
        self._term_resent = False
        ansible_term = self._ansible_term
        manager = getattr(ansible_term, "__self__", None)  # the TaskQueueManager
        if not callable(getattr(manager, "get_workers", None)):
            signal.signal(signum, signal.SIG_DFL)
            if callable(ansible_term):  # not ansible-core's handler as known: leave it be
                ansible_term(signum, frame)
            os.kill(os.getpid(), signum)
            return
        _stop_workers(manager, signum)
        self._terminating = True
        self._stopped_by = DOCTOR_EXIT_CODES[EXIT_TERMINATED]
        raise SystemExit(EXIT_TERMINATED)

    def _on_unraisable(self, unraisable: Any) -> None:
        """Python only prints an exception raised where it cannot propagate. A TERM that
        comes while os.fork runs its callbacks (ansible-core starting a worker: logging's
        lock) raises the handler's SystemExit there: it ends nothing, and the run would go
        on with its workers killed, to exit 1 with a traceback. So it is not printed, and
        the signal is sent again, for the handler to end the run from where it is then.
        A Ctrl-C there (ansible-core's own handler raises KeyboardInterrupt) is the same:
        it is raised again in the main thread, as ansible-core's handler would have."""
        error = unraisable.exc_value
        ours = os.getpid() == self._pid
        if (
            ours
            and self._terminating
            and isinstance(error, SystemExit)
            and error.code == EXIT_TERMINATED
        ):
            self._term_resent = True
            _soon(os.kill, self._pid, signal.SIGTERM)
            return
        if ours and not self._ended and isinstance(error, KeyboardInterrupt):
            # ansible-core's handler left SIGINT to its default: Python's own raises it.
            if signal.getsignal(signal.SIGINT) in (signal.SIG_DFL, signal.SIG_IGN, None):
                signal.signal(signal.SIGINT, signal.default_int_handler)
            _soon(os.kill, self._pid, signal.SIGINT)
            return
        (self._unraisable_before or sys.__unraisablehook__)(unraisable)

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        if action_name(task.action) == DEPLOY_ACTION:
            self._deploying.add(host.get_name())

    def v2_runner_on_ok(self, result: Any) -> None:
        action = action_name(result._task.action)
        # Only the results read here: ansible-core 2.19 converts a whole result (a host's
        # preflight report) for each callback that reads it.
        data = result._result if action in (*REPORT_ACTIONS, DEPLOY_ACTION) else {}
        data = data if isinstance(data, dict) else {}
        if action in REPORT_ACTIONS and data.get("folder") and data.get("written", True):
            self._reports.append(str(data["folder"]))
        if action == "sagefleet_report_folder" and data.get("path") and "written" not in data:
            self._opened.append(RunFolder.from_dict(data))  # state open
        # A deploy's outcome is the host's result (the task itself never fails): a host
        # rolled back or unreachable counts as such from the moment it is known.
        outcome = data.get("outcome") if action == DEPLOY_ACTION else None
        recap = BY_NAME[outcome].recap if isinstance(outcome, str) and outcome in BY_NAME else "ok"
        self._record(result, recap)

    def v2_runner_on_skipped(self, result: Any) -> None:
        if ending_meta(result._task):
            if self._going_on is not None:
                self._going_on.add(result._host.get_name())
            return
        if action_name(result._task.action) in REPORT_ACTIONS:
            self._report_skipped = True
        self._record(result, "skipped")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        if not ignore_errors and action_name(result._task.action) == VALIDATE_ACTION:
            data = result._result if isinstance(result._result, dict) else {}
            refused = [str(h) for h in data.get("refused_hosts") or ()]
            checked = data.get("hosts_checked")
            if refused and isinstance(checked, int):
                self._refusal = (result._host.get_name(), refused, checked)
        if not ignore_errors and action_name(result._task.action) == PACKAGE_ACTION:
            self._package_refused = result._host.get_name()
        self._record(result, "ok" if ignore_errors else "failed")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._record(result, "unreachable")

    def _on_exit(self) -> None:
        if self._ended or os.getpid() != self._pid:  # a worker process, or a run that ended
            return
        self._ended = True
        try:
            for line in self._interrupted_lines():
                self._display.display(line)
        except Exception:  # noqa: BLE001 - the run is over: never a traceback on top of it
            return

    def _interrupted_lines(self) -> list[str]:
        """What an interrupted run says: its report, or that it wrote none, and what became
        of the folder it had opened for it (removed, so that no run folder is empty or
        partial and 'latest' stays on the last run that reported), then the hosts whose
        deploy it cut short."""
        return [*self._report_lines(), *self._deploying_lines()]

    def _deploying_lines(self) -> list[str]:
        if not self._deploying:
            return []
        hosts = ", ".join(sorted(self._deploying))
        return [
            f"[sagefleet] this run was {self._stopped_by} while it deployed {hosts}: the "
            "command under way there runs to its end on the host, and a deploy lock the run "
            "took there stays until it expires (sagefleet_deploy_lock_ttl_s after it was "
            f"taken); until then a deploy of {hosts} fails on that lock ('another deploy "
            "holds the lock', with its owner and expiry)"
        ]

    def _report_lines(self) -> list[str]:
        word = self._stopped_by
        lines = [f"[sagefleet] report of this run: {f}" for f in dict.fromkeys(self._reports)]
        if lines:
            return [*lines, f"[sagefleet] this run was {word} after its report"]
        opened = [r for r in self._opened if not written(r)]
        if not opened and not self._expects_report:
            return [f"[sagefleet] this run was {word}"]
        left = []
        for run in opened:
            if discard(run):
                left.append(f"its report folder {run.path} was removed")
            else:
                left.append(
                    f"what it wrote in {run.path} was removed (any report there is from an "
                    "earlier run)"
                )
        return [
            f"[sagefleet] this run was {word} and wrote no report"
            + (f": {'; '.join(left)}" if left else "")
            + " (reports of earlier runs, and their 'latest' links, are left as they were)"
        ]

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._ended = True
        hosts = sorted(stats.processed)
        failed = [h for h in hosts if stats.summarize(h)["failures"]]
        unreachable = [h for h in hosts if stats.summarize(h)["unreachable"]]
        self._display.display(
            f"[sagefleet] run complete: {_hosts_ran(hosts)}, {len(failed)} failed, "
            f"{len(unreachable)} unreachable"
        )
        if self._refusal is not None:
            self._display.display(_refusal_line(*self._refusal))
        if self._package_refused is not None:
            self._display.display(
                "[sagefleet] the agent package was refused before any host was contacted "
                "(the error above says why); no host was changed; PLAY RECAP counts it on "
                f"{self._package_refused}, the host the inspection ran once for"
            )
        for folder in dict.fromkeys(self._reports):
            self._display.display(f"[sagefleet] report of this run: {folder}")
        if self._expects_report and not self._reports:
            why = (
                "its report task was skipped, the selection (--tags, --skip-tags) having "
                "run nothing to report"
                if self._report_skipped
                else "it stopped before its report"
            )
            self._display.display(
                f"[sagefleet] this run wrote no report: {why} (reports of earlier runs, "
                "and their 'latest' links, are left as they were)"
            )


#: The name a play or a delegated task reaches the bastion by.
BASTION = "localhost"
#: The task that deploys a host (its lock taken and released in the one task).
DEPLOY_ACTION = "sagefleet_deploy"
#: The task that checks every host's input once, before any host is contacted.
VALIDATE_ACTION = "sagefleet_validate"
#: The task that inspects the agent package once, for every host, before any is contacted.
PACKAGE_ACTION = "sagefleet_package"


def _refusal_line(counted_on: str, refused: list[str], checked: int) -> str:
    """Whose input a failed validation refused, and why PLAY RECAP shows another host:
    a task run once for the fleet counts its failure on the host it ran for."""
    more = len(refused) - 10
    shown = ", ".join(refused[:10]) + (f" and {more} more" if more > 0 else "")
    where = (
        f"PLAY RECAP counts it on {counted_on}, the host the check ran once for"
        if counted_on not in refused
        else "PLAY RECAP counts it on the first of them"
    )
    return (
        f"[sagefleet] input refused for {len(refused)} of {checked} host(s) checked: {shown} "
        f"(the errors above name each field); no host was contacted or changed; {where}"
    )


def _hosts_ran(hosts: list[str]) -> str:
    """The hosts of PLAY RECAP in words: a play on the bastion itself (``hosts:
    localhost``) adds localhost there, which is not one of the fleet's hosts."""
    servers = len([h for h in hosts if h != BASTION])
    counted = f"{servers} host{'' if servers == 1 else 's'}"
    if BASTION not in hosts:
        return counted
    return f"{counted} and {BASTION}" if servers else BASTION


# Tasks whose result names the folder this run's report went to.
REPORT_ACTIONS = ("sagefleet_report", "sagefleet_report_folder")


def _writes_report(play: Any) -> bool:
    """Whether a play has a task that writes a fleet report (sagefleet_report)."""
    pending = list(play.pre_tasks) + list(play.tasks) + list(play.post_tasks)
    for role in getattr(play, "roles", None) or []:
        pending.extend(role.get_task_blocks())
    while pending:
        item = pending.pop()
        children = [getattr(item, name, None) for name in ("block", "rescue", "always")]
        if any(isinstance(c, list) for c in children):
            for child in children:
                pending.extend(child or [])
            continue
        if action_name(getattr(item, "action", "")) in REPORT_ACTIONS:
            return True
    return False
