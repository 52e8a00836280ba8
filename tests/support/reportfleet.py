"""A large fleet's preflight report, built the way preflight builds one.

Each host gets the inventory variables of one of the simulator's scenario
profiles (its entities, a waiver where an integrator would write one), goes
through ``preflight.prepare``, answers the facts snippet as the simulator's
model of that server answers it over WinRM, and is judged by the real check catalog
(``preflight.evaluate``). Most hosts are healthy, as in a real fleet; the rest
spread over every faulty profile, and a few are unreachable.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sagefleet import preflight
from sagefleet.facts import HostFacts, parse_facts
from sagefleet.findings import FleetReport, HostReport
from sagefleet.sim.commands import dispatch
from sagefleet.sim.host import host_from_profile, load_profile, profile_names
from tests.support.scenarios import entities_for

HEALTHY = ("healthy-onprem", "healthy-spc", "french-ui", "two-entities", "agent-old")
# In every 25 hosts: 17 of the healthy profiles, 7 faulty ones, 1 unreachable.
HEALTHY_SHARE, FAULTY_SHARE = 17, 7
WAIVERS: Mapping[str, list[dict[str, str]]] = {
    "tls-intercepted": [
        {
            "id": "SF308",
            "reason": "proxy validated by the client's network team",
            "expires": "2030-01-01",
        }
    ],
}
UNREACHABLE = "WinRM: connection to {address}:5986 refused (is the WinRM HTTPS listener on?)"


def host_name(index: int) -> str:
    return f"sage-{index:03d}.client{index % 40:02d}.example"


def _variables(profile: str, lang: str, waived: bool) -> dict[str, Any]:
    variables: dict[str, Any] = {
        "sagefleet_entities": entities_for(profile),
        "sagefleet_lang": lang,
        "sagefleet_agent_target_version": "3.2.0",
    }
    if profile in WAIVERS and waived:
        variables["sagefleet_waivers"] = WAIVERS[profile]
    return variables


def profile_of(index: int) -> str | None:
    """The scenario profile of host ``index``; None for an unreachable host."""
    faulty = sorted(set(profile_names()) - set(HEALTHY))
    slot = index % (HEALTHY_SHARE + FAULTY_SHARE + 1)
    if slot < HEALTHY_SHARE:
        return HEALTHY[(index // 7) % len(HEALTHY)]
    if slot < HEALTHY_SHARE + FAULTY_SHARE:
        return faulty[(index // 3) % len(faulty)]
    return None


def fleet(count: int = 500, lang: str = "en") -> FleetReport:
    """``count`` hosts' preflight report, judged now by the shipped checks."""
    now = dt.datetime.now(dt.UTC)
    facts: dict[str, HostFacts] = {}
    hosts: list[HostReport] = []
    for index in range(count):
        name = host_name(index)
        address = f"10.{index // 250}.{index % 250}.10"
        profile = profile_of(index)
        if profile is None:
            hosts.append(preflight.unreachable(name, UNREACHABLE.format(address=address), address))
            continue
        # Every other host waives what WAIVERS lists: the others keep it (SF308, an info
        # check's note on a WinHTTP proxy).
        prepared = preflight.prepare(name, _variables(profile, lang, waived=index % 2 == 0))
        if profile not in facts:
            model = host_from_profile(profile, "127.0.0.1", "u", "p", load_profile(profile))
            rc, out, err = dispatch.run_snippet(model, "facts", prepared.facts_params(), b"")
            assert rc == 0, err
            facts[profile] = parse_facts(json.loads(out))
        hosts.append(
            preflight.evaluate(
                prepared,
                facts[profile],
                bastion_utc=now,
                address=address,
                duration_s=1.5 + (index % 13) / 10,
            )
        )
    return preflight.fleet_report(hosts, lang=lang, title="sagefleet preflight")
