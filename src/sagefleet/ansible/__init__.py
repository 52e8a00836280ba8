"""What sagefleet adds to Ansible: the base of its action plugins (docs/architecture.md)."""

from __future__ import annotations

from typing import Any

#: Meta tasks that end a host or a role. Ansible runs each once per host in its own
#: process (no worker), starting it, for its callbacks, once per host.
ENDING_METAS = ("end_host", "end_role")


def action_name(action: Any) -> str:
    """A task's action without its collection (``ansible.builtin.meta``: ``meta``)."""
    return str(action).rsplit(".", 1)[-1]


def ending_meta(task: Any) -> bool:
    """Whether an Ansible task is a meta task that ends a host or a role."""
    return action_name(task.action) == "meta" and (task.args.get("_raw_params") in ENDING_METAS)
