"""Looking at a host: once (verify, diagnose) or until the agent connects or is older than
the window (the deploy's health gate)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sagefleet.agent.connection.evidence import Evidence, parse
from sagefleet.agent.connection.options import ConnectionOptions, params
from sagefleet.agent.connection.verdict import Verdict, _t, evaluate
from sagefleet.findings import Status

#: Seconds between two looks of the deploy's health gate at a young agent.
POLL_S = 5.0
#: Seconds the health gate waits past the window before it stops asking (a host clock
#: that does not move, a process that restarts for ever).
GRACE_S = 30.0


# -- running it -----------------------------------------------------------------------------

Runner = Callable[[dict[str, Any]], Mapping[str, Any]]


def look(run: Runner, options: ConnectionOptions) -> tuple[Verdict, Evidence]:
    """One look at the host; a failure is looked at once more with the direct probes, so
    that its likely cause rests on them."""
    evidence = parse(run(params(options)))
    verdict = evaluate(evidence, options)
    if verdict.status is Status.FAIL and verdict.cause not in ("service", None):
        evidence = parse(run(params(options, probe=True)))
        verdict = evaluate(evidence, options)
    return verdict, evidence


def wait_connected(
    run: Runner,
    options: ConnectionOptions,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Verdict, Evidence, int]:
    """The deploy's health gate: look until the agent is connected, or older than the
    window (polling every POLL_S at most, bounded by the window plus GRACE_S).

    Returns the verdict, its evidence and how many looks it took.
    """
    deadline = clock() + options.window_s + GRACE_S
    looks = 0
    while True:
        verdict, evidence = look(run, options)
        looks += 1
        if not verdict.young:
            return verdict, evidence, looks
        remaining = deadline - clock()
        if remaining <= 0:
            return (
                replace(
                    verdict,
                    young=False,
                    message=verdict.message
                    + _t(
                        options.lang,
                        f"; still none {options.window_s + GRACE_S:.0f} s after the "
                        "gate began (the host's clock or the agent's process keeps restarting?)",
                        f" ; toujours aucune {options.window_s + GRACE_S:.0f} s après le début du "
                        "contrôle (horloge du serveur ou processus de l'agent qui redémarre ?)",
                    ),
                ),
                evidence,
                looks,
            )
        age = evidence.age_s or 0.0
        sleep(max(0.2, min(POLL_S, options.window_s - age + 0.5, remaining)))
