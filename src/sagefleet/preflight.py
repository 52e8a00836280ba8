"""Preflight of one host: validate inputs, gather facts in one round trip, run checks.

Shared by every front door (the Ansible action plugin, the CLI). Input
problems raise before the host is touched; connection problems become an
"unreachable" HostReport; everything else is a finding.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagefleet import catalog, snippets
from sagefleet.agent import profile as agent_profile
from sagefleet.agent.connection.options import dotnet_regex_error
from sagefleet.checks import (
    Context,
    EntityView,
    Waiver,
    all_checks,
    finding_for,
    parse_waivers,
    run_checks,
)
from sagefleet.checks.platform import language_mode_outcome
from sagefleet.errors import InputError
from sagefleet.facts import HostFacts, parse_facts
from sagefleet.failed_install import record_path
from sagefleet.findings import FleetReport, HostReport
from sagefleet.inventory import winrm_scheme
from sagefleet.probes import DnsResult, resolve
from sagefleet.remote import (
    CommandTimeout,
    HostSession,
    LanguageModeRestricted,
    RemoteError,
    SnippetFailed,
    contracts,
)
from sagefleet.settings import ValidationFailed, validate_host
from sagefleet.settings.schemas import ENTITIES_SCHEMA, checker, validator
from sagefleet.settings.validate import refuse_misspelt
from sagefleet.variables import declarations, given_or_none, jobs, value
from sagefleet.variables.declarations import BACKUP_DIR

LANGS = ("en", "fr")


def warm_up() -> None:
    """Load now what every host's preflight needs: checks, catalogs, schema, snippets.

    Ansible imports action plugins in its bastion process, then forks one
    worker per host and task: what is loaded before the fork is inherited by
    every worker, what is loaded after it is loaded again in each of them.
    """
    all_checks()
    for name in catalog.SHIPPED:
        catalog.load(name)
    agent_profile.default()
    validator(ENTITIES_SCHEMA)
    checker(ENTITIES_SCHEMA)
    snippets.load("facts")
    snippets.prelude()
    contracts.prepare("facts")  # the facts output's schema


@dataclass
class PreparedHost:
    """One host's validated inputs: what to ask the host and how to judge the answer."""

    host: str
    entities: list[EntityView]
    waivers: list[Waiver]
    endpoints: list[catalog.Endpoint]
    sage: catalog.SageCatalog
    lang: str = "en"
    # The agent's service as the agent profile finds it: its name, else a pattern.
    service_name: str | None = field(default_factory=lambda: agent_profile.default().service_name)
    agent_image_path_pattern: str | None = None
    agent_display_name_pattern: str | None = None
    service_account: str | None = None
    target_version: str | None = None
    min_free_mb: int = jobs.MIN_FREE_MB.default
    max_clock_skew_s: int = jobs.MAX_CLOCK_SKEW.default
    timeout_ms: int = jobs.TIMEOUT_MS.default
    facts_timeout_s: int = jobs.FACTS_TIMEOUT.default
    bastion_probes: bool = False
    nameservers: list[str] | None = None
    dns_port: int = declarations.DNS_PORT.default
    edition: str | None = None
    transport: dict[str, Any] = field(default_factory=dict)
    allow_insecure_transport: bool = False
    # The .NET Framework the agent targets (the agent profile's target_framework).
    agent_target_framework: str | None = None
    # Any install of the vendor's agent, and the one the profile describes (SF405).
    agent_vendor_pattern: str | None = None
    agent_uninstall_pattern: str | None = None
    # The failed-install record the facts script reads (SF406), and whether the agent a
    # failed fresh install left is accepted (sagefleet_agent_accept_failed_install).
    record_path: str = field(default_factory=lambda: record_path(BACKUP_DIR.default))
    accept_failed_install: bool = False

    def probe_targets(self) -> list[dict[str, Any]]:
        """Endpoints, then each SPC entity's Azure SQL server on 1433 (no duplicates)."""
        targets = [e.to_param() for e in self.endpoints]
        seen = {(t["name"], t["port"]) for t in targets}
        for entity in self.entities:
            fqdn = entity.sql_fqdn
            if fqdn and (fqdn, 1433) not in seen:
                seen.add((fqdn, 1433))
                targets.append({"name": fqdn, "port": 1433, "tls": False})
        return targets

    def facts_params(self) -> dict[str, Any]:
        params = {
            "service_name": self.service_name,
            "agent_image_path_pattern": self.agent_image_path_pattern,
            "agent_display_name_pattern": self.agent_display_name_pattern,
            "endpoints": self.probe_targets(),
            "mae_files": sorted({e.mae_path for e in self.entities if e.mae_path}),
            "timeout_ms": self.timeout_ms,
            "record_path": self.record_path,
        }
        if self.agent_vendor_pattern:  # every install of the vendor's agent (SF405)
            params["agent_vendor_pattern"] = self.agent_vendor_pattern
        if self.service_account:  # its "Log on as a service" right is read (SF402)
            params["service_account"] = self.service_account
        return params


