"""Every finding and remediation exists in English and in French.

Each check runs in both languages over varied facts documents: the facts the
simulator's model gives for every scenario profile (so failing outcomes are
covered), a healthy document, and an empty one (every "unknown" outcome).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from typing import Any

import pytest
from tests.support.factsdoc import healthy
from tests.support.scenarios import entities_for
from tests.support.wire import run_snippet_wire

from sagefleet import preflight
from sagefleet.checks import Context, EntityView, all_checks, run_checks
from sagefleet.facts import parse_facts
from sagefleet.findings import Finding
from sagefleet.probes import DnsResult, DnsStatus
from sagefleet.sim.host import host_from_profile, load_profile, profile_names

NOW = dt.datetime.now(dt.UTC)
# Titles that are a product name, the same in both languages.
SAME_TITLE = {"SF106"}


def _entities(profile: str | None) -> list[EntityView]:
    if profile is None:
        return []
    return [
        EntityView(
            name=e["name"],
            edition=e["edition"],
            mae_path=e["mae_path"],
            azure_sql_server=e.get("azure_sql_server"),
            sql_instance=e.get("sql_instance"),
            database=e.get("database"),
        )
        for e in entities_for(profile)
    ]


def _documents() -> list[tuple[str, dict[str, Any], str | None]]:
    docs: list[tuple[str, dict[str, Any], str | None]] = [
        ("healthy", healthy(NOW), None),
        ("empty", {"schema": 1}, None),
    ]
    for name in profile_names():
        host = host_from_profile(name, "127.0.0.1", "u", "p", load_profile(name))
        entities = _entities(name)
        defaults = Context(host="", facts=parse_facts(healthy(NOW)))
        prepared = preflight.PreparedHost(
            host=name,
            entities=entities,
            waivers=[],
            endpoints=list(defaults.endpoints),
            sage=defaults.sage,
        )
        rc, out, err = run_snippet_wire(host, "facts", prepared.facts_params())
        assert rc == 0, err
        docs.append((name, json.loads(out), name))
    return docs


DOCUMENTS = _documents()


def _run(doc: dict[str, Any], profile: str | None, lang: str) -> list[Finding]:
    context = Context(
        host="h",
        facts=parse_facts(doc),
        entities=_entities(profile),
        lang=lang,
        bastion_utc=NOW,
        service_account="CORP\\svc-spendesk" if profile else None,
        target_version="3.2.0",
        transport={
            "scheme": "http",
            "transport": "basic",
            "server_cert_validation": "ignore",
            "message_encryption": "never",
        },
        # The bastion sees other addresses than the host (SF307 runs and differs).
        bastion_dns={
            name: DnsResult(name=name, status=DnsStatus.OK, addresses=("192.0.2.99",))
            for name in (
                "s3.eu-west-3.amazonaws.com",
                "sqs.eu-west-3.amazonaws.com",
                "api.chift.eu",
            )
        },
    )
    return run_checks(context)


@pytest.mark.parametrize(("name", "doc", "profile"), DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
def test_every_outcome_has_an_english_and_a_french_text(
    name: str, doc: dict[str, Any], profile: str | None
) -> None:
    english, french = _run(doc, profile, "en"), _run(doc, profile, "fr")
    assert [(f.check_id, f.status, f.entity) for f in english] == [
        (f.check_id, f.status, f.entity) for f in french
    ]
    for en, fr in zip(english, french, strict=True):
        where = f"{name} {en.check_id} {en.status}"
        assert en.title and fr.title, where
        assert en.title != fr.title or en.check_id in SAME_TITLE, where
        assert en.message.strip() and fr.message.strip(), where
        if en.remediation:
            assert fr.remediation.strip(), where
            assert en.remediation != fr.remediation, where
        assert bool(en.remediation) == bool(fr.remediation), where


def test_outcomes_cover_every_check_and_many_failures() -> None:
    seen: dict[str, set[str]] = {}
    for _, doc, profile in DOCUMENTS:
        for finding in _run(doc, profile, "fr"):
            seen.setdefault(finding.check_id, set()).add(finding.status.value)
    checks = {c.check_id for c in all_checks()}
    assert checks - {"SF901"} <= set(seen)
    failing = {cid for cid, statuses in seen.items() if "fail" in statuses}
    assert len(failing) >= 15, sorted(failing)


def test_checks_list_in_french_translates_the_severities() -> None:
    process = subprocess.run(
        [sys.executable, "-m", "sagefleet", "checks", "list", "--lang", "fr"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [line.split(" | ") for line in process.stdout.splitlines()[2:]]
    severities = {row[1] for row in rows}
    assert severities == {"erreur", "avertissement", "info"}, severities
    assert {row[0].strip("| ") for row in rows} == {c.check_id for c in all_checks()}
