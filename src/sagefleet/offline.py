"""The offline path: a facts script run by hand on a server, its JSON evaluated on the bastion.

``facts_script`` wraps the very facts script sent over WinRM in a collector;
``evaluate_file`` runs the online path's checks over what it saved.
See docs/operations.md, "Offline path".
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import textwrap
from collections.abc import Mapping
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from sagefleet import __version__, catalog, snippets
from sagefleet.agent import profile as agent_profile
from sagefleet.errors import InputError
from sagefleet.facts import FactsError, parse_facts, parse_utc
from sagefleet.failed_install import record_path
from sagefleet.findings import HostReport
from sagefleet.preflight import PreparedHost, evaluate, install_pattern, prepare
from sagefleet.remote import contracts
from sagefleet.remote.command import bootstrap_command
from sagefleet.variables import jobs, value
from sagefleet.variables.declarations import BACKUP_DIR

OUTPUT_PATTERN = "sagefleet-facts-<COMPUTERNAME>.json"
# How long the collector lets the facts script run before it stops it (the network
# probes are bounded by their own timeout_ms; this bounds everything else).
COLLECTOR_TIMEOUT_S = 600


def _template() -> str:
    text = resources.files("sagefleet").joinpath("templates/facts_collector.ps1").read_text("utf-8")
    return text.split("\n", 1)[1]  # the first line documents the template itself


def facts_script(params: Mapping[str, Any], *, host: str | None = None) -> str:
    """The self-contained collector script for ``params`` (the facts snippet's parameters)."""
    rendered = snippets.render("facts", dict(params))
    encoded = base64.b64encode(rendered.encode("utf-8")).decode("ascii")
    chunks = ",\n".join(f"    '{line}'" for line in textwrap.wrap(encoded, 96))
    text = _template().format(
        version=__version__,
        for_host=f" for host {_comment_safe(host)}" if host else "",
        pattern=OUTPUT_PATTERN,
        checks_args=f" -i <inventory> --host {_comment_safe(host)}" if host else "",
        chunks=chunks,
        arguments=bootstrap_command().split(" ", 1)[1],
        timeout_ms=COLLECTOR_TIMEOUT_S * 1000,
        timeout_s=COLLECTOR_TIMEOUT_S,
    )
    return text.lstrip("\n").replace("\n", "\r\n")


def _comment_safe(text: str) -> str:
    """A host name in a comment line: printable ASCII only, one line."""
    return "".join(c if " " < c < "\x7f" and c not in "#<>" else "_" for c in text)


def embedded_script(collector: str) -> str:
    """The snippet text a collector carries (tests prove it is the WinRM one, unchanged)."""
    start = collector.index("$sagefleetFacts = @(")
    end = collector.index(") -join ''", start)
    encoded = "".join(
        part.strip().strip(",").strip("'") for part in collector[start:end].splitlines()[1:]
    )
    return base64.b64decode(encoded).decode("utf-8")


def default_params(
    *,
    mae_files: list[str] | None = None,
    service_name: str | None = None,
    timeout_ms: int = jobs.TIMEOUT_MS.default,
) -> dict[str, Any]:
    """Facts parameters without an inventory: shipped endpoints, the given MAE paths."""
    profile = agent_profile.default()
    params: dict[str, Any] = {
        "service_name": service_name or profile.service_name,
        "endpoints": [e.to_param() for e in catalog.endpoints()],
        "mae_files": sorted(set(mae_files or [])),
        "timeout_ms": timeout_ms,
        "record_path": record_path(BACKUP_DIR.default),  # read only (SF406)
    }
    if profile.vendor_pattern:  # every install of the vendor's agent (SF405)
        params["agent_vendor_pattern"] = profile.vendor_pattern
    return params


def offline_prepared(name: str, variables: Mapping[str, Any] | None = None) -> PreparedHost:
    """The host's validated inputs; without entities (no inventory), the shipped defaults."""
    variables = dict(variables or {})
    if variables.get("sagefleet_entities"):
        return prepare(name, variables)
    lang = value(name, variables, "sagefleet_lang")
    profile = agent_profile.for_host(variables, host=name)
    return PreparedHost(
        host=name,
        entities=[],
        waivers=[],
        endpoints=catalog.endpoints(),
        sage=catalog.sage(),
        lang=lang,
        service_name=profile.service_name,
        agent_image_path_pattern=profile.image_path_pattern,
        agent_display_name_pattern=profile.display_name_pattern,
        agent_target_framework=profile.target_framework,
        agent_vendor_pattern=install_pattern(name, profile, "vendor_pattern"),
        agent_uninstall_pattern=install_pattern(name, profile, "display_name_pattern"),
        record_path=record_path(str(value(name, variables, "sagefleet_agent_backup_dir"))),
        accept_failed_install=bool(value(name, variables, "sagefleet_agent_accept_failed_install")),
    )


def read_facts(path: Path) -> dict[str, Any]:
    """The collector's JSON document (UTF-8, a BOM tolerated)."""
    bad = partial(InputError, field="--facts", value=str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        fix = "copy the file written by the collector script unchanged"
        raise bad(f"cannot read the facts file: {exc}", fix=fix) from exc
    if not isinstance(data, dict) or "schema" not in data:
        fix = "run the script from `sagefleet facts-script` on the server"
        raise bad("not a sagefleet facts document (no 'schema' key)", fix=fix)
    return data


def evaluate_file(
    path: Path, prepared: PreparedHost, *, bastion_utc: dt.datetime | None = None
) -> HostReport:
    """Checks over a collected facts file, exactly as preflight.run evaluates live facts.

    The clock check compares the host's clock with the bastion's: offline there is
    no bastion time for the host's reading unless the caller gives when the facts
    were collected (``bastion_utc``, ``--collected-at``); without it SF104 says
    unknown (comparing the file's time with itself would pass without checking).
    """
    document = read_facts(path)
    # Every section the facts snippet writes: one missing would read as an empty one, and
    # checks would pass on nothing. (Members added to a section since are not required:
    # a file from an earlier collector still reads.)
    missing = [s for s in contracts.load_schema("facts")["required"] if s not in document]
    if missing:
        raise InputError(
            f"not a complete facts document: no {', '.join(missing)} section",
            field="--facts",
            value=str(path),
            fix="copy the file written by the collector script (sagefleet facts-script) "
            "unchanged",
        )
    try:
        facts = parse_facts(document)
    except FactsError as exc:
        raise InputError(str(exc), field="--facts", value=str(path)) from exc
    compare = bastion_utc is not None
    if bastion_utc is None:
        bastion_utc = parse_utc(facts.identity.utc_now) or dt.datetime.now(dt.UTC)
    return evaluate(
        prepared, facts, bastion_utc=bastion_utc, compare_clock=compare, address="offline"
    )
