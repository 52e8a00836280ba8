"""What each job refuses of a host's inventory before any host is contacted.

One implementation for both front doors: ``sagefleet_validate``, the first task of
preflight, deploy, settings, diagnose and verify (action_plugins/sagefleet_validate.py),
and ``sagefleet validate``, which runs the same checks from the command line before any
run (docs/operations.md, "Checking an inventory before a run").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagefleet import preflight
from sagefleet.agent import service as agent_service
from sagefleet.ansible import rolespec
from sagefleet.checks import parse_waivers
from sagefleet.deploy import check_inputs, require_entities
from sagefleet.errors import InputError, SagefleetError
from sagefleet.inventory import winrm_transport
from sagefleet.remote.retry import retry_from
from sagefleet.report.runs import check_for_play
from sagefleet.settings import ValidationFailed, build_host_settings
from sagefleet.settings import host as settings_host
from sagefleet.variables import given_or_none, is_retired, value
from sagefleet.variables.jobs import SETTINGS_STATE
from sagefleet.verify import expectations


@dataclass(frozen=True)
class Checks:
    """What sagefleet_validate checks of each host beyond preflight's inputs (its options
    deploy, settings, verify and role)."""

    deploy: bool = False
    #: The settings playbook's: each host as its sagefleet_settings_state says, a write
    #: (present) or a rollback (what the rollback uses only, not the entities).
    settings: bool = False
    verify: bool = False
    #: The role whose argument spec applies (its name, which errors say), and its options.
    role: str | None = None
    spec: Mapping[str, Any] = field(default_factory=dict)


#: Each job's sagefleet_validate options, as its playbook (or role) gives them; a test reads
#: the playbooks and roles to keep this table in step with them.
JOB_OPTIONS: dict[str, dict[str, Any]] = {
    "preflight": {"role": "sagefleet_preflight"},
    "deploy": {"deploy": True, "role": "sagefleet_agent"},
    "settings": {"settings": True},
    "diagnose": {"role": "sagefleet_diagnose"},
    "verify": {"verify": True},
}
JOBS = tuple(JOB_OPTIONS)
#: What the settings job does to a host (present or rollback): each host is checked for it.
STATE = SETTINGS_STATE.name
#: The report folder each job's first task checks (its ``report`` option, as its playbook
#: or role gives it; a test keeps them in step): the job's folder under the reports root
#: (``job``), or the one the variable ``var`` names. verify.yml's first task checks none.
JOB_REPORTS: dict[str, dict[str, str]] = {
    "preflight": {"job": "preflight", "var": "sagefleet_preflight_report_dir"},
    "deploy": {"job": "deploy", "var": "sagefleet_deploy_report_dir"},
    "settings": {"job": "settings", "var": "sagefleet_settings_report_dir"},
    "diagnose": {"var": "sagefleet_diagnose_dest"},
}


def for_job(job: str) -> Checks:
    """The checks of ``job``'s first task, its role's argument spec from the declarations
    the role's meta/argument_specs.yml is generated from."""
    options = dict(JOB_OPTIONS[job])
    role = options.get("role")
    return Checks(**options, spec=rolespec.declared_options(role) if role else {})


def host_errors(host: str, variables: Mapping[str, Any], checks: Checks) -> list[SagefleetError]:
    """Every error ``checks`` find in one host's variables: the role's argument spec, then
    sagefleet's own (whose message for a variable wins over the spec's generic one)."""
    spec_errors = (
        rolespec.check(host, variables, checks.spec, role=checks.role) if checks.role else []
    )
    found = _sagefleet_errors(host, variables, checks, spec_errors)
    named = {getattr(e, "field", None) for e in found}
    return [*(e for e in spec_errors if e.field not in named), *found]


