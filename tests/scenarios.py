"""Inventories for simulated fleets: entities derived from each host's profile.

A profile describes a server (its .MAE files, its edition); the inventory an
integrator would write for it lists one entity per .MAE file. Building it from
the profile keeps the tests and the simulator in agreement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sagefleet.sim import vendor_layout
from sagefleet.sim.fleet import Fleet
from sagefleet.sim.model import load_profile


def entities_for(profile_name: str) -> list[dict[str, Any]]:
    """The entities of a shipped profile, with the test suite's SQL login (its canary)."""
    return vendor_layout.entities_for(
        load_profile(profile_name),
        sql_user="sagefleet_sql",
        sql_password="Sql-Canary-Passw0rd!",
        sage_user="<administrateur>",
    )


def write_inventory(fleet: Fleet, path: Path, extra: dict[str, Any] | None = None) -> Path:
    """The fleet's inventory with each host's entities (and extra vars for all hosts)."""
    inventory = fleet.inventory()
    hosts = inventory["all"]["children"]["sage_servers"]["hosts"]
    for name, hv in hosts.items():
        hv["sagefleet_entities"] = entities_for(fleet.spec(name).profile)
    inventory["all"]["vars"].update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    return path
