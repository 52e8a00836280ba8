"""Action plugin: read a server's Sage installation and write a draft host_vars file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sagefleet import discover
from sagefleet.ansible.action import SagefleetAction
from sagefleet.remote.ansible import AnsibleSession
from sagefleet.report.runs import job_folder
from sagefleet.settings.validate import refuse_misspelt


class ActionModule(SagefleetAction):
    ARGUMENT_SPEC = {
        # Empty: reports/<inventory name>/discover/, outside the inventory (Ansible would
        # read a draft in host_vars/ as the host's variables, over the reviewed ones).
        "dest": {"type": "path", "default": ""},
        "roots": {"type": "list", "elements": "str", "default": []},
        "force": {"type": "bool", "default": False},
        "max_depth": {"type": "int", "default": 4},
        "max_files": {"type": "int", "default": 200},
    }
    _supports_check_mode = True  # reads the host; in check mode writes nothing on the bastion

    def prepare(self, variables: dict[str, Any]) -> Any:
        # A slip of a declared name (sagefleet_discover_root) would leave its default in
        # force unseen: refused before the host is contacted, as every job does.
        refuse_misspelt(self.host, self.task_vars)
        args = self.args
        return discover.params(
            args["roots"], max_depth=args["max_depth"], max_files=args["max_files"]
        )

    def act(self, session: AnsibleSession | None, inputs: Any) -> dict[str, Any]:
        args = self.args
        document = session.run_snippet("discover", inputs)
        draft = discover.draft(self.host, document)
        dest = Path(args["dest"]) if args["dest"] else job_folder("discover", self.report_vars())
        try:
            files = discover.write_draft(draft, dest, force=args["force"], check=self.check_mode)
        except OSError as exc:
            return {"failed": True, "msg": str(exc)}
        written = [path for path, what in files.items() if what in ("written", "overwritten")]
        kept = [path for path, what in files.items() if what == "kept"]
        found = len(draft.entities)
        return {
            "changed": bool(written),
            "dest": str(dest),
            "files": files,
            "entities": [e["name"] for e in draft.entities],
            "products": document.get("products") or [],
            "msg": f"{found} entit{'y' if found == 1 else 'ies'} found; "
            + (
                f"{'would be written' if self.check_mode else 'written'}: {', '.join(written)}"
                if written
                else "nothing written"
            )
            + (
                f"; kept (existing, sagefleet_discover_force to overwrite): {', '.join(kept)}"
                if kept
                else ""
            ),
        }
