"""Hostile values in every user-supplied field that reaches a host.

Each value is either refused on the bastion with an error naming the field
(nothing reaches the host), or it reaches the simulated host byte-identical in
the snippet parameters the simulator decoded, and no script is ever rejected
(the simulator refuses any script whose text differs from what the loader
renders, so a value that escaped its JSON here-string would show as
"rejected").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sagefleet.deploy import deploy_host
from sagefleet.errors import SagefleetError
from sagefleet.inventory import load
from sagefleet.package import PackageInfo, build_test_package, inspect
from sagefleet.sim.fleet import Fleet, generate_specs
from tests.support.fleets import next_first_address, session_for
from tests.support.reliability import SETTINGS, reset
from tests.support.scenarios import write_inventory

HOSTILE = {
    "here-string": "x'@\r\n'@; Remove-Item C:\\ -Recurse #",
    "subexpression": "$(Stop-Computer -Force)",
    "backtick": "a`$env:PATH`n`0b",
    "semicolon": "a; del /q C:\\*; b",
    "quotes": "\"'`\u2018\u2019\u201c\u201d",
    "crlf": "line1\r\nline2\n'@\nthrow 'x'",
    "non-ascii": "Société Générale – Zürich ✓ 日本",
    "10kb": "A'@$()`;" * 1280,
}

# field -> where it goes: ("entity", key) or ("var", name); a value may be templated into
# a legal shape (a path, an account) around the hostile part.
FIELDS: dict[str, tuple[str, str, str]] = {
    "entity.name": ("entity", "name", "{v}"),
    "entity.sage_user": ("entity", "sage_user", "{v}"),
    "entity.sql_user": ("entity", "sql_user", "{v}"),
    "entity.sql_password": ("entity", "sql_password", "{v}"),
    "entity.sage_password": ("entity", "sage_password", "{v}"),
    "entity.database": ("entity", "database", "{v}"),
    "entity.company_code": ("entity", "company_code", "{v}"),
    "entity.mae_path": ("entity", "mae_path", "C:\\Sage\\{v}.MAE"),
    "entity.pdf_storage": ("entity", "pdf_storage", "D:\\Recus\\{v}"),
    "service_account": ("var", "sagefleet_agent_service_account", "CORP\\{v}"),
    "service_name": ("var", "sagefleet_agent_service_name", "{v}"),
    "staging_dir": ("var", "sagefleet_agent_staging_dir", "C:\\ProgramData\\sagefleet\\{v}"),
    "install_dir": ("var", "sagefleet_agent_install_dir", "C:\\Program Files\\{v}"),
    "endpoint_name": ("var", "sagefleet_endpoints", "{v}"),
    "waiver_reason": ("var", "sagefleet_waivers", "{v}"),
}
CASES = [(f, v) for f in FIELDS for v in HOSTILE]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> PackageInfo:
    return inspect(
        build_test_package(tmp_path_factory.mktemp("pkg") / "Setup.zip", agent_version="3.2.0")
    )


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("inject")
    specs = generate_specs(1, first_address=next_first_address(), port=0)
    with Fleet(specs, tmp / "fleet") as fleet:
        # The template source: the entity fields under test travel inside settings.json.
        inventory = write_inventory(
            fleet,
            tmp / "inv" / "hosts.yml",
            {"sagefleet_agent_target_version": "3.2.0", "sagefleet_winrm_retries": 0},
            source="template",
        )
        yield fleet, dict(load([inventory])[0].variables)


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.mark.parametrize(("field", "label"), CASES)
def test_hostile_value_is_refused_or_reaches_the_host_byte_identical(
    sim: tuple[Fleet, dict[str, Any]], package: PackageInfo, field: str, label: str
) -> None:
    fleet, base = sim
    reset(fleet, "sage01")
    host = fleet.host("sage01")
    kind, key, shape = FIELDS[field]
    value = shape.replace("{v}", HOSTILE[label])
    variables = json.loads(json.dumps(base))
    if field == "service_account":
        variables["sagefleet_agent_service_password"] = "Svc-Pass'@$(x)"
    if kind == "entity":
        variables["sagefleet_entities"][0][key] = value
    elif key == "sagefleet_endpoints":
        variables[key] = [{"name": value, "port": 443, "tls": True}]
    elif key == "sagefleet_waivers":
        variables[key] = [{"id": "SF308", "reason": value, "expires": "2099-12-31"}]
    else:
        variables[key] = value
    try:
        with session_for(fleet, "sage01") as session:
            result = deploy_host(session, "sage01", variables, package)
    except SagefleetError as exc:
        text = str(exc) + "".join(str(e) for e in getattr(exc, "errors", []))
        assert key in text or field.split(".")[-1] in text, text[:500]
        assert host.journal == [], "a refused value must not reach the host"
        return
    journal = list(host.journal)
    assert [e for e in journal if e["kind"] == "rejected"] == []
    sent = [s for e in journal if e["kind"] == "snippet" for s in strings(e["params"])]
    written: list[str] = []
    if host.fs.is_file(SETTINGS):  # entity fields travel inside settings.json (stdin)
        written = list(strings(json.loads(host.fs.read(SETTINGS))))
    if key in ("sql_password", "sage_password"):
        # Secrets never travel as parameters, only inside the file.
        assert all(HOSTILE[label] not in s for s in sent)
        assert value in written, result.reason
    elif key == "sagefleet_waivers":
        # The reason stays on the bastion: it never travels to the host.
        assert all(value not in s for s in sent + written)
    else:
        assert any(value == s or value in s for s in sent + written), (
            f"{field}: the value did not reach the host byte-identical; outcome "
            f"{result.outcome}: {result.reason}"
        )


def test_case_count() -> None:
    assert len(CASES) == len(FIELDS) * len(HOSTILE) >= 100
