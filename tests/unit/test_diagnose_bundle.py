"""What a support bundle says of the host when part of its diagnosis could not be read:
the bundle holds what was gathered, and every report names what was not read and why."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.support.scenarios import entities_for

from sagefleet import diagnose, preflight
from sagefleet.sim.host import SYSTEM, Acl, WindowsHost, host_from_profile, load_profile
from sagefleet.sim.session import SimSession

AGENT_DIR = "C:\\Program Files\\Spendesk\\Sage Agent"


class Denied(SimSession):
    """The host's own diagnose answer, with one log and the event log denied to the
    WinRM account (answers the model does not give: a test of the bastion's logic)."""

    def run_snippet(self, name: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        result = super().run_snippet(name, params, *args, **kwargs)
        if name == "diagnose":
            result["logs"][0].update(content=None, error="Access to the path is denied.")
            result["events_error"] = "Attempted to perform an unauthorized operation."
        return result


def collected(
    session_type: type[SimSession], change: Callable[[WindowsHost], None] | None = None
) -> diagnose.Bundle:
    variables = {"sagefleet_entities": entities_for("agent-old")}
    host = host_from_profile("sage01", "127.0.0.2", "admin", "pw", load_profile("agent-old"))
    host.fs.mkdir(AGENT_DIR + "\\logs")
    host.fs.write(AGENT_DIR + "\\logs\\agent.log", b"2025-03-01 10:00:00 INFO started\r\n")
    host.fs.write(AGENT_DIR + "\\agent.log", b"2025-03-01 09:00:00 INFO started\r\n")
    host.fs.mkdir("C:\\Windows\\Temp")
    host.fs.write("C:\\Windows\\Temp\\Setup Log 2025-03-01 #001.txt", b"Setup started\r\n")
    if change is not None:
        change(host)
    prepared = preflight.prepare("sage01", variables)
    options = diagnose.options_from("sage01", variables)
    return diagnose.collect(session_type(host), prepared, options, [])


def test_a_log_and_events_not_read_make_the_bundle_incomplete_and_say_why() -> None:
    bundle = collected(Denied)
    assert bundle.status == "incomplete"
    assert bundle.not_read == [
        "events: Attempted to perform an unauthorized operation.",
        f"{AGENT_DIR}\\logs\\agent.log: Access to the path is denied.",
    ]
    manifest = bundle.manifest()
    assert manifest["status"] == "incomplete" and manifest["not_read"] == bundle.not_read
    assert bundle.diagnosis is not None and bundle.diagnosis.not_read == bundle.not_read
    assert bundle.diagnosis.verdict.endswith(
        "Incomplete: not read: events: Attempted to perform an unauthorized operation.; "
        f"{AGENT_DIR}\\logs\\agent.log: Access to the path is denied.."
    )
    # What was read is kept: the service, the settings.
    assert bundle.service_words() == "service Running"
    assert {"service.json", "settings.redacted.json"} <= set(bundle.files)


def test_a_bundle_read_in_full_is_not_incomplete() -> None:
    bundle = collected(SimSession)
    assert bundle.not_read == [] and bundle.status != "incomplete"
    assert json.loads(bundle.files["troubleshooting.json"])["not_read"] == []


def test_the_service_is_said_not_installed_only_when_it_was_read_and_is_absent() -> None:
    bundle = diagnose.Bundle(host="h", collected_at="now")
    bundle.result_error = "snippet diagnose failed (rc 1): Access denied"
    assert bundle.service_words() == (
        "service not read: snippet diagnose failed (rc 1): Access denied"
    )
    bundle.service = {"name": "SpendeskSageAgent", "installed": False}
    assert bundle.service_words() == "service not installed"


def test_two_logs_of_the_same_name_are_both_kept_under_names_that_say_where_each_was() -> None:
    """<install>\\logs\\agent.log and <install>\\agent.log: one was silently dropped."""
    bundle = collected(SimSession)
    inside = "logs/agent/C/Program_Files/Spendesk/Sage_Agent/logs/agent.log"
    beside = "logs/agent/C/Program_Files/Spendesk/Sage_Agent/agent.log"
    assert b"10:00:00 INFO started" in bundle.files[inside]
    assert b"09:00:00 INFO started" in bundle.files[beside]
    assert "logs/agent/agent.log" not in bundle.files
    sources = {f["name"]: f.get("source") for f in bundle.manifest()["files"]}
    assert sources[inside] == f"{AGENT_DIR}\\logs\\agent.log"
    assert sources[beside] == f"{AGENT_DIR}\\agent.log"


def test_a_log_of_a_name_of_its_own_keeps_its_short_name() -> None:
    bundle = collected(SimSession)
    installer = [n for n in bundle.files if n.startswith("logs/installer/")]
    assert installer == ["logs/installer/Setup_Log_2025-03-01_001.txt"]


def test_a_log_folder_the_winrm_account_may_not_list_is_named_with_what_to_do() -> None:
    """The folder was listed with -ErrorAction SilentlyContinue: no log, and no word."""

    def system_only(host: WindowsHost) -> None:
        host.fs.set_acl(AGENT_DIR + "\\logs", Acl.private(SYSTEM, [SYSTEM], folder=True))

    bundle = collected(SimSession, system_only)
    assert bundle.status == "incomplete"
    assert bundle.not_read == [
        f"agent logs in {AGENT_DIR}\\logs: Access to the path '{AGENT_DIR}\\logs' is denied; "
        "grant the WinRM account read (List folder / read data) on the folder, or run the "
        "diagnosis as an account that has it"
    ]
    assert bundle.diagnosis is not None
    assert f"Incomplete: not read: agent logs in {AGENT_DIR}\\logs" in bundle.diagnosis.verdict
    # The other folder's log is still in.
    assert [n for n in bundle.files if n.startswith("logs/agent/")] == ["logs/agent/agent.log"]


def test_an_entity_the_validation_refuses_is_said_in_entities_json_not_left_out_unsaid() -> None:
    """entities.json listed the entities the validation accepted and nothing else: a host
    whose entity has a bad field got an empty list, as if it had none. The refusal is
    now in the file, naming the field, without the entity's secrets."""
    entities = entities_for("agent-old")
    entities.append({**entities[0], "name": "second", "mae_path": "relative\\file.mae"})
    options = diagnose.options_from("sage01", {"sagefleet_entities": entities})
    (error,) = options.entities["errors"]
    assert "mae_path" in error and "relative\\file.mae" in error
    assert "Sql-Canary-Passw0rd!" not in json.dumps(options.entities)
