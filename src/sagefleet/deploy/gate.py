"""The health gate after an install or upgrade: running, automatic, target version,
settings as rendered, and connected within the window (SF513, docs/deploy.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sagefleet import versions
from sagefleet.agent import connection
from sagefleet.deploy.result import killed_note
from sagefleet.deploy.state import DeployState
from sagefleet.findings import Status
from sagefleet.settings import settings_sha256

# What Windows Installer's exit codes mean (an .exe bootstrapper usually passes them on).
EXIT_CODES = {
    1603: "fatal error during installation: read the installer log",
    1618: "another installation is already in progress on the host: retry when it has ended",
    1641: "success, the installer started a reboot",
    3010: "success, a reboot is required",
}


class HealthGate(DeployState):
    """Whether the agent a deploy left is acceptable; why not, or None."""

    def _gate(self, outcome: Mapping[str, Any]) -> str | None:
        """Why the new agent is not acceptable, or None: running, automatic, target version."""
        if outcome.get("failed_step"):
            reason = f"{outcome['failed_step']} failed: {outcome.get('error')}"
            meaning = EXIT_CODES.get(outcome.get("exit_code") or 0)
            if outcome["failed_step"] == "installer" and meaning:
                reason += f" ({meaning})"
            return reason + killed_note(outcome, self.service)
        state, version = outcome.get("state"), outcome.get("version")
        if state != "Running":
            return f"service {self.service} is {state} after install"
        if not versions.same(version, self.target):
            return f"version reads {version} after install, expected {self.target}"
        answer = self._query(
            {
                "kind": "file",
                "path": self.options.settings_path,
                "hash": True,
                "acl": False,
            }
        )[0]
        if answer.get("sha256") != settings_sha256(self.settings_text):
            return "settings.json in the agent folder differs from the rendered settings"
        return self._connection_gate()

    def _connection_gate(self) -> str | None:
        """SF513 after start: wait up to the window for the agent to connect; why it did
        not (a wave whose agents run but never connect stops like a failed start), or
        None. An undecided check is reported unknown and does not stop the deploy."""
        verdict, _, looks = connection.wait_connected(
            lambda params: self.session.run_snippet("agent_connections", params),
            self.connection.for_service(self.service),
        )
        self.gate_findings = [verdict.finding(self.connection.lang)]
        self.step("connection", status=verdict.status.value, looks=looks, cause=verdict.cause)
        if verdict.status is Status.FAIL:
            return f"{connection.CHECK_ID}: {verdict.message}"
        return None
