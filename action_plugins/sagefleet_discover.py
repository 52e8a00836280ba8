"""Action plugin: read a server's Sage installation and write a draft host_vars file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

from sagefleet import discover
from sagefleet.errors import SagefleetError
from sagefleet.remote import AuthenticationFailed, HostUnreachable, RemoteError
from sagefleet.remote.ansible import AnsibleSession

ARGUMENT_SPEC: dict[str, Any] = {
    "dest": {"type": "path", "required": True},
    "roots": {"type": "list", "elements": "str", "default": []},
    "force": {"type": "bool", "default": False},
    "max_depth": {"type": "int", "default": 4},
    "max_files": {"type": "int", "default": 200},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True  # reads the host; in check mode writes nothing on the bastion
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        host = str((task_vars or {}).get("inventory_hostname"))
        session = AnsibleSession(host, self._connection)
        try:
            document = session.run_snippet(
                "discover",
                discover.params(
                    args["roots"], max_depth=args["max_depth"], max_files=args["max_files"]
                ),
            )
        except (HostUnreachable, AuthenticationFailed) as exc:
            raise AnsibleConnectionFailure(str(exc)) from None
        except RemoteError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        try:
            draft = discover.draft(host, document)
            files = (
                {}
                if self._task.check_mode
                else discover.write_draft(draft, Path(args["dest"]), force=args["force"])
            )
        except (SagefleetError, OSError) as exc:
            result.update(failed=True, msg=str(exc))
            return result
        written = [path for path, what in files.items() if what != "kept"]
        kept = [path for path, what in files.items() if what == "kept"]
        result.update(
            changed=bool(written),
            files=files,
            entities=[e["name"] for e in draft.entities],
            products=document.get("products") or [],
            msg=f"{len(draft.entities)} entit{'y' if len(draft.entities) == 1 else 'ies'} found; "
            + (f"written: {', '.join(written)}" if written else "nothing written")
            + (
                f"; kept (existing, sagefleet_discover_force to overwrite): {', '.join(kept)}"
                if kept
                else ""
            ),
        )
        return result
