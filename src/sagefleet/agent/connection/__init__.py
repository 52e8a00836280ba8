"""SF513: does the agent hold a connection to its vendor's services? Decided on the bastion.

The ``agent_connections`` snippet gathers the evidence; ``options`` reads the inventory,
``evidence`` the snippet's document, ``verdict`` decides (pass, unknown, fail and the
likely cause), ``gate`` looks once or until the agent connects. How it decides, and
which proxy the agent is assumed to use: docs/verify.md (SF513).
"""

from __future__ import annotations

from sagefleet.agent.connection.evidence import (
    Connection,
    Evidence,
    Proxy,
    Route,
    parse,
    parse_time,
    proxy_for_https,
    route,
)
from sagefleet.agent.connection.gate import GRACE_S, POLL_S, Runner, look, wait_connected
from sagefleet.agent.connection.options import (
    DEFAULT_WINDOW_S,
    LOG_MAX_FILES,
    LOG_TAIL_BYTES,
    MAX_WINDOW_S,
    PROBE_TIMEOUT_MS,
    WINDOW_VARIABLE,
    ConnectionOptions,
    LogSpec,
    dotnet_regex_error,
    log_spec,
    options_from,
    params,
    window_from,
)
from sagefleet.agent.connection.verdict import (
    CHECK_ID,
    TITLE_EN,
    TITLE_FR,
    Verdict,
    evaluate,
    likely_cause,
    log_is_fresh,
    route_words,
)

__all__ = [
    "CHECK_ID",
    "DEFAULT_WINDOW_S",
    "GRACE_S",
    "LOG_MAX_FILES",
    "LOG_TAIL_BYTES",
    "MAX_WINDOW_S",
    "POLL_S",
    "PROBE_TIMEOUT_MS",
    "TITLE_EN",
    "TITLE_FR",
    "WINDOW_VARIABLE",
    "Connection",
    "ConnectionOptions",
    "Evidence",
    "LogSpec",
    "Proxy",
    "Route",
    "Runner",
    "Verdict",
    "dotnet_regex_error",
    "evaluate",
    "likely_cause",
    "log_is_fresh",
    "log_spec",
    "look",
    "options_from",
    "params",
    "parse",
    "parse_time",
    "proxy_for_https",
    "route",
    "route_words",
    "wait_connected",
    "window_from",
]
