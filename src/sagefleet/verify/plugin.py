"""pytest plugin: one testinfra host per inventory host, and the fleet report.

``pytest -p sagefleet.verify.plugin tests/infra --sagefleet-inventory inventory/<client>``;
options, vault secrets and fixtures: docs/verify.md, "Running the suites" and
"Writing your own assertions".
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from sagefleet.errors import InputError, SagefleetError
from sagefleet.findings import Finding, HostReport, Severity, Status
from sagefleet.inventory import (
    InventoryHost,
    VaultError,
    VaultOptions,
    accept_secrets,
    exported_secrets,
    handed_over_secrets,
    load,
)
from sagefleet.inventory.play import AT_RUN
from sagefleet.outcomes import HostOutcome, Outcome
from sagefleet.verify.expectations import Expectations, for_host
from sagefleet.verify.windows import Windows, testinfra_host

_HOSTS_KEY = pytest.StashKey[dict[str, InventoryHost]]()
_CACHE_KEY = pytest.StashKey[dict[str, Windows]]()
_EXPECTED_KEY = pytest.StashKey[dict[str, Expectations]]()
_SECRETS_INPUT = "sagefleet_vault_secrets"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sagefleet", "sagefleet verification")
    group.addoption(
        "--sagefleet-inventory",
        action="append",
        default=[],
        help="Ansible inventory to verify (repeatable)",
    )
    group.addoption(
        "--vault-password-file",
        dest="sagefleet_vault_password_files",
        action="append",
        default=[],
        help="vault password file, as ansible-playbook's (repeatable)",
    )
    group.addoption(
        "--vault-id",
        dest="sagefleet_vault_ids",
        action="append",
        default=[],
        help="vault identity LABEL@FILE, as ansible-playbook's (repeatable)",
    )
    group.addoption("--sagefleet-limit", default="all", help="host pattern (default all)")
    group.addoption("--sagefleet-report", help="write the fleet report (all formats) here")
    group.addoption(
        "--sagefleet-host-vars",
        help="JSON file of variables by host that rank above the inventory's, e.g. "
        '{"sage01": {"sagefleet_agent_target_version": "3.2.0"}} (a deploy\'s wave hands '
        "over the version it installed)",
    )


#: What opens the vault for the suites run by hand (a playbook hands its secrets over).
SUITES_VAULT_FIX = (
    "give the vault password of the inventory: --vault-password-file FILE or --vault-id "
    "LABEL@FILE, or ANSIBLE_VAULT_PASSWORD_FILE (pytest cannot prompt for it)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sagefleet_check(id, title): stable check id of a verification test"
    )
    config.stash[_CACHE_KEY] = {}
    config.pluginmanager.register(_Collector(config), "sagefleet-verify-collector")
    inventories = config.getoption("sagefleet_inventory")
    hosts: dict[str, InventoryHost] = {}
    worker_input = getattr(config, "workerinput", None)
    try:
        if worker_input is not None:  # an xdist worker: the bastion's handed-over secrets
            accept_secrets(
                (item["id"], base64.b64decode(item["secret"]))
                for item in worker_input.get(_SECRETS_INPUT, [])
            )
        else:  # read now, before any worker process starts
            handed_over_secrets()
        if inventories:
            vault = VaultOptions(
                password_files=tuple(config.getoption("sagefleet_vault_password_files")),
                ids=tuple(config.getoption("sagefleet_vault_ids")),
            )
            given = _host_vars(config.getoption("sagefleet_host_vars"))
            pattern = config.getoption("sagefleet_limit")
            for host in load(inventories, vault=vault, pattern=pattern, at_run=True):
                if host.target is not None:
                    mine = given.get(host.name, {})
                    _play_values_given(host, mine)
                    hosts[host.name] = InventoryHost(
                        host.name, {**host.variables, **mine}, host.target
                    )
    except VaultError as exc:  # the fix names the suites' own options: pytest cannot prompt
        said = VaultError(
            exc.message,
            host=exc.host,
            entity=exc.entity,
            field=exc.field,
            value=exc.value,
            fix=SUITES_VAULT_FIX,
        )
        raise pytest.UsageError(str(said)) from None
    except SagefleetError as exc:  # one line, not a traceback
        raise pytest.UsageError(str(exc)) from None
    # Every host's expectations, read once before any host is contacted (each test takes
    # its host's): a bad input is said whole (host, entity, field, value, what to do), once,
    # not as each test's first line.
    expected, problems = {}, []
    for host in hosts.values():
        try:
            expected[host.name] = for_host(host.name, host.variables)
        except SagefleetError as exc:
            problems.append(str(exc))
    if problems:
        raise pytest.UsageError("\n".join(problems))
    config.stash[_HOSTS_KEY] = hosts
    config.stash[_EXPECTED_KEY] = expected
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_HandOver(), "sagefleet-verify-vault")


def _play_values_given(host: InventoryHost, given: dict[str, Any]) -> None:
    """Refuse a value of ``host`` only a play can template (load's ``at_run``) that the
    playbook running the suites did not hand over (``given``): run by hand, or a secret."""
    for name, said in host.at_run.items():
        if name not in given:
            raise InputError(
                said.message.removesuffix(AT_RUN) + "the playbook running the suites hands it "
                "over (verify.yml, a deploy's waves)",
                host=host.name,
                field=name,
                value=said.value,
            )


def _host_vars(path: str | None) -> dict[str, dict[str, Any]]:
    """--sagefleet-host-vars: {host: {variable: value}}; anything else is a usage error."""
    if not path:
        return {}
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"--sagefleet-host-vars {path}: {exc}") from None
    if not isinstance(found, dict) or not all(isinstance(v, dict) for v in found.values()):
        raise pytest.UsageError(
            f"--sagefleet-host-vars {path}: must be a JSON object of host -> object of variables"
        )
    return found


class _HandOver:
    """Vault secrets handed over by ansible-playbook go on to the xdist workers in
    memory (their start-up message), as the workers do not inherit the pipe."""

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_SECRETS_INPUT] = exported_secrets()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sagefleet_host" not in metafunc.fixturenames:
        return
    hosts = metafunc.config.stash[_HOSTS_KEY]
    if not metafunc.config.getoption("sagefleet_inventory"):
        raise pytest.UsageError("these tests need --sagefleet-inventory <inventory>")
    if not hosts:
        raise pytest.UsageError("no WinRM host matches --sagefleet-limit in the inventory")
    names = sorted(hosts)
    metafunc.parametrize("sagefleet_host", names, ids=names, indirect=True)


@pytest.fixture
def sagefleet_host(request: pytest.FixtureRequest) -> InventoryHost:
    """The inventory host this test runs for."""
    return request.config.stash[_HOSTS_KEY][request.param]


@pytest.fixture
def windows(request: pytest.FixtureRequest, sagefleet_host: InventoryHost) -> Windows:
    """Questions about the host, over testinfra's winrm backend."""
    cache = request.config.stash[_CACHE_KEY]
    if sagefleet_host.name not in cache:
        assert sagefleet_host.target is not None
        cache[sagefleet_host.name] = Windows(
            testinfra_host(sagefleet_host.target), sagefleet_host.name
        )
    return cache[sagefleet_host.name]


@pytest.fixture
def expected(request: pytest.FixtureRequest, sagefleet_host: InventoryHost) -> Expectations:
    """What the inventory says this host should look like once deployed."""
    return request.config.stash[_EXPECTED_KEY][sagefleet_host.name]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    marker = item.get_closest_marker("sagefleet_check")
    callspec = getattr(item, "callspec", None)
    host = callspec.params.get("sagefleet_host") if callspec else None
    if marker is not None and host is not None:
        check_id, title = (list(marker.args) + ["", ""])[:2]
        report.user_properties.extend(
            [
                ("sagefleet_host", host),
                ("sagefleet_check", check_id),
                ("sagefleet_title", title or item.name),
            ]
        )
        cause = _connection_failure(call.excinfo.value) if call.excinfo else None
        if cause:
            report.user_properties.append(("sagefleet_unreachable", cause))
    return report


def _connection_failure(exc: BaseException) -> str | None:
    """Why the host could not be reached, when ``exc`` says it (else None): it did not
    answer, refused the credentials, or its WinRM service answered with an error (HTTP
    500, a WS-Management fault) or not in time, as deploy.yml's connection says it."""
    from sagefleet.remote.errors import RemoteError, SnippetFailed
    from sagefleet.remote.winrm import remote_error

    # testinfra's backend raises pywinrm's and requests' own exceptions.
    error = exc if isinstance(exc, RemoteError) else remote_error("", exc)
    if error is None or isinstance(error, SnippetFailed):  # the host answered
        return None
    return error.message


class _Collector:
    """Gathers per-host results where reports arrive (the xdist controller, or the only process)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, list[Finding]] = defaultdict(list)
        self.unreachable: dict[str, str] = {}
        # Seconds each host's checks took: setup (its connection), call and teardown.
        self.durations: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "sagefleet_host" not in props:
            return
        self.durations[str(props["sagefleet_host"])] += report.duration
        if report.when != "call" and not (report.failed or report.skipped):
            return
        if "sagefleet_unreachable" in props:
            self.unreachable.setdefault(
                str(props["sagefleet_host"]), str(props["sagefleet_unreachable"])
            )
        if "sagefleet_unreachable" in props:
            # The check could not run at all: neither a pass nor a failure.
            status = Status.UNKNOWN
            message = f"not checked: {props['sagefleet_unreachable']}"
        elif report.passed:
            status, message = Status.PASS, "ok"
        elif report.skipped and _short(report).startswith(NOT_APPLICABLE):
            status, message = Status.NOT_APPLICABLE, _short(report)
        elif report.skipped:
            status, message = Status.UNKNOWN, _short(report)
        else:
            status, message = Status.FAIL, _short(report)
        self.results[str(props["sagefleet_host"])].append(
            Finding(
                check_id=str(props["sagefleet_check"]),
                status=status,
                severity=Severity.ERROR,
                title=str(props["sagefleet_title"]),
                message=message,
            )
        )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput"):  # xdist worker: the bastion reports
            return
        destination = self.config.getoption("sagefleet_report")
        if not destination or not self.results:
            return
        from sagefleet.preflight import fleet_report
        from sagefleet.report import write_reports

        hosts = [
            verified_host(
                name, findings, self.unreachable.get(name), duration_s=self.durations[name]
            )
            for name, findings in sorted(self.results.items())
        ]
        write_reports(
            fleet_report(hosts, title="sagefleet verify"),
            Path(destination),
            ["console", "json", "junit", "html"],
        )


#: How a suite's test says its check does not apply to the host: pytest.skip(NOT_APPLICABLE
#: + why). Any other skip is a check that could not decide (unknown).
NOT_APPLICABLE = "not applicable: "


def verified_host(
    name: str, findings: list[Finding], unreachable: str | None, *, duration_s: float = 0.0
) -> HostReport:
    """A host's verification: verified when every check passed, verify-failed when one
    failed or could not run, unreachable when the host could not be reached; its duration
    is the seconds its checks took."""
    reason: str | None
    if unreachable:
        status, reason = Outcome.UNREACHABLE.value, unreachable
    else:
        failing = [f for f in findings if f.status not in (Status.PASS, Status.NOT_APPLICABLE)]
        status = (Outcome.VERIFY_FAILED if failing else Outcome.VERIFIED).value
        reason = "; ".join(f"{f.check_id} {f.message}" for f in failing) or None
    return HostReport(
        host=name,
        reachable=not unreachable,
        error=unreachable,
        findings=tuple(findings),
        duration_s=round(duration_s, 3),
        outcome=HostOutcome(status=status, reason=reason),
    )


def _short(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        text = crash.message
    elif isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        # A skip (the check could not decide): (file, line, "Skipped: <reason>").
        text = str(report.longrepr[2]).removeprefix("Skipped: ")
    else:
        text = str(report.longrepr)
    first = text.strip().splitlines()
    return (first[0] if first else "failed")[:500]
