"""Callback plugin (stdout): Ansible's default output, with one line per host outcome."""

from __future__ import annotations

from typing import Any

from ansible import constants as C
from ansible import context
from ansible.plugins.callback.default import CallbackModule as DefaultCallback
from ansible.utils.context_objects import CLIArgs

from sagefleet.ansible import action_name, ending_meta, masked_extra_vars
from sagefleet.outcomes import BY_NAME
from sagefleet.remote.errors import short_cause

DOCUMENTATION = r"""
name: sagefleet_console
type: stdout
short_description: Ansible's default output, one line per host outcome
description:
  - Ansible's default stdout callback, with three changes that keep a run over
    hundreds of hosts readable.
  - An unreachable host takes one line with its cause (a connection error of
    requests/urllib3 without its object dump), not the whole task result.
  - A deploy result (sagefleet_deploy) takes one line with the host's outcome and
    its reason or plan (a rollback shows why), coloured as the outcome fails the
    run or not.
  - The last task of a report play (sagefleet_outcome), and the preflight task of
    a host it ends (sagefleet_preflight), take one line per host they fail, with
    the reason; the agent's restart after a settings change
    (sagefleet_agent_restart) shows what it did.
  - A meta task that ends a host or a role (end_host, end_role; deploy.yml ends
    so the hosts it has nothing more to do for) shows nothing below -vv, where
    Ansible itself names what it ended. Ansible's default callback prints its
    banner once per host.
  - Any other meta task (the settings role's flush_handlers, which runs the
    agent's restart) shows its banner once. ansible-core starts a meta task
    once per host (the linear strategy runs it for each host, and its
    _execute_meta announces the task each time), so Ansible's default
    callback prints the banner once per host.
  - At -vvvv, where Ansible echoes its command-line arguments, the values given with
    -e are echoed with their secrets masked (a password given with -e is not shown).
  - Set in the project's ansible.cfg (stdout_callback). AWX and Automation Platform
    use their own; the PLAY RECAP is the same.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - set as stdout callback in configuration
"""

# Actions whose results carry a host outcome (``outcome`` or ``status``), by short name.
OUTCOME_ACTIONS = ("sagefleet_deploy", "sagefleet_outcome")
# Actions that end a host with its ``status``: a failure is that status, with its reason.
ENDING_ACTIONS = ("sagefleet_outcome", "sagefleet_preflight", "sagefleet_diagnose")
# Actions whose message says what they did: shown on the host's line.
MESSAGE_ACTIONS = ("sagefleet_agent_restart",)
_COLOURS = {"failed": C.COLOR_ERROR, "unreachable": C.COLOR_UNREACHABLE, "ok": C.COLOR_OK}
# Result keys that make Ansible's default callback print more than "ok: [host]".
_NOT_PLAIN = ("changed", "warnings", "deprecations", "exception", "_ansible_verbose_always")