def _sagefleet_errors(
    host: str, variables: Mapping[str, Any], checks: Checks, spec_errors: list[InputError]
) -> list[SagefleetError]:
    """What sagefleet itself finds wrong in one host's variables."""
    deploy = checks.deploy
    # A retired name the spec refused is reported under its own name, once.
    refused = {e.field for e in spec_errors if is_retired(e.field)}
    effective = {k: v for k, v in variables.items() if k not in refused}
    found: list[SagefleetError] = []
    if effective.get("ansible_connection") == "winrm":
        try:  # ansible's winrm connection would find it out at the host, unreachable
            winrm_transport(host, effective)
        except InputError as exc:
            found.append(exc)
    try:
        if checks.settings and not deploy and value(host, effective, STATE) == "rollback":
            _rollback_inputs(host, effective)
        else:
            _job_inputs(host, effective, checks)
    except ValidationFailed as exc:
        found.extend(exc.errors)
    except SagefleetError as exc:
        found.append(exc)
    if deploy:
        try:
            require_entities(host, effective)
        except SagefleetError as exc:
            found.append(exc)
    return found


def _job_inputs(host: str, variables: Mapping[str, Any], checks: Checks) -> None:
    """Raise the first error of preflight's inputs and of the job's own (``checks``)."""
    preflight.prepare(host, variables)
    if not checks.verify:  # every job but verify retries a transient WinRM failure
        retry_from(host, variables)
    if checks.deploy:
        check_inputs(host, variables)
    if checks.deploy or checks.settings:
        build_host_settings(host, variables)
    if checks.settings and not checks.deploy:
        # The settings task's target and its handler's restart, which the playbook
        # reaches after writing: checked here, before any host is written.
        settings_host.job_target(host, variables)
        agent_service.options_from(host, variables)
    if checks.verify:
        expectations.for_host(host, variables)


def _rollback_inputs(host: str, variables: Mapping[str, Any]) -> None:
    """Raise the first error of what a rollback of the settings playbook uses: the
    variables' names, the file's target, the backup it restores, the restart after it and
    the retries of both.
    A rollback restores a backup, the way back from a bad write: it reads neither the
    entities nor the vendor files, so an error there does not refuse it (the write does)."""
    preflight.check_names(host, variables)
    target = settings_host.job_target(host, variables)
    settings_host.job_backup(host, variables, target)
    agent_service.options_from(host, variables)
    retry_from(host, variables)


def expired_waivers(host: str, variables: Mapping[str, Any], today: dt.date) -> list[str]:
    """The host's waivers past their date, said as what the runs will do: no run refuses
    them, but preflight reports each as SF901, an error finding, so the host is blocked and
    a deploy leaves it alone (a waiver that cannot be read is an input error already)."""
    try:
        waivers = parse_waivers(host, given_or_none(host, variables, "sagefleet_waivers"))
    except SagefleetError:
        return []
    return [
        f"host {host}, field sagefleet_waivers[{index}].expires: the waiver of "
        f"{waiver.check_id} expired on {waiver.expires}: preflight will report SF901 (error), "
        "which blocks the host, and a deploy will leave it alone. Fix: fix the cause, or renew "
        "the waiver with a new date and reason"
        for index, waiver in enumerate(waivers)
        if waiver.expires is not None and waiver.expires < today
    ]


def report_errors(
    job: str,
    variables: Mapping[str, Any],
    inventory_sources: Sequence[str],
    unknown: Collection[str] = (),
) -> list[InputError]:
    """What ``job``'s first task says of the folder the run will write its reports to
    (report.runs.check_for_play), from the variables of the play's first host, when they
    name it: the job's own variable, or sagefleet_report_dir (the reports root). Left to
    its default, the folder is beside the playbooks' folder, which only the run knows, as
    it knows the variables ``unknown`` names (values only a play can template)."""
    report = JOB_REPORTS.get(job)
    if report is None or report["var"] in unknown:
        return []
    dest = str(variables.get(report["var"]) or "")
    root = variables.get("sagefleet_report_dir")
    if not dest and {"sagefleet_report_dir", "sagefleet_inventory_name"} & set(unknown):
        return []
    if not dest and not (root and "job" in report):
        return []
    play_vars = {
        "sagefleet_report_dir": root,
        "sagefleet_inventory_name": variables.get("sagefleet_inventory_name"),
        "ansible_inventory_sources": list(inventory_sources),
    }
    try:
        check_for_play(report.get("job", job), dest, report["var"], play_vars)
    except InputError as exc:
        return [exc]
    return []
