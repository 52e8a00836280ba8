"""The one place that imports every model of the command layer, so each registers itself.

Snippet models register with ``registry.simulates``; rules of what Windows
refuses register with ``semantics.rule``. A model added to the simulator is
listed here.
"""

from __future__ import annotations

from sagefleet.sim.commands import (  # noqa: F401 - each registers itself
    acl_rules,
    agent_learn_models,
    agent_models,
    connection_models,
    diagnose_models,
    discover_models,
    language_rules,
    lock_models,
    platform_rules,
    query_models,
    record_models,
    service_rules,
    settings_models,
    snippet_models,
    stage_models,
)
