"""Whether a rollout goes on after a wave: its failures, its verification, the verdict.

Ansible's own max_fail_percentage would abort the playbook, and the fleet report with
it: the wave gate says ``stop`` instead, the role ends the play (the hosts left are
"not run"), and the report play still reports every host (docs/deploy.md, step 3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

from sagefleet.errors import InputError
from sagefleet.outcomes import Outcome
from sagefleet.report.runs import RunFolder, written
from sagefleet.variables import UNSET, given, given_or_none, value

#: The outcomes that count against a wave (unreachable, blocked and not-run hosts do not).
FAILED: tuple[Outcome, ...] = (Outcome.ROLLED_BACK, Outcome.FAILED, Outcome.VERIFY_FAILED)
#: A host the deploy did not change or check has nothing the wave's suites could judge.
NOT_VERIFIED: tuple[Outcome, ...] = (
    Outcome.BLOCKED,
    Outcome.UNREACHABLE,
    Outcome.FAILED,
    Outcome.ROLLED_BACK,
    Outcome.PLANNED,
)
STOPPED = "rollout stopped, no new wave starts"
#: A verified host's verdicts that stop the rollout: nothing proved the deploy on it.
UNPROVEN: tuple[Outcome, ...] = (Outcome.VERIFY_FAILED, Outcome.UNREACHABLE)


_PERCENT = re.compile(r"([0-9]+)%")


def check_rollout(host: str, variables: Mapping[str, Any]) -> None:
    """The rollout's variables, checked before any host is touched (raises InputError).

    ``sagefleet_deploy_waves`` becomes deploy.yml's ``serial``, which Ansible reads
    loosely: a wave of 0 hosts (or fewer) deploys every remaining host at once, and a
    string (``-e sagefleet_deploy_waves=[1]`` gives one: ``-e name=value`` gives strings)
    or a size it cannot read stops the run with "Unexpected Exception, this is probably
    a bug". The shares of failed hosts are percentages, the pause a number of seconds.
    """
    value(host, variables, "sagefleet_deploy_max_fail_percentage")
    value(host, variables, "sagefleet_agent_pause_s")
    _check_suites(host, variables)
    used, waves = given(host, variables, "sagefleet_deploy_waves")
    if waves is UNSET:
        return
    example = "-e '{\"sagefleet_deploy_waves\": [1, \"10%\", \"100%\"]}'"
    if not isinstance(waves, list) or not waves:
        raise InputError(
            "must be a list of wave sizes, each a number of hosts or a percentage",
            host=host,
            field=used,
            value=repr(waves)[:80],
            fix="give a list such as [1, '10%', '100%'] in the inventory, or as JSON on the "
            f"command line ({example}: -e name=value gives a string); for every host at once, "
            "['100%']",
        )
    for size in waves:
        if _wave_size(size):
            continue
        raise InputError(
            "each wave is a number of hosts (1 or more) or a percentage from 1% to 100%: "
            "Ansible deploys every remaining host at once for a wave of 0, and stops on a "
            "size it cannot read",
            host=host,
            field=used,
            value=repr(size)[:80],
            fix="give sizes such as 1, 5, '10%' or '100%'",
        )


def _check_suites(host: str, variables: Mapping[str, Any]) -> None:
    """The wave's testinfra suites, when asked for, are a folder on the bastion: else the
    first wave would be deployed, then its verification fail each of its hosts."""
    verify = given_or_none(host, variables, "sagefleet_agent_verify_waves")
    if not boolean(verify if verify is not None else False, strict=False):
        return
    used, suites = given(host, variables, "sagefleet_agent_verify_suites")
    if not isinstance(suites, str) or "{{" in suites:
        return  # unset (the project's tests/infra), or the role templates it
    if not Path(suites).expanduser().is_dir():
        raise InputError(
            "no such folder on the bastion: the first wave would be deployed, then its "
            "verification fail each of its hosts",
            host=host,
            field=used,
            value=repr(suites)[:120],
            fix="give the folder of the testinfra suites (the project's tests/infra, or "
            "your own), or set sagefleet_agent_verify_waves to false",
        )


def _wave_size(size: Any) -> bool:
    """Whether Ansible's serial reads ``size`` as a wave of at least one host."""
    if isinstance(size, bool):
        return False
    if isinstance(size, int):
        return size >= 1
    if isinstance(size, str):
        found = _PERCENT.fullmatch(size.strip())
        if found:
            return 1 <= int(found.group(1)) <= 100
        return size.strip().isdigit() and int(size) >= 1
    return False


@dataclass(frozen=True)
class WaveVerdict:
    """What a wave decides: whether the rollout stops, the hosts that failed, and why."""

    stop: bool
    failed: tuple[str, ...]
    message: str
    #: Each host's outcome, verification failures included.
    outcomes: Mapping[str, str]
    #: Each verified host's verdict (status, reason, findings), when the wave was verified.
    verify: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "stop" if self.stop else "continue"

    def to_result(self) -> dict[str, Any]:
        """The wave gate's task result: the role's YAML reads ``verdict`` and ``msg`` only."""
        return {
            "changed": False,
            "verdict": self.verdict,
            "stop": self.stop,
            "failed_hosts": list(self.failed),
            "msg": self.message,
            "outcomes": dict(self.outcomes),
            "verify": {h: dict(v) for h, v in self.verify.items()},
        }