def _one_line(text: Any) -> str:
    return " ".join(short_cause(str(text or "")).split())


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "sagefleet_console"

    def _outcome_line(self, result: Any, status: str, detail: str) -> None:
        if self._last_task_banner != result.task._uuid:
            self._print_task_banner(result.task)
        recap = BY_NAME[status].recap if status in BY_NAME else "ok"
        line = f"{status}: [{self.host_label(result)}]" + (f" {detail}" if detail else "")
        self._display.display(
            line,
            color=C.COLOR_WARN if status == "blocked" else _COLOURS[recap],
            stderr=recap != "ok" and self.get_option("display_failed_stderr"),
        )

    def _hidden(self, task: Any) -> bool:
        return ending_meta(task) and self._display.verbosity < 2

    def v2_playbook_on_start(self, playbook: Any) -> None:
        # Ansible's default echoes every command-line argument at -vvvv, -e's values as
        # given: a password given with -e would be on the screen and in the job's log.
        arguments = context.CLIARGS
        if not arguments.get("extra_vars"):
            super().v2_playbook_on_start(playbook)
            return
        masked = dict(arguments, extra_vars=masked_extra_vars(arguments["extra_vars"]))
        context.CLIARGS = CLIArgs(masked)  # not GlobalCLIArgs: a singleton
        try:
            super().v2_playbook_on_start(playbook)
        finally:
            context.CLIARGS = arguments

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        if not self._hidden(task) and not self._started_again(task):
            super().v2_playbook_on_task_start(task, is_conditional)

    def _started_again(self, task: Any) -> bool:
        """Whether ansible-core announces again, for its next host, the meta task whose
        banner was just printed (it starts a meta task once per host)."""
        return action_name(task.action) == "meta" and self._last_task_banner == task._uuid

    def v2_runner_on_skipped(self, result: Any) -> None:
        if not self._hidden(result.task):
            super().v2_runner_on_skipped(result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        if self._last_task_banner != result.task._uuid:
            self._print_task_banner(result.task)
        data = result.result
        data.pop("exception", None)
        if action_name(result.task.action) in ENDING_ACTIONS:
            cause = _reason(data)
        else:
            cause = _one_line(data.get("msg"))
        self._display.display(
            f"unreachable: [{self.host_label(result)}] {cause}",
            color=C.COLOR_UNREACHABLE,
            stderr=self.get_option("display_failed_stderr"),
        )
        if result.task.ignore_unreachable:
            self._display.display("...ignoring", color=C.COLOR_SKIP)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        data = result.result
        if action_name(result.task.action) in ENDING_ACTIONS and data.get("status"):
            data.pop("exception", None)
            self._outcome_line(result, str(data["status"]), _reason(data))
            if ignore_errors:
                self._display.display("...ignoring", color=C.COLOR_SKIP)
            return
        super().v2_runner_on_failed(result, ignore_errors=ignore_errors)

    def v2_runner_on_ok(self, result: Any) -> None:
        action = action_name(result.task.action)
        if self._plain_ok(result, action):
            return
        data = result.result
        if self._run_is_verbose(result) or result.task.loop:
            super().v2_runner_on_ok(result)
            return
        if action in OUTCOME_ACTIONS and data.get("outcome"):
            status = str(data["outcome"])
            recap = BY_NAME[status].recap if status in BY_NAME else "ok"
            if (
                recap == "ok"
                and not data.get("changed")
                and not self.get_option("display_ok_hosts")
            ):
                return
            self._handle_warnings_and_exception(result)
            self._outcome_line(result, status, _one_line(data.get("reason") or data.get("plan")))
            return
        if action in MESSAGE_ACTIONS and data.get("msg"):
            changed = bool(data.get("changed"))
            if not changed and not self.get_option("display_ok_hosts"):
                return
            if self._last_task_banner != result.task._uuid:
                self._print_task_banner(result.task)
            self._handle_warnings_and_exception(result)
            self._display.display(
                f"{'changed' if changed else 'ok'}: [{self.host_label(result)}] "
                + _one_line(data["msg"]),
                color=C.COLOR_CHANGED if changed else C.COLOR_OK,
            )
            return
        super().v2_runner_on_ok(result)

    def _plain_ok(self, result: Any, action: str) -> bool:
        """Print the "ok: [host]" line of a sagefleet task's plain result, as Ansible's
        default callback would, without reading ``result.result``: ansible-core 2.19
        converts a whole result (a host's report) for each callback that reads it, about
        10 ms a host (docs/performance.md). False: the result needs the general way."""
        raw = getattr(result, "_return_data", None)  # ansible-core 2.19: the unconverted copy
        task = result.task
        if (
            not isinstance(raw, dict)
            or not action.startswith("sagefleet_")
            or action in OUTCOME_ACTIONS + MESSAGE_ACTIONS
            or task.loop
            or task.delegate_to
            or self._display.verbosity
            or any(raw.get(key) for key in _NOT_PLAIN)
        ):
            return False
        if self.get_option("display_ok_hosts"):
            if self._last_task_banner != task._uuid:
                self._print_task_banner(task)
            self._display.display(f"ok: [{result.host.get_name()}]", color=C.COLOR_OK)
        return True


def _reason(data: dict[str, Any]) -> str:
    message = _one_line(data.get("msg"))
    status = str(data.get("status") or "")
    return message.removeprefix(f"{status}: ") if status else message
