"""The failed-install record in the facts: read only, as failed_install reads it, by the
script preflight sends (and the offline collector renders); SF406 reports it in the
deploy's words (docs/checks.md, docs/simulator.md ledger row 36)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.support.records import PATH, ROOT, failed_record

from sagefleet import offline
from sagefleet.checks import Context, run_checks
from sagefleet.deploy import record
from sagefleet.facts import HostFacts, RecordFile, parse_facts
from sagefleet.failed_install import ACCEPT
from sagefleet.findings import Finding, Status
from sagefleet.remote.errors import SnippetFailed
from sagefleet.sim.host import WindowsHost, host_from_profile, load_profile
from sagefleet.sim.session import SimSession

FAILED = failed_record()


def make_host() -> WindowsHost:
    return host_from_profile("sage01", "127.0.0.2", "admin", "pw", load_profile("agent-old"))


def facts_of(host: WindowsHost, rewrite: Callable[[str], str] | None = None) -> HostFacts:
    params = {**offline.default_params(), "endpoints": [], "record_path": PATH}
    document = SimSession(host, rewrite=rewrite).run_snippet("facts", params)
    return parse_facts(document)


def sf406(facts: HostFacts, *, lang: str = "en", accept: bool = False) -> Finding:
    context = Context(host="sage01", facts=facts, lang=lang, accept_failed_install=accept)
    return next(f for f in run_checks(context) if f.check_id == "SF406")


def test_no_record_no_folder_created_and_sf406_passes() -> None:
    host = make_host()
    facts = facts_of(host)
    assert facts.failed_install == RecordFile(path=PATH, exists=False)
    assert not host.fs.exists(ROOT)  # read only: a missing folder stays missing
    assert sf406(facts).status is Status.PASS


def test_the_agent_a_failed_install_left_is_an_error_in_the_deploys_words() -> None:
    host = make_host()  # agent-old: SpendeskSageAgent running 2.3.0
    record.write_record(SimSession(host), PATH, FAILED)
    facts = facts_of(host)
    assert facts.failed_install is not None and facts.failed_install.exists
    assert record.FailedInstall.from_text(facts.failed_install.text or "", PATH) == FAILED
    found = sf406(facts)
    assert found.status is Status.FAIL
    said = FAILED.refusal(PATH, "SpendeskSageAgent Running at 2.3.0")
    assert f"{found.message}. {found.remediation}" == said  # what the deploy says
    french = sf406(facts, lang="fr")
    assert "n'est pas considéré comme installé" in french.message
    assert "sagefleet_agent_accept_failed_install: true" in french.remediation
    accepted = sf406(facts, accept=True)
    assert accepted.status is Status.PASS
    assert "accepted (sagefleet_agent_accept_failed_install)" in accepted.message


def test_a_record_whose_install_left_no_agent_passes() -> None:
    host = make_host()
    record.write_record(SimSession(host), PATH, FAILED)
    host.uninstall_agent()
    found = sf406(facts_of(host))
    assert found.status is Status.PASS and "no agent is left" in found.message


def test_a_folder_users_may_write_makes_the_record_unreadable_not_the_facts() -> None:
    host = make_host()
    host.fs.mkdir(ROOT)  # inherits ProgramData's DACL: Users read and create
    host.fs.write(PATH, FAILED.to_text().encode())
    facts = facts_of(host)
    read = facts.failed_install
    assert read is not None and read.text is None
    assert read.error and f"refusing to use the folder '{ROOT}'" in read.error
    assert facts.agent.installed  # every other fact is there
    found = sf406(facts)
    assert found.status is Status.FAIL
    assert f"the failed-install record {PATH} cannot be read (refusing" in found.message
    assert sf406(facts, accept=True).status is Status.PASS


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (
            "function Confirm-SfPrivateFolder",
            "function Confirm-SfAnyFolder",
            "does not check the failed-install record's folder",
        ),
        (
            "[System.IO.File]::ReadAllText($f, [Text.Encoding]::UTF8)",
            "Get-Content -LiteralPath $f -Raw",
            "simulator models the failed-install record's read",
        ),
    ],
)
def test_a_facts_read_the_simulator_does_not_model_fails_loudly(
    old: str, new: str, error: str
) -> None:
    host = make_host()
    record.write_record(SimSession(host), PATH, FAILED)

    def other(script: str) -> str:
        assert old in script
        return script.replace(old, new)

    with pytest.raises(SnippetFailed, match=error):
        facts_of(host, rewrite=other)


def test_the_offline_collector_reads_the_record_too() -> None:
    assert offline.default_params()["record_path"] == PATH
    given = {"sagefleet_agent_backup_dir": "D:\\Backups", ACCEPT: True}
    prepared = offline.offline_prepared("sage01", given)
    assert prepared.facts_params()["record_path"] == "D:\\Backups\\failed-install.json"
    assert prepared.accept_failed_install
