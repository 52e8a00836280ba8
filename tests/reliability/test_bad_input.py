"""Bad input through the front doors: a clear error naming host, entity and field, a
non-zero exit, and no simulated host touched (journal empty, file system unchanged).

Cases are batched: one preflight.yml run validates a whole fleet of bad hosts (the
validation reports every error at once), one deploy.yml run covers the deploy
options, the package cases share one host, the CLI cases run the real command.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.errors import InputError
from sagefleet.package import build_test_package, inspect
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import ROOT, next_first_address
from tests.support.reliability import playbook, untouched
from tests.support.scenarios import write_inventory

Mutation = Callable[[dict[str, Any], Path], None]


def entity(**changes: Any) -> Mutation:
    def apply(hv: dict[str, Any], tmp: Path) -> None:
        hv["sagefleet_entities"][0].update(changes)

    return apply


def drop_field(name: str) -> Mutation:
    return lambda hv, tmp: hv["sagefleet_entities"][0].pop(name)


def var(name: str, value: Any) -> Mutation:
    def apply(hv: dict[str, Any], tmp: Path) -> None:
        hv[name] = value

    return apply


def spc(**changes: Any) -> Mutation:
    def apply(hv: dict[str, Any], tmp: Path) -> None:
        e = hv["sagefleet_entities"][0]
        e.pop("sql_instance", None)
        e.update({"edition": "spc", "azure_sql_server": "xiyxu8z271", **changes})

    return apply


def duplicate_name(hv: dict[str, Any], tmp: Path) -> None:
    twin = dict(
        hv["sagefleet_entities"][0],
        company_code="OTHER",
        database="OTHER",
        mae_path="C:\\Sage\\Societes\\OTHER.MAE",
    )
    hv["sagefleet_entities"].append(twin)


def vendor(text: str | bytes) -> Mutation:
    def apply(hv: dict[str, Any], tmp: Path) -> None:
        path = tmp / f"vendor-{abs(hash(text)) % 10**8}.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        hv["sagefleet_entities"][0]["vendor_settings"] = str(path)

    return apply


NESTED = '{"connections": [], "x": ' + "[" * 40 + "]" * 40 + "}"
LARGE = '{"connections": [], "x": "' + "a" * (1024 * 1024 + 10) + '"}'

# host -> (mutation, words the error must contain besides the host name)
PREFLIGHT_CASES: dict[str, tuple[Mutation, list[str]]] = {
    "plan-zero": (entity(analytic_plan=0), ["BIJOU", "analytic_plan"]),
    "plan-abc": (entity(analytic_plan="abc"), ["BIJOU", "analytic_plan"]),
    "plan-bool": (entity(analytic_plan=True), ["BIJOU", "analytic_plan"]),
    "plan-float": (entity(analytic_plan=1.5), ["BIJOU", "analytic_plan"]),
    "plan-100": (entity(analytic_plan=100), ["BIJOU", "analytic_plan"]),
    "code-empty": (entity(company_code=""), ["BIJOU", "company_code"]),
    "code-space": (entity(company_code="BI JOU"), ["BIJOU", "company_code"]),
    "edition-unknown": (entity(edition="cloud"), ["BIJOU", "edition"]),
    "instance-bad": (entity(sql_instance="SAGE SRV!\\X"), ["BIJOU", "sql_instance"]),
    "azure-upper": (spc(azure_sql_server="XIYXU8Z271"), ["BIJOU", "azure_sql_server"]),
    "azure-dash": (spc(azure_sql_server="-bad-"), ["BIJOU", "azure_sql_server"]),
    "azure-privatelink": (
        spc(azure_sql_server="x1.privatelink.database.windows.net"),
        ["BIJOU", "azure_sql_server"],
    ),
    "spc-no-database": (spc(database=None), ["BIJOU", "database"]),
    "database-semicolon": (entity(database="DB;DROP"), ["BIJOU", "database"]),
    "duplicate-names": (duplicate_name, ["BIJOU", "name"]),
    "mae-relative": (entity(mae_path="Societes\\BIJOU.MAE"), ["BIJOU", "mae_path"]),
    "mae-not-mae": (entity(mae_path="C:\\Sage\\BIJOU.txt"), ["BIJOU", "mae_path"]),
    "sql-password-missing": (drop_field("sql_password"), ["BIJOU", "sql_password"]),
    "sql-password-int": (entity(sql_password=12345), ["BIJOU", "sql_password"]),
    "sage-user-long": (entity(sage_user="u" * 65), ["BIJOU", "sage_user"]),
    "unknown-field": (entity(sql_pasword="x"), ["BIJOU", "sql_pasword"]),
    "pdf-bad": (entity(pdf_storage="somewhere"), ["BIJOU", "pdf_storage"]),
    "name-missing": (drop_field("name"), ["#1", "name"]),
    "entities-string": (var("sagefleet_entities", "BIJOU"), ["sagefleet_entities"]),
    "vendor-invalid": (vendor("{not json"), ["BIJOU", "vendor_settings"]),
    "vendor-dupkeys": (vendor('{"connections": [], "a": 1, "a": 2}'), ["BIJOU", "vendor_settings"]),
    "vendor-nested": (vendor(NESTED), ["BIJOU", "vendor_settings"]),
    "vendor-large": (vendor(LARGE), ["BIJOU", "vendor_settings"]),
    "vendor-nan": (vendor('{"connections": [], "x": NaN}'), ["BIJOU", "vendor_settings"]),
    "vendor-latin1": (vendor(b'{"connections": [], "x": "\xe9"}'), ["BIJOU", "vendor_settings"]),
    "lang-de": (var("sagefleet_lang", "de"), ["sagefleet_lang"]),
    "service-empty": (var("sagefleet_agent_service_name", ""), ["sagefleet_agent_service_name"]),
    "account-int": (
        var("sagefleet_agent_service_account", 42),
        ["sagefleet_agent_service_account"],
    ),
    "edition-var": (var("sagefleet_edition", "cloud"), ["sagefleet_edition"]),
    "dns-string": (var("sagefleet_dns_servers", "10.0.0.1"), ["sagefleet_dns_servers"]),
    "insecure-yes": (
        var("sagefleet_allow_insecure_transport", "sure"),
        ["sagefleet_allow_insecure_transport"],
    ),
    "probes-str": (
        var("sagefleet_preflight_bastion_probes", "none"),
        ["sagefleet_preflight_bastion_probes"],
    ),
    "free-zero": (var("sagefleet_preflight_min_free_mb", 0), ["sagefleet_preflight_min_free_mb"]),
    "timeout-str": (
        var("sagefleet_preflight_timeout_ms", "fast"),
        ["sagefleet_preflight_timeout_ms"],
    ),
    "skew-negative": (
        var("sagefleet_preflight_max_clock_skew_s", -5),
        ["sagefleet_preflight_max_clock_skew_s"],
    ),
    # Caught by the role's argument spec, checked for every host in the first task.
    "role-lang-de": (
        var("sagefleet_preflight_lang", "de"),
        ["sagefleet_preflight_lang", "argument spec of role sagefleet_preflight", "en, fr"],
    ),
    "role-fail-maybe": (
        var("sagefleet_preflight_fail_on_blocked", "maybe"),
        ["sagefleet_preflight_fail_on_blocked", "argument spec of role sagefleet_preflight"],
    ),
    "waiver-no-reason": (
        var("sagefleet_waivers", [{"id": "SF308", "expires": "2027-03-31"}]),
        ["sagefleet_waivers"],
    ),
    "waiver-bad-date": (
        var("sagefleet_waivers", [{"id": "SF308", "reason": "proxy", "expires": "2027-13-45"}]),
        ["sagefleet_waivers"],
    ),
    "waiver-unknown-id": (
        var("sagefleet_waivers", [{"id": "SF999", "reason": "x", "expires": "2027-03-31"}]),
        ["sagefleet_waivers"],
    ),
    "waivers-string": (var("sagefleet_waivers", "SF308"), ["sagefleet_waivers"]),
    "endpoints-string": (var("sagefleet_endpoints", "api.chift.eu"), ["sagefleet_endpoints"]),
    "issuers-int": (var("sagefleet_expected_issuers", 5), ["sagefleet_expected_issuers"]),
}

DEPLOY_CASES: dict[str, tuple[Mutation, list[str]]] = {
    "args-string": (
        var("sagefleet_agent_installer_arguments", "/S"),
        ["sagefleet_agent_installer_arguments"],
    ),
    "codes-no-zero": (var("sagefleet_agent_success_codes", [1]), ["sagefleet_agent_success_codes"]),
    "stop-zero": (var("sagefleet_agent_stop_timeout_s", 0), ["sagefleet_agent_stop_timeout_s"]),
    "installer-timeout-short": (
        var("sagefleet_agent_installer_timeout_s", 5),
        ["sagefleet_agent_installer_timeout_s", "from 60 to 14400"],
    ),
    "service-name-wildcard": (
        var("sagefleet_agent_service_name", "Spendesk*"),
        ["sagefleet_agent_service_name", "wildcard"],
    ),
    "account-no-password": (
        var("sagefleet_agent_service_account", "CORP\\svc"),
        ["sagefleet_agent_service_password"],
    ),
    "lock-ttl-short": (var("sagefleet_deploy_lock_ttl_s", 5), ["sagefleet_deploy_lock_ttl_s"]),
    "retries-string": (var("sagefleet_winrm_retries", "many"), ["sagefleet_winrm_retries"]),
    "backoff-huge": (
        var("sagefleet_winrm_retry_backoff_s", 600),
        ["sagefleet_winrm_retry_backoff_s"],
    ),
    "encoding-unknown": (
        var("sagefleet_agent_transfer_encoding", "gzip"),
        ["sagefleet_agent_transfer_encoding", "gzip", "'binary'", "'base64'"],
    ),
    "streams-zero": (
        var("sagefleet_agent_transfer_streams", 0),
        ["sagefleet_agent_transfer_streams", "from 1 to 16"],
    ),
    "staging-too-long": (
        var("sagefleet_agent_staging_dir", "C:\\" + "s" * 200),
        ["sagefleet_agent_staging_dir", "characters long"],
    ),
    "pause-str": (
        var("sagefleet_agent_pause_s", "soon"),
        ["sagefleet_agent_pause_s", "must be an integer >= 0", "'soon'"],
    ),
    # Caught by the agent role's argument spec, checked for every host in the first play.
    "role-verify-waves-str": (
        var("sagefleet_agent_verify_waves", "maybe"),
        ["sagefleet_agent_verify_waves", "argument spec of role sagefleet_agent"],
    ),
}


def bad_fleet(
    tmp: Path, cases: dict[str, tuple[Mutation, list[str]]]
) -> Iterator[tuple[Fleet, Path]]:
    names = sorted(cases)
    specs = generate_specs(len(names), first_address=next_first_address(), port=0)
    for spec, name in zip(specs, names, strict=True):
        spec.name = name
    with Fleet(specs, tmp / "fleet") as fleet:
        inventory = write_inventory(
            fleet, tmp / "inv" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
        )
        data = yaml.safe_load(inventory.read_text())
        hosts = data["all"]["children"]["sage_servers"]["hosts"]
        for name in names:
            cases[name][0](hosts[name], tmp)
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        yield fleet, inventory


def assert_each_case_reported(text: str, cases: dict[str, tuple[Mutation, list[str]]]) -> None:
    lines = [line for line in text.splitlines() if line.strip().startswith("- host ")]
    missing = []
    for name, (_, words) in cases.items():
        ours = [
            line
            for line in lines
            if line.strip().startswith(f"- host {name},")
            or line.strip().startswith(f"- host {name}:")
        ]
        if not any(all(w in line for w in words) for line in ours):
            missing.append((name, words, ours[:2]))
    assert not missing, missing


@pytest.fixture(scope="module")
def preflight_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("bad-preflight")
    for fleet, inventory in bad_fleet(tmp, PREFLIGHT_CASES):
        state = untouched(fleet)
        process = playbook(
            "preflight.yml", inventory, "-e", f"sagefleet_preflight_report_dir={tmp / 'out'}"
        )
        yield {
            "process": process,
            "touched": untouched(fleet) != state,
            "journals": {n: fleet.host(n).journal for n in fleet.hosts},
        }


def test_preflight_reports_every_bad_input_at_once_and_touches_no_host(
    preflight_run: dict[str, Any],
) -> None:
    process = preflight_run["process"]
    assert process.returncode != 0
    text = process.stdout + process.stderr
    assert f"{len(PREFLIGHT_CASES)} input error(s); no host was contacted" in text, text[-3000:]
    assert_each_case_reported(text, PREFLIGHT_CASES)
    assert not preflight_run["touched"]
    assert all(j == [] for j in preflight_run["journals"].values())


def test_deploy_refuses_bad_deploy_options_per_host_without_touching_it(tmp_path: Path) -> None:
    package = build_test_package(tmp_path / "Setup.zip", agent_version="3.2.0")
    for fleet, inventory in bad_fleet(tmp_path, DEPLOY_CASES):
        state = untouched(fleet)
        process = playbook(
            "deploy.yml",
            inventory,
            "-e",
            f"sagefleet_agent_package={package}",
            "-e",
            f"sagefleet_deploy_report_dir={tmp_path / 'out'}",
            "-e",
            '{"sagefleet_deploy_waves": ["100%"]}',
            "-e",
            "sagefleet_deploy_max_fail_percentage=100",
        )
        assert process.returncode != 0
        # Deploy options are validated for the whole fleet in the first play, with every
        # error at once, before any host is contacted.
        assert "no host was contacted" in process.stdout, process.stdout[-3000:]
        for name, (_, words) in DEPLOY_CASES.items():
            line = next(
                (ln for ln in process.stdout.splitlines() if f"host {name}," in ln),
                "",
            )
            assert line and all(w in line for w in words), (name, process.stdout[-3000:])
        assert untouched(fleet) == state


# -- the package ----------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


PACKAGE_CASES = [
    "corrupt",
    "zip-slip",
    "absolute-path",
    "wrong-sha256",
    "two-gigabytes",
    "no-installer",
]


@pytest.fixture(scope="module")
def one_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path, Path]]:
    tmp = tmp_path_factory.mktemp("bad-package")
    specs = generate_specs(1, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp / "fleet") as fleet:
        inventory = write_inventory(
            fleet, tmp / "inv" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
        )
        yield fleet, inventory, tmp


def bad_package(kind: str, tmp: Path) -> tuple[Path, list[str], list[str]]:
    """(package, extra -e arguments, words the error must contain)."""
    good = build_test_package(tmp / "good.zip", agent_version="3.2.0")
    if kind == "corrupt":
        path = tmp / "corrupt.zip"
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        return path, [], ["zip"]
    if kind == "zip-slip":
        return _zip(tmp / "slip.zip", {"../../x": b"x"}), [], ["../../x"]
    if kind == "absolute-path":
        return _zip(tmp / "abs.zip", {"C:/Windows/x.dll": b"x"}), [], ["C:/Windows/x.dll"]
    if kind == "wrong-sha256":
        return good, ["-e", "sagefleet_agent_package_sha256=" + "0" * 64], ["SHA-256"]
    if kind == "two-gigabytes":
        path = tmp / "huge.zip"
        with open(path, "wb") as handle:
            handle.truncate(2 * 1024**3)  # sparse: costs no disk
        return path, [], ["bytes", "limit"]
    if kind == "no-installer":
        return (
            build_test_package(tmp / "v9.zip", agent_version="3.2.0", labels=("v9.0",)),
            [],
            ["sage01", "11.02"],
        )
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", PACKAGE_CASES)
def test_bad_package_is_refused_with_a_clear_error(
    one_host: tuple[Fleet, Path, Path], kind: str
) -> None:
    fleet, inventory, tmp = one_host
    fleet.host("sage01").reset()
    folder = tmp / kind
    folder.mkdir()
    path, extra, words = bad_package(kind, folder)
    before = untouched(fleet)
    process = playbook(
        "deploy.yml",
        inventory,
        "-e",
        f"sagefleet_agent_package={path}",
        "-e",
        f"sagefleet_deploy_report_dir={folder / 'out'}",
        *extra,
    )
    assert process.returncode != 0
    text = process.stdout + process.stderr
    assert all(w in text for w in words), (words, text[-3000:])
    if kind == "no-installer":
        # The Sage version is read from the host (facts, read-only): nothing is written.
        journal = fleet.host("sage01").journal
        assert {e["name"] for e in journal if e["kind"] == "snippet"} <= {"facts"}
        assert "skipped" in text or "failed" in text
        after = untouched(fleet)["sage01"][1]
        assert after == before["sage01"][1]
    else:
        assert "package refused, no host was contacted" in text
        assert untouched(fleet) == before


def test_two_gigabyte_package_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.zip"
    with open(path, "wb") as handle:
        handle.truncate(2 * 1024**3)
    started = time.monotonic()
    with pytest.raises(InputError, match="limit"):
        inspect(path)
    assert time.monotonic() - started < 1.0  # hashing 2 GB would take seconds


def test_deploy_without_a_package_says_so_in_its_own_words(
    one_host: tuple[Fleet, Path, Path],
) -> None:
    fleet, inventory, tmp = one_host
    before = untouched(fleet)
    process = playbook("deploy.yml", inventory, "-e", f"sagefleet_deploy_report_dir={tmp / 'np'}")
    assert process.returncode != 0
    text = process.stdout + process.stderr
    assert "sagefleet_agent_package is not set" in text, text[-3000:]
    assert "-e sagefleet_agent_package=" in text and "no host was contacted" in text
    assert "is undefined" not in text
    assert untouched(fleet) == before


# -- variables files Ansible cannot read ------------------------------------------------------

BAD_FILES: dict[str, tuple[str, str, str]] = {
    # case: (host_vars file text, "line N", field)
    "yaml-syntax": (
        "sagefleet_lang: fr\nsagefleet_entities: [\n  - name: x\n",
        "line 3",
        "sagefleet_entities",
    ),
    "impossible-date": (
        "sagefleet_waivers:\n  - id: SF308\n    reason: proxy\n    expires: 2026-02-30\n",
        "line 4",
        "sagefleet_waivers[0].expires",
    ),
}


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    tmp = tmp_path_factory.mktemp("bad-files")
    specs = generate_specs(2, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp / "fleet") as fleet:
        yield (
            fleet,
            write_inventory(
                fleet, tmp / "inv" / "hosts.yml", {"sagefleet_agent_target_version": "3.2.0"}
            ),
        )


@pytest.mark.parametrize("case", sorted(BAD_FILES))
@pytest.mark.parametrize("door", ["preflight.yml", "doctor", "settings validate"])
def test_a_bad_variables_file_is_named_with_its_host_line_and_field(
    two_hosts: tuple[Fleet, Path], case: str, door: str, tmp_path: Path
) -> None:
    """The second host's file is bad: the error names it (not the first host, not a
    traceback), before any host is contacted."""
    fleet, inventory = two_hosts
    text, line, field = BAD_FILES[case]
    bad = inventory.parent / "host_vars" / "sage02.yml"
    bad.parent.mkdir(exist_ok=True)
    bad.write_text(text)
    before = untouched(fleet)
    try:
        if door == "preflight.yml":
            process = playbook(
                door, inventory, "-e", f"sagefleet_preflight_report_dir={tmp_path / 'out'}"
            )
        else:
            process = subprocess.run(
                [sys.executable, "-m", "sagefleet", *door.split(), "-i", str(inventory)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
    finally:
        bad.unlink()
    output = process.stdout + process.stderr
    assert process.returncode != 0
    assert "Traceback" not in output
    wanted = f"host sage02, field {field}: {bad}, {line}"
    assert wanted in output, output[-3000:]
    assert "host sage01" not in output
    assert untouched(fleet) == before


# -- the CLI --------------------------------------------------------------------------------

CLI_CASES: dict[str, tuple[list[str], list[str]]] = {
    "doctor-no-inventory": (["doctor"], ["-i"]),
    "doctor-missing-inventory": (["doctor", "-i", "/nonexistent/hosts.yml"], ["/nonexistent"]),
    "doctor-bad-forks": (["doctor", "-i", "x.yml", "--forks", "many"], ["--forks"]),
    "settings-missing-file": (["settings", "validate", "/nonexistent.yml"], ["/nonexistent.yml"]),
    "settings-bad-entity": (["settings", "validate", "{bad}"], ["analytic_plan"]),
    "settings-unknown": (["settings", "frobnicate"], ["frobnicate"]),
    "sim-zero-hosts": (["sim", "up", "--hosts", "0", "--out", "{tmp}/sim"], ["--hosts"]),
    "sim-not-loopback": (
        ["sim", "up", "--hosts", "1", "--first-address", "10.0.0.1", "--out", "{tmp}/sim2"],
        ["loopback"],
    ),
    "sim-unknown-profile": (
        ["sim", "up", "--hosts", "1", "--profile", "no-such", "--out", "{tmp}/sim3"],
        ["no-such"],
    ),
    "unknown-command": (["frobnicate"], ["frobnicate"]),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_refuses_bad_arguments_clearly(tmp_path: Path, case: str) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        yaml.safe_dump(
            {
                "sagefleet_entities": [
                    {
                        "name": "BIJOU",
                        "company_code": "BIJOU",
                        "analytic_plan": 0,
                        "edition": "onpremise",
                        "sql_instance": "SRV\\SAGE",
                        "sage_user": "<administrateur>",
                        "sage_password": "",
                        "sql_user": "u",
                        "sql_password": "p",
                        "mae_path": "C:\\Sage\\BIJOU.MAE",
                        "pdf_storage": "filestream",
                    }
                ]
            }
        )
    )
    argv, words = CLI_CASES[case]
    argv = [a.replace("{bad}", str(bad)).replace("{tmp}", str(tmp_path)) for a in argv]
    process = subprocess.run(
        [sys.executable, "-m", "sagefleet", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode != 0
    text = process.stdout + process.stderr
    assert "Traceback" not in text
    assert all(w in text for w in words), (case, text[-2000:])
    assert not (tmp_path / "sim" / "state.json").exists()


def test_case_counts() -> None:
    """The figures docs/reliability.md states."""
    total = len(PREFLIGHT_CASES) + len(DEPLOY_CASES) + len(PACKAGE_CASES) + 1 + len(CLI_CASES)
    assert total >= 40
    print(json.dumps({"bad_inputs": total}))
