"""What a run defines that an inventory value may use: the folder of the playbooks
(``playbook_dir``), and the variables Ansible defines only in a play (``role_path``,
``ansible_play_hosts``...), which a command reading the inventory before the run cannot
know (sagefleet.inventory.load(at_run=True) leaves such a value to the run)."""

from __future__ import annotations

import os
import re
from typing import Any

from sagefleet.errors import InputError

#: The folder of the playbooks, in the project's folder (where ansible.cfg is, and where
#: the runs start: ``ansible-playbook playbooks/<job>.yml``): what a run's playbook_dir names.
PLAYBOOKS = "playbooks"


#: What Ansible defines only in a play or its tasks (VariableManager._get_magic_variables,
#: given a play or a task), never in an inventory: a value using one is known at the run.
PLAY_ONLY_VARS = (
    "role_path",
    "role_name",
    "role_uuid",
    "ansible_role_name",
    "ansible_collection_name",
    "ansible_play_name",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_batch",
    "play_hosts",
    "ansible_role_names",
    "ansible_play_role_names",
    "ansible_dependent_role_names",
    "role_names",
)
#: What sagefleet validate says of such a value (InventoryHost.at_run).
AT_RUN = "checked at the run, by the playbooks' first task"
#: Jinja's words for a variable it does not know.
UNDEFINED = re.compile(r"'(\w+)' is undefined")


def playbooks_folder() -> str | None:
    """The run's ``playbook_dir``, as ansible-playbook makes it of ``playbooks/<job>.yml``:
    the current folder's playbooks/ (absolute); None when the current folder has none."""
    folder = os.path.abspath(PLAYBOOKS)
    return folder if os.path.isdir(folder) else None


def known_at_run(host: str, name: str, value: Any, used: str) -> InputError:
    """What to say of ``name``, whose ``value`` uses ``used``, which only the run defines
    (the value shown when a string and no secret's)."""
    from sagefleet.settings.redact import is_secret_key

    why = (
        "the folder of the run's playbook, and the current folder has no playbooks/"
        if used == "playbook_dir"
        else "which Ansible defines only in a play"
    )
    shown = repr(str(value)) if isinstance(value, str) and not is_secret_key(name) else None
    return InputError(
        f"uses {used}, {why}: {AT_RUN}",
        host=host,
        field=name,
        value=shown,
    )