def outcome_of(registered: Any) -> str:
    """A host's outcome from its registered deploy result; none (the task crashed or
    never ran in this wave) is ``failed``."""
    outcome = registered.get("outcome") if isinstance(registered, Mapping) else None
    return str(outcome or Outcome.FAILED.value)


def wave_verdict(
    outcomes: Mapping[str, str],
    max_fail_percentage: float,
    verify: Mapping[str, Mapping[str, Any]] | None = None,
) -> WaveVerdict:
    """The verdict of one wave: it stops when its failed share exceeds
    ``max_fail_percentage``, or when a host failed the wave's verification or could not
    be reached by it (a host the deploy changed and nothing proved)."""
    verify = verify or {}
    judged = dict(outcomes)
    for host, verdict in verify.items():
        if verdict["status"] in UNPROVEN:
            judged[host] = str(verdict["status"])
    failed = tuple(sorted(h for h, o in judged.items() if o in FAILED))
    share = 100.0 * len(failed) / max(1, len(judged))
    stop = share > max_fail_percentage
    message = (
        f"wave of {len(judged)}: {len(failed)} failed ({share:.0f}%, limit "
        f"{max_fail_percentage:g}%)" + (f": {', '.join(failed)}" if failed else "")
    )
    if stop:
        message += f"; {STOPPED}"
    elif any(v["status"] == Outcome.VERIFY_FAILED for v in verify.values()):
        stop = True
        message += f"; verification failed: {STOPPED}"
    else:
        lost = sorted(h for h, v in verify.items() if v["status"] == Outcome.UNREACHABLE)
        if lost:
            stop = True
            message += f"; the verification could not reach {', '.join(lost)}: {STOPPED}"
    return WaveVerdict(stop=stop, failed=failed, message=message, outcomes=judged, verify=verify)


def judge_wave(
    results: Mapping[str, Any],
    max_fail_percentage: float,
    *,
    run: Mapping[str, Any] | None = None,
    report_folder: Path | None = None,
) -> WaveVerdict:
    """The verdict of a wave from each host's registered deploy result and, when the
    wave was verified (``run``: the sagefleet_verify task's result), the suites' report."""
    outcomes = {host: outcome_of(registered) for host, registered in results.items()}
    verify: dict[str, dict[str, Any]] = {}
    if run and not run.get("skipped") and report_folder is not None:
        verify = verification(outcomes, run, report_folder)
    return wave_verdict(outcomes, max_fail_percentage, verify)


def verification(
    outcomes: Mapping[str, str], run: Mapping[str, Any], folder: Path
) -> dict[str, dict[str, Any]]:
    """Each verified host's verdict from the suites' report in ``folder``."""
    judged = [h for h, o in outcomes.items() if o not in NOT_VERIFIED]
    report = RunFolder(path=folder, job_dir=None, started=_started(run))
    if not written(report):
        reason = (
            f"the wave's verification wrote no report (pytest rc {run.get('rc')}): "
            + _last_line(run)
        )
        return {h: _verdict(Outcome.VERIFY_FAILED, reason) for h in judged}
    document = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    by_host = {h["host"]: h for h in document.get("hosts") or []}
    verdicts: dict[str, dict[str, Any]] = {}
    for host in judged:
        entry = by_host.get(host)
        if entry is None:
            reason = "the wave's verification has no result for this host"
            verdicts[host] = _verdict(Outcome.VERIFY_FAILED, reason)
            continue
        if entry.get("reachable") is False:
            # Changed by the deploy, then not reached: not proven, and said as it is.
            reason = "the wave's verification could not reach the host after the deploy: " + str(
                entry.get("error") or "no reason given"
            )
            verdicts[host] = _verdict(Outcome.UNREACHABLE, reason, entry.get("findings"))
            continue
        findings = entry.get("findings") or []
        failing = [f for f in findings if f.get("status") in ("fail", "unknown")]
        verdicts[host] = _verdict(
            Outcome.VERIFY_FAILED if failing or entry.get("error") else Outcome.VERIFIED,
            "verification failed: " + "; ".join(f"{f['check_id']} {f['message']}" for f in failing)
            if failing
            else entry.get("error"),
            findings,
        )
    if run.get("rc") != 0 and all(v["status"] == Outcome.VERIFIED for v in verdicts.values()):
        # A failure no host's checks explain (a test without a check id, an error of pytest
        # itself, no test collected): no host is proven, as verify.yml fails such a run.
        reason = (
            f"the verification suites failed (pytest rc {run.get('rc')}) although every "
            f"host's checks passed: see {folder / 'pytest.junit.xml'}"
        )
        return {
            h: _verdict(Outcome.VERIFY_FAILED, reason, v["findings"]) for h, v in verdicts.items()
        }
    return verdicts


def _verdict(
    status: Outcome, reason: str | None, findings: list[Any] | None = None
) -> dict[str, Any]:
    return {"status": status.value, "reason": reason, "findings": findings or []}


def _started(run: Mapping[str, Any]) -> float:
    """When the verification task started (its ``start``, local time), epoch seconds."""
    try:
        return datetime.strptime(str(run.get("start")), "%Y-%m-%d %H:%M:%S.%f").timestamp()
    except ValueError:
        return 0.0


def _last_line(run: Mapping[str, Any]) -> str:
    if run.get("msg"):  # sagefleet_verify's own words: what happened, pytest's error
        return str(run["msg"])[:300]
    lines = [ln for ln in str(run.get("stdout") or run.get("stderr") or "").splitlines() if ln]
    return lines[-1][:300] if lines else "no output"
