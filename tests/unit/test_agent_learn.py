"""Learning an agent profile from a reference install: what is read, what is never read,
and how the installer's technology and the connection list's key are told."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from tests.support.wire import run_snippet_wire

from sagefleet.agent import learn as agent_learn
from sagefleet.agent import profile as agent_profile
from sagefleet.agent.learn import Lookup, build, merge_keys, technology
from sagefleet.remote.contracts import validate_output
from sagefleet.sim.host import (
    SYSTEM,
    Acl,
    Service,
    WindowsHost,
    host_from_profile,
    load_profile,
)
from sagefleet.sim.session import SimSession

FOLDER = "C:\\Program Files (x86)\\Spendesk\\Sage 100 Agent"
#: Values of the reference install's settings.json: none may reach a learned profile.
SETTINGS_VALUES = (
    "Sql-Canary-Passw0rd!",
    "Sage-Canary-Passw0rd!",
    "BIJOU",
    "CHOCO",
    "2f0b6c5e-4a1d-4d51-9d0e-6a1f8e2c7b10",
    "eu-west-3",
    "<administrateur>",
    "sagefleet_sql",
)


def reference() -> WindowsHost:
    return host_from_profile("ref", "127.0.0.2", "u", "p", load_profile("reference-install"))


def learn_document(host: WindowsHost, lookup: Lookup) -> dict[str, Any]:
    params = agent_learn.params(agent_profile.default(), lookup)
    rc, out, err = run_snippet_wire(host, "agent_learn", params)
    assert rc == 0, err
    document: dict[str, Any] = json.loads(out)
    validate_output("ref", "agent_learn", document)
    return document


def test_the_shipped_lookup_does_not_find_the_wizards_service() -> None:
    document = learn_document(reference(), Lookup.of(agent_profile.default()))
    assert (document["service"], document["candidates"]) == (None, [])


def test_a_reference_install_becomes_a_profile_with_every_fact_it_shows() -> None:
    document = learn_document(reference(), Lookup(display_name_pattern="^Spendesk"))
    learned = build(document, "ref", agent_profile.default())
    profile = agent_profile.validate(yaml.safe_load(learned.to_yaml()), "learned")
    assert profile.source == "learned"
    assert profile.learned_from is not None
    assert (profile.learned_from["host"], profile.learned_from["agent_version"]) == ("ref", "3.1.0")
    assert profile.service_lookup == {
        "name": "SpendeskSage100Agent",
        "image_path_pattern": None,
        "display_name_pattern": None,
    }
    assert (profile.service_display_name, profile.service_account) == (
        "Spendesk Sage 100 Agent",
        "CORP\\svc-sage-agent",
    )
    service = profile.data["service"]
    assert service["image_path"].endswith('Spendesk.Sage100.Agent.exe" --service')
    assert service["start_mode"] == "Auto"
    assert profile.install_dir == FOLDER
    assert {"unins000.exe", "settings.json", "Logs\\agent-20250110.log"} <= set(
        profile.install_files
    )
    assert profile.settings_path() == FOLDER + "\\settings.json"
    assert profile.target_framework == "4.8"  # the .exe.config's supportedRuntime
    assert profile.merge_keys == (agent_profile.MergeKey("Connections", "CompanyName"),)
    assert (profile.installer_technology, profile.silent_args()) == (
        "inno",
        ("/VERYSILENT", "/SUPPRESSMSGBOXES", "/NORESTART", "/LOG={log}"),
    )
    assert "_is1" in str(profile.data["installer"]["evidence"])
    uninstall = profile.section("uninstall")
    assert uninstall["quiet_uninstall_string"] == f'"{FOLDER}\\unins000.exe" /SILENT'
    assert (uninstall["view"], uninstall["display_name_pattern"]) == (
        "32",
        "^Spendesk Sage 100 Agent",
    )
    assert profile.section("logs")["dir"] == "{install_dir}\\Logs"
    # Only what a reference install cannot show is still assumed.
    assert set(profile.assumed) == {
        "settings.installer_adds",
        "settings.read_at_start",
        "connection_fields",
        "logs.connected_pattern",
        "upgrade.keeps_settings",
    }


def test_the_settings_structure_has_keys_and_types_and_never_a_value() -> None:
    document = learn_document(reference(), Lookup(service="SpendeskSage100Agent"))
    text = json.dumps(document) + build(document, "ref", agent_profile.default()).to_yaml()
    for value in SETTINGS_VALUES:
        assert value not in text
    tree = build(document, "ref", agent_profile.default()).profile["settings"]["structure"]
    connections = tree["members"]["Connections"]
    assert (connections["type"], connections["count"]) == ("array", 2)
    assert connections["unique_string_members"] == ["CompanyName", "ConnectionId"]
    item = connections["items"]["members"]
    assert (item["CompanyName"], item["AnalyticPlan"], item["PdfInDatabase"]) == (
        "string",
        "integer",
        "boolean",
    )
    assert item["Sql"]["members"]["Password"] == "string"


def test_a_pattern_matching_several_services_names_them_and_finds_none() -> None:
    host = reference()
    host.install_service(Service(name="SpendeskUpdater", display_name="Spendesk Updater"))
    document = learn_document(host, Lookup(display_name_pattern="^Spendesk"))
    assert document["service"] is None
    assert document["candidates"] == ["SpendeskSage100Agent", "SpendeskUpdater"]


def test_a_settings_file_that_is_not_json_is_reported_without_its_text() -> None:
    host = reference()
    host.fs.write(FOLDER + "\\settings.json", b'{"Password": "Sql-Canary-Passw0rd!", oops}')
    document = learn_document(host, Lookup(service="SpendeskSage100Agent"))
    assert "not valid JSON" in document["settings"]["error"]
    assert "Sql-Canary" not in json.dumps(document)
    learned = build(document, "ref", agent_profile.default())
    assert {"settings.path", "settings.merge_keys"} <= set(learned.profile["assumed"])


def test_keys_differing_only_by_case_fail_as_windows_powershell_parses_them() -> None:
    # ConvertFrom-Json of 5.1 refuses them (PowerShell issue #3705); JSON allows them.
    host = reference()
    host.fs.write(FOLDER + "\\settings.json", b'{"Name": "a", "name": "b"}')
    document = learn_document(host, Lookup(service="SpendeskSage100Agent"))
    assert "not valid JSON" in document["settings"]["error"]


def _entry(key: str, values: dict[str, Any], names: list[str] | None = None) -> dict[str, Any]:
    return {"key": key, "view": "64", "values": values, "value_names": names or sorted(values)}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_entry("{A}_is1", {"Inno Setup: App Path": "C:\\A"}), "inno"),
        (_entry("{B}", {"WindowsInstaller": 1, "UninstallString": "MsiExec.exe /X{B}"}), "msi"),
        (_entry("{C}", {"BundleCachePath": "C:\\ProgramData\\Package Cache\\x.exe"}), "wix-burn"),
        (_entry("InstallShield_{D}", {"DisplayName": "D"}), "installshield"),
        (_entry("Agent", {"UninstallString": "C:\\Agent\\uninstall.exe"}), "unknown"),
    ],
)
def test_the_uninstall_entry_tells_the_installer_technology(
    entry: dict[str, Any], expected: str
) -> None:
    kind, evidence = technology(entry)
    assert kind == expected and evidence and entry["key"] in evidence


def test_an_unknown_technology_stays_assumed_and_says_to_inspect_the_file() -> None:
    kind, evidence = technology(_entry("Agent", {"UninstallString": "C:\\A\\uninstall.exe"}))
    assert kind == "unknown" and "package inspect" in (evidence or "")


def test_a_list_keyed_by_a_non_unique_member_is_no_merge_key() -> None:
    shapes: list[dict[str, Any]] = [
        {"path": [], "type": "object"},
        {"path": ["Connections"], "type": "array", "count": 2, "unique_string_members": []},
        {"path": ["Connections", 0], "type": "object"},
        {"path": ["Data", "Links"], "type": "array", "count": 1, "unique_string_members": "id"},
        {"path": ["Data", "Links", 0], "type": "object"},
    ]
    assert merge_keys(shapes) == [{"path": "Data.Links", "member": "id"}]


def test_a_folder_the_winrm_account_may_not_list_is_said_never_read_as_empty() -> None:
    """Get-ChildItem's "Access ... denied." on a folder without List folder / read data for
    the WinRM account: the document names the folder, and the profile leaves install.files
    assumed with a note saying why (docs/simulator.md, ledger row 38)."""
    host = reference()
    logs = FOLDER + "\\Logs"
    host.fs.set_acl(logs, Acl.private(SYSTEM, [SYSTEM], folder=True))
    document = learn_document(host, Lookup(display_name_pattern="^Spendesk"))
    assert document["unlisted"] == [
        {"folder": logs, "error": f"Access to the path '{logs}' is denied."}
    ]
    assert not [f for f in document["files"] if f.lower().startswith("logs\\")]
    learned = build(document, "ref", agent_profile.default())
    assert learned.unlisted == [logs]
    assert "install.files" in learned.profile["assumed"]
    [note] = [n for n in learned.notes if n.startswith(logs)]
    assert "could not be listed as the WinRM account (Access to the path" in note


def test_the_old_silent_listing_reads_a_refused_folder_as_empty_as_on_windows() -> None:
    """-ErrorAction SilentlyContinue drops Get-ChildItem's error: the model is not kinder."""
    host = reference()
    host.fs.set_acl(FOLDER + "\\Logs", Acl.private(SYSTEM, [SYSTEM], folder=True))

    def silent(script: str) -> str:
        listing = "-Force -ErrorAction Stop)"
        assert listing in script
        return script.replace(listing, "-Force -ErrorAction SilentlyContinue)")

    params = agent_learn.params(agent_profile.default(), Lookup(display_name_pattern="^Spendesk"))
    document = SimSession(host, rewrite=silent).run_snippet("agent_learn", params)
    assert document["unlisted"] == []
    assert not [f for f in document["files"] if f.lower().startswith("logs\\")]
