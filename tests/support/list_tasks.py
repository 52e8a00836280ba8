"""The tasks a playbook runs under ``--tags``, with their tags, as JSON: what
``ansible-playbook --list-tasks`` prints, with the tasks of a block's rescue and always
sections too (Ansible's listing leaves them out).

    python tests/support/list_tasks.py PLAYBOOK [TAG,TAG...]   (from the project's root)
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ansible import context
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.playbook import Playbook
from ansible.playbook.block import Block
from ansible.plugins.loader import init_plugin_loader
from ansible.vars.manager import VariableManager


def tasks(playbook: str, only_tags: list[str]) -> list[list[Any]]:
    """[name, sorted tags] of each task ``--tags only_tags`` selects, in order."""
    context.CLIARGS = ImmutableDict(tags=only_tags or ["all"], skip_tags=[])
    init_plugin_loader()
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=["localhost,"])
    manager = VariableManager(loader=loader, inventory=inventory)
    found: list[list[Any]] = []

    def walk(block: Block) -> None:
        for task in block.block + block.rescue + block.always:
            if isinstance(task, Block):
                walk(task)
            elif not task.implicit:
                found.append([task.get_name(), sorted(set(task.tags))])

    for play in Playbook.load(playbook, variable_manager=manager, loader=loader).get_plays():
        for block in play.compile():
            walk(block.filter_tagged_tasks(manager.get_vars(play=play)))
    return found


if __name__ == "__main__":
    selected = [t for t in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if t]
    print(json.dumps(tasks(sys.argv[1], selected)))