def check_names(host: str, hostvars: Mapping[str, Any]) -> None:
    """What every job refuses of a host's variables, whatever else it reads: a retired or
    misspelt ``sagefleet_*`` variable (it would not be read), and a CA bundle for the
    hosts' WinRM certificates that the bastion lacks (every connection would fail)."""
    for name, why in declarations.RETIRED.items():
        if hostvars.get(name) is not None:
            raise InputError(why, host=host, field=name, fix=f"remove {name}")
    refuse_misspelt(host, hostvars)
    _check_ca_trust_path(host, hostvars)


def prepare(host: str, hostvars: Mapping[str, Any]) -> PreparedHost:
    """Validate everything preflight reads from the inventory, or raise (nothing touched)."""
    check_names(host, hostvars)
    validation = validate_host(host, hostvars, check_render=False)
    if validation.errors:
        raise ValidationFailed(validation.errors, title=f"{host}: sagefleet_entities are invalid")
    entities = [EntityView.of(e) for e in validation.entities]

    def read(name: str) -> Any:
        return value(host, hostvars, name)

    lang = read("sagefleet_lang")
    profile = agent_profile.for_host(hostvars, host=host)
    account = read("sagefleet_agent_service_account")
    edition = read("sagefleet_edition")
    nameservers = read("sagefleet_dns_servers")
    allow_insecure = read("sagefleet_allow_insecure_transport")
    bastion = read("sagefleet_preflight_bastion_probes")
    target = given_or_none(host, hostvars, "sagefleet_agent_target_version")
    return PreparedHost(
        host=host,
        entities=entities,
        waivers=parse_waivers(host, given_or_none(host, hostvars, "sagefleet_waivers")),
        endpoints=catalog.endpoints(
            given_or_none(host, hostvars, "sagefleet_endpoints"), host=host
        ),
        sage=catalog.sage(given_or_none(host, hostvars, "sagefleet_sage_catalog"), host=host),
        lang=lang,
        service_name=profile.service_name,
        agent_image_path_pattern=profile.image_path_pattern,
        agent_display_name_pattern=profile.display_name_pattern,
        service_account=account,
        target_version=str(target) if target is not None else None,
        min_free_mb=read("sagefleet_preflight_min_free_mb"),
        max_clock_skew_s=read("sagefleet_preflight_max_clock_skew_s"),
        timeout_ms=read("sagefleet_preflight_timeout_ms"),
        facts_timeout_s=read("sagefleet_preflight_facts_timeout_s"),
        bastion_probes=bastion,
        nameservers=nameservers,
        dns_port=read("sagefleet_dns_port"),
        edition=edition,
        transport={
            "scheme": hostvars.get("ansible_winrm_scheme"),
            "transport": hostvars.get("ansible_winrm_transport"),
            "server_cert_validation": hostvars.get("ansible_winrm_server_cert_validation"),
            "message_encryption": hostvars.get("ansible_winrm_message_encryption"),
        }
        if hostvars.get("ansible_connection") == "winrm"
        else {},
        allow_insecure_transport=allow_insecure,
        agent_target_framework=profile.target_framework,
        agent_vendor_pattern=install_pattern(host, profile, "vendor_pattern"),
        agent_uninstall_pattern=install_pattern(host, profile, "display_name_pattern"),
        record_path=record_path(str(read("sagefleet_agent_backup_dir"))),
        accept_failed_install=bool(read("sagefleet_agent_accept_failed_install")),
    )


def install_pattern(host: str, profile: agent_profile.AgentProfile, name: str) -> str | None:
    """The agent profile's ``uninstall.<name>`` (SF405), refused if .NET could not read it."""
    pattern = profile.section("uninstall").get(name) or None
    problem = dotnet_regex_error(str(pattern)) if pattern else None
    if problem:
        raise InputError(
            f"not a regular expression ({problem})",
            host=host,
            field=profile.source_of(f"uninstall.{name}"),
            value=str(pattern),
            fix="a .NET regular expression (case-insensitive)",
        )
    return str(pattern) if pattern else None


def _check_ca_trust_path(host: str, hostvars: Mapping[str, Any]) -> None:
    """The CA bundle the host's WinRM certificate is checked against must be on the
    bastion: a missing one failed every connection, reported as an unreachable host."""
    path = hostvars.get("ansible_winrm_ca_trust_path")
    if (
        hostvars.get("ansible_connection") != "winrm"
        or not path
        or winrm_scheme(hostvars) != "https"  # not read over HTTP
        or hostvars.get("ansible_winrm_server_cert_validation") == "ignore"
        or os.path.exists(str(path))
    ):
        return
    raise InputError(
        "no such file or folder on the bastion",
        host=host,
        field="ansible_winrm_ca_trust_path",
        value=str(path),
        fix="give the CA bundle (PEM) that signed the hosts' WinRM certificates; a relative "
        "path is read from the folder the command runs in",
    )


