"""Inventories for simulated fleets: entities derived from each host's profile.

A profile describes a server (its .MAE files, its edition); the inventory an
integrator would write for it lists one entity per .MAE file, each with the
vendor's settings.json of its connection. Building it from the profile keeps
the tests and the simulator in agreement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sagefleet.settings import host as settings_host
from sagefleet.sim import vendor_layout
from sagefleet.sim.fleet import Fleet
from sagefleet.sim.host import load_profile


def entities_for(profile_name: str) -> list[dict[str, Any]]:
    """The entities of a shipped profile, with the test suite's SQL login (its canary), each
    with its connection's settings.json as the vendor's form would produce it (the
    simulator's stand-in layout, not sagefleet's template): the default settings source
    merges these."""
    entities = vendor_layout.entities_for(
        load_profile(profile_name),
        sql_user="sagefleet_sql",
        sql_password="Sql-Canary-Passw0rd!",
        sage_user="<administrateur>",
    )
    for entity in entities:
        entity["vendor_settings"] = vendor_layout.document([entity])
    return entities


def write_inventory(
    fleet: Fleet,
    path: Path,
    extra: dict[str, Any] | None = None,
    *,
    source: str = "vendor",
    host_vars: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """The fleet's inventory with each host's entities (and extra vars for all hosts,
    ``host_vars`` for the hosts it names).

    ``source="template"`` chooses sagefleet's template layout explicitly
    (``sagefleet_settings_source: template``, entities without vendor files).
    """
    inventory = fleet.inventory()
    hosts = inventory["all"]["children"]["sage_servers"]["hosts"]
    for name, hv in hosts.items():
        hv["sagefleet_entities"] = entities_for(fleet.spec(name).profile)
        if source == "template":
            for entity in hv["sagefleet_entities"]:
                del entity["vendor_settings"]
    if source == "template":
        inventory["all"]["vars"]["sagefleet_settings_source"] = "template"
    inventory["all"]["vars"].update(extra or {})
    for name, values in (host_vars or {}).items():
        hosts[name].update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(inventory, sort_keys=False), encoding="utf-8")
    return path


def text_for(**changes: Any) -> str:
    """The template layout's text: these tests are about the write itself."""
    entity = {**entities_for("healthy-onprem")[0], **changes}
    entity.pop("vendor_settings")
    variables = {"sagefleet_entities": [entity], "sagefleet_settings_source": "template"}
    return settings_host.host_settings("sage01", variables).text