def bastion_dns(prepared: PreparedHost) -> dict[str, DnsResult]:
    """Resolve every probed name from the bastion (dnspython), for SF306/SF307."""
    results: dict[str, DnsResult] = {}
    for name in sorted({t["name"] for t in prepared.probe_targets()}):
        results[name] = resolve(
            name, nameservers=prepared.nameservers, port=prepared.dns_port, timeout=2.0
        )
    return results


def evaluate(
    prepared: PreparedHost,
    facts: HostFacts,
    *,
    dns: Mapping[str, DnsResult] | None = None,
    bastion_utc: dt.datetime | None = None,
    compare_clock: bool = True,
    address: str | None = None,
    duration_s: float = 0.0,
) -> HostReport:
    """Checks over facts: the pure part, identical for every front door.

    ``bastion_utc``: the bastion's time when the host read its clock (SF104);
    ``compare_clock`` False when there is none (offline facts of unknown date).
    """
    context = Context.of(
        prepared,
        facts=facts,
        bastion_utc=bastion_utc or dt.datetime.now(dt.UTC),
        compare_clock=compare_clock,
        bastion_dns=dns,
        transport=prepared.transport or None,
    )
    findings = run_checks(context, prepared.waivers)
    return HostReport(
        host=prepared.host,
        reachable=True,
        findings=tuple(findings),
        address=address,
        summary=summarise(facts),
        duration_s=round(duration_s, 3),
    )


def summarise(facts: HostFacts) -> dict[str, str]:
    """Short facts for the report's host table."""
    from sagefleet.checks.sage import sage_version  # local: avoids a cycle at import

    context = Context(host="", facts=facts)
    found = sage_version(context)
    summary = {
        "os": facts.identity.os_caption or "?",
        "sage": found[0] if found else "-",
        "dotnet_release": str(facts.dotnet_release) if facts.dotnet_release else "-",
        "agent": (facts.agent.version or "?") if facts.agent.installed else "-",
    }
    return summary


def run(
    session: HostSession,
    prepared: PreparedHost,
    *,
    address: str | None = None,
) -> tuple[HostReport, dict[str, Any] | None]:
    """Gather facts over ``session`` and evaluate; connection problems become a report."""
    started = time.monotonic()
    sent_at = dt.datetime.now(dt.UTC)
    try:
        document = session.run_snippet("facts", prepared.facts_params())
    except LanguageModeRestricted as exc:
        # The host answered but cannot run the facts script at all: one finding says why.
        finding = finding_for("SF107", language_mode_outcome(exc.mode, prepared.lang))
        report = HostReport(
            host=prepared.host,
            reachable=True,
            findings=(finding,),
            address=address,
            duration_s=round(time.monotonic() - started, 3),
        )
        return report, None
    except (SnippetFailed, CommandTimeout) as exc:
        report = HostReport(
            host=prepared.host,
            reachable=True,
            address=address,
            error=f"facts could not be gathered: {exc.message}",
            duration_s=round(time.monotonic() - started, 3),
        )
        return report, None
    except RemoteError as exc:
        return unreachable(prepared.host, exc.message, address, time.monotonic() - started), None
    # The host read its clock somewhere in the round trip: its midpoint bounds the error
    # by half the round trip either way, so a host ahead and one behind are judged alike.
    received_at = dt.datetime.now(dt.UTC)
    midpoint = sent_at + (received_at - sent_at) / 2
    facts = parse_facts(document)
    dns = bastion_dns(prepared) if prepared.bastion_probes else None
    report = evaluate(
        prepared,
        facts,
        dns=dns,
        bastion_utc=midpoint,
        address=address,
        duration_s=time.monotonic() - started,
    )
    return report, document


def unreachable(
    host: str, error: str, address: str | None = None, duration_s: float = 0.0
) -> HostReport:
    return HostReport(
        host=host, reachable=False, error=error, address=address, duration_s=round(duration_s, 3)
    )


def fleet_report(
    hosts: Sequence[HostReport],
    lang: str = "en",
    title: str = "sagefleet preflight",
    *,
    fail_on_blocked: bool | frozenset[str] = False,
) -> FleetReport:
    """The fleet of ``hosts``, by name; ``fail_on_blocked``: the run fails its blocked hosts,
    all or those named (every report then says they ended failed)."""
    return FleetReport(
        title=title,
        hosts=tuple(sorted(hosts, key=lambda h: h.host)),
        lang=lang,
        fail_on_blocked=fail_on_blocked,
    )
